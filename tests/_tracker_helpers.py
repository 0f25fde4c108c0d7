"""Shared pieces of the online-tracker tests: a synthetic moving target and running a tracker over frames."""

from __future__ import annotations

import numpy as np


def moving_square(num: int = 6, size=(120, 160), target=(20, 24), start=(50, 40)):
    """``num`` frames ``size`` (h, w) with a bright textured ``target`` (w, h) moving right and down from
    ``start`` (x, y) by (4, 2) pixels a frame over a dark random background, and its boxes (xywh)."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 80, (*size, 3), dtype=np.uint8)
    tw, th = target
    tex = rng.integers(150, 255, (th, tw, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(num):
        f = bg.copy()
        x, y = start[0] + 4 * i, start[1] + 2 * i
        f[y:y + th, x:x + tw] = tex
        frames.append(f)
        boxes.append(np.array([x, y, tw, th], dtype=np.float64))
    return frames, boxes


def run(tracker, frames, box):
    """Initialise ``tracker`` on the first frame with ``box``; the ``track_info`` outputs of the others."""
    tracker.initialize(frames[0], box)
    return [tracker.track_info(f) for f in frames[1:]]
