"""The ImageNet normalisation of network inputs, shared by the loaders, the trainer and the trackers.

Convention: images are RGB, channels at dim -3 (``[..., 3, H, W]``), with intensities in 0-255 units whatever
the dtype (uint8 or float), as the loaders and the trackers' crops produce them. The result is
``(images / 255 - mean) / std`` with ImageNet's RGB mean and std, which is what pytracking's (and
torchvision's) ImageNet-trained backbones expect. For float images already in [0, 1] pass ``scale=1.0``
(generally: the result is ``(images * scale - mean) / std``; ``scale=None`` means divide by 255).

With a per-image ``brightness`` factor (the loaders' brightness jitter) the result is
``(clamp(images * float(brightness / 255), 0, 1) - mean) / std``: the factor ``brightness / 255`` is computed in
float64 and rounded once to the images' dtype, then multiply, clamp, subtract, divide, each rounded in that
dtype. This is the one definition of the loaders' normalisation: the OpenCV backend's per-level table
(loaders.normalize.normalisation_table) is this function applied to the 256 uint8 levels, and
loaders.normalize.normalize_batch uses it on CUDA, so both give the same float32 values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""ImageNet per-channel mean, RGB order, for intensities in [0, 1]."""
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""ImageNet per-channel standard deviation, RGB order, for intensities in [0, 1]."""


def _channel_values(values: Sequence[float] | Tensor, name: str, dtype: torch.dtype,
                    device: torch.device) -> Tensor:
    t = torch.as_tensor(values, dtype=dtype, device=device)
    if t.shape != (3,):
        raise ValueError(f"normalize_images: {name} must hold 3 values (R, G, B), got shape {list(t.shape)}")
    return t.view(3, 1, 1)


def _brightness_factor(brightness: float | Sequence[float] | Tensor, images: Tensor, dtype: torch.dtype,
                       scale: float | None) -> Tensor:
    """``brightness / 255`` (or ``* scale``) in float64, rounded once to ``dtype``, shaped ``[..., 1, 1, 1]`` to
    broadcast over the images' ``[..., 3, H, W]``."""
    if isinstance(brightness, Tensor):
        factor = brightness.cpu() if brightness.device.type == "mps" else brightness  # no float64 on MPS
        if not factor.is_floating_point():
            raise TypeError(f"normalize_images: brightness must be floating point, got {factor.dtype}")
        factor = factor.to(torch.float64)
    else:  # Python / numpy floats: float64, not torch's default float32
        factor = torch.as_tensor(brightness, dtype=torch.float64)
    leading = images.shape[:-3]
    try:
        torch.broadcast_shapes(factor.shape, leading)
    except RuntimeError:
        raise ValueError(f"normalize_images: brightness must be one factor per image, shape {list(leading)} (or "
                         f"broadcastable to it), got shape {list(factor.shape)}") from None
    if factor.dim() > len(leading):
        raise ValueError(f"normalize_images: brightness has more dimensions ({factor.dim()}) than the images' "
                         f"leading shape {list(leading)}")
    # a tensor divisor, not the Python scalar: CUDA divides by a CPU scalar as a multiplication by its
    # reciprocal, which is not always the correctly rounded quotient
    if scale is None:
        factor = factor / torch.full((), 255.0, dtype=torch.float64, device=factor.device)
    else:
        factor = factor * scale
    return factor.to(dtype).to(images.device, non_blocking=True).reshape(*factor.shape, 1, 1, 1)


def normalize_images(images: Tensor, mean: Sequence[float] | Tensor = IMAGENET_MEAN,
                     std: Sequence[float] | Tensor = IMAGENET_STD, scale: float | None = None,
                     brightness: float | Sequence[float] | Tensor | None = None) -> Tensor:
    """Normalise RGB images for an ImageNet-trained network: ``(images * scale - mean) / std``, or with
    ``brightness``: ``(clamp(images * (brightness * scale), 0, 1) - mean) / std``.

    Args:
        images: ``[..., 3, H, W]`` RGB, uint8 or floating point, any device and memory format
            (channels_last is kept).
        mean, std: per-channel values in [0, 1] units, RGB order (default ImageNet's).
        scale: factor bringing ``images`` to [0, 1] units; ``None`` (default) divides by 255, i.e. images are
            in 0-255 units for uint8 and float alike. Use ``scale=1.0`` for float images already in [0, 1].
        brightness: optional per-image factor(s), shape ``images.shape[:-3]`` (or broadcastable to it, e.g. a
            scalar; any device): the images are multiplied by ``brightness * scale`` (computed in float64,
            rounded once to the result dtype) and clamped to [0, 1] before the mean and std.

    Returns:
        Same shape and device; float32 for uint8 input, else the input's float dtype.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"normalize_images: images must be a tensor, got {type(images).__name__}")
    if images.dim() < 3 or images.shape[-3] != 3:
        raise ValueError(f"normalize_images: images must be [..., 3, H, W] (RGB channels at dim -3), got shape "
                         f"{list(images.shape)}")
    if images.dtype == torch.uint8:
        dtype = torch.float32
    elif images.is_floating_point():
        dtype = images.dtype
    else:
        raise TypeError(f"normalize_images: images must be uint8 or floating point, got {images.dtype}")
    mean_t = _channel_values(mean, "mean", dtype, images.device)
    std_t = _channel_values(std, "std", dtype, images.device)
    if not isinstance(std, Tensor) and any(s == 0 for s in std):
        raise ValueError(f"normalize_images: std must be non-zero, got {tuple(std)}")
    x = images.to(dtype)
    if brightness is not None:
        x = (x * _brightness_factor(brightness, images, dtype, scale)).clamp_(0.0, 1.0)
    else:
        x = x / 255.0 if scale is None else x * scale
    return (x - mean_t) / std_t
