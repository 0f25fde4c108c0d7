"""Your own sequences: a directory of frames with a ground-truth file, or a directory of such directories.

One sequence directory looks like (OTB, LaSOT, VOT-style)::

    <seq>/groundtruth.txt  (or groundtruth_rect.txt, or the file given as groundtruth_file=)
    <seq>/0001.jpg ...     (or the frames in <seq>/img/, imgs/, color/, images/ or frames/)

``root`` is either such a directory (one sequence) or a directory whose sub-directories are sequences:
those named in ``root/list.txt`` when it exists, else every sub-directory with frames and a ground truth
(sorted naturally; others are skipped).

Conventions: frames are the image files (:data:`~tracking.data.datasets.base.IMAGE_EXTENSIONS`) sorted
naturally (by the numbers in their names: 2.jpg before 10.jpg). The ground truth is a region file
(:func:`tracking.data.annotations.read_regions`: 4-value xywh lines, or polygons turned into their
axis-aligned box) with one line per frame, or a single line for the first frame only (the other boxes are
then NaN and ``first_frame_only`` is set); any other line count is an AnnotationError. A folder without a
ground truth needs ``init_box`` (xywh of frame 0, used for every such folder). Boxes are taken as 0-based;
``one_based=True`` subtracts 1 from x and y (OTB files are 1-based; ``ground_truth`` still gives the file
values). ``visible = the box is plausible`` (:func:`tracking.data.sequence.plausible_boxes`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..annotations import AnnotationError, read_list, read_regions
from ..roots import DatasetNotFoundError, resolve_root
from ..sequence import SequenceInfo, plausible_boxes
from .base import IMAGE_EXTENSIONS, TrackingDataset, list_images, natural_key, select_names

GROUNDTRUTH_FILES = ("groundtruth.txt", "groundtruth_rect.txt")
FRAME_SUBDIRS = ("img", "imgs", "color", "images", "frames")


def frame_files(directory: str) -> list[str]:
    """The frames of a sequence directory: the images of its first frame sub-directory that has some, else its
    own images."""
    for sub in FRAME_SUBDIRS:
        files = list_images(os.path.join(directory, sub))
        if files:
            return files
    return list_images(directory)


class ImageFolderDataset(TrackingDataset):
    """Sequences in plain directories: see the module docstring for the layout and conventions.

    Args:
        root: a sequence directory, or a directory of sequence directories; default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_FOLDER_ROOT``).
        name: dataset name (default "folder"; subclasses: their key).
        one_based: the ground truth is 1-based (OTB): subtract 1 from x and y.
        groundtruth_file: the ground-truth file name in each sequence directory (default: groundtruth.txt,
            else groundtruth_rect.txt).
        init_box: xywh of frame 0 for sequences without a ground-truth file.
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: root does not exist, or holds no sequence, or a requested one is missing.
        AnnotationError: a malformed ground-truth file, or one whose line count is neither 1 nor the frame count.
    """

    key = "folder"
    display_name = "image folder dataset"
    groundtruth_files: tuple[str, ...] = GROUNDTRUTH_FILES

    def __init__(self, root: str | None = None, name: str | None = None, one_based: bool = False,
                 groundtruth_file: str | None = None, init_box: Iterable[float] | None = None,
                 sequences: Iterable[str] | None = None):
        name = name or self.key
        label = self.display_name if name == self.key else f"{self.display_name} {name!r}"
        root = resolve_root(self.key, root, label)
        self.one_based = one_based
        self.groundtruth_names = (groundtruth_file,) if groundtruth_file else self.groundtruth_files
        self.default_init_box = None if init_box is None else np.asarray(init_box, dtype=np.float64).reshape(4)
        if self._is_sequence(root):
            directories = {os.path.basename(os.path.normpath(root)): root}
        else:
            listed = os.path.join(root, "list.txt")
            entries = read_list(listed) if os.path.isfile(listed) else [
                e for e in sorted(os.listdir(root), key=natural_key)
                if os.path.isdir(os.path.join(root, e)) and self._is_sequence(os.path.join(root, e))]
            directories = {e: os.path.join(root, e) for e in entries}
        if not directories:
            files = " or ".join(self.groundtruth_names)
            raise DatasetNotFoundError(
                f"{label}: no sequence in {root!r} (a sequence is a directory with {files}"
                f"{' (or init_box=...)' if self.default_init_box is None else ''} and "
                f"{'/'.join(IMAGE_EXTENSIONS)} frames, possibly in {' or '.join(FRAME_SUBDIRS)}/)")
        selected = select_names(label, list(directories), sequences, root)
        super().__init__(name, root, [self._load(name, s, directories[s]) for s in selected])

    # ------------------------------------------------------------------------------------ per sequence
    def _groundtruth(self, directory: str) -> str | None:
        for gt_name in self.groundtruth_names:
            path = os.path.join(directory, gt_name)
            if os.path.isfile(path):
                return path
        return None

    def _is_sequence(self, directory: str) -> bool:
        has_gt = self._groundtruth(directory) is not None or self.default_init_box is not None
        return has_gt and bool(frame_files(directory))

    def _boxes(self, seq_dir: str, frames: list[str]) -> tuple[np.ndarray, str]:
        """The ground-truth rows of a sequence and where they came from."""
        gt_path = self._groundtruth(seq_dir)
        if gt_path is not None:
            return read_regions(gt_path, allow_empty=False), gt_path
        if self.default_init_box is None:
            raise DatasetNotFoundError(f"{self.display_name}: no {' or '.join(self.groundtruth_names)} in "
                                       f"{seq_dir} (and no init_box given)")
        return self.default_init_box[None].copy(), "init_box"

    def _fit(self, boxes: np.ndarray, frames: list[str], source: str) -> tuple[np.ndarray, list[str]]:
        """Boxes and frames of equal length: one box per frame, or the first frame's box only."""
        if len(boxes) == 1 and len(frames) > 1:
            return np.concatenate([boxes, np.full((len(frames) - 1, 4), np.nan)]), frames
        if len(boxes) != len(frames):
            raise AnnotationError(source, f"{len(boxes)} ground-truth lines for {len(frames)} images in "
                                          f"{os.path.dirname(frames[0])} (expected one per image, or the first "
                                          "image's only)")
        return boxes, frames

    def _load(self, dataset: str, seq_name: str, seq_dir: str) -> SequenceInfo:
        frames = frame_files(seq_dir)
        if not frames:
            raise DatasetNotFoundError(f"{self.display_name}: no frames in {seq_dir}")
        boxes, source = self._boxes(seq_dir, frames)
        rows = len(boxes)
        boxes, frames = self._fit(boxes, frames, source)
        first_only = rows == 1 and len(frames) > 1
        base = 1 if self.one_based else 0
        if base:
            boxes[:, :2] -= 1.0
        return SequenceInfo(dataset=dataset, name=seq_name, frames=tuple(frames), boxes=boxes,
                            visible=plausible_boxes(boxes), box_base=base, first_frame_only=first_only)
