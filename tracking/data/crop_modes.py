"""Crop windows of the processing's crop types, and the frame sizes the image-aware ones need.

Crop types (``ProcessingConfig.crop_type``; windows are xyxy in continuous frame coordinates, see
tracking.data.geometry):

* ``"replicate"`` / ``"zeros"``: the plain square window of side ``sqrt(w * h) * search_area_factor`` around
  the (jittered) box (``geometry.crop_window``); what lies outside the frame is the border replicated or
  zeros (``ProcessingConfig.padding``).
* ``"inside"`` / ``"inside_major"``: pytracking's ``sample_target_adaptive`` (KLDiMPProcessing, SuperDiMP's
  ``crop_type='inside_major', max_scale_change=1.5``). For a frame W wide and H high, the window side s is
  divided by ``r = clip(max(s / W, s / H), 1, max_scale_change)`` ("inside") or
  ``r = clip(min(s / W, s / H), 1, max_scale_change)`` ("inside_major": the window is only shrunk to fit
  the frame's longer side); then, on each axis of length n, a window of side ``s' = s / r`` that fits
  (``s' <= n``) is shifted by the least amount that puts it inside ``[0, n]``, and one that does not fit is
  centred on the axis (it extends ``(s' - n) / 2`` beyond both ends, filled by the padding). So "inside"
  windows lie inside the frame unless ``max_scale_change`` stops the shrinking, and "inside_major" windows
  lie inside the frame along its longer side under the same condition.

  Differences from pytracking, on purpose: the window stays continuous (pytracking ceils s, floors s / r
  and rounds the corner to whole pixels, moving the window by up to a pixel), and a window that does not fit
  is centred exactly (pytracking's integer halving is off by half a pixel for odd overflows).

Frame sizes: the adaptive crop types need each frame's (height, width) as decoded (EXIF orientation
applied): ``SequenceInfo.image_size`` when the dataset knows it (trusted to be the decoded size), else
read from the file's header (tracking.data.frames.frame_size), remembered per (path, file size, mtime) in
the process. A frame whose size cannot be read (missing or damaged file) gets NaN: the processing then uses its
plain window, and the loader replaces the sample when it fails to decode that frame anyway.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from . import geometry
from .frames import FrameDecodeError, frame_size

__all__ = ["CROP_TYPES", "ADAPTIVE_CROP_TYPES", "adaptive_window", "frame_sizes"]

#: The crop types of ProcessingConfig.crop_type (module docstring).
CROP_TYPES = ("replicate", "zeros", "inside", "inside_major")
#: The crop types whose windows depend on the frame size.
ADAPTIVE_CROP_TYPES = ("inside", "inside_major")

#: Entries of the process's cache of frame sizes read from files (cleared when full).
SIZE_CACHE_ENTRIES = 1 << 18
_size_cache: dict[tuple[str, int, int], tuple[int, int]] = {}


def adaptive_window(box, search_area_factor: float, image_size, crop_type: str,
                    max_scale_change: float | None = None) -> np.ndarray:
    """The "inside" / "inside_major" crop windows (module docstring) of boxes in frames of known size.

    Args:
        box: [..., 4] xywh (jittered) boxes, finite with positive size (else ValueError).
        search_area_factor: > 0, the plain window's side in units of ``sqrt(w * h)``.
        image_size: [..., 2] (height, width) of each box's frame (broadcasts with ``box``), finite and > 0.
        crop_type: "inside" or "inside_major".
        max_scale_change: the largest factor r the window is shrunk by (>= 1); None: unbounded.

    Returns:
        [..., 4] float64 square xyxy windows (x1 < x2, continuous coordinates).
    """
    if crop_type not in ADAPTIVE_CROP_TYPES:
        raise ValueError(f"adaptive_window: `crop_type` must be one of {ADAPTIVE_CROP_TYPES}, got {crop_type!r}")
    limit = np.inf if max_scale_change is None else float(max_scale_change)
    if not limit >= 1.0:
        raise ValueError(f"adaptive_window: `max_scale_change` must be >= 1 or None, got {max_scale_change!r}")
    plain = geometry.crop_window(box, search_area_factor)  # validates box and factor
    size = np.asarray(image_size, dtype=np.float64)
    if size.ndim == 0 or size.shape[-1] != 2 or not (np.isfinite(size).all() and (size > 0).all()):
        raise ValueError(f"adaptive_window: `image_size` must be [..., 2] finite positive (height, width), got "
                         f"{np.asarray(image_size).tolist()!r}")
    extent = np.stack([size[..., 1], size[..., 0]], axis=-1)  # (width, height): the x and y axis lengths
    side = plain[..., 2] - plain[..., 0]  # [...]
    ratios = side[..., None] / extent  # [..., 2]
    ratio = ratios.max(axis=-1) if crop_type == "inside" else ratios.min(axis=-1)
    side = side / np.clip(ratio, 1.0, limit)
    centre = geometry.box_center(box)
    lo = np.clip(centre - 0.5 * side[..., None], 0.0, np.maximum(extent - side[..., None], 0.0))
    lo = np.where(side[..., None] >= extent, 0.5 * (extent - side[..., None]), lo)
    return np.concatenate([lo, lo + side[..., None]], axis=-1)


def _cached_size(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    size = _size_cache.get(key)
    if size is None:
        size = frame_size(path)
        if len(_size_cache) >= SIZE_CACHE_ENTRIES:
            _size_cache.clear()
        _size_cache[key] = size
    return size


def frame_sizes(paths: Sequence[str], image_size: tuple[int, int] | None = None) -> np.ndarray:
    """[n, 2] float64 (height, width) of the frames `paths` as decoded: `image_size` (the sequence's, when the
    dataset knows it) for all of them, else each file's (module docstring); NaN for a frame whose size cannot
    be read."""
    if image_size is not None:
        return np.tile(np.asarray(image_size, dtype=np.float64), (len(paths), 1))
    out = np.full((len(paths), 2), np.nan)
    for i, path in enumerate(paths):
        try:
            out[i] = _cached_size(path)
        except (OSError, FrameDecodeError):
            pass
    return out
