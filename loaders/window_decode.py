"""Decode only what a crop needs: the DCT-domain scale and the region of a frame that a crop window reads.

A record's window (x1y1x2y2, frame coordinates; mirrored when x1 > x2) is cropped to S x S by bilinear
sampling at ``c_i = lo + (i + 0.5) * s``, ``s = (hi - lo) / S`` (loaders.crop_windows). When ``s >= 2`` the crop
shrinks the frame, and a frame decoded at 1/k of its size (k = 2, 4, 8 <= s, libjpeg's DCT-domain scaling)
holds all the detail the crop keeps: its pixel j covers frame pixels [j k, (j + 1) k), so the same window is
``window / k`` there, and bilinear sampling of the reduced image at step s / k (>= 1) is close to an
area-filtered crop (closer than bilinear sampling of the full frame at step s, which aliases; fidelity in
tests/test_window_decode.py). Only the rows and columns the bilinear taps reach (plus a margin) are decoded
(tracking.data.frames.decode_frame_region), and the window is shifted into that region.

The record (boxes, labels, proposals) never changes: only the pixels the crop is sampled from do. With
``reduce=False`` the whole frame is decoded at full size (the pixels of tracking.data.frames.decode_frame),
which the DALI backend matches; the region is still decoded alone.

Borders: where the region reaches the frame's edge it is the frame's edge, so replicate / zero padding are
unchanged. A reduced image is ``ceil(W / k)`` wide: for a frame side that is not a multiple of k its last
pixel averages fewer frame pixels (libjpeg replicates the edge), a sub-pixel difference at that border only.
"""

from __future__ import annotations

import math

import numpy as np

from tracking.data import geometry
from tracking.data.frames import JPEG_SCALES, decode_frame_region, frame_size, read_frame_bytes

from .crop_windows import executable_window

#: Extra reduced pixels decoded around the bilinear taps on each side.
REGION_MARGIN = 1


def reduction_for(window: np.ndarray, output_size: int) -> int:
    """The largest DCT scale denominator k in tracking.data.frames.JPEG_SCALES with k <= the crop's frame pixels
    per output pixel on both axes (the window unmirrored; 1 when the crop does not shrink the frame 2x)."""
    w, _ = geometry.unmirror_windows(np.asarray(window, dtype=np.float64))
    step = min(w[2] - w[0], w[3] - w[1]) / output_size
    return max((k for k in JPEG_SCALES if k <= step), default=1)


def tap_span(lo: float, hi: float, output_size: int, scale: int = 1) -> tuple[int, int]:
    """(first, last), inclusive: the pixels, in coordinates reduced by `scale`, that the bilinear taps of the
    `output_size` samples c_i = lo + (i + 0.5) s, s = (hi - lo) / output_size, of an axis [lo, hi] read (frame
    coordinates): the taps of c at u = c / scale are floor(u - 0.5) and floor(u - 0.5) + 1."""
    step = (hi - lo) / output_size
    return math.floor((lo + 0.5 * step) / scale - 0.5), math.floor((hi - 0.5 * step) / scale - 0.5) + 1


def tap_region(window: np.ndarray, scale: int, output_size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), end-exclusive, in pixels of the frame reduced by `scale`: the pixels the bilinear taps
    of the crop of `window` (unmirrored, frame coordinates) read (tap_span), plus REGION_MARGIN (not clipped).
    The window is first made executable (loaders.crop_windows.executable_window: same crop, bounded
    coordinates) on the full frame."""
    lo_x, lo_y, hi_x, hi_y = executable_window(window, height, width, output_size)
    (x0, x1), (y0, y1) = (tap_span(lo, hi, output_size, scale) for lo, hi in ((lo_x, hi_x), (lo_y, hi_y)))
    return x0 - REGION_MARGIN, y0 - REGION_MARGIN, x1 + 1 + REGION_MARGIN, y1 + 1 + REGION_MARGIN


def decode_window(path: str, window: np.ndarray, output_size: int, reduce: bool = True,
                  data: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(image, window_in_image)``: the part of frame `path` the crop of `window` reads, decoded at 1/k
    (``reduce``: k = reduction_for(window); else 1) as ``[rows, cols, 3]`` uint8 BGR, and `window` (x1y1x2y2,
    mirrored or not) in that image's coordinates, so that ``crop_frame(image, window_in_image, S, padding)``
    crops what ``crop_frame(decode_frame(path), window, S, padding)`` does, from the reduced frame.
    FrameDecodeError as tracking.data.frames.decode_frame. `data`: the file's bytes when already read."""
    window = np.asarray(window, dtype=np.float64)
    scale = reduction_for(window, output_size) if reduce else 1
    data = read_frame_bytes(path) if data is None else data
    height, width = frame_size(path, data)
    unmirrored, _ = geometry.unmirror_windows(window)
    region = tap_region(unmirrored, scale, output_size, height, width)
    image, used, left, top = decode_frame_region(path, scale, region, data=data)
    shifted = window / used - np.array([left, top, left, top], dtype=np.float64)
    return image, shifted



#: replicate_border pads at most this many pixels (else cv2.warpAffine's own border handling runs).
MAX_BORDER_PIXELS = 1 << 21


def replicate_border(image: np.ndarray, window: np.ndarray, output_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image, window)`` with the image's border replicated outwards (cv2.copyMakeBorder) just far enough that
    every bilinear tap of the crop of `window` (x1y1x2y2, unmirrored, bounded: see
    loaders.crop_windows.executable_window) lies inside, and the window shifted by the padding.

    The crop is unchanged (bit-identical: the taps read the same values with the same weights; an integer shift
    of cv2's fixed-point coordinates), but cv2.warpAffine then never takes its per-pixel border path, which
    costs it 2-3x with BORDER_REPLICATE. Returned unchanged when nothing is outside or the padded image would
    exceed MAX_BORDER_PIXELS."""
    import cv2

    height, width = image.shape[:2]

    def outside(lo: float, hi: float, n: int) -> tuple[int, int]:
        first, last = tap_span(lo, hi, output_size)
        return max(0, -first), max(0, last + 1 - n)

    left, right = outside(window[0], window[2], width)
    top, bottom = outside(window[1], window[3], height)
    if not (left or right or top or bottom):
        return image, window
    if (height + top + bottom) * (width + left + right) > MAX_BORDER_PIXELS:
        return image, window
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return padded, window + np.array([left, top, left, top], dtype=np.float64)
