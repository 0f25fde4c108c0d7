"""The CUDA kernels' checks beyond the reference comparison (tests/test_cuda_ops.py): gradcheck /
gradgradcheck in float64, torch.library.opcheck on device inputs, unchecked batch indices and the fuzz cases,
on the device. Skipped as test_cuda_ops.py is (no CUDA device, or tracking._C without CUDA kernels)."""

from __future__ import annotations

import importlib.util
import math
import os

import pytest
import torch
from _op_compare import (assert_correlation_matches_reference, assert_crop_matches_reference,
                         assert_prroi_matches_reference, opcheck_prroi_pool2d, random_boxes, random_rois)
from test_cuda_ops import PADDINGS, REASON, cuda_only, gen, to_device

from tracking.ops import correlation, crop_and_resize, prroi_pool2d, set_debug_checks

pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


# ---- gradcheck, gradgradcheck (float64) ----
# The CUDA backward kernels add with atomics (order-dependent rounding): nondet_tol allows for that.
NONDET_TOL = 1e-10


def test_gradcheck_prroi_pool2d():
    g = gen(3)
    features = torch.randn(2, 2, 6, 7, generator=g, dtype=torch.float64)
    rois = random_rois(g, 2, 4, 6, 7, 0.5)
    features, rois = to_device(features, rois)
    index, coords = rois[:, :1], rois[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda f, c: prroi_pool2d(f, torch.cat([index, c], 1), 3, 2, 0.5),
                                    (features.requires_grad_(), coords), nondet_tol=NONDET_TOL)


@pytest.mark.parametrize("params", [(1, 3, 1, 0, 1), (3, 5, 2, 1, 2), ((3, 1), (3, 5), (1, 2), (1, 0), (2, 1))],
                         ids=str)
def test_gradcheck_correlation(params):
    g = gen(2)
    a, b = to_device(torch.randn(2, 2, 5, 6, generator=g, dtype=torch.float64),
                     torch.randn(2, 2, 5, 6, generator=g, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x, y: correlation(x, y, *params),
                                    (a.requires_grad_(), b.requires_grad_()), nondet_tol=NONDET_TOL)


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradcheck_and_gradgradcheck_crop_and_resize(padding):
    g = gen(3)
    images = torch.rand(2, 2, 5, 6, generator=g, dtype=torch.float64)
    boxes = random_boxes(g, 4, 2, 5, 6)
    images, boxes = to_device(images, boxes)
    images.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: crop_and_resize(x, boxes, (3, 4), padding), (images,),
                                    nondet_tol=NONDET_TOL)
    assert torch.autograd.gradgradcheck(lambda x: crop_and_resize(x, boxes, (3, 4), padding), (images,),
                                        nondet_tol=NONDET_TOL)


# ---- torch.library.opcheck on device inputs ----

def test_opcheck_prroi_pool2d():
    g = gen(4)
    features, rois = torch.randn(2, 3, 7, 6, generator=g), random_rois(g, 2, 5, 7, 6, 0.25, torch.float32)
    opcheck_prroi_pool2d(*to_device(features, rois))


@pytest.mark.parametrize("requires_grad,params", [(False, ([1, 1], [5, 5], [1, 1], [0, 0], [1, 1])),
                                                  (True, ([3, 1], [3, 5], [2, 1], [1, 0], [2, 1]))])
def test_opcheck_correlation(requires_grad, params):
    g = gen(7)
    a, b = to_device(torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64),
                     torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64))
    torch.library.opcheck(torch.ops.tracking.correlation.default,
                          (a.requires_grad_(requires_grad), b.requires_grad_(requires_grad), *params))
    grad = to_device(torch.randn(2, 3, 3, 4, 3, generator=g, dtype=torch.float64))[0]
    torch.library.opcheck(torch.ops.tracking._correlation_backward.default,
                          (grad, a.detach(), b.detach(), [3, 3], [3, 3], [2, 2], [1, 1], [1, 2]))


@pytest.mark.parametrize("padding", PADDINGS)
def test_opcheck_crop_and_resize(padding):
    g = gen(5)
    images = to_device(torch.rand(2, 3, 6, 7, generator=g))[0].requires_grad_(padding == "border")
    boxes = to_device(random_boxes(g, 4, 2, 6, 7, torch.float32))[0]
    torch.library.opcheck(torch.ops.tracking.crop_and_resize.default, (images, boxes, 4, 5, padding))
    grad_output = to_device(torch.rand(4, 3, 4, 5, generator=g))[0].requires_grad_(padding == "zeros")
    torch.library.opcheck(torch.ops.tracking._crop_and_resize_backward.default,
                          (grad_output, boxes, 2, 3, 6, 7, padding))


# ---- batch indices on CUDA: unchecked (clamped into [0, N)) unless the debug switch is on ----

BAD = [7.0, -1.0, math.nan, 1.5, 1e30]
CLAMPED = [1.0, 0.0, 0.0, 1.0, 1.0]  # N = 2: too large -> N - 1, negative/NaN -> 0, fractional -> truncated


@pytest.fixture
def debug_checks_off():
    set_debug_checks(False)
    yield
    set_debug_checks(None)


@cuda_only
def test_unchecked_batch_indices_are_clamped(debug_checks_off):
    g = gen(3)
    features = to_device(torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64))[0]
    boxes = torch.tensor([[1, 1, 6, 5], [0, 2, 4, 7], [2, 2, 7, 7], [1, 0, 5, 3], [3, 3, 6, 6]], dtype=torch.float64)
    bad, valid = (to_device(torch.cat([torch.tensor(v, dtype=torch.float64)[:, None], boxes], 1))[0]
                  for v in (BAD, CLAMPED))
    f1, f2 = features.clone().requires_grad_(), features.clone().requires_grad_()
    out, expected = prroi_pool2d(f1, bad, 2, 3, 1.0), prroi_pool2d(f2, valid, 2, 3, 1.0)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(f1.grad, f2.grad, rtol=1e-12, atol=1e-12)
    i1, i2 = features.clone().requires_grad_(), features.clone().requires_grad_()
    for padding in PADDINGS:
        out, expected = crop_and_resize(i1, bad, 4, padding), crop_and_resize(i2, valid, 4, padding)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(i1.grad, i2.grad, rtol=1e-12, atol=1e-12)
    set_debug_checks(True)
    with pytest.raises(ValueError, match="batch indices"):
        prroi_pool2d(features, bad, 2, 3, 1.0)
    with pytest.raises(ValueError, match="batch indices"):
        crop_and_resize(features, bad, 4)


# ---- the fuzz strategies of tests/test_ops_fuzz.py on the device (last: a kernel fault ends the process's
# CUDA context, failing every later CUDA call) ----

if importlib.util.find_spec("hypothesis") is not None:
    import test_ops_fuzz as fuzz
    from hypothesis import given, settings

    # Examples per test: each example is a few dozen small kernel launches on the GPU (seconds in all).
    DEVICE_FUZZ = settings(fuzz.FUZZ, max_examples=int(os.environ.get("TRACKING_CUDA_FUZZ_EXAMPLES", "150")))

    @DEVICE_FUZZ
    @given(fuzz.prroi_cases())
    def test_fuzz_prroi_pool2d(case):
        features, rois, ph, pw, scale, grad = case
        assert_prroi_matches_reference(*to_device(features, rois), ph, pw, scale, to_device(grad)[0], "cpu")

    @DEVICE_FUZZ
    @given(fuzz.correlation_cases())
    def test_fuzz_correlation(case):
        input1, input2, params, grad = case
        assert_correlation_matches_reference(*to_device(input1, input2), params, to_device(grad)[0])

    @DEVICE_FUZZ
    @given(fuzz.crop_cases())
    def test_fuzz_crop_and_resize(case):
        images, boxes, out_size, padding, grad = case
        assert_crop_matches_reference(*to_device(images, boxes), out_size, padding, to_device(grad)[0])
