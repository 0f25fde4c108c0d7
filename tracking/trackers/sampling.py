"""Search windows and image patches of the online trackers (pytracking's ``sample_patch_multiscale``, continuous).

Coordinates. Everything here is in *continuous* pixel coordinates of the frame: pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``, so a box ``(x, y, w, h)`` has its centre at ``(x + w/2, y + h/2)``. Points are
``(x, y)`` and sizes ``(w, h)`` (pytracking uses ``(y, x)`` and pixel-index centres; we do not). A window is
``(x1, y1, x2, y2)``, the image region a patch shows; patch pixel coordinate ``u`` (continuous, in
``[0, out_w)``) shows image coordinate ``x1 + u * (x2 - x1) / out_w`` (same for y), which is exactly the
convention of :func:`tracking.ops.crop_and_resize` (half-pixel sampling). ``patch_to_image`` /
``image_to_patch`` convert.

Windows are computed on the host (numpy float64: a handful of numbers per frame); the patches on the device of
the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from tracking.ops import crop_and_resize

__all__ = [
    "BORDER_MODES",
    "frame_to_tensor",
    "image_to_patch",
    "patch_to_image",
    "sample_patches",
    "search_windows",
    "window_scales",
]

#: ``replicate``: the window as asked, the image's border replicated outside it; ``inside``: shrink (by at most
#: ``max_scale_change``) and shift the window so that it lies inside the image in both dimensions where it
#: can; ``inside_major``: the same, with the shrink factor of the less-constrained dimension (SuperDiMP).
BORDER_MODES = ("replicate", "inside", "inside_major")


def search_windows(center: Sequence[float], base_size: Sequence[float], scales: Sequence[float] | np.ndarray,
                   image_size: Sequence[int], mode: str = "replicate",
                   max_scale_change: float | None = None) -> np.ndarray:
    """Windows of the multi-scale search patches.

    Args:
        center: ``(x, y)`` window centre in the frame (continuous).
        base_size: ``(w, h)`` of the window at scale 1 (the patch size in patch pixels).
        scales: ``[S]`` image pixels per patch pixel of each window.
        image_size: ``(W, H)`` of the frame.
        mode: one of :data:`BORDER_MODES`.
        max_scale_change: the largest shrink factor of the ``inside`` modes (None: unbounded).

    Returns:
        ``[S, 4]`` float64 windows ``(x1, y1, x2, y2)``. In the ``inside`` modes a window is shrunk by
        ``f = clamp(max or min over dims of size / image_size, 1, max_scale_change)``, moved inside the image
        and, where it is still larger than the image in a dimension, centred on the image there.
    """
    if mode not in BORDER_MODES:
        raise ValueError(f"border mode {mode!r} unknown; known: {', '.join(BORDER_MODES)}")
    c = np.asarray(center, dtype=np.float64).reshape(1, 2)
    size = np.asarray(scales, dtype=np.float64).reshape(-1, 1) * np.asarray(base_size, dtype=np.float64).reshape(1, 2)
    if mode == "replicate":
        return np.concatenate((c - size / 2, c + size / 2), axis=1)
    im = np.asarray(image_size, dtype=np.float64).reshape(1, 2)
    ratio = size / im
    shrink = ratio.max(axis=1) if mode == "inside" else ratio.min(axis=1)
    shrink = np.clip(shrink, 1.0, np.inf if max_scale_change is None else max_scale_change)
    size = size / shrink[:, None]
    tl, br = c - size / 2, c + size / 2
    shift = np.clip(-tl, 0, None) - np.clip(br - im, 0, None)
    tl, br = tl + shift, br + shift
    outside = (np.clip(-tl, 0, None) + np.clip(br - im, 0, None)) / 2
    shift = np.where(outside > 0, -tl - outside, 0.0)
    return np.concatenate((tl + shift, br + shift), axis=1)


def window_scales(windows: np.ndarray, out_size: Sequence[int]) -> np.ndarray:
    """``[S]`` image pixels per patch pixel of ``windows`` ``[S, 4]`` for patches ``out_size = (h, w)``
    (the geometric mean of the two axes, as pytracking's ``sample_scales``)."""
    w = windows[:, 2] - windows[:, 0]
    h = windows[:, 3] - windows[:, 1]
    return np.sqrt(w / out_size[1] * h / out_size[0])


def frame_to_tensor(frame: np.ndarray, device: torch.device | str) -> Tensor:
    """``H x W x 3`` uint8 RGB -> ``[1, 3, H, W]`` float32 (0-255) on ``device``."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be an H x W x 3 numpy array, got "
                         f"{getattr(frame, 'shape', type(frame).__name__)}")
    t = torch.from_numpy(np.ascontiguousarray(frame)).to(device, non_blocking=True)
    return t.permute(2, 0, 1).unsqueeze(0).float()


def sample_patches(image: Tensor, windows: np.ndarray | Tensor, out_size: Sequence[int]) -> Tensor:
    """Bilinear patches ``[S, 3, h, w]`` of ``windows`` ``[S, 4]`` (x1, y1, x2, y2) from ``image`` ``[1, 3, H, W]``,
    border replicated outside the frame (``crop_and_resize(padding='border')``); ``out_size = (h, w)``."""
    boxes = torch.as_tensor(np.asarray(windows, dtype=np.float32) if isinstance(windows, np.ndarray) else windows,
                            dtype=image.dtype, device=image.device).reshape(-1, 4)
    index = boxes.new_zeros(boxes.shape[0], 1)
    return crop_and_resize(image, torch.cat((index, boxes), dim=1), tuple(int(s) for s in out_size),
                           padding="border")


def patch_to_image(points: np.ndarray, window: np.ndarray, out_size: Sequence[int]) -> np.ndarray:
    """Patch coordinates ``[..., 2]`` (x, y) of the patch of ``window`` (x1, y1, x2, y2) with ``out_size`` (h, w)
    -> frame coordinates."""
    scale = np.array([(window[2] - window[0]) / out_size[1], (window[3] - window[1]) / out_size[0]])
    return np.asarray(window[:2]) + np.asarray(points) * scale


def image_to_patch(points: np.ndarray, window: np.ndarray, out_size: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`patch_to_image`."""
    scale = np.array([(window[2] - window[0]) / out_size[1], (window[3] - window[1]) / out_size[0]])
    return (np.asarray(points) - np.asarray(window[:2])) / scale
