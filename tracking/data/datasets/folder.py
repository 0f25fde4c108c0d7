"""Your own sequences: a directory of frames with a groundtruth file, or a directory of such directories.

One sequence directory looks like (OTB, LaSOT, VOT-style)::

    <seq>/groundtruth.txt  (or groundtruth_rect.txt, or the file given as groundtruth_file=)
    <seq>/0001.jpg ...     (or the frames in <seq>/img/ or <seq>/imgs/; .jpg, .jpeg or .png)

``root`` is either such a directory (one sequence) or a directory whose sub-directories are sequences
(sorted by name; sub-directories without frames and a groundtruth file are skipped).

Conventions: frames are the image files sorted naturally (by the numbers in their names: 2.jpg before
10.jpg). The groundtruth has one x,y,w,h line per frame (comma, tab or whitespace separated), or a single
line for the first frame only (the other boxes are then NaN, not visible); any other line count is an
AnnotationError. Boxes are taken as 0-based; ``one_based=True`` subtracts 1 from x and y (OTB files are
1-based). ``visible = the box is valid``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..sequence import SequenceInfo, valid_boxes
from .base import AnnotationError, DatasetNotFoundError, TrackingDataset, read_boxes, resolve_root

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
GROUNDTRUTH_FILES = ("groundtruth.txt", "groundtruth_rect.txt")
FRAME_SUBDIRS = ("img", "imgs")


def natural_key(name: str) -> list:
    """Sort key comparing the digit runs of a name as numbers ("frame2" < "frame10")."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def _frames(directory: str) -> list[str]:
    for sub in FRAME_SUBDIRS + ("",):
        d = os.path.join(directory, sub) if sub else directory
        if os.path.isdir(d):
            files = [f for f in os.listdir(d) if f.lower().endswith(IMAGE_EXTENSIONS)]
            if files:
                return [os.path.join(d, f) for f in sorted(files, key=natural_key)]
    return []


def _groundtruth(directory: str, groundtruth_file: str | None) -> str | None:
    for name in (groundtruth_file,) if groundtruth_file else GROUNDTRUTH_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


class ImageFolderDataset(TrackingDataset):
    """Sequences in plain directories: see the module docstring for the layout and conventions.

    Args:
        root: a sequence directory, or a directory of sequence directories.
        name: dataset name (default "folder").
        one_based: the groundtruth is 1-based (OTB): subtract 1 from x and y.
        groundtruth_file: the groundtruth file name in each sequence directory (default: groundtruth.txt,
            else groundtruth_rect.txt).

    Raises:
        DatasetNotFoundError: root does not exist, or holds no sequence.
        AnnotationError: a malformed groundtruth file, or one whose line count is neither 1 nor the frame count.
    """

    def __init__(self, root: str, name: str | None = None, one_based: bool = False,
                 groundtruth_file: str | None = None):
        name = name or "folder"
        root = resolve_root(f"image folder dataset {name!r}", root, None)
        self.one_based = one_based
        gt = _groundtruth(root, groundtruth_file)
        frames = _frames(root)
        if gt is not None and frames:
            sequences = [self._load(name, os.path.basename(root), frames, gt)]
        else:
            sequences = []
            for entry in sorted(os.listdir(root), key=natural_key):
                seq_dir = os.path.join(root, entry)
                if not os.path.isdir(seq_dir):
                    continue
                gt, frames = _groundtruth(seq_dir, groundtruth_file), _frames(seq_dir)
                if gt is not None and frames:
                    sequences.append(self._load(name, entry, frames, gt))
        if not sequences:
            files = groundtruth_file or " or ".join(GROUNDTRUTH_FILES)
            raise DatasetNotFoundError(f"image folder dataset {name!r}: no sequence in {root!r} (a sequence is a "
                                       f"directory with {files} and {'/'.join(IMAGE_EXTENSIONS)} frames, "
                                       f"possibly in {' or '.join(FRAME_SUBDIRS)}/)")
        super().__init__(name, root, sequences)

    def _load(self, dataset: str, seq_name: str, frames: list[str], gt_path: str) -> SequenceInfo:
        boxes = read_boxes(gt_path)
        T = len(frames)
        if len(boxes) == 1 and T > 1:
            boxes = np.concatenate([boxes, np.full((T - 1, 4), np.nan)])
        elif len(boxes) != T:
            raise AnnotationError(f"{gt_path}: {len(boxes)} boxes for {T} frames in "
                                  f"{os.path.dirname(frames[0])} (expected one per frame, or the first frame's only)")
        if self.one_based:
            boxes[:, :2] -= 1.0
        return SequenceInfo(dataset=dataset, name=seq_name, frames=tuple(frames), boxes=boxes,
                            visible=valid_boxes(boxes))
