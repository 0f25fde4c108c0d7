"""The tracker protocol that the OPE runner, ``python -m tracking.run`` and the benchmarks use.

Frames are ``H x W x 3`` RGB ``uint8`` numpy arrays (grayscale sequences are given as 3 equal channels). Boxes
are ``(x, y, w, h)`` in continuous pixel coordinates of the frame (pixel (i, j) covers ``[j, j+1) x [i, i+1)``;
0-based, as everywhere in ``tracking.data``). ``initialize`` takes the first frame and the target's box;
``track`` returns the box in each later frame. ``track_info`` is the same step returning a :class:`TrackOutput`
with optional per-frame information (score map, confidence, target-not-found flag, per-stage timings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["TrackOutput", "Tracker"]


@dataclass
class TrackOutput:
    """One frame's result.

    box: ``[4]`` float64 xywh in frame pixels.
    confidence: the tracker's own confidence (DiMP: the score map's maximum), or None.
    state: "normal", "uncertain", "hard_negative" or "not_found" (DiMP's localisation states), or None.
    score_map: ``[H', W']`` float32 score map of the search patch at the chosen scale, when asked for.
    timings: seconds per stage of this frame (e.g. {"sample": .., "backbone": .., "classify": ..}).
    extra: anything else (tracker-specific).
    """

    box: np.ndarray
    confidence: float | None = None
    state: str | None = None
    score_map: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Tracker(Protocol):
    """What every tracker provides (see the module docstring for frames and boxes)."""

    def initialize(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def track(self, frame: np.ndarray) -> np.ndarray: ...
