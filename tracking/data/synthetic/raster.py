"""Rasterisation of the scene's shapes: the integer pixel range of a continuous box, the anti-aliased coverage
of an axis-aligned ellipse or rectangle, and textured compositing of a shape onto a frame.

Boxes here are corner boxes ``(x0, y0, x1, y1)`` in the continuous pixel coordinates of
``tracking.data.sequence`` (pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``, its centre is ``(j + 0.5, i + 0.5)``).
"""

from __future__ import annotations

import math

import numpy as np

from .textures import _TEXTURE_SIZE

_ELLIPSE, _RECTANGLE = "ellipse", "rectangle"


def _roi(box: np.ndarray, height: int, width: int, clip: bool = True) -> tuple[int, int, int, int]:
    """Integer pixel range ``(r0, r1, c0, c1)`` of the pixels intersecting ``box = (x0, y0, x1, y1)``."""
    c0, r0, c1, r1 = math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])
    if clip:
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
    return r0, r1, c0, c1


def _shape_alpha(kind: str, box: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """[r1 - r0, c1 - c0] float32 anti-aliased coverage of an axis-aligned ellipse/rectangle ``(x0, y0, x1, y1)``.

    Coverage = ``clip(d + 0.5, 0, 1)`` with ``d`` the signed distance (pixels, positive inside) of each pixel
    centre to the boundary; for the ellipse ``d`` is the first-order estimate ``-f / |grad f|``.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    xs = np.arange(c0, c1, dtype=np.float32) + np.float32(0.5)
    ys = np.arange(r0, r1, dtype=np.float32) + np.float32(0.5)
    if kind == _RECTANGLE:
        dx = np.minimum(xs - x0, x1 - xs)
        dy = np.minimum(ys - y0, y1 - ys)
        d = np.minimum(dy[:, None], dx[None, :])
    else:
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        u, v = (xs - (x0 + a)) / a, (ys - (y0 + b)) / b
        uu, vv = u * u, v * v
        f = vv[:, None] + uu[None, :] - 1
        grad = 2 * np.sqrt(vv[:, None] / (b * b) + uu[None, :] / (a * a))
        d = -f / np.maximum(grad, np.float32(1e-6))
    return np.clip(d + np.float32(0.5), 0, 1).astype(np.float32, copy=False)


def _composite(frame: np.ndarray, pyramid: list[np.ndarray], kind: str, box: np.ndarray) -> None:
    """Draw a textured shape filling ``box = (x0, y0, x1, y1)`` (continuous coordinates) onto ``frame`` in place."""
    import cv2

    height, width = frame.shape[:2]
    r0, r1, c0, c1 = _roi(box, height, width)
    if r0 >= r1 or c0 >= c1:
        return
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    level = min(len(pyramid) - 1, max(0, int(math.floor(math.log2(_TEXTURE_SIZE / max(bw, bh, 1.0))))))
    texture = pyramid[level]
    size = texture.shape[0]
    sx, sy = size / bw, size / bh
    # dst pixel (j, i) has centre x = c0 + j + 0.5; texture coordinate u = (x - x0) * sx; texel index u - 0.5.
    matrix = np.array([[sx, 0.0, (c0 + 0.5 - box[0]) * sx - 0.5],
                       [0.0, sy, (r0 + 0.5 - box[1]) * sy - 0.5]])
    patch = cv2.warpAffine(texture, matrix, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT)
    alpha = _shape_alpha(kind, box, r0, r1, c0, c1)[:, :, None]
    roi = frame[r0:r1, c0:c1]
    base = roi.astype(np.float32)
    roi[...] = (base + alpha * (patch.astype(np.float32) - base) + np.float32(0.5)).astype(np.uint8)
