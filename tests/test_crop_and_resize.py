"""Tests of tracking.ops.crop_and_resize: the reference against a naive per-pixel oracle, analytic cases,
the compiled kernels against the reference, gradients, op registration and argument validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _op_compare import random_boxes
from conftest import requires_extension
from tracking.ops import crop_and_resize
from tracking.ops.reference import crop_and_resize as reference_crop_and_resize

PADDINGS = ("zeros", "border")


def naive_crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, out_h: int, out_w: int,
                          padding: str) -> torch.Tensor:
    """Per-pixel float64 loops written straight from the documented semantics."""
    img = images.detach().double().numpy()
    n_img, channels, height, width = img.shape
    out = np.zeros((boxes.shape[0], channels, out_h, out_w))
    for k, (b, x1, y1, x2, y2) in enumerate(boxes.detach().double().tolist()):
        for r in range(out_h):
            for q in range(out_w):
                x = x1 + (q + 0.5) * (x2 - x1) / out_w - 0.5
                y = y1 + (r + 0.5) * (y2 - y1) / out_h - 0.5
                if padding == "border":
                    x = min(max(x, 0.0), width - 1.0)
                    y = min(max(y, 0.0), height - 1.0)
                x0, y0 = math.floor(x), math.floor(y)
                fx, fy = x - x0, y - y0
                for yy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
                    for xx, wx in ((x0, 1 - fx), (x0 + 1, fx)):
                        if 0 <= yy < height and 0 <= xx < width:
                            out[k, :, r, q] += wy * wx * img[int(b), :, yy, xx]
    return torch.from_numpy(out)


def special_boxes(height: int, width: int) -> torch.Tensor:
    return torch.tensor([
        [0, 1.3, 0.7, width - 1.2, height - 0.4],            # inside
        [1, -2.5, -1.5, width / 2, height / 2],               # partly outside (top-left)
        [0, width - 2.0, height - 1.0, width + 3.0, height + 2.5],  # partly outside (bottom-right)
        [1, width + 2.0, 1.0, width + 6.0, 4.0],              # fully outside
        [0, -8.0, -6.0, -3.0, -2.0],                          # fully outside
        [1, 2.2, 1.1, 2.3, 1.15],                             # tiny
        [0, 2.5, 1.5, 2.5, 1.5],                              # zero size
        [1, width - 1.0, height - 0.5, 0.5, 0.2],             # mirrored
    ], dtype=torch.float64)


@pytest.mark.parametrize("padding", PADDINGS)
def test_reference_and_op_match_naive(padding: str) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    boxes = torch.cat([special_boxes(5, 7), random_boxes(gen, 6, 2, 5, 7)])
    expected = naive_crop_and_resize(images, boxes, 4, 6, padding)
    torch.testing.assert_close(reference_crop_and_resize(images, boxes, 4, 6, padding), expected,
                               rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(crop_and_resize(images, boxes, (4, 6), padding), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", PADDINGS)
def test_identity_box_reproduces_image(padding: str) -> None:
    images = torch.rand(2, 3, 6, 9)
    boxes = torch.tensor([[0.0, 0.0, 9.0, 6.0], [0.0, 0.0, 9.0, 6.0]])
    torch.testing.assert_close(crop_and_resize(images, boxes, (6, 9), padding), images, rtol=0, atol=1e-6)


@pytest.mark.parametrize("padding", PADDINGS)
def test_integer_downscale_is_block_average(padding: str) -> None:
    images = torch.rand(1, 2, 8, 12, dtype=torch.float64)
    boxes = torch.tensor([[0.0, 0.0, 0.0, 12.0, 8.0]], dtype=torch.float64)
    torch.testing.assert_close(crop_and_resize(images, boxes, (4, 6), padding), F.avg_pool2d(images, 2),
                               rtol=1e-12, atol=1e-12)


def _compare_with_reference(images: torch.Tensor, boxes: torch.Tensor, out_size: tuple[int, int], padding: str,
                            tol: float) -> None:
    images = images.detach().requires_grad_()
    reference_images = images.detach().clone().requires_grad_()
    out = crop_and_resize(images, boxes, out_size, padding)
    expected = reference_crop_and_resize(reference_images, boxes, *out_size, padding)
    torch.testing.assert_close(out, expected, rtol=tol, atol=tol)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(images.grad, reference_images.grad, rtol=tol, atol=tol * 10)


@requires_extension
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_compiled_matches_reference(padding: str, dtype: torch.dtype, tol: float) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(4):
        n, c = int(torch.randint(1, 4, (1,), generator=gen)), int(torch.randint(1, 4, (1,), generator=gen))
        h, w = int(torch.randint(1, 17, (1,), generator=gen)), int(torch.randint(1, 17, (1,), generator=gen))
        out_size = (int(torch.randint(1, 12, (1,), generator=gen)), int(torch.randint(1, 12, (1,), generator=gen)))
        images = torch.rand(n, c, h, w, generator=gen, dtype=torch.float64).to(dtype)
        boxes = random_boxes(gen, 9, n, h, w, dtype)
        _compare_with_reference(images, boxes, out_size, padding, tol)


@requires_extension
@pytest.mark.parametrize("padding", PADDINGS)
def test_compiled_one_box_per_image_and_noncontiguous(padding: str) -> None:
    gen = torch.Generator().manual_seed(2)
    base = torch.rand(3, 7, 11, 2, generator=gen)
    images = base.permute(0, 3, 1, 2)  # [3,2,7,11], non-contiguous
    assert not images.is_contiguous()
    boxes4 = random_boxes(gen, 3, 3, 7, 11, torch.float32)[:, 1:]
    boxes5 = torch.cat([torch.arange(3.0)[:, None], boxes4], dim=1)
    out = crop_and_resize(images, boxes4, (5, 6), padding)
    torch.testing.assert_close(out, crop_and_resize(images.contiguous(), boxes5, (5, 6), padding), rtol=0, atol=0)
    _compare_with_reference(images, boxes5, (5, 6), padding, 1e-5)
    wide = torch.zeros(3, 10)
    wide[:, ::2] = boxes5
    strided_boxes = wide[:, ::2]
    assert not strided_boxes.is_contiguous()
    torch.testing.assert_close(crop_and_resize(images, strided_boxes, 4, padding),
                               reference_crop_and_resize(images, boxes5, 4, 4, padding), rtol=1e-5, atol=1e-5)


@requires_extension
def test_compiled_empty_inputs() -> None:
    images = torch.rand(2, 3, 5, 6, requires_grad=True)
    out = crop_and_resize(images, torch.zeros(0, 5), (4, 3))
    assert out.shape == (0, 3, 4, 3)
    out.sum().backward()
    assert torch.equal(images.grad, torch.zeros_like(images))
    no_channels = crop_and_resize(torch.rand(2, 0, 5, 6), torch.tensor([[1.0, 0, 0, 3, 3]]), 2)
    assert no_channels.shape == (1, 0, 2, 2)
    no_images = crop_and_resize(torch.rand(0, 3, 5, 6), torch.zeros(0, 5), 2)
    assert no_images.shape == (0, 3, 2, 2)


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradcheck_images(padding: str) -> None:
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(2, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    boxes = random_boxes(gen, 4, 2, 5, 6)
    assert torch.autograd.gradcheck(lambda x: crop_and_resize(x, boxes, (3, 4), padding), (images,))


@requires_extension
@pytest.mark.parametrize("padding", PADDINGS)
def test_gradgradcheck(padding: str) -> None:
    gen = torch.Generator().manual_seed(4)
    images = torch.rand(2, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    boxes = random_boxes(gen, 3, 2, 5, 6)
    assert torch.autograd.gradgradcheck(lambda x: crop_and_resize(x, boxes, (3, 4), padding), (images,))


@requires_extension
@pytest.mark.parametrize("padding", PADDINGS)
def test_opcheck(padding: str) -> None:
    gen = torch.Generator().manual_seed(5)
    images = torch.rand(2, 3, 6, 7, generator=gen, requires_grad=padding == "border")
    boxes = random_boxes(gen, 4, 2, 6, 7, torch.float32)
    torch.library.opcheck(torch.ops.tracking.crop_and_resize.default, (images, boxes, 4, 5, padding))
    grad_output = torch.rand(4, 3, 4, 5, generator=gen, requires_grad=padding == "zeros")
    torch.library.opcheck(torch.ops.tracking._crop_and_resize_backward.default,
                          (grad_output, boxes, 2, 3, 6, 7, padding))


IMAGES = torch.rand(2, 3, 6, 7)
BOXES = torch.tensor([[0.0, 1, 1, 4, 4], [1.0, 0, 0, 7, 6]])


@pytest.mark.parametrize("images, boxes, size, padding, error, match", [
    (torch.rand(3, 6, 7), BOXES, 4, "zeros", ValueError, r"images.*\[N,C,H,W\]"),
    (IMAGES, BOXES.double(), 4, "zeros", TypeError, "dtype"),
    (IMAGES.int(), BOXES, 4, "zeros", TypeError, "floating-point"),
    (IMAGES, torch.rand(2, 6), 4, "zeros", ValueError, r"boxes.*\[K,5\]"),
    (IMAGES, torch.rand(3, 4), 4, "zeros", ValueError, "one box per image"),
    (IMAGES, torch.rand(5), 4, "zeros", ValueError, r"boxes.*\[K,5\]"),
    (IMAGES, torch.tensor([[2.0, 0, 0, 1, 1]]), 4, "zeros", ValueError, "batch indices"),
    (IMAGES, torch.tensor([[-1.0, 0, 0, 1, 1]]), 4, "zeros", ValueError, "batch indices"),
    (IMAGES, torch.tensor([[0.5, 0, 0, 1, 1]]), 4, "zeros", ValueError, "whole batch indices"),
    (IMAGES, torch.tensor([[math.nan, 0, 0, 1, 1]]), 4, "zeros", ValueError, "whole batch indices"),
    (IMAGES, BOXES, 0, "zeros", ValueError, "output_size"),
    (IMAGES, BOXES, (4, -1), "zeros", ValueError, "output_size"),
    (IMAGES, BOXES, (4, 2.5), "zeros", TypeError, "output_size"),
    (IMAGES, BOXES, 4, "reflection", ValueError, "padding"),
    (IMAGES, BOXES.to("meta"), 4, "zeros", ValueError, "device"),
    (torch.rand(2, 3, 0, 7), BOXES, 4, "zeros", ValueError, "zero height or width"),
])
def test_bad_inputs_raise(images, boxes, size, padding, error, match) -> None:
    with pytest.raises(error, match=match):
        crop_and_resize(images, boxes, size, padding)


@requires_extension
@pytest.mark.parametrize("args, match", [
    ((IMAGES, torch.tensor([[99.0, 0, 0, 1, 1]]), 4, 4, "zeros"), "batch indices"),
    ((IMAGES, torch.tensor([[0.5, 0, 0, 1, 1]]), 4, 4, "zeros"), "whole batch indices"),
    ((IMAGES, BOXES, 4, 4, "reflect"), "padding"),
    ((IMAGES, BOXES, 0, 4, "zeros"), "output size"),
    ((IMAGES, torch.rand(2, 4), 4, 4, "zeros"), r"\[K,5\]"),
    ((IMAGES, BOXES.double(), 4, 4, "zeros"), "dtype"),
    ((IMAGES[0], BOXES, 4, 4, "zeros"), r"\[N,C,H,W\]"),
])
def test_direct_op_bad_args_raise_runtime_error(args, match) -> None:
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking.crop_and_resize(*args)


@requires_extension
def test_backward_op_bad_args_raise_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="grad_output"):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(3, 3, 4, 4), BOXES, 2, 3, 6, 7, "zeros")
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(2, 3, 4, 4), BOXES, 1, 3, 6, 7, "zeros")


@pytest.mark.parametrize("padding", PADDINGS)
def test_non_finite_boxes_give_zeros(padding: str) -> None:
    images = torch.rand(2, 3, 6, 7, requires_grad=True)
    boxes = torch.tensor([[0.0, math.nan, 0, 4, 4], [1.0, 0, -math.inf, 7, 6], [1.0, 0, 0, math.inf, 6],
                          [0.0, -1e30, -1e30, 1e30, 1e30], [1.0, 1, 1, 4, 4]])
    out = crop_and_resize(images, boxes, (3, 5), padding)
    assert torch.equal(out[:3], torch.zeros_like(out[:3]))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[4], reference_crop_and_resize(images, boxes[4:], 3, 5, padding)[0])
    out.sum().backward()
    assert torch.isfinite(images.grad).all()


BAD_INDICES = [(99.0, "batch indices"), (2.0, "batch indices"), (-1.0, "batch indices"), (math.inf, "batch indices"),
               (0.5, "whole batch indices"), (math.nan, "whole batch indices")]


@requires_extension
@pytest.mark.parametrize("value, match", BAD_INDICES)
def test_raw_cpu_ops_reject_bad_batch_indices_forward_and_backward(value, match) -> None:
    # The CPU kernels validate each index where they read it (no separate pass): forward and backward.
    boxes = torch.tensor([[0.0, 1, 1, 4, 4], [value, 0, 0, 7, 6]])
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking.crop_and_resize(IMAGES, boxes, 4, 4, "zeros")
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(2, 3, 4, 4), boxes, 2, 3, 6, 7, "border")


@requires_extension
def test_raw_cpu_ops_reject_bad_batch_indices_in_parallel_and_empty_calls() -> None:
    # Enough boxes that the per-box loop runs on several threads (at::parallel_for rethrows the error), the
    # bad index last; and calls with nothing to compute (no channels, empty batch), which still validate.
    boxes = torch.tensor([[1.0, 0, 0, 4, 4]]).repeat(20000, 1)
    boxes[-1, 0] = 2.0
    with pytest.raises(RuntimeError, match="batch indices.*row 19999"):
        torch.ops.tracking.crop_and_resize(IMAGES, boxes, 2, 2, "zeros")
    with pytest.raises(RuntimeError, match="batch indices.*row 19999"):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(20000, 3, 2, 2), boxes, 2, 3, 6, 7, "zeros")
    bad = torch.tensor([[5.0, 0, 0, 4, 4]])
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking.crop_and_resize(torch.rand(2, 0, 6, 7), bad, 4, 4, "zeros")
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(1, 0, 4, 4), bad, 2, 0, 6, 7, "zeros")
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking.crop_and_resize(torch.rand(0, 3, 6, 7), torch.zeros(1, 5), 4, 4, "zeros")
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking._crop_and_resize_backward(torch.rand(1, 3, 4, 4), torch.zeros(1, 5), 0, 3, 6, 7, "zeros")
    with pytest.raises(ValueError, match="batch indices"):
        crop_and_resize(torch.rand(0, 3, 6, 7), torch.zeros(1, 5), 4)


# ---- boxes beyond the dtype's range, unsupported dtypes (issue 9) ----

@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("op", ["reference", "public"])
def test_boxes_wider_than_the_dtype_range_follow_the_formula(op, padding) -> None:
    # float32 boxes whose x2 - x1 overflows: the documented sample positions are computed without overflow
    # (they used to be NaN/inf: zero crops in the kernels, NaN or garbage in the reference). Oracle: the
    # float64 naive loops, where nothing overflows.
    gen = torch.Generator().manual_seed(4)
    images = torch.rand(2, 2, 6, 7, generator=gen)
    boxes = torch.tensor([[0, -3e38, -3e38, 3e38, 3e38], [1, -3.4e38, 1.0, 3.4e38, 5.0], [0, 2e38, 1.0, 3e38, 5.0],
                          [1, -3e38, -2.0, 3e38, 4.5], [0, 1.0, 3e38, 6.0, -3e38], [1, -1e38, 1.0, 3e38, 5.0],
                          [0, 1e38, 1.0, -3e38, 5.0]], dtype=torch.float32)
    for size in [(3, 5), (4, 1), (1, 3)]:
        if op == "public":
            out = crop_and_resize(images, boxes, size, padding)
        else:
            out = reference_crop_and_resize(images, boxes, *size, padding)
        expected = naive_crop_and_resize(images, boxes, *size, padding)
        torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_the_cpu_is_a_type_error(dtype) -> None:
    with pytest.raises(TypeError, match=r"`images`.*float32 or float64 on the CPU"):
        crop_and_resize(IMAGES.to(dtype), BOXES.to(dtype), 4)
