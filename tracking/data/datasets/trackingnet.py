"""TrackingNet (Müller et al., ECCV 2018): training chunks TRAIN_0..TRAIN_11 and the TEST chunk.

Layout::

    root/TRAIN_<i>/anno/<seq>.txt        x,y,w,h per frame (floats, 0-based, top-left corner)
    root/TRAIN_<i>/frames/<seq>/0.jpg, 1.jpg, ...   (0-based frame numbers, no zero padding)
    root/TEST/anno/<seq>.txt             the first frame's box only
    root/TEST/frames/<seq>/0.jpg ...

``root`` may also be one chunk directory itself (holding anno/ and frames/).

Conventions: boxes are used as they are (``box_base`` 0); ``visible = the box is plausible``
(:func:`tracking.data.sequence.plausible_boxes`; TrackingNet has no absence or occlusion flags). Frames are
``FramePaths(root/<chunk>/frames/<seq>, "{:d}.jpg", 0, T)`` with T the number of annotation lines; an annotation of
one line for a sequence with more frames (the TEST chunk) has T = the number of ``.jpg`` files, NaN boxes after
frame 0 and ``first_frame_only`` set (scored by the TrackingNet server). TrackingNet has no class labels in its
files (``class_name`` is None). Sequence names are the video names (unique across chunks); ``extra["set"]`` is the
chunk directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..annotations import read_boxes
from ..roots import resolve_root
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import TrackingDataset, count_files, require_dir, select_names

KEY = "trackingnet"
SPLITS = {"train": tuple(range(12)), "test": ("TEST",)}


class TrackingNet(TrackingDataset):
    """TrackingNet: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding TRAIN_0 ... TRAIN_11, TEST) or one chunk directory; default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_TRACKINGNET_ROOT``).
        sets: chunks to index: integers i (directory ``TRAIN_<i>``) or directory names (e.g. "TEST").
            Default: ``split``'s chunks, else TRAIN_0..TRAIN_3 (pytracking's training default).
        split: "train" (all 12 training chunks) or "test" (the TEST chunk); ignored when ``sets`` is given.
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: no root, a chunk's ``anno`` directory or a requested sequence is missing.
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, sets: Iterable[int | str] | None = None, split: str | None = None,
                 sequences: Iterable[str] | None = None):
        if split is not None and split not in SPLITS:
            raise ValueError(f"TrackingNet: unknown split {split!r}, expected one of {tuple(SPLITS)}")
        root = resolve_root(KEY, root, "TrackingNet")
        if sets is None:
            sets = SPLITS[split] if split is not None else range(4)
        chunk_root = os.path.isdir(os.path.join(root, "anno")) and os.path.isdir(os.path.join(root, "frames"))
        if chunk_root:  # root is one chunk directory
            self.sets = [os.path.basename(os.path.normpath(root))]
            chunks = {self.sets[0]: root}
        else:
            self.sets = [s if isinstance(s, str) else f"TRAIN_{int(s)}" for s in sets]
            chunks = {s: os.path.join(root, s) for s in self.sets}
        available = []
        for set_name, chunk_dir in chunks.items():
            anno_dir = require_dir("TrackingNet", os.path.join(chunk_dir, "anno"),
                                   f"annotation directory of chunk {set_name}")
            available += [(set_name, chunk_dir, f[:-4]) for f in sorted(os.listdir(anno_dir))
                          if f.endswith(".txt")]
        by_name = {name: (set_name, chunk_dir) for set_name, chunk_dir, name in available}
        names = select_names("TrackingNet", [name for _, _, name in available], sequences, root)
        super().__init__(KEY, root, [self._load_sequence(*by_name[n], n) for n in names])
        self.split = split

    @staticmethod
    def _load_sequence(set_name: str, chunk_dir: str, name: str) -> SequenceInfo:
        boxes = read_boxes(os.path.join(chunk_dir, "anno", f"{name}.txt"), allow_empty=False)
        frames_dir = os.path.join(chunk_dir, "frames", name)
        first_only = False
        if len(boxes) == 1 and os.path.isdir(frames_dir):
            T = max(count_files(frames_dir, ".jpg"), 1)
            first_only = T > 1
            boxes = np.concatenate([boxes, np.full((T - 1, 4), np.nan)])
        return SequenceInfo(dataset=KEY, name=name, frames=FramePaths(frames_dir, "{:d}.jpg", 0, len(boxes)),
                            boxes=boxes, visible=plausible_boxes(boxes), extra={"set": set_name},
                            first_frame_only=first_only)
