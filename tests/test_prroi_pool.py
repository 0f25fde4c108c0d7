"""PrRoIPool: the reference against numerical integration and closed forms, the compiled kernel against the
reference, gradients, operator registration and bad input."""

import math
import os
import subprocess
import sys

import pytest
import torch
from _op_compare import opcheck_prroi_pool2d, random_rois
from conftest import requires_extension

from tracking.ops import PrRoIPool2D, prroi_pool2d
from tracking.ops.reference import prroi_pool2d as reference_prroi_pool2d


def interpolate(plane: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The bilinear interpolant of a [H, W] plane at points (y, x), zero beyond one pixel outside."""
    H, W = plane.shape
    padded = torch.nn.functional.pad(plane, (1, 1, 1, 1))
    y = (y + 1).clamp(0, H + 1 - 1e-12)
    x = (x + 1).clamp(0, W + 1 - 1e-12)
    y0, x0 = y.floor().long(), x.floor().long()
    dy, dx = y - y0, x - x0
    y1, x1 = (y0 + 1).clamp(max=H + 1), (x0 + 1).clamp(max=W + 1)
    return ((1 - dy) * (1 - dx) * padded[y0, x0] + (1 - dy) * dx * padded[y0, x1]
            + dy * (1 - dx) * padded[y1, x0] + dy * dx * padded[y1, x1])


def numerical_prroi(features, rois, ph, pw, scale, samples=160):
    """Midpoint-rule integration of the interpolant over each bin (independent of the ops' weights)."""
    K, C = rois.shape[0], features.shape[1]
    out = torch.zeros(K, C, ph, pw, dtype=features.dtype)
    for k in range(K):
        n = int(rois[k, 0])
        x1, y1, x2, y2 = (rois[k, 1:] * scale).tolist()
        bh, bw = max(y2 - y1, 0) / ph, max(x2 - x1, 0) / pw
        if bh * bw == 0:
            continue
        t = (torch.arange(samples, dtype=features.dtype) + 0.5) / samples
        for p in range(ph):
            ys = y1 + (p + t) * bh
            for q in range(pw):
                xs = x1 + (q + t) * bw
                yy, xx = torch.meshgrid(ys, xs, indexing="ij")
                for c in range(C):
                    out[k, c, p, q] = interpolate(features[n, c], yy, xx).mean()
    return out


@pytest.mark.parametrize("op", [reference_prroi_pool2d, prroi_pool2d], ids=["reference", "public"])
def test_matches_numerical_integration(op):
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 2, 7, 9, generator=g, dtype=torch.float64)
    rois = random_rois(g, 2, 6, 7, 9, 0.5)
    expected = numerical_prroi(features, rois, 2, 3, 0.5)
    # The midpoint rule on a piecewise-quadratic integrand: error O(1/samples^2).
    torch.testing.assert_close(op(features, rois, 2, 3, 0.5), expected, atol=2e-4, rtol=1e-3)


@pytest.mark.parametrize("op", [reference_prroi_pool2d, prroi_pool2d], ids=["reference", "public"])
def test_closed_forms(op):
    # A linear map is reproduced exactly by bilinear interpolation inside [0, H-1] x [0, W-1], so each bin
    # pools to the map's value at the bin centre; a constant map pools to the constant.
    H, W = 8, 10
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64),
                            indexing="ij")
    features = torch.stack([2.0 * ys - 0.5 * xs + 3.0, torch.full_like(ys, 1.5)])[None]
    rois = torch.tensor([[0, 0.5, 1.0, 8.5, 6.0], [0, 2.25, 3.5, 3.75, 4.0]], dtype=torch.float64)
    out = op(features, rois, 2, 4, 1.0)
    for k in range(2):
        x1, y1, x2, y2 = rois[k, 1:].tolist()
        for p in range(2):
            for q in range(4):
                cy = y1 + (p + 0.5) * (y2 - y1) / 2
                cx = x1 + (q + 0.5) * (x2 - x1) / 4
                assert out[k, 0, p, q].item() == pytest.approx(2 * cy - 0.5 * cx + 3, abs=1e-12)
                assert out[k, 1, p, q].item() == pytest.approx(1.5, abs=1e-12)


@pytest.mark.parametrize("op", [reference_prroi_pool2d, prroi_pool2d], ids=["reference", "public"])
def test_degenerate_and_outside_rois(op):
    features = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    rois = torch.tensor([
        [0, 2.0, 2.0, 2.0, 4.0],      # zero width
        [0, 3.0, 3.0, 1.0, 1.0],      # negative extent
        [0, 20.0, 20.0, 30.0, 30.0],  # entirely beyond the map's support
        [0, -9.0, -9.0, -1.0, -1.0],  # entirely before it (fades to 0 at -1)
    ], dtype=torch.float64)
    out = op(features, rois, 2, 2, 1.0)
    assert out.shape == (4, 3, 2, 2)
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("op", [reference_prroi_pool2d, prroi_pool2d], ids=["reference", "public"])
def test_empty_rois_and_nonfinite_roi(op):
    features = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    assert op(features, torch.zeros(0, 5, dtype=torch.float64), 3, 3, 1.0).shape == (0, 3, 3, 3)
    rois = torch.tensor([[0, 1.0, 1.0, 4.0, 4.0], [1, float("nan"), 1.0, 4.0, 4.0], [1, 1.0, 1.0, float("inf"), 4.0]],
                        dtype=torch.float64)
    features.requires_grad_()
    out = op(features, rois, 2, 2, 1.0)
    assert torch.isfinite(out[0]).all()
    assert torch.isnan(out[1:]).all()
    out[0].sum().backward()  # the NaN rois' outputs are unused: they must not poison the gradient
    assert torch.isfinite(features.grad).all() and features.grad[0].abs().sum() > 0
    assert torch.equal(features.grad[1], torch.zeros_like(features.grad[1]))


@requires_extension
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_matches_reference(dtype, tol, seed):
    g = torch.Generator().manual_seed(seed)
    N, C, H, W = 3, 5, int(torch.randint(4, 20, (1,), generator=g)), int(torch.randint(4, 20, (1,), generator=g))
    ph, pw = int(torch.randint(1, 6, (1,), generator=g)), int(torch.randint(1, 6, (1,), generator=g))
    scale = [1.0, 0.5, 0.125][seed]
    features = torch.randn(N, C, H, W, generator=g, dtype=dtype)
    rois = random_rois(g, N, 17, H, W, scale, dtype)
    rois[0, 3] = rois[0, 1]  # a zero-width roi among them
    out = prroi_pool2d(features.requires_grad_(), rois.requires_grad_(), ph, pw, scale)
    f_ref, r_ref = features.detach().clone().requires_grad_(), rois.detach().clone().requires_grad_()
    expected = reference_prroi_pool2d(f_ref, r_ref, ph, pw, scale)
    torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    grad = torch.randn(out.shape, generator=g, dtype=dtype)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(features.grad, f_ref.grad, atol=tol * 10, rtol=tol * 10)
    torch.testing.assert_close(rois.grad[:, 1:], r_ref.grad[:, 1:], atol=tol * 50, rtol=tol * 50)
    assert torch.equal(rois.grad[:, 0], torch.zeros(rois.shape[0], dtype=dtype))


@requires_extension
def test_compiled_matches_reference_many_channels_and_wide_rois():
    # Several channel blocks (the last one partial) and roi windows of every width class, incl. > 16 pixels.
    g = torch.Generator().manual_seed(11)
    features = torch.randn(2, 70, 30, 41, generator=g, dtype=torch.float64, requires_grad=True)
    widths = torch.tensor([0.5, 2.5, 3.0, 6.5, 9.0, 13.0, 17.5, 30.0, 45.0], dtype=torch.float64)
    x1 = torch.linspace(-3.0, 20.0, len(widths), dtype=torch.float64)
    rois = torch.stack([torch.arange(len(widths)).remainder(2).to(torch.float64), x1, x1 / 2,
                        x1 + widths, x1 / 2 + widths * 0.7], 1)
    out = prroi_pool2d(features, rois, 4, 3, 1.0)
    f_ref = features.detach().clone().requires_grad_()
    expected = reference_prroi_pool2d(f_ref, rois, 4, 3, 1.0)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(features.grad, f_ref.grad, atol=1e-12, rtol=1e-12)


@requires_extension
@pytest.mark.parametrize("seed", [0, 1])
def test_cuda_kernel_code_run_on_cpu_matches_reference(seed):
    # _prroi_pool2d_gpu_path runs the per-element functions the CUDA kernels are made of (a grid-stride loop
    # of forward_element / features_grad_element / rois_grad_element), serially on the CPU.
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 3, 9, 13, generator=g, dtype=torch.float64)
    rois = random_rois(g, 2, 11, 9, 13, 0.5)
    rois[1, 4] = rois[1, 2]  # a zero-height roi
    rois[2, 1] = float("nan")
    f_ref, c_ref = features.clone().requires_grad_(), rois[:, 1:].clone().requires_grad_()
    expected = reference_prroi_pool2d(f_ref, torch.cat([rois[:, :1], c_ref], 1), 3, 4, 0.5)
    out = torch.ops.tracking._prroi_pool2d_gpu_path(features, rois, 3, 4, 0.5)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12, equal_nan=True)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
    grad[2] = 0  # the NaN roi's outputs carry no gradient
    expected.backward(grad)
    grad_features, grad_rois = torch.ops.tracking._prroi_pool2d_gpu_path_backward(grad, features, rois, out, 3, 4, 0.5)
    torch.testing.assert_close(grad_features, f_ref.grad, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(grad_rois[:, 1:], c_ref.grad, atol=1e-10, rtol=1e-10)


@requires_extension
def test_compiled_non_contiguous_inputs():
    g = torch.Generator().manual_seed(5)
    features = torch.randn(2, 9, 4, 8, generator=g).transpose(1, 3)  # [2, 8, 4, 9], non-contiguous
    rois = random_rois(g, 2, 6, 4, 9, 1.0, torch.float32).t().contiguous().t()
    assert not features.is_contiguous() and not rois.is_contiguous()
    torch.testing.assert_close(prroi_pool2d(features, rois, 3, 2, 1.0),
                               reference_prroi_pool2d(features.contiguous(), rois.contiguous(), 3, 2, 1.0),
                               atol=2e-5, rtol=2e-5)


def test_gradcheck_features_and_roi_coordinates():
    g = torch.Generator().manual_seed(3)
    features = torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    rois = random_rois(g, 2, 4, 6, 7, 0.5)
    index, coords = rois[:, :1], rois[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda f, c: prroi_pool2d(f, torch.cat([index, c], 1), 3, 2, 0.5),
                                    (features, coords))


@requires_extension
def test_opcheck():
    g = torch.Generator().manual_seed(4)
    features = torch.randn(2, 3, 7, 6, generator=g)
    opcheck_prroi_pool2d(features, random_rois(g, 2, 5, 7, 6, 0.25, torch.float32))


@requires_extension
def test_torch_compile_fullgraph():
    pool = PrRoIPool2D(3, 3, 1 / 16)
    features = torch.randn(2, 8, 18, 18, requires_grad=True)
    rois = torch.tensor([[0, 40.0, 50.0, 180.0, 160.0], [1, 100.0, 20.0, 250.0, 270.0]])

    def head(f, r):
        return pool(f, r).relu().sum()

    compiled = torch.compile(head, fullgraph=True, backend="aot_eager")
    loss = compiled(features, rois)
    loss.backward()
    grad_compiled = features.grad.clone()
    features.grad = None
    head(features, rois).backward()
    torch.testing.assert_close(loss, head(features, rois))
    torch.testing.assert_close(grad_compiled, features.grad)


@pytest.mark.parametrize("make_args,error,message", [
    (lambda f, r: (f[0], r), ValueError, r"features.*\[N,C,H,W\]"),
    (lambda f, r: (f, r[:, :4]), ValueError, r"rois.*\[K,5\]"),
    (lambda f, r: (f, r.double()), TypeError, "dtype"),
    (lambda f, r: (f.long(), r), TypeError, "floating-point"),
    (lambda f, r: (f, r.to("meta")), ValueError, "same device"),
    (lambda f, r: (f, torch.tensor([[2.0, 0, 0, 4, 4]])), ValueError, r"batch indices in \[2, 2\].*2 image"),
    (lambda f, r: (f, torch.tensor([[-1.0, 0, 0, 4, 4]])), ValueError, "batch indices"),
    (lambda f, r: (f, torch.tensor([[0.5, 0, 0, 4, 4]])), ValueError, "whole batch indices"),
], ids=["features-dim", "rois-shape", "dtype-mismatch", "int-features", "device", "index-high", "index-negative",
        "index-fractional"])
def test_bad_input_is_a_clear_error(make_args, error, message):
    features, rois = torch.randn(2, 3, 8, 8), torch.tensor([[0.0, 1, 1, 5, 5]])
    with pytest.raises(error, match=message):
        prroi_pool2d(*make_args(features, rois), 2, 2, 1.0)


@pytest.mark.parametrize("sizes,scale,message", [
    ((0, 2), 1.0, "pooled_height"), ((2, -1), 1.0, "pooled_width"), ((2, 2), 0.0, "spatial_scale"),
    ((2, 2), math.nan, "spatial_scale"),
])
def test_bad_sizes_are_clear_errors(sizes, scale, message):
    with pytest.raises(ValueError, match=message):
        prroi_pool2d(torch.randn(1, 1, 4, 4), torch.tensor([[0.0, 0, 0, 2, 2]]), *sizes, scale)


@requires_extension
def test_raw_op_rejects_bad_input_without_crashing():
    features = torch.randn(2, 3, 8, 8)
    op = torch.ops.tracking.prroi_pool2d
    with pytest.raises(RuntimeError, match="batch indices"):
        op(features, torch.tensor([[7.0, 0, 0, 4, 4]]), 2, 2, 1.0)
    with pytest.raises(RuntimeError, match=r"\[K,5\]"):
        op(features, torch.zeros(3, 4), 2, 2, 1.0)
    with pytest.raises(RuntimeError, match="pooled sizes"):
        op(features, torch.tensor([[0.0, 0, 0, 4, 4]]), 0, 2, 1.0)
    with pytest.raises(RuntimeError, match="same dtype"):
        op(features, torch.tensor([[0.0, 0, 0, 4, 4]], dtype=torch.float64), 2, 2, 1.0)


BAD_INDICES = [(7.0, "batch indices"), (2.0, "batch indices"), (-1.0, "batch indices"), (math.inf, "batch indices"),
               (0.5, "whole batch indices"), (math.nan, "whole batch indices")]


@requires_extension
@pytest.mark.parametrize("value, match", BAD_INDICES)
def test_raw_cpu_ops_reject_bad_batch_indices_forward_and_backward(value, match):
    # The CPU kernels validate each index where they read it (no separate pass): forward and backward.
    features, rois = torch.randn(2, 3, 8, 8), torch.tensor([[0.0, 1, 1, 5, 5], [value, 0, 0, 4, 4]])
    grad = out = torch.ones(2, 3, 2, 2)
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking.prroi_pool2d(features, rois, 2, 2, 1.0)
    for need_features, need_rois in [(True, True), (True, False), (False, True), (False, False)]:
        with pytest.raises(RuntimeError, match=match):
            torch.ops.tracking._prroi_pool2d_backward(grad, features, rois, out, 2, 2, 1.0, need_features, need_rois)


@requires_extension
def test_raw_cpu_ops_reject_bad_batch_indices_in_parallel_and_empty_calls():
    # Enough rois that the per-roi loop runs on several threads (at::parallel_for rethrows the error), the bad
    # index last; and calls with nothing to compute (no channels, empty batch), which still validate.
    features = torch.randn(2, 3, 8, 8)
    rois = torch.tensor([[1.0, 0, 0, 4, 4]]).repeat(200, 1)
    rois[-1, 0] = 2.0
    with pytest.raises(RuntimeError, match="batch indices.*row 199"):
        torch.ops.tracking.prroi_pool2d(features, rois, 2, 2, 1.0)
    grad = torch.ones(200, 3, 2, 2)
    with pytest.raises(RuntimeError, match="batch indices.*row 199"):
        torch.ops.tracking._prroi_pool2d_backward(grad, features, rois, grad, 2, 2, 1.0, True, True)
    bad = torch.tensor([[5.0, 0, 0, 4, 4]])
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking.prroi_pool2d(torch.randn(2, 0, 8, 8), bad, 2, 2, 1.0)
    with pytest.raises(RuntimeError, match="batch indices"):
        torch.ops.tracking.prroi_pool2d(torch.randn(0, 3, 8, 8), torch.zeros(1, 5), 2, 2, 1.0)
    with pytest.raises(ValueError, match="batch indices"):
        prroi_pool2d(torch.randn(0, 3, 8, 8), torch.zeros(1, 5), 2, 2, 1.0)


@requires_extension
def test_cuda_kernel_code_clamps_unchecked_batch_indices():
    # The CUDA kernels do not validate batch indices (no host sync); their per-element code, run here on the
    # CPU, clamps them into [0, N): negative/NaN -> 0, too large -> N - 1, fractional -> truncated.
    g = torch.Generator().manual_seed(3)
    features = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    boxes = torch.tensor([[1, 1, 6, 5], [0, 2, 4, 7], [2, 2, 7, 7], [1, 0, 5, 3], [3, 3, 6, 6]], dtype=torch.float64)
    bad = torch.tensor([7.0, -1.0, math.nan, 1.5, 1e30], dtype=torch.float64)
    clamped = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    rois, valid = torch.cat([bad[:, None], boxes], 1), torch.cat([clamped[:, None], boxes], 1)
    out = torch.ops.tracking._prroi_pool2d_gpu_path(features, rois, 2, 3, 1.0)
    expected = prroi_pool2d(features, valid, 2, 3, 1.0)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    grad = torch.randn(out.shape, generator=g, dtype=torch.float64)
    got = torch.ops.tracking._prroi_pool2d_gpu_path_backward(grad, features, rois, out, 2, 3, 1.0)
    want = torch.ops.tracking._prroi_pool2d_backward(grad, features, valid, expected, 2, 3, 1.0, True, True)
    torch.testing.assert_close(got[0], want[0], atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(got[1][:, 1:], want[1][:, 1:], atol=1e-10, rtol=1e-10)


# ---- huge, tiny and overflowing rois (issue 9) ----
# The compiled kernels used to crash (exit 139) on some of these rois, so their checks run in a subprocess
# (test_compiled_kernels_on_extreme_rois); the reference's run here.

def _extreme_rois(dtype: torch.dtype) -> torch.Tensor:
    """Huge, tiny, degenerate and far-away rois mixed in one batch (feature coordinates, 10 x 12 map)."""
    big = 3e38 if dtype == torch.float32 else 1.7e308
    return torch.tensor([
        [0, 1.0, 1.0, 4.0, 4.0],          # ordinary, before the huge ones (stale-memory case)
        [0, 5.0, 1.0, 5.0 + 2e30, 6.0],    # bin wider than 1e30
        [1, -1e30, 2.0, 1e30, 7.0],        # huge in x, covering the map
        [1, 3.0, -1e30, 4.5, 1e30],        # huge in y
        [0, 0.0, 2.0, 1e-30, 5.0],         # tiny width (representable next to 0)
        [1, 2.0, 3.0, 2.0 + 1e-30, 6.0],   # rounds to zero width: pools 0
        [0, -big, 1.0, big, 5.0],          # x2 - x1 overflows the dtype: pools 0
        [1, 1e30, 1e30, 2e30, 2e30],       # far outside
        [0, 6.0, 6.0, 2.0, 2.0],           # negative extent
        [1, 2.5, 2.5, 9.5, 8.5],           # ordinary, last
    ], dtype=dtype)


def check_extreme_rois(path: str, dtype: torch.dtype) -> None:
    """The CPU loops ("cpu", tabulated windows) or the shared per-element code the CUDA kernels run
    ("gpu_path") agree with the reference on _extreme_rois; tolerances: tests/_op_compare.py."""
    from _op_compare import assert_prroi_matches_reference

    g = torch.Generator().manual_seed(9)
    features = torch.randn(2, 3, 10, 12, generator=g, dtype=dtype)
    rois = _extreme_rois(dtype)
    grad = torch.randn(rois.shape[0], 3, 2, 3, generator=g, dtype=dtype)
    assert_prroi_matches_reference(features, rois, 2, 3, 1.0, grad, path)


def check_rois_beyond_the_dtype_range(op, dtype: torch.dtype) -> None:
    """Documented rule: a roi pools to 0 with zero gradient when its bin height or width is not a positive
    finite number (here: x2 - x1 overflows; the reference used to give NaN). Any other finite roi pools its
    mean, even when the bin area bh * bw overflows (the kernels used to give 0): each axis's weights are
    divided by that axis's bin size, so no area is formed."""
    big = torch.finfo(dtype).max / 1.5
    side = 1e19 if dtype == torch.float32 else 1e154  # bins side x 10 side: area beyond the dtype's range
    H, W = 6, 7
    features = torch.ones(1, 1, H, W, dtype=dtype, requires_grad=True)
    coords = torch.tensor([[-big, 1.0, big, 4.0], [-big, -big, big, big], [0.0, 0.0, side, 10 * side],
                           [1.0, 1.0, 4.0, 4.0]], dtype=dtype, requires_grad=True)
    out = op(features, torch.cat([torch.zeros(4, 1, dtype=dtype), coords], 1), 1, 1, 1.0)
    assert torch.equal(out[:2], torch.zeros_like(out[:2]))
    # The map's integral over [0, inf)^2: every pixel weighs 1 except row/column 0 (0.5: the hat's right half).
    assert out[2].item() == pytest.approx((H - 0.5) * (W - 0.5) / side / (10 * side), rel=1e-5)
    assert out[3].item() == pytest.approx(1.0, rel=1e-6)
    out.sum().backward()
    assert torch.equal(coords.grad[:2], torch.zeros_like(coords.grad[:2]))
    assert torch.isfinite(features.grad).all() and torch.isfinite(coords.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_on_rois_beyond_the_dtype_range(dtype):
    check_rois_beyond_the_dtype_range(reference_prroi_pool2d, dtype)


@requires_extension
def test_compiled_kernels_on_extreme_rois():
    # The crash first: a bin wider than 1e30 feature pixels got an empty column window while the hat
    # at its left edge still covered pixels, and rois_grad read an empty buffer (exit 139), or stale memory
    # after a normal roi. Then both compiled code paths on huge, tiny and mixed rois, and the range rule.
    code = """if True:
        import torch
        from tracking.ops import prroi_pool2d
        from tracking.ops.reference import prroi_pool2d as reference
        import test_prroi_pool as t
        torch.manual_seed(0)
        features = torch.randn(1, 1, 10, 10)
        for rows in ([[0, 5, 1, 5 + 2e30, 6]], [[0, 1, 1, 4, 4], [0, 5, 1, 5 + 2e30, 6]]):
            rois = torch.tensor(rows, requires_grad=True)
            prroi_pool2d(features, rois, 1, 1, 1.0).sum().backward()
            expected = torch.tensor(rows, requires_grad=True)
            reference(features, expected, 1, 1, 1.0).sum().backward()
            torch.testing.assert_close(rois.grad, expected.grad, rtol=1e-5, atol=1e-6)
        for dtype in (torch.float32, torch.float64):
            for path in ("cpu", "gpu_path"):
                t.check_extreme_rois(path, dtype)
            t.check_rois_beyond_the_dtype_range(prroi_pool2d, dtype)
        print("ok")
    """
    tests = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(tests)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, tests, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), \
        f"exit {result.returncode}:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_the_cpu_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=r"`features`.*float32 or float64 on the CPU"):
        prroi_pool2d(torch.randn(1, 1, 4, 4, dtype=dtype), torch.tensor([[0.0, 0, 0, 2, 2]], dtype=dtype), 2, 2, 1.0)
