"""The ImageNet normalisation of network inputs, shared by the loaders, the trainer and the trackers.

Convention: images are RGB, channels at dim -3 (``[..., 3, H, W]``), with intensities in 0-255 units whatever
the dtype (uint8 or float), as the loaders and the trackers' crops produce them. The result is
``(images / 255 - mean) / std`` with ImageNet's RGB mean and std, which is what pytracking's (and
torchvision's) ImageNet-trained backbones expect. For float images already in [0, 1] pass ``scale=1.0``
(generally: the result is ``(images * scale - mean) / std``; ``scale=None`` means divide by 255).
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


def normalize_images(images: Tensor, mean: Sequence[float] | Tensor = IMAGENET_MEAN,
                     std: Sequence[float] | Tensor = IMAGENET_STD, scale: float | None = None) -> Tensor:
    """Normalise RGB images for an ImageNet-trained network: ``(images * scale - mean) / std``.

    Args:
        images: ``[..., 3, H, W]`` RGB, uint8 or floating point, any device and memory format
            (channels_last is kept).
        mean, std: per-channel values in [0, 1] units, RGB order (default ImageNet's).
        scale: factor bringing ``images`` to [0, 1] units; ``None`` (default) divides by 255, i.e. images are
            in 0-255 units for uint8 and float alike. Use ``scale=1.0`` for float images already in [0, 1].

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
    x = x / 255.0 if scale is None else x * scale
    return (x - mean_t) / std_t
