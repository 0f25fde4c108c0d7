"""The annotation index of one tracking sequence, shared by every dataset class.

Coordinate convention (all datasets, after parsing): boxes are ``[T, 4]`` float64 ``(x, y, w, h)`` in
continuous pixel coordinates of the frame, where pixel (i, j) covers ``[j, j+1) x [i, i+1)`` and ``(x, y)``
is the box's top-left corner. Datasets whose files are 1-based (e.g. OTB) are converted on parsing; each
dataset class documents what it does. ``visible[t]`` is False where the target is absent, fully occluded,
out of view, or its box is invalid (non-finite, or zero/negative width or height).
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
    """

    dataset: str
    name: str
    frames: Sequence[str]
    boxes: np.ndarray
    visible: np.ndarray
    class_name: str | None = None
    image_size: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        T = len(self.frames)
        if self.boxes.shape != (T, 4) or self.visible.shape != (T,):
            raise ValueError(f"{self.dataset}/{self.name}: {T} frames but boxes {self.boxes.shape} and visible "
                             f"{self.visible.shape}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def is_video(self) -> bool:
        """False for single-image 'sequences' (COCO): samplers repeat the frame."""
        return len(self.frames) > 1


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """[T] bool: finite boxes with positive width and height."""
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
