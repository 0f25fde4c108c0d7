"""The consumer side of raw batches: normalize_batch turns a raw (uint8) batch into the float batch.

    loader = build_loader(LoaderConfig(images="uint8", pin_memory=True), datasets)
    for batch in loader:
        batch = normalize_batch(batch, "cuda")     # float32 ImageNet-normalised images, on the GPU

A raw batch (loaders.samples, LoaderConfig.images="uint8") holds uint8 RGB crops (grayscale applied) and each
frame's brightness factor; the float batch holds ``(clip(level * brightness / 255, 0, 1) - mean) / std`` per
pixel (ImageNet mean / std, float32) and no brightness fields. The values are those of
tracking.ops.normalize_images (the one definition), bit for bit, on every device:

* on a CUDA (or other non-CPU) device: normalize_images itself, torch elementwise float32 arithmetic
  (multiply by float32(brightness / 255), clamp, subtract, divide);
* on the CPU: one cv2.LUT per channel through normalisation_tables (normalize_images
  applied to the 256 levels: the same values, ~5x faster than the arithmetic on the CPU); without OpenCV,
  normalize_images.

The loaders call normalize_batch themselves for LoaderConfig.images="float" (in the consumer's process, right
after a batch arrives); the trainer asks for raw batches and normalises on its device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tracking.ops.normalize import normalize_images

from .samples import BRIGHTNESS_FIELDS

__all__ = ["batch_nbytes", "is_raw_batch", "normalisation_table", "normalisation_tables", "normalise_planes",
           "normalize_batch", "normalize_images_lut"]

#: The 256 uint8 levels, as RGB "images" [3, 1, 256] for normalize_images.
_LEVELS = torch.arange(256, dtype=torch.uint8).expand(3, 1, 256)


def normalisation_tables(brightness: float | np.ndarray | torch.Tensor) -> np.ndarray:
    """[..., 3, 256] float32 for brightness factors of shape [...]: the normalised value of each uint8 level per
    RGB channel, (clip(level * brightness / 255, 0, 1) - mean) / std, i.e. tracking.ops.normalize_images with
    `brightness` applied to the 256 levels (the one definition of the normalisation; evaluated in float32)."""
    factors = brightness if isinstance(brightness, torch.Tensor) else torch.as_tensor(brightness, dtype=torch.float64)
    levels = _LEVELS.expand(*factors.shape, 3, 1, 256)
    return normalize_images(levels, brightness=factors).reshape(*factors.shape, 3, 256).numpy()


def normalisation_table(brightness: float) -> np.ndarray:
    """[3, 256] float32: normalisation_tables of one brightness factor."""
    return np.ascontiguousarray(normalisation_tables(brightness))


def normalise_planes(planes: np.ndarray, table: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 3xHxW RGB planes -> float32 3xHxW through `table` [3, 256] (normalisation_table), one cv2.LUT per
    channel (the same float32 values as the per-pixel arithmetic, ~5x faster on the CPU)."""
    import cv2

    if out is None:
        out = np.empty(planes.shape, dtype=np.float32)
    for channel in range(3):
        cv2.LUT(planes[channel], table[channel], dst=out[channel])
    return out


def is_raw_batch(batch: Mapping[str, Any]) -> bool:
    """True for a raw batch (uint8 images and brightness fields), False for a float batch; ValueError /
    TypeError for anything else (normalize_batch's checks)."""
    if not isinstance(batch, Mapping):
        raise TypeError(f"normalize_batch: a batch is a dict (layout of loaders.samples), got {type(batch).__name__}")
    missing = [key for key in BRIGHTNESS_FIELDS if key not in batch]
    if missing:
        raise ValueError(f"normalize_batch: the batch has no {missing} (keys: {list(batch)}); the layout is "
                         "loaders.samples'")
    kinds = []
    for key, brightness_key in BRIGHTNESS_FIELDS.items():
        images = batch[key]
        if not isinstance(images, torch.Tensor) or images.dim() != 5 or images.shape[2] != 3:
            shape = list(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"normalize_batch: {key} must be a [n, B, 3, S, S] tensor, got {shape}")
        if images.dtype == torch.uint8:
            if brightness_key not in batch:
                raise ValueError(f"normalize_batch: {key} is uint8 (a raw batch) but the batch has no "
                                 f"{brightness_key} (its per-frame brightness factors)")
            brightness = batch[brightness_key]
            if not isinstance(brightness, torch.Tensor) or tuple(brightness.shape) != tuple(images.shape[:2]) \
                    or not brightness.is_floating_point():
                got = (f"{list(brightness.shape)} {brightness.dtype}" if isinstance(brightness, torch.Tensor)
                       else type(brightness).__name__)
                raise ValueError(f"normalize_batch: {brightness_key} must be a floating point tensor of shape "
                                 f"{list(images.shape[:2])} ({key}'s [n, B]), got {got}")
            kinds.append("raw")
        elif images.dtype == torch.float32:
            if brightness_key in batch:
                raise ValueError(f"normalize_batch: {key} is float32 (already normalised) but the batch also "
                                 f"has {brightness_key}; a raw batch's images are uint8")
            kinds.append("float")
        else:
            raise TypeError(f"normalize_batch: {key} must be uint8 (a raw batch) or float32 (a normalised one), "
                            f"got {images.dtype}")
    if len(set(kinds)) != 1:
        raise ValueError("normalize_batch: the batch mixes raw and normalised images "
                         f"({dict(zip(BRIGHTNESS_FIELDS, kinds))})")
    return kinds[0] == "raw"


def normalize_images_lut(images: torch.Tensor, brightness: torch.Tensor) -> torch.Tensor:
    """CPU uint8 [n, B, 3, S, S] images and [n, B] brightness -> float32 [n, B, 3, S, S]: normalize_images'
    values through one cv2.LUT per channel and frame (normalisation_tables); without
    OpenCV, normalize_images itself."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return normalize_images(images, brightness=brightness)
    tables = normalisation_tables(brightness.detach().cpu())  # [n, B, 3, 256]
    planes = images.contiguous().numpy()
    out = torch.empty(images.shape, dtype=torch.float32)
    target = out.numpy()
    for i in range(planes.shape[0]):
        for j in range(planes.shape[1]):
            normalise_planes(planes[i, j], tables[i, j], out=target[i, j])
    return out


def _device(device: torch.device | str | None, images: torch.Tensor) -> torch.device:
    return images.device if device is None else torch.device(device)


def _move(images: torch.Tensor, device: torch.device, non_blocking: bool) -> torch.Tensor:
    if images.device == device:
        return images
    return images.to(device, non_blocking=non_blocking and images.device.type == "cpu" and images.is_pinned())


def normalize_batch(batch: Mapping[str, Any], device: torch.device | str | None = None,
                    non_blocking: bool = True) -> dict:
    """The float batch of a raw batch (module docstring), images on `device` (None: where they are).

    Raw batch in: uint8 train_images / test_images [n, B, 3, S, S] with float train_brightness /
    test_brightness [n, B]. Float batch out: the same keys in the same order without the brightness fields,
    images float32 [n, B, 3, S, S] on `device` (copied there first, non_blocking from pinned memory when
    `non_blocking`, then normalised there); every other value as it was (not moved). A float batch (float32
    images, no brightness fields) is returned as it is, its images moved to `device` when one is given.
    TypeError / ValueError naming the field for anything else.
    """
    raw = is_raw_batch(batch)
    out: dict = {}
    drop = set(BRIGHTNESS_FIELDS.values()) if raw else set()
    for key, value in batch.items():
        if key in drop:
            continue
        if key in BRIGHTNESS_FIELDS:
            target = _device(device, value)
            if not raw:
                value = _move(value, target, non_blocking)
            elif target.type == "cpu":
                value = normalize_images_lut(value.cpu(), batch[BRIGHTNESS_FIELDS[key]])
            else:
                value = normalize_images(_move(value, target, non_blocking),
                                         brightness=batch[BRIGHTNESS_FIELDS[key]])
        out[key] = value
    if not raw and device is None:
        return batch if isinstance(batch, dict) else out
    return out


def batch_nbytes(batch: Mapping[str, Any]) -> int:
    """The bytes of the batch's tensors (what crosses a process boundary, or the host-to-device link)."""
    return int(sum(v.numel() * v.element_size() for v in batch.values() if isinstance(v, torch.Tensor)))

