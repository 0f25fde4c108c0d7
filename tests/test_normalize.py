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


# ------------------------------------------------------------------------------------ per-image brightness
def _old_loader_table(brightness: float) -> np.ndarray:
    """The OpenCV loader's per-level table as it was written before it was derived from normalize_images:
    (clip(level * float32(brightness / 255), 0, 1) - mean) / std in float32 numpy, [3, 256]."""
    mean, std = np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32)
    values = np.clip(np.arange(256, dtype=np.float32) * np.float32(brightness / 255.0), 0.0, 1.0)
    return (values[None, :] - mean[:, None]) / std[:, None]


def test_brightness_equals_the_loaders_old_table_bit_for_bit():
    levels = torch.arange(256, dtype=torch.uint8).expand(3, 1, 256)
    factors = [0.0, 0.8, 1.0, 1.2, 1e-9, 3.0] + list(np.random.default_rng(0).uniform(0.0, 2.0, 500))
    for b in factors:  # Python floats and numpy float64 alike: float64 / 255, rounded once to float32
        out = normalize_images(levels, brightness=b).reshape(3, 256).numpy()
        np.testing.assert_array_equal(out, _old_loader_table(b), err_msg=f"brightness {b!r}")
    # per image: [n, B] factors for [n, B, 3, H, W] images, the same values image by image
    table = torch.tensor(factors[:12], dtype=torch.float64).view(3, 4)
    out = normalize_images(torch.arange(256, dtype=torch.uint8).expand(3, 4, 3, 1, 256), brightness=table)
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(out[i, j].reshape(3, 256).numpy(), _old_loader_table(factors[i * 4 + j]))
    from loaders.normalize import normalisation_table, normalisation_tables

    np.testing.assert_array_equal(normalisation_table(1.17), _old_loader_table(1.17))
    np.testing.assert_array_equal(normalisation_tables(table), out.reshape(3, 4, 3, 256).numpy())


def test_brightness_clamps_and_matches_the_per_pixel_formula():
    images = torch.randint(0, 256, (2, 3, 5, 6), dtype=torch.uint8)
    brightness = torch.tensor([0.5, 1.5], dtype=torch.float64)
    out = normalize_images(images, brightness=brightness)
    assert out.dtype == torch.float32 and out.shape == images.shape
    values = np.clip(images.numpy().astype(np.float32)
                     * (brightness.numpy() / 255).astype(np.float32).reshape(2, 1, 1, 1), 0, 1)
    expected = (values - np.float32(IMAGENET_MEAN).reshape(3, 1, 1)) / np.float32(IMAGENET_STD).reshape(3, 1, 1)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert out[1].max() <= ((1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)).max() + 1e-6
    # one scalar factor for every image; a float32 tensor is used as given
    assert torch.equal(normalize_images(images, brightness=1.0), normalize_images(images, brightness=[1.0, 1.0]))
    assert normalize_images(images, brightness=torch.ones(2)).dtype == torch.float32
    # brightness 1 differs from no brightness only by rounding (x * float32(1/255) vs x / 255) and the clamp
    torch.testing.assert_close(normalize_images(images, brightness=1.0), normalize_images(images))


def test_brightness_shape_and_dtype_errors():
    images = torch.zeros(2, 3, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"one factor per image, shape \[2, 3\].*\[4\]"):
        normalize_images(images, brightness=torch.ones(4))
    with pytest.raises(ValueError, match="more dimensions"):
        normalize_images(images, brightness=torch.ones(1, 2, 3))
    with pytest.raises(TypeError, match="floating point"):
        normalize_images(images, brightness=torch.ones(2, 3, dtype=torch.int64))


def test_brightness_on_the_device_matches_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images = torch.randint(0, 256, (3, 4, 3, 16, 16), dtype=torch.uint8)
    brightness = torch.from_numpy(np.random.default_rng(1).uniform(0.8, 1.2, (3, 4)))
    cpu = normalize_images(images, brightness=brightness)
    assert torch.equal(normalize_images(images.cuda(), brightness=brightness).cpu(), cpu)
    assert torch.equal(normalize_images(images.cuda(), brightness=brightness.cuda()).cpu(), cpu)
