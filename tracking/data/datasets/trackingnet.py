"""TrackingNet (Müller et al., ECCV 2018).

Layout::

    root/TRAIN_<i>/anno/<seq>.txt        x,y,w,h per frame (floats, 0-based, top-left corner)
    root/TRAIN_<i>/frames/<seq>/0.jpg, 1.jpg, ...   (0-based frame numbers, no zero padding)

Conventions: boxes are used as they are; ``visible = the box is valid`` (TrackingNet has no absence or
occlusion flags). Frames are ``FramePaths(root/TRAIN_<i>/frames/<seq>, "{:d}.jpg", 0, T)`` with T the number
of annotation lines. TrackingNet has no class labels in its files (``class_name`` is None). Sequence names are
the video names (unique across chunks); ``extra["set"]`` is the chunk directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..sequence import FramePaths, SequenceInfo, valid_boxes
from .base import TrackingDataset, read_boxes, require_dir, resolve_root

ENV_VAR = "TRACKING_TRACKINGNET_ROOT"


class TrackingNet(TrackingDataset):
    """TrackingNet: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding TRAIN_0 ... TRAIN_11); default ``$TRACKING_TRACKINGNET_ROOT``.
        sets: chunks to index: integers i (directory ``TRAIN_<i>``) or directory names (e.g. "TEST").

    Raises:
        DatasetNotFoundError: no root, or a chunk's ``anno`` directory is missing.
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, sets: Iterable[int | str] = range(4)):
        root = resolve_root("TrackingNet", root, ENV_VAR)
        sequences = []
        self.sets = [s if isinstance(s, str) else f"TRAIN_{int(s)}" for s in sets]
        for set_name in self.sets:
            anno_dir = require_dir("TrackingNet", os.path.join(root, set_name, "anno"),
                                   f"annotation directory of chunk {set_name}")
            frames_dir = os.path.join(root, set_name, "frames")
            for file in sorted(f for f in os.listdir(anno_dir) if f.endswith(".txt")):
                name = file[:-4]
                boxes = read_boxes(os.path.join(anno_dir, file))
                sequences.append(SequenceInfo(
                    dataset="trackingnet", name=name,
                    frames=FramePaths(os.path.join(frames_dir, name), "{:d}.jpg", 0, len(boxes)),
                    boxes=boxes, visible=valid_boxes(boxes), extra={"set": set_name}))
        super().__init__("trackingnet", root, sequences)
