"""UAV123 (Mueller et al., ECCV 2016): ``root/data_seq/UAV123/<folder>/%06d.jpg`` and
``root/anno/UAV123/<seq>.txt``.

Conventions: comma-separated xywh per frame, kept as in the file (``box_base`` 0, as the benchmark's toolkit
scores them); ``NaN,NaN,NaN,NaN`` lines mark frames without the target (not visible). The sequences are the
annotation files. Sub-sequences cut from a longer recording (``bird1_2`` ...) take their frame ranges from
:data:`UAV123_SUBSEQUENCES`; every other sequence uses folder = name and frames 1..T. The annotation length
must equal the range length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..annotations import AnnotationError, read_boxes
from ..roots import resolve_root
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import TrackingDataset, missing_error, natural_key, select_names

KEY = "uav123"

# name -> (image folder, first frame, last frame), 1-based image numbers: facts of the benchmark's configSeqs
# (UAV123 toolkit).
UAV123_SUBSEQUENCES: dict[str, tuple[str, int, int]] = {
    "bird1_1": ("bird1", 1, 253), "bird1_2": ("bird1", 775, 1477), "bird1_3": ("bird1", 1573, 2437),
    "car1_1": ("car1", 1, 751), "car1_2": ("car1", 751, 1627), "car1_3": ("car1", 1627, 2629),
    "car16_1": ("car16", 1, 415), "car16_2": ("car16", 415, 1993),
    "car6_1": ("car6", 1, 487), "car6_2": ("car6", 487, 1807), "car6_3": ("car6", 1807, 2953),
    "car6_4": ("car6", 2953, 3925), "car6_5": ("car6", 3925, 4861),
    "car8_1": ("car8", 1, 1357), "car8_2": ("car8", 1357, 2575),
    "group1_1": ("group1", 1, 1333), "group1_2": ("group1", 1333, 2515), "group1_3": ("group1", 2515, 3925),
    "group1_4": ("group1", 3925, 4873),
    "group2_1": ("group2", 1, 907), "group2_2": ("group2", 907, 1771), "group2_3": ("group2", 1771, 2683),
    "group3_1": ("group3", 1, 1567), "group3_2": ("group3", 1567, 2827), "group3_3": ("group3", 2827, 4369),
    "group3_4": ("group3", 4369, 5527),
    "person12_1": ("person12", 1, 601), "person12_2": ("person12", 601, 1621),
    "person14_1": ("person14", 1, 847), "person14_2": ("person14", 847, 1813),
    "person14_3": ("person14", 1813, 2923),
    "person17_1": ("person17", 1, 1501), "person17_2": ("person17", 1501, 2347),
    "person19_1": ("person19", 1, 1243), "person19_2": ("person19", 1243, 2791),
    "person19_3": ("person19", 2791, 4357),
    "person2_1": ("person2", 1, 1189), "person2_2": ("person2", 1189, 2623),
    "person4_1": ("person4", 1, 1501), "person4_2": ("person4", 1501, 2743),
    "person5_1": ("person5", 1, 877), "person5_2": ("person5", 877, 2101),
    "person7_1": ("person7", 1, 1249), "person7_2": ("person7", 1249, 2065),
    "person8_1": ("person8", 1, 1075), "person8_2": ("person8", 1075, 1525),
    "truck4_1": ("truck4", 1, 577), "truck4_2": ("truck4", 577, 1261),
    "uav1_1": ("uav1", 1, 1555), "uav1_2": ("uav1", 1555, 2377), "uav1_3": ("uav1", 2473, 3469),
}


class UAV123(TrackingDataset):
    """UAV123: see the module docstring.

    Args:
        root: the dataset root (holding anno/ and data_seq/); default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_UAV123_ROOT``).
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: no root, the anno/data directories or a sequence's image folder are missing.
        AnnotationError: a malformed annotation file, or one whose length does not fit the frame range.
    """

    def __init__(self, root: str | None = None, sequences: Iterable[str] | None = None):
        root = resolve_root(KEY, root, "UAV123")
        anno_dir = os.path.join(root, "anno", "UAV123")
        data_dir = os.path.join(root, "data_seq", "UAV123")
        missing = [d for d in (anno_dir, data_dir) if not os.path.isdir(d)]
        if missing:
            raise missing_error("UAV123", "directories", missing)
        available = sorted((f[:-4] for f in os.listdir(anno_dir) if f.endswith(".txt")), key=natural_key)
        names = select_names("UAV123", available, sequences, anno_dir)
        super().__init__(KEY, root, [self._load_sequence(anno_dir, data_dir, n) for n in names])

    @staticmethod
    def _load_sequence(anno_dir: str, data_dir: str, name: str) -> SequenceInfo:
        anno_path = os.path.join(anno_dir, f"{name}.txt")
        boxes = read_boxes(anno_path, allow_empty=False)
        folder, start, end = UAV123_SUBSEQUENCES.get(name, (name, 1, len(boxes)))
        seq_dir = os.path.join(data_dir, folder)
        if not os.path.isdir(seq_dir):
            raise missing_error("UAV123", f"image folder of {name}", [seq_dir])
        if end - start + 1 != len(boxes):
            raise AnnotationError(anno_path, f"{len(boxes)} annotation lines for frames {start}-{end} of {name}")
        return SequenceInfo(dataset=KEY, name=name, frames=FramePaths(seq_dir, "{:06d}.jpg", start, len(boxes)),
                            boxes=boxes, visible=plausible_boxes(boxes))
