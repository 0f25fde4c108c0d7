"""Need for Speed (NfS, Kiani Galoogahi et al., ICCV 2017): ``root/<seq>/<fps>/<seq>/%05d.jpg`` with the
annotation ``root/<seq>/<fps>/<seq>.txt``.

Annotation format (assumed from the NfS release, VATIC style): whitespace-separated
``track_id xmin ymin xmax ymax frame lost occluded generated "label"`` per line. Box = ``xmin, ymin,
xmax - xmin, ymax - ymin`` (no +1, ``box_base`` 0); ``lost == 1`` -> not visible. The 30 fps folders often
carry the 240 fps annotation (8x as many lines): then every 8th line from the first is taken (as the got10k
toolkit does); a remaining difference of one line is resolved by truncating to the shorter of frames and
annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..annotations import AnnotationError, read_text
from ..roots import resolve_root
from ..sequence import SequenceInfo, plausible_boxes
from .base import TrackingDataset, list_images, missing_error, select_names

KEY = "nfs"


def read_vatic_boxes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """([T, 4] xywh boxes, [T] bool lost flags) of an NfS / VATIC annotation file."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            x0, y0, x1, y1 = (float(v) for v in fields[1:5])
            lost = float(fields[6]) if len(fields) > 6 else 0.0
        except (ValueError, IndexError):
            raise AnnotationError(path, f"expected 'id xmin ymin xmax ymax frame lost ...', got {line!r}",
                                  number) from None
        rows.append((x0, y0, x1 - x0, y1 - y0, lost))
    if not rows:
        raise AnnotationError(path, "empty file")
    a = np.array(rows, dtype=np.float64)
    return a[:, :4].copy(), a[:, 4] != 0


class NFS(TrackingDataset):
    """NfS: see the module docstring.

    Args:
        root: the dataset root (holding one folder per sequence); default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_NFS_ROOT``).
        fps: 30 or 240 (the sub-folder to read).
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: no root, no sequence for ``fps``, or a sequence without frames.
        AnnotationError: a malformed annotation, or one that does not fit the frames.
    """

    def __init__(self, root: str | None = None, fps: int = 30, sequences: Iterable[str] | None = None):
        root = resolve_root(KEY, root, "NfS")
        self.fps = int(fps)
        available = sorted(e for e in os.listdir(root)
                           if os.path.isfile(os.path.join(root, e, str(self.fps), f"{e}.txt")))
        if not available:
            raise missing_error("NfS", f"sequences (<seq>/{self.fps}/<seq>.txt)", [root])
        names = select_names("NfS", available, sequences, root)
        super().__init__(KEY, root, [self._load_sequence(root, n) for n in names])

    def _load_sequence(self, root: str, name: str) -> SequenceInfo:
        base = os.path.join(root, name, str(self.fps))
        anno_path = os.path.join(base, f"{name}.txt")
        boxes, lost = read_vatic_boxes(anno_path)
        frames = list_images(os.path.join(base, name))
        if not frames:
            raise missing_error("NfS", f"frames of {name}", [os.path.join(base, name)])
        if len(boxes) != len(frames) and abs(len(boxes) / len(frames) - 8) < 1:
            boxes, lost = boxes[0::8], lost[0::8]
        if abs(len(boxes) - len(frames)) > 1:
            raise AnnotationError(anno_path, f"{len(boxes)} annotation lines for {len(frames)} frames of {name}")
        n = min(len(boxes), len(frames))
        boxes, lost = np.ascontiguousarray(boxes[:n]), lost[:n]
        return SequenceInfo(dataset=KEY, name=name, frames=tuple(frames[:n]), boxes=boxes,
                            visible=plausible_boxes(boxes) & ~lost)
