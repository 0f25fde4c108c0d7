"""normalize_images: the one ImageNet normalisation (0-255 units by default, RGB, channels at dim -3)."""

import numpy as np
import pytest
import torch

from tracking.data import processing
from tracking.ops import IMAGENET_MEAN, IMAGENET_STD, normalize_images


def _expected(images_0_255: np.ndarray) -> np.ndarray:
    """(img / 255 - mean) / std, in float64 numpy, channels at axis -3."""
    mean = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    return (images_0_255.astype(np.float64) / 255.0 - mean) / std


def test_uint8_matches_the_formula_and_float_0_255_equals_uint8():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 4, 3, 5, 6), generator=g, dtype=torch.uint8)
    out = normalize_images(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    np.testing.assert_allclose(out.numpy(), _expected(images.numpy()), rtol=1e-6, atol=1e-6)
    assert torch.equal(normalize_images(images.float()), out)
    # Extremes: 0 -> -mean/std, 255 -> (1 - mean)/std, channel by channel (R first).
    black, white = normalize_images(torch.zeros(3, 1, 1, dtype=torch.uint8)), normalize_images(
        torch.full((3, 1, 1), 255, dtype=torch.uint8))
    torch.testing.assert_close(black.flatten(), torch.tensor([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]))
    torch.testing.assert_close(white.flatten(), torch.tensor([0.515 / 0.229, 0.544 / 0.224, 0.594 / 0.225]))


def test_scale_for_unit_range_floats_and_custom_mean_std():
    images = torch.rand(3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(normalize_images(images, scale=1.0), normalize_images(images * 255))
    out = normalize_images(images * 2, mean=(0.0, 0.5, 1.0), std=torch.tensor([1.0, 2.0, 4.0]), scale=0.5)
    ref = (images - torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1)) / torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1)
    torch.testing.assert_close(out, ref.double())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float_dtype_is_kept(dtype):
    images = (torch.rand(1, 3, 4, 4) * 255).to(dtype)
    out = normalize_images(images)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), normalize_images(images.float()), rtol=2e-2, atol=3e-2)


def test_device_is_kept():
    out = normalize_images(torch.zeros(3, 2, 2, dtype=torch.uint8, device="meta"))
    assert out.device.type == "meta" and out.dtype == torch.float32
    if torch.cuda.is_available():
        images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
        torch.testing.assert_close(normalize_images(images.cuda()).cpu(), normalize_images(images))


def test_channels_last_input_gives_the_same_values_and_layout():
    images = torch.randint(0, 256, (2, 3, 7, 5), dtype=torch.uint8)
    out = normalize_images(images.to(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, normalize_images(images))


@pytest.mark.parametrize("shape", [(3, 4), (4, 4, 4), (2, 1, 8, 8), (2, 8, 8, 3)])
def test_bad_shape_names_the_argument_and_the_shape(shape):
    with pytest.raises(ValueError, match=r"images must be \[\.\.\., 3, H, W\].*" + str(list(shape)).replace("[", r"\[")):
        normalize_images(torch.zeros(shape, dtype=torch.uint8))


def test_bad_dtype_and_bad_mean_std():
    with pytest.raises(TypeError, match="uint8 or floating.*int64"):
        normalize_images(torch.zeros(3, 2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="must be a tensor"):
        normalize_images(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="mean must hold 3 values"):
        normalize_images(torch.zeros(3, 2, 2), mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="std must be non-zero"):
        normalize_images(torch.zeros(3, 2, 2), std=(0.2, 0.0, 0.2))


def test_the_constants_are_the_loaders():
    # tracking.data.processing defines the loaders' copy; both must be ImageNet's (one source would be better).
    assert tuple(processing.IMAGENET_MEAN) == IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert tuple(processing.IMAGENET_STD) == IMAGENET_STD == (0.229, 0.224, 0.225)
