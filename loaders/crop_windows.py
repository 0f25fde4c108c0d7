"""Crop windows as the backends execute them: an equivalent window with bounded coordinates.

A record's window (x1y1x2y2, frame coordinates, tracking.data.processing) is cropped to S x S by bilinear
sampling at the output pixel centres: on an axis with window [lo, hi] the samples are at
``c_i = lo + (i + 0.5) * s``, ``s = (hi - lo) / S``, i = 0..S-1, in continuous coordinates (pixel j covers
[j, j + 1)). For an image n pixels long on that axis, a sample at ``c <= -0.5`` or ``c >= n + 0.5`` reads
no pixel (both bilinear taps are outside): it is 0 with zero padding and the border pixel of its side with
replicate padding (which already holds from 0.5 / n - 0.5 on). So any window whose samples inside
(-0.5, n + 0.5) are the same and whose other samples stay on the same side gives the same crop.

Windows of boxes near or beyond the frame border, or of absurd boxes (e.g. 0,0,1e6,1e6), can have
coordinates in the millions, beyond what the backends compute correctly: cv2.warpAffine's 32-bit
fixed-point coordinates overflow above ~2^20 (silently wrong pixels), and DALI takes float32 matrices and
ROIs (0.25 px steps at 2e6). executable_window rewrites such an axis into an equivalent one whose
coordinates stay within about S * (n + 2) of the image:

- spacing s > n + 1 (at most one sample inside): that sample (or, if none, the first one beyond the far
  side, moved to n + 1) is kept and the spacing becomes n + 2, so its neighbours fall outside on their sides;
- otherwise, a window wholly beyond one side is moved next to it (its first sample at n + 1, or its last at
  -1), spacing unchanged;
- otherwise the window is kept as is (its coordinates are then within S * (n + 1) + n of the image).

The crop boxes, labels and proposals of the record keep the record's window; only the pixel sampling uses
the equivalent one.
"""

from __future__ import annotations

import numpy as np


def executable_axis(lo: float, hi: float, n: int, samples: int) -> tuple[float, float]:
    """The equivalent (lo, hi) (module docstring) of window extent [lo, hi] sampled `samples` times over an
    image axis of `n` pixels (continuous coordinates, lo < hi)."""
    step = (hi - lo) / samples
    if step > n + 1:
        centres = lo + (np.arange(samples) + 0.5) * step
        k = int(np.searchsorted(centres, -0.5, side="right"))  # samples [0, k) read nothing, on the near side
        if k == samples:
            index, anchor = samples - 1, -1.0
        elif centres[k] < n + 0.5:
            index, anchor = k, float(centres[k])
        else:
            index, anchor = k, n + 1.0
        step = n + 2.0
        lo = anchor - (index + 0.5) * step
        return lo, lo + samples * step
    if lo >= n + 0.5:
        return n + 1.0 - 0.5 * step, n + 1.0 + (samples - 0.5) * step
    if hi <= -0.5:
        return -1.0 - (samples - 0.5) * step, -1.0 + 0.5 * step
    return lo, hi


def executable_window(window: np.ndarray, height: int, width: int, output_size: int) -> np.ndarray:
    """[4] float64 x1y1x2y2: a window giving the same S x S crop (S = output_size) of a `height` x `width`
    image as `window` under either padding, with coordinates bounded as the module docstring says;
    ValueError unless `window` is finite with x2 > x1 and y2 > y1."""
    w = np.asarray(window, dtype=np.float64)
    if w.shape != (4,) or not np.all(np.isfinite(w)) or w[2] <= w[0] or w[3] <= w[1]:
        raise ValueError(f"crop window {w.tolist()}: must be 4 finite values x1, y1, x2, y2 with x2 > x1, y2 > y1")
    x1, x2 = executable_axis(float(w[0]), float(w[2]), width, output_size)
    y1, y2 = executable_axis(float(w[1]), float(w[3]), height, output_size)
    return np.array([x1, y1, x2, y2], dtype=np.float64)
