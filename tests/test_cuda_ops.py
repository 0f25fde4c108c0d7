"""The compiled CUDA kernels of tracking.ops against the pure-PyTorch references, both run on the GPU.

Every op (prroi_pool2d, correlation, crop_and_resize) forward and backward, in float32 and float64, on small,
empty and large shapes (large enough that the kernels' grid-stride loops wrap: more elements than the
launch's threads), with the error bounds of tests/_op_compare.py; float16/bfloat16 forwards against the
float32 kernels; gradcheck / gradgradcheck in float64; torch.library.opcheck on CUDA inputs; the clamping
of unchecked batch indices; and the hypothesis strategies of tests/test_ops_fuzz.py (degenerate and extreme
rois/boxes) moved to the GPU, last in the file (a kernel fault poisons the CUDA context of the process).

Skipped without a CUDA device ("no CUDA device"), without the compiled extension, or when tracking._C has no
CUDA kernels. benchmarks/gpu_check.sh runs this file on a lent GPU machine.

TRACKING_CUDA_OPS_TEST_DEVICE=cpu runs the device-generic tests on the CPU instead (a check of this file's
own logic on a machine without a GPU; the CUDA-only tests then skip).
"""

from __future__ import annotations

import os

import pytest
import torch
from _op_compare import (
    ULPS,
    _assert_within,
    assert_correlation_matches_reference,
    assert_crop_matches_reference,
    assert_prroi_matches_reference,
    eps,
    random_boxes,
    random_rois,
)

from tracking.ops import (
    correlation,
    crop_and_resize,
    extension_available,
    extension_unavailable_reason,
    prroi_pool2d,
    reference,
)

DEVICE = torch.device(os.environ.get("TRACKING_CUDA_OPS_TEST_DEVICE", "cuda"))
ON_CUDA = DEVICE.type == "cuda"
OPS = ("prroi_pool2d", "_prroi_pool2d_backward", "correlation", "_correlation_backward", "crop_and_resize",
       "_crop_and_resize_backward")
DTYPES = [torch.float32, torch.float64]
PADDINGS = ("zeros", "border")


def _unusable_reason() -> str | None:
    if ON_CUDA and not torch.cuda.is_available():
        return f"no CUDA device (torch {torch.__version__}: torch.cuda.is_available() is False)"
    if not extension_available():
        return f"tracking._C not in use: {extension_unavailable_reason()}"
    if ON_CUDA:
        missing = [op for op in OPS if not torch._C._dispatch_has_kernel_for_dispatch_key(f"tracking::{op}", "CUDA")]
        if missing:
            return (f"tracking._C has no CUDA kernels for {', '.join(missing)} (built without CUDA: build with "
                    "FORCE_CUDA=1 and a CUDA torch)")
    return None


REASON = _unusable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
cuda_only = pytest.mark.skipif(not ON_CUDA, reason="CUDA-only behaviour (TRACKING_CUDA_OPS_TEST_DEVICE is not cuda)")


def _large_reason() -> str | None:
    if not ON_CUDA:
        return "the large shapes exercise the CUDA kernels' grid-stride loops (slow on the CPU)"
    if REASON is None and torch.cuda.get_device_properties(DEVICE).total_memory < 20 * 2**30:
        return "needs a GPU with >= 20 GiB"
    return None


large = pytest.mark.skipif(_large_reason() is not None, reason=_large_reason() or "")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def to_device(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Inputs are drawn on the CPU (same values on every machine), then moved."""
    return tuple(t.to(DEVICE) for t in tensors)


# ---- inputs ----

def special_rois(height: int, width: int, scale: float) -> torch.Tensor:
    """Zero-size, negative, far outside, partly outside, tiny and NaN rois (image coordinates)."""
    s = 1 / scale
    return torch.tensor([
        [0, 1 * s, 1 * s, 1 * s, 3 * s],                                  # zero width
        [1, 4 * s, 3 * s, 2 * s, 5 * s],                                  # negative width
        [0, -1e4 * s, -1e4 * s, -1e4 * s + 3 * s, -1e4 * s + 2 * s],      # far outside
        [1, -2 * s, -1.5 * s, width / 2 * s, height / 2 * s],             # partly outside
        [0, 2.2 * s, 1.1 * s, 2.2001 * s, 1.1001 * s],                    # tiny
        [1, float("nan"), 0, 3 * s, 3 * s],                               # NaN: NaN output, no gradient
        [0, 0, 0, width * s, height * s],                                 # the whole map
    ], dtype=torch.float64)


def special_boxes(height: int, width: int) -> torch.Tensor:
    return torch.tensor([
        [0, 1.3, 0.7, width - 1.2, height - 0.4],                    # inside
        [1, -2.5, -1.5, width / 2, height / 2],                      # partly outside (top-left)
        [0, width - 2.0, height - 1.0, width + 3.0, height + 2.5],   # partly outside (bottom-right)
        [1, width + 2.0, 1.0, width + 6.0, 4.0],                     # fully outside
        [1, 2.2, 1.1, 2.3, 1.15],                                    # tiny
        [0, 2.5, 1.5, 2.5, 1.5],                                     # zero size
        [1, width - 1.0, height - 0.5, 0.5, 0.2],                    # mirrored
        [0, float("nan"), 0, 3, 3],                                  # non-finite: zeros
    ], dtype=torch.float64)


# ---- the ops against the references, on the device ----

PRROI_CASES = {  # (N, C, H, W, K random rois, ph, pw, scale, special rois too)
    "small": (2, 3, 7, 9, 8, 2, 3, 0.5, True),
    "channels33": (2, 33, 5, 6, 5, 4, 4, 1.0, True),
    "one_bin": (1, 4, 12, 12, 6, 1, 1, 0.25, False),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(PRROI_CASES))
def test_prroi_pool2d_matches_reference(case, dtype):
    n, c, h, w, k, ph, pw, scale, special = PRROI_CASES[case]
    g = gen(1)
    features = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    rois = random_rois(g, n, k, h, w, scale)
    if special:
        rois = torch.cat([rois, special_rois(h, w, scale)])
    rois = rois.to(dtype)
    grad = torch.randn(rois.shape[0], c, ph, pw, generator=g, dtype=dtype)
    assert_prroi_matches_reference(*to_device(features, rois), ph, pw, scale, to_device(grad)[0], "cpu")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_prroi_pool2d_empty(dtype):
    features, rois = to_device(torch.randn(2, 3, 6, 5, dtype=dtype), torch.zeros(0, 5, dtype=dtype))
    features.requires_grad_()
    coords = rois[:, 1:].clone().requires_grad_()
    out = prroi_pool2d(features, torch.cat([rois[:, :1], coords], 1), 2, 3, 0.5)
    assert out.shape == (0, 3, 2, 3) and out.device == DEVICE
    out.sum().backward()
    assert torch.equal(features.grad, torch.zeros_like(features)) and coords.grad.shape == (0, 4)
    no_channels = torch.zeros(2, 0, 6, 5, dtype=dtype, device=DEVICE, requires_grad=True)
    out = prroi_pool2d(no_channels, to_device(torch.tensor([[1.0, 0, 0, 4, 4]], dtype=dtype))[0], 2, 2, 1.0)
    assert out.shape == (1, 0, 2, 2)
    out.sum().backward()
    assert no_channels.grad.shape == no_channels.shape


@large
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_prroi_pool2d_large(dtype):
    # 1100 rois x 256 channels x 8 x 8 bins = 18.0M outputs > 65535 blocks x 256 threads: the grid-stride loops
    # of the forward and the features' gradient wrap around.
    g = gen(2)
    features = torch.randn(8, 256, 18, 18, generator=g, dtype=dtype)
    rois = random_rois(g, 8, 1100, 18, 18, 1 / 16).to(dtype)
    grad = torch.randn(1100, 256, 8, 8, generator=g, dtype=dtype)
    assert grad.numel() > 65535 * 256
    assert_prroi_matches_reference(*to_device(features, rois), 8, 8, 1 / 16, to_device(grad)[0], "cpu")


CORRELATION_PARAMS = [  # (kernel_size, patch_size, stride, padding, dilation_patch)
    (1, 1, 1, 0, 1),
    (1, 5, 1, 0, 1),
    (3, 5, 2, 1, 2),
    (3, 7, 1, 1, 1),
    ((3, 1), (5, 3), (2, 1), (1, 0), (2, 1)),
    ((1, 2), (4, 6), (1, 3), (0, 2), (1, 2)),
    (1, 3, 1, 0, 1000),  # displacements beyond the map: zeros
]


def _correlation_case(shape, params, dtype, seed):
    """(input1, input2, params, grad of the output) on the device."""
    g = gen(seed)
    a = torch.randn(shape, generator=g, dtype=dtype)
    b = torch.randn(shape, generator=g, dtype=dtype)
    (kh, kw), (ph, pw), (sh, sw), (pad_h, pad_w) = ((v, v) if isinstance(v, int) else v for v in params[:4])
    out_shape = (shape[0], ph, pw, (shape[2] + 2 * pad_h - kh) // sh + 1, (shape[3] + 2 * pad_w - kw) // sw + 1)
    grad = torch.randn(out_shape, generator=g, dtype=dtype)
    return (*to_device(a, b), params, to_device(grad)[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("params", CORRELATION_PARAMS, ids=str)
def test_correlation_matches_reference(params, dtype):
    assert_correlation_matches_reference(*_correlation_case((2, 3, 7, 9), params, dtype, 3))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_correlation_kys_workload(dtype):
    assert_correlation_matches_reference(*_correlation_case((1, 64, 18, 18), (1, 19, 1, 0, 1), dtype, 4))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(0, 3, 6, 5), (2, 0, 6, 5)], ids=["no-batch", "no-channels"])
def test_correlation_empty(shape, dtype):
    a, b, params, grad = _correlation_case(shape, (3, 5, 2, 1, 1), dtype, 5)
    assert_correlation_matches_reference(a, b, params, grad)
    out = correlation(a, b, *params)
    assert out.shape == (shape[0], 5, 5, 3, 3) and out.device == DEVICE and bool((out == 0).all())


@large
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_correlation_large(dtype):
    # 8 x 25 x 25 x 64 x 64 = 20.5M outputs > 65535 x 256: the forward's grid-stride loop wraps around.
    a, b, params, grad = _correlation_case((8, 4, 64, 64), (1, 25, 1, 0, 1), dtype, 6)
    assert grad.numel() > 65535 * 256
    assert_correlation_matches_reference(a, b, params, grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
def test_crop_and_resize_matches_reference(padding, dtype):
    g = gen(7)
    images = torch.randn(2, 3, 10, 12, generator=g, dtype=dtype)
    boxes = torch.cat([special_boxes(10, 12), random_boxes(g, 12, 2, 10, 12)]).to(dtype)
    grad = torch.randn(boxes.shape[0], 3, 5, 6, generator=g, dtype=dtype)
    assert_crop_matches_reference(*to_device(images, boxes), (5, 6), padding, to_device(grad)[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
def test_crop_and_resize_upscale_and_one_box_per_image(padding, dtype):
    g = gen(8)
    images = torch.rand(3, 2, 9, 7, generator=g, dtype=dtype) * 255
    boxes = random_boxes(g, 3, 3, 9, 7)
    boxes[:, 0] = torch.arange(3, dtype=torch.float64)
    grad = torch.randn(3, 2, 31, 17, generator=g, dtype=dtype)
    assert_crop_matches_reference(*to_device(images, boxes.to(dtype)), (31, 17), padding, to_device(grad)[0])
    images, boxes = to_device(images, boxes.to(dtype))
    torch.testing.assert_close(crop_and_resize(images, boxes[:, 1:], (31, 17), padding),
                               crop_and_resize(images, boxes, (31, 17), padding), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_crop_and_resize_empty(dtype):
    images = torch.rand(2, 3, 5, 6, dtype=dtype, device=DEVICE, requires_grad=True)
    out = crop_and_resize(images, torch.zeros(0, 5, dtype=dtype, device=DEVICE), (4, 3))
    assert out.shape == (0, 3, 4, 3) and out.device == DEVICE
    out.sum().backward()
    assert torch.equal(images.grad, torch.zeros_like(images))
    no_channels = crop_and_resize(torch.rand(2, 0, 5, 6, dtype=dtype, device=DEVICE),
                                  torch.tensor([[1.0, 0, 0, 3, 3]], dtype=dtype, device=DEVICE), 2)
    assert no_channels.shape == (1, 0, 2, 2)
    no_images = crop_and_resize(torch.rand(0, 3, 5, 6, dtype=dtype, device=DEVICE),
                                torch.zeros(0, 5, dtype=dtype, device=DEVICE), 2)
    assert no_images.shape == (0, 3, 2, 2)


@large
@pytest.mark.parametrize("padding", PADDINGS)
def test_crop_and_resize_large(padding):
    # 2100 boxes x 1 channel x 256 x 256 = 137.6M outputs > 65535 * 8 blocks x 256 threads: the grid-stride
    # loops of the forward and of the backward (atomic adds) wrap around.
    g = gen(9)
    images = torch.rand(4, 1, 120, 160, generator=g) * 255
    boxes = random_boxes(g, 2100, 4, 120, 160, torch.float32)
    grad = torch.randn(2100, 1, 256, 256, generator=g)
    assert grad.numel() > 65535 * 8 * 256
    assert_crop_matches_reference(*to_device(images, boxes), (256, 256), padding, to_device(grad)[0])


@pytest.mark.parametrize("op", ["prroi_pool2d", "correlation", "crop_and_resize"])
def test_non_contiguous_inputs(op):
    g = gen(10)
    if op == "prroi_pool2d":
        features = torch.randn(2, 9, 4, 8, generator=g, dtype=torch.float64).transpose(1, 3)
        rois = random_rois(g, 2, 6, 4, 9, 1.0).t().contiguous().t()
        features, rois = to_device(features, rois)
        assert not features.is_contiguous() and not rois.is_contiguous()
        got, expected = prroi_pool2d(features, rois, 3, 2, 1.0), reference.prroi_pool2d(features, rois, 3, 2, 1.0)
    elif op == "correlation":
        a, b = to_device(torch.randn(2, 3, 8, 7, generator=g, dtype=torch.float64),
                         torch.randn(2, 3, 8, 7, generator=g, dtype=torch.float64))
        a, b = a.transpose(2, 3).contiguous().transpose(2, 3), b.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        assert not a.is_contiguous() and not b.is_contiguous()
        got, expected = correlation(a, b, 3, 5, 2, 1, 2), reference.correlation(a, b, 3, 5, 2, 1, 2)
    else:
        images = to_device(torch.rand(2, 5, 9, 3, generator=g, dtype=torch.float64))[0].permute(0, 3, 1, 2)
        boxes = to_device(random_boxes(g, 5, 2, 5, 9))[0].t().contiguous().t()
        assert not images.is_contiguous() and not boxes.is_contiguous()
        got, expected = crop_and_resize(images, boxes, 4, "border"), reference.crop_and_resize(images, boxes, 4, 4,
                                                                                               "border")
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10, equal_nan=True)


# ---- float16 / bfloat16 (CUDA only): the same kernels as float32 (accumulating in float), rounded ----

def _assert_low_precision(name: str, got: torch.Tensor, full: torch.Tensor, bound: torch.Tensor) -> None:
    """`got` (float16/bfloat16 inputs, computed in float) against the float32 kernels on the same (upcast)
    inputs: the final rounding (eps * |value|) plus float32 summation-order noise and an underflow margin."""
    assert got.dtype != full.dtype and got.shape == full.shape
    dt = got.dtype
    _assert_within(f"{name} {dt}", got.float(), full, full.abs() * (eps(dt) / (1 - eps(dt))) + ULPS * eps(torch.float32)
                   * bound, 1.0, atol=torch.finfo(dt).tiny)


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_forwards(dtype):
    g = gen(11)
    features = torch.randn(2, 16, 9, 11, generator=g).to(dtype)
    rois = torch.cat([random_rois(g, 2, 12, 9, 11, 0.5), special_rois(9, 11, 0.5)[:5]]).to(dtype)
    features, rois = to_device(features, rois)
    with torch.no_grad():
        full = prroi_pool2d(features.float(), rois.float(), 3, 3, 0.5)
        bound = prroi_pool2d(features.float().abs(), rois.float(), 3, 3, 0.5)
        _assert_low_precision("prroi_pool2d", prroi_pool2d(features, rois, 3, 3, 0.5), full, bound)

        a, b = to_device(torch.randn(2, 16, 12, 10, generator=g).to(dtype), torch.randn(2, 16, 12, 10, generator=g).to(dtype))
        full = correlation(a.float(), b.float(), 3, 7, 1, 1, 2)
        bound = correlation(a.float().abs(), b.float().abs(), 3, 7, 1, 1, 2)
        _assert_low_precision("correlation", correlation(a, b, 3, 7, 1, 1, 2), full, bound)

        images = to_device((torch.rand(2, 3, 20, 30, generator=g) * 255).to(dtype))[0]
        boxes = to_device(torch.cat([special_boxes(20, 30)[:7], random_boxes(g, 10, 2, 20, 30)]).to(dtype))[0]
        for padding in PADDINGS:
            full = crop_and_resize(images.float(), boxes.float(), (16, 12), padding)
            bound = crop_and_resize(images.float().abs(), boxes.float(), (16, 12), padding)
            _assert_low_precision(f"crop_and_resize {padding}", crop_and_resize(images, boxes, (16, 12), padding),
                                  full, bound)


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_low_precision_backwards_run(dtype):
    # Gradients accumulate with atomic adds in the low-precision type: checked for shape, finiteness and
    # rough agreement (10% of the gradient's scale) only.
    g = gen(12)
    features = to_device(torch.randn(2, 8, 9, 11, generator=g).to(dtype))[0].requires_grad_()
    rois = to_device(random_rois(g, 2, 6, 9, 11, 0.5).to(dtype))[0]
    prroi_pool2d(features, rois, 3, 3, 0.5).sum().backward()
    full = features.detach().float().requires_grad_()
    prroi_pool2d(full, rois.float(), 3, 3, 0.5).sum().backward()
    assert torch.isfinite(features.grad).all()
    torch.testing.assert_close(features.grad.float(), full.grad, rtol=0.1, atol=0.1 * float(full.grad.abs().max()))
    images = to_device((torch.rand(2, 3, 20, 30, generator=g)).to(dtype))[0].requires_grad_()
    boxes = to_device(random_boxes(g, 6, 2, 20, 30).to(dtype))[0]
    crop_and_resize(images, boxes, 8, "zeros").sum().backward()
    full = images.detach().float().requires_grad_()
    crop_and_resize(full, boxes.float(), 8, "zeros").sum().backward()
    torch.testing.assert_close(images.grad.float(), full.grad, rtol=0.1, atol=0.1 * float(full.grad.abs().max()))
    a, b = (to_device(torch.randn(1, 8, 9, 9, generator=g).to(dtype))[0].requires_grad_() for _ in range(2))
    correlation(a, b, 1, 5, 1, 0, 1).sum().backward()
    fa, fb = a.detach().float().requires_grad_(), b.detach().float().requires_grad_()
    correlation(fa, fb, 1, 5, 1, 0, 1).sum().backward()
    torch.testing.assert_close(a.grad.float(), fa.grad, rtol=0.1, atol=0.1 * float(fa.grad.abs().max()))
