"""The annotation index of one tracking sequence, shared by every dataset class.

Coordinate convention (all datasets, after parsing): boxes are ``[T, 4]`` float64 ``(x, y, w, h)`` in
continuous pixel coordinates of the frame, where pixel (i, j) covers ``[j, j+1) x [i, i+1)`` and ``(x, y)``
is the box's top-left corner. Datasets whose files are 1-based (OTB, LaSOT) are converted on parsing
(``box_base`` says which); each dataset class documents what it does. ``visible[t]`` is False where the target
is absent, fully occluded, out of view, or its box is unusable (:func:`plausible_boxes`: non-finite,
zero/negative width or height, a side below :data:`MIN_BOX_SIDE` pixels, or a box reaching further than
:data:`MAX_BOX_FRAMES` frame sizes): training samples only visible frames, evaluation scores only them.

Evaluation scores results in each benchmark's own coordinates (its metrics were computed on the file values):
``SequenceInfo.ground_truth`` gives the boxes as in the annotation file, ``init_box`` its first row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FramePaths(Sequence[str]):
    """Frame file paths ``directory/pattern.format(start + t)`` for t in [0, count), without storing them all.

    ``pattern`` is a ``str.format`` pattern with one positional field, e.g. ``"{:08d}.jpg"``.
    """

    directory: str
    pattern: str
    start: int
    count: int

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, t):  # type: ignore[override]
        if isinstance(t, slice):
            return [self[i] for i in range(*t.indices(self.count))]
        if t < 0:
            t += self.count
        if not 0 <= t < self.count:
            raise IndexError(f"frame {t} out of range for a sequence of {self.count} frames in {self.directory}")
        return os.path.join(self.directory, self.pattern.format(self.start + t))


@dataclass(frozen=True, eq=False)
class SequenceInfo:
    """One sequence: where its frames are and what is annotated in them.

    Attributes:
        dataset: name of the dataset it belongs to (e.g. "got10k").
        name: sequence name, unique within the dataset.
        frames: T frame paths (a FramePaths, or an explicit tuple of paths).
        boxes: [T, 4] float64 xywh boxes (see the module docstring); NaN where the file has no box.
        visible: [T] bool, True where the target is visible with a valid box.
        class_name: object class when the dataset provides one, else None.
        image_size: (height, width) of the frames when known without decoding, else None.
        extra: dataset-specific extras (GOT-10k cover labels, ImageNet VID track ids, ...).
        box_base: 1 when the annotation file's x, y are 1-based (converted here to 0-based), else 0.
        first_frame_only: only frame 0 is annotated (GOT-10k / TrackingNet test, a folder with one
            ground-truth line): the other boxes are NaN and results can only be scored by a server.
    """

    dataset: str
    name: str
    frames: Sequence[str]
    boxes: np.ndarray
    visible: np.ndarray
    class_name: str | None = None
    image_size: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)
    box_base: int = 0
    first_frame_only: bool = False

    def __post_init__(self) -> None:
        T = len(self.frames)
        if self.boxes.shape != (T, 4) or self.visible.shape != (T,):
            raise ValueError(f"{self.dataset}/{self.name}: {T} frames but boxes {self.boxes.shape} and visible "
                             f"{self.visible.shape}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def ground_truth(self) -> np.ndarray:
        """[T, 4] xywh boxes in the annotation file's coordinates (``boxes`` with ``box_base`` added back to
        x and y; exact for the integer files of the 1-based benchmarks)."""
        if self.box_base == 0:
            return self.boxes
        return self.boxes + np.array([self.box_base, self.box_base, 0.0, 0.0])

    @property
    def init_box(self) -> np.ndarray:
        """[4] the first frame's box in the annotation file's coordinates (what a tracker is initialised with
        in an evaluation)."""
        return self.ground_truth[0].copy()

    @property
    def is_video(self) -> bool:
        """False for single-image 'sequences' (COCO): samplers repeat the frame."""
        return len(self.frames) > 1


MIN_BOX_SIDE = 1e-3
"""Boxes with a side below this many pixels are not visible in a dataset (no crop can be made of them)."""

MAX_BOX_FRAMES = 100.0
"""Boxes reaching further than this many frame widths / heights (|x|, |y|, w or h) are not visible in a
dataset: annotation garbage (1e300) that would overflow the crop geometry."""

ASSUMED_FRAME_SIDE = 1e4
"""The frame side assumed by :func:`plausible_boxes` when a dataset does not know its frame size (a bound
of 1e6 pixels)."""


def plausible_boxes(boxes: np.ndarray, image_size: tuple[int, int] | np.ndarray | None = None) -> np.ndarray:
    """[T] bool for [T, 4] xywh boxes of frames of ``image_size`` (height, width), or of ``[T, 2]`` sizes (a
    NaN row: unknown): the dataset visibility rule. A box is plausible when it is valid (:func:`valid_boxes`),
    both sides are at least :data:`MIN_BOX_SIDE` pixels, and ``|x|, w <= MAX_BOX_FRAMES * width`` and ``|y|, h <=
    MAX_BOX_FRAMES * height`` (frame sides of :data:`ASSUMED_FRAME_SIDE` when the size is unknown). Boxes at or
    beyond the frame border stay plausible: only values no crop could be made of are excluded."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.broadcast_to(np.asarray(ASSUMED_FRAME_SIDE if image_size is None else image_size, dtype=np.float64),
                            (len(boxes), 2))
    sizes = np.where(np.isfinite(sizes), sizes, ASSUMED_FRAME_SIDE)
    limit = MAX_BOX_FRAMES * sizes[:, [1, 0, 1, 0]]  # width, height, width, height
    with np.errstate(invalid="ignore"):
        in_range = (np.abs(boxes) <= limit).all(axis=1) & (boxes[:, 2:] >= MIN_BOX_SIDE).all(axis=1)
    return valid_boxes(boxes) & in_range


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """[T] bool for [T, 4] xywh boxes: finite with positive width and height. The one validity rule of
    datasets, sampling and metrics (the OTB protocol adds its toolkit's own rule on top)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
