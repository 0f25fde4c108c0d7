"""Tests of tracking.ops.correlation: the reference against a naive loop, the compiled op against the
reference (forward, backward, layouts, empty inputs), gradcheck, opcheck, argument errors and modules."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch
from conftest import requires_extension

from tracking.ops import CostVolume, Correlation, correlation
from tracking.ops import reference

# (kernel_size, patch_size, stride, padding, dilation_patch)
PARAMS = [
    (1, 1, 1, 0, 1),
    (1, 5, 1, 0, 1),
    (3, 5, 2, 1, 2),
    (3, 7, 1, 1, 1),
    (1, 7, 2, 0, 2),
    ((3, 1), (5, 3), (2, 1), (1, 0), (2, 1)),
    ((1, 2), (4, 6), (1, 3), (0, 2), (1, 2)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def naive_correlation(in1: np.ndarray, in2: np.ndarray, kernel_size, patch_size, stride, padding,
                      dilation_patch) -> np.ndarray:
    """Direct transcription of the documented formula with Python loops over every index."""
    (kh, kw), (ph_n, pw_n), (sh, sw) = _pair(kernel_size), _pair(patch_size), _pair(stride)
    (pad_h, pad_w), (dh, dw) = _pair(padding), _pair(dilation_patch)
    b_n, _, h_n, w_n = in1.shape
    oh = (h_n + 2 * pad_h - kh) // sh + 1
    ow = (w_n + 2 * pad_w - kw) // sw + 1
    out = np.zeros((b_n, ph_n, pw_n, oh, ow))
    for b, ph, pw, h, w in itertools.product(range(b_n), range(ph_n), range(pw_n), range(oh), range(ow)):
        du = (ph - (ph_n - 1) // 2) * dh
        dv = (pw - (pw_n - 1) // 2) * dw
        for i, j in itertools.product(range(kh), range(kw)):
            y1, x1 = h * sh - pad_h + i, w * sw - pad_w + j
            y2, x2 = y1 + du, x1 + dv
            if 0 <= y1 < h_n and 0 <= x1 < w_n and 0 <= y2 < h_n and 0 <= x2 < w_n:
                out[b, ph, pw, h, w] += float(in1[b, :, y1, x1] @ in2[b, :, y2, x2])
    return out


def _inputs(shape, dtype=torch.float64, requires_grad=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_(requires_grad)
    b = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_(requires_grad)
    return a, b


# ---- the reference itself (runs in both modes) ----

@pytest.mark.parametrize("params", PARAMS)
def test_reference_matches_naive_loops(params):
    a, b = _inputs((2, 3, 7, 9))
    expected = naive_correlation(a.numpy(), b.numpy(), *params)
    got = reference.correlation(a, b, *params)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", PARAMS[:4])
def test_public_op_matches_naive_loops(params):
    a, b = _inputs((1, 2, 6, 5), seed=1)
    np.testing.assert_allclose(correlation(a, b, *params).numpy(), naive_correlation(a.numpy(), b.numpy(), *params),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("params", [(1, 3, 1, 0, 1), (3, 5, 2, 1, 2), ((3, 1), (3, 5), (1, 2), (1, 0), (2, 1))])
def test_gradcheck(params):
    a, b = _inputs((2, 2, 5, 6), requires_grad=True, seed=2)
    assert torch.autograd.gradcheck(lambda x, y: correlation(x, y, *params), (a, b))


# ---- compiled op against the reference ----

def _random_params(rng: random.Random):
    k = (rng.randint(1, 3), rng.randint(1, 3))
    pad = (rng.randint(0, 2), rng.randint(0, 2))
    return k, (rng.randint(1, 7), rng.randint(1, 7)), (rng.randint(1, 3), rng.randint(1, 3)), pad, \
        (rng.randint(1, 3), rng.randint(1, 3))


def _forward_backward(fn, a, b, params, grad_seed=3):
    a = a.detach().clone().requires_grad_()
    b = b.detach().clone().requires_grad_()
    out = fn(a, b, *params)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype)
    ga, gb = torch.autograd.grad(out, (a, b), grad)
    return out, ga, gb


@requires_extension
@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float32, 1e-4, 1e-4), (torch.float64, 1e-10, 1e-10)])
@pytest.mark.parametrize("seed", range(6))
def test_compiled_matches_reference(dtype, rtol, atol, seed):
    rng = random.Random(seed)
    params = _random_params(rng)
    shape = (rng.randint(1, 3), rng.randint(1, 9), rng.randint(4, 11), rng.randint(4, 11))
    a, b = _inputs(shape, dtype=dtype, seed=seed)
    got = _forward_backward(correlation, a, b, params)
    expected = _forward_backward(reference.correlation, a, b, params)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=rtol, atol=atol)


@requires_extension
def test_compiled_kys_workload_matches_reference():
    a, b = _inputs((1, 16, 18, 18), dtype=torch.float32, seed=4)
    got = _forward_backward(correlation, a, b, (1, 19, 1, 0, 1))
    expected = _forward_backward(reference.correlation, a, b, (1, 19, 1, 0, 1))
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


@requires_extension
def test_non_contiguous_inputs():
    params = (3, 5, 2, 1, 2)
    a, b = _inputs((2, 3, 8, 7), seed=5)
    a_t = a.transpose(2, 3).contiguous().transpose(2, 3)  # same values, transposed strides
    b_t = b.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # channels-last strides
    assert not a_t.is_contiguous() and not b_t.is_contiguous()
    expected = _forward_backward(correlation, a, b, params)
    got = _forward_backward(correlation, a_t, b_t, params)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)
    # a strided slice, plus a non-contiguous grad_output
    big_a, big_b = _inputs((2, 6, 8, 7), seed=6)
    sa, sb = big_a[:, ::2], big_b[:, 1::2]
    out = correlation(sa, sb, *params)
    torch.testing.assert_close(out, reference.correlation(sa, sb, *params))
    ga, gb = torch.ops.tracking._correlation_backward(torch.ones_like(out).transpose(3, 4).contiguous()
                                                      .transpose(3, 4), sa.contiguous(), sb,
                                                      [3, 3], [5, 5], [2, 2], [1, 1], [2, 2])
    ra, rb = torch.autograd.grad(reference.correlation(sa.requires_grad_(), sb.requires_grad_(), *params).sum(),
                                 (sa, sb))
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gb, rb)


@requires_extension
@pytest.mark.parametrize("shape", [(0, 3, 6, 5), (2, 0, 6, 5)])
def test_empty_batch_or_channels(shape):
    a, b = _inputs(shape, requires_grad=True)
    out = correlation(a, b, 3, 5, 2, 1, 1)
    assert out.shape == (shape[0], 5, 5, 3, 3)
    assert (out == 0).all()
    out.sum().backward()
    assert a.grad.shape == shape and b.grad.shape == shape


# ---- opcheck ----

@requires_extension
@pytest.mark.parametrize("requires_grad,params", [(False, ([1, 1], [5, 5], [1, 1], [0, 0], [1, 1])),
                                                  (True, ([3, 1], [3, 5], [2, 1], [1, 0], [2, 1]))])
def test_opcheck_forward(requires_grad, params):
    a, b = _inputs((2, 3, 7, 6), requires_grad=requires_grad, seed=7)
    torch.library.opcheck(torch.ops.tracking.correlation.default, (a, b, *params))


@requires_extension
def test_opcheck_backward():
    a, b = _inputs((2, 3, 7, 6), seed=8)
    params = ([3, 3], [3, 3], [2, 2], [1, 1], [1, 2])
    grad = torch.randn(2, 3, 3, 4, 3, dtype=torch.float64)
    torch.library.opcheck(torch.ops.tracking._correlation_backward.default, (grad, a, b, *params))


# ---- argument errors ----

@pytest.mark.parametrize("make,exc,match", [
    (lambda a, b: correlation(a[0], b[0]), ValueError, r"`input1` must have shape \[B,C,H,W\]"),
    (lambda a, b: correlation(a, b.float()), TypeError, "dtype"),
    (lambda a, b: correlation(a.long(), b.long()), TypeError, "floating-point"),
    (lambda a, b: correlation(a, b[:, :1]), ValueError, "same shape"),
    (lambda a, b: correlation(a, b.to("meta")), ValueError, "same device"),
    (lambda a, b: correlation(a, b, kernel_size=0), ValueError, "kernel_size"),
    (lambda a, b: correlation(a, b, patch_size=-1), ValueError, "patch_size"),
    (lambda a, b: correlation(a, b, stride=(1, 0)), ValueError, "stride"),
    (lambda a, b: correlation(a, b, padding=-1), ValueError, "padding"),
    (lambda a, b: correlation(a, b, dilation_patch=0), ValueError, "dilation_patch"),
    (lambda a, b: correlation(a, b, kernel_size=(1, 2, 3)), TypeError, "kernel_size"),
    (lambda a, b: correlation(a, b, kernel_size=1.5), TypeError, "kernel_size"),
    (lambda a, b: correlation(a, b, kernel_size=7), ValueError, "output size must be > 0"),
])
def test_bad_arguments(make, exc, match):
    a, b = _inputs((1, 2, 5, 6))
    with pytest.raises(exc, match=match):
        make(a, b)


@requires_extension
@pytest.mark.parametrize("args,match", [
    (lambda a, b: (a[0], b[0], [1, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "shape"),
    (lambda a, b: (a, b.float(), [1, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "dtype"),
    (lambda a, b: (a.long(), b.long(), [1, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "floating point"),
    (lambda a, b: (a, b[:, :1], [1, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "same shape"),
    (lambda a, b: (a, b, [0, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "kernel_size"),
    (lambda a, b: (a, b, [1, 1], [1, -3], [1, 1], [0, 0], [1, 1]), "patch_size"),
    (lambda a, b: (a, b, [1, 1], [1, 1], [0, 1], [0, 0], [1, 1]), "stride"),
    (lambda a, b: (a, b, [1, 1], [1, 1], [1, 1], [-1, 0], [1, 1]), "padding"),
    (lambda a, b: (a, b, [1, 1], [1, 1], [1, 1], [0, 0], [1, 0]), "dilation_patch"),
    (lambda a, b: (a, b, [1, 1, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "kernel_size"),
    (lambda a, b: (a, b, [9, 1], [1, 1], [1, 1], [0, 0], [1, 1]), "output size"),
])
def test_raw_op_bad_arguments_raise_runtime_error(args, match):
    a, b = _inputs((1, 2, 5, 6))
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking.correlation(*args(a, b))


@requires_extension
@pytest.mark.parametrize("grad_shape,dtype,match", [
    ((1, 1, 1, 5), torch.float64, "grad_output"),
    ((1, 1, 1, 5, 7), torch.float64, "grad_output"),
    ((1, 1, 1, 5, 6), torch.float32, "dtype"),
])
def test_raw_backward_bad_grad_output(grad_shape, dtype, match):
    a, b = _inputs((1, 2, 5, 6))
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking._correlation_backward(torch.zeros(grad_shape, dtype=dtype), a, b, [1, 1], [1, 1],
                                                 [1, 1], [0, 0], [1, 1])


# ---- modules ----

def test_correlation_module_shape():
    a, b = _inputs((2, 4, 9, 10))
    module = Correlation(kernel_size=3, patch_size=(5, 3), stride=2, padding=1, dilation_patch=2)
    out = module(a, b)
    assert out.shape == (2, 5, 3, 5, 5)
    torch.testing.assert_close(out, reference.correlation(a, b, 3, (5, 3), 2, 1, 2))


@pytest.mark.parametrize("kernel_size,max_displacement", [(1, 4), (3, 2)])
def test_cost_volume_shape_and_centre(kernel_size, max_displacement):
    a, b = _inputs((2, 4, 8, 9))
    volume = CostVolume(kernel_size, max_displacement)(a, b)
    p = 2 * max_displacement + 1
    assert volume.shape == (2, p * p, 8, 9)
    if kernel_size == 1:  # the centre displacement is the plain channel dot product
        torch.testing.assert_close(volume[:, max_displacement * p + max_displacement], (a * b).sum(1))


def test_cost_volume_absolute_coordinates():
    a, b = _inputs((2, 3, 6, 7))
    md = 2
    relative = Correlation(1, 2 * md + 1)(a, b)
    absolute = CostVolume(1, md, abs_coordinate_output=True)(a, b)
    H, W = 6, 7
    expected = torch.zeros(2, H * W, H, W, dtype=a.dtype)
    for y in range(H):
        for x in range(W):
            for dy in range(-md, md + 1):
                for dx in range(-md, md + 1):
                    if 0 <= y + dy < H and 0 <= x + dx < W:
                        expected[:, (y + dy) * W + x + dx, y, x] = relative[:, dy + md, dx + md, y, x]
    torch.testing.assert_close(absolute, expected)
    # feat2 at the absolute position: the plain dot product of the two feature vectors
    torch.testing.assert_close(absolute[:, 3 * W + 4, 2, 5], (a[:, :, 2, 5] * b[:, :, 3, 4]).sum(1))


# ---- sizes that overflow, zero-size inputs, NaN propagation, unsupported dtypes (issue 9) ----

HUGE_SIZES = [
    (dict(dilation_patch=2**63 - 1, patch_size=4), "dilation_patch"),  # used to wrap to displacement -2
    (dict(dilation_patch=2**62, patch_size=3), "dilation_patch"),
    (dict(kernel_size=2**40), "kernel_size"),
    (dict(patch_size=2**31), "patch_size"),
    (dict(stride=2**63 - 1), "stride"),
    (dict(padding=(2**62, 0)), "padding"),
    (dict(padding=2**31 - 1, patch_size=3), "more elements than int64"),
]


@pytest.mark.parametrize("kwargs,match", HUGE_SIZES)
def test_sizes_that_overflow_are_rejected(kwargs, match):
    a, b = _inputs((1, 2, 5, 6))
    with pytest.raises(ValueError, match=match):
        correlation(a, b, **kwargs)


@requires_extension
@pytest.mark.parametrize("kwargs,match", HUGE_SIZES)
def test_raw_op_rejects_sizes_that_overflow(kwargs, match):
    a, b = _inputs((1, 2, 5, 6))
    args = dict(kernel_size=1, patch_size=1, stride=1, padding=0, dilation_patch=1) | kwargs
    lists = [list(_pair(args[k])) for k in ("kernel_size", "patch_size", "stride", "padding", "dilation_patch")]
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking.correlation(a, b, *lists)
    with pytest.raises(RuntimeError, match=match):
        torch.ops.tracking._correlation_backward(torch.zeros(1, 1, 1, 5, 6, dtype=a.dtype), a, b, *lists)


def test_largest_sizes_still_work():
    # At the bound every displacement but 0 leaves the image: zeros, and the zero displacement is correct.
    a, b = _inputs((1, 2, 5, 6))
    out = correlation(a, b, 1, 3, 1, 0, 2**31 - 1)
    expected = torch.zeros_like(out)
    expected[0, 1, 1] = (a * b).sum(1)[0]
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("op", [reference.correlation, correlation], ids=["reference", "public"])
@pytest.mark.parametrize("shape", [(1, 2, 0, 5), (2, 3, 4, 0), (1, 0, 3, 3)])
def test_zero_size_image_with_padding(op, shape):
    # oH = 0 + 2*1 - 1 + 1 = 2 output rows even with no input rows: zeros (the reference used to fail to reshape).
    a, b = _inputs(shape, requires_grad=True)
    out = op(a, b, 1, 3, 1, 1, 1)
    h, w = shape[2] + 2, shape[3] + 2
    assert out.shape == (shape[0], 3, 3, h, w) and (out == 0).all()
    out.sum().backward()
    assert a.grad.shape == shape and (a.grad == 0).all()


@pytest.mark.parametrize("op", [reference.correlation, correlation], ids=["reference", "public"])
@pytest.mark.parametrize("params", [(1, 3, 1, 0, 1), (3, 3, 1, 1, 1), (2, 4, 2, 3, 2)])
@pytest.mark.parametrize("which", [0, 1])
def test_nan_pixel_reaches_exactly_the_terms_that_read_it(op, params, which):
    # Documented semantics: a term counts only where both positions are inside the image, so a NaN pixel
    # reaches exactly the outputs with a term reading it: 4 of 9 displacements for a corner pixel at
    # patch 3 (the reference used to multiply it with the zero padding: NaN * 0 = NaN in all 9).
    a, b = _inputs((1, 2, 6, 7))
    inputs = [a, b]
    inputs[which][0, 1, 0, 0] = float("nan")
    marker = [np.ones((1, 1, 6, 7)), np.ones((1, 1, 6, 7))]
    marker[which] = np.zeros((1, 1, 6, 7))
    marker[which][0, 0, 0, 0] = 1.0
    reads = naive_correlation(marker[0], marker[1], *params) > 0
    assert torch.equal(torch.isnan(op(*inputs, *params)), torch.from_numpy(reads))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_the_cpu_is_a_type_error(dtype):
    a, b = _inputs((1, 2, 5, 6), dtype=dtype)
    with pytest.raises(TypeError, match=r"`input1`.*float32 or float64 on the CPU"):
        correlation(a, b)
