"""Property-based comparison of the compiled ops with their pure-PyTorch references (hypothesis).

Each test draws finite inputs, including degenerate and extreme rois/boxes mixed in one batch (zero size,
negative size, far outside the map, 1e30 wide, 1e-30 wide, extents beyond the dtype's range), and compares
forward and backward of the compiled op with the reference. Tolerances are error bounds computed from the
magnitudes of the inputs (tests/_op_compare.py explains each); no expected value comes from the code under test.

Deterministic (``derandomize=True``, no example database) so CI sees the same examples every run. Skipped when
the compiled extension is not in use (TRACKING_DISABLE_EXTENSION=1 or not built): the reference would be
compared with itself.
"""

from __future__ import annotations

import pytest
import torch
from conftest import requires_extension

from _op_compare import assert_correlation_matches_reference, assert_crop_matches_reference
from _op_compare import assert_prroi_matches_reference

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = requires_extension

# Examples per test: sized so that the whole file runs in ~20 s on two cores.
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = st.sampled_from([torch.float32, torch.float64])


def _magnitude(draw, low: int, high: int) -> float:
    """10**e times a mantissa in [1, 10), e in [low, high]."""
    return draw(st.floats(1.0, 9.99)) * 10.0 ** draw(st.integers(low, high))


@st.composite
def intervals(draw, size: int, dtype: torch.dtype) -> tuple[float, float]:
    """(lo, hi) of one roi/box axis in map coordinates over an axis of ``size`` pixels: mostly ordinary, often
    degenerate or extreme."""
    kind = draw(st.sampled_from(["inside"] * 4 + ["zero", "negative", "far", "huge", "tiny", "overflow"]))
    lo = draw(st.floats(-2.0, size + 1.0))
    if kind == "inside":
        return lo, lo + draw(st.floats(0.05, size + 3.0))
    if kind == "zero":
        return lo, lo
    if kind == "negative":
        return lo, lo - draw(st.floats(0.05, size + 3.0))
    if kind == "far":  # an ordinary width, far before or beyond the map
        start = draw(st.sampled_from([-1.0, 1.0])) * _magnitude(draw, 2, 30)
        return start, start + draw(st.floats(0.05, size + 3.0))
    if kind == "huge":  # 1e20..1e30 wide, covering the map or starting on it
        width = _magnitude(draw, 20, 30)
        return (-width / 2, width / 2) if draw(st.booleans()) else (lo, lo + width)
    if kind == "tiny":  # 1e-30..1e-5 wide, at 0 (representable there) or anywhere (may round to zero width)
        start = draw(st.sampled_from([0.0, 1e-30, -1e-30, lo]))
        return start, start + _magnitude(draw, -30, -5)
    big = torch.finfo(dtype).max  # overflow: hi - lo beyond the dtype's range (either orientation)
    lo, hi = -draw(st.floats(0.5, 0.99)) * big, draw(st.floats(0.5, 0.99)) * big
    return (lo, hi) if draw(st.booleans()) else (hi, lo)


@st.composite
def prroi_cases(draw):
    dtype = draw(DTYPES)
    n, c = draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 3, 33]))  # 33: two CPU channel blocks
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 2.0]))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        x1, x2 = draw(intervals(w, dtype))
        y1, y2 = draw(intervals(h, dtype))
        rows.append([float(draw(st.integers(0, n - 1))), x1 / scale, y1 / scale, x2 / scale, y2 / scale])
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    features = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    rois = torch.tensor(rows, dtype=dtype).reshape(-1, 5)  # |coordinate| / scale beyond the range: inf (NaN roi)
    grad = torch.randn(rois.shape[0], c, ph, pw, generator=g, dtype=dtype)
    return features, rois, ph, pw, scale, grad


@settings(FUZZ, max_examples=600)
@given(prroi_cases())
def test_prroi_pool2d_cpu_kernels_match_reference(case):
    features, rois, ph, pw, scale, grad = case
    assert_prroi_matches_reference(features, rois, ph, pw, scale, grad, "cpu")


@settings(FUZZ, max_examples=400)
@given(prroi_cases())
def test_prroi_pool2d_cuda_kernel_code_matches_reference(case):
    # _prroi_pool2d_gpu_path(_backward): the CUDA kernels' per-element loop bodies, run serially on the CPU.
    features, rois, ph, pw, scale, grad = case
    assert_prroi_matches_reference(features, rois, ph, pw, scale, grad, "gpu_path")


@st.composite
def correlation_cases(draw):
    dtype = draw(DTYPES)
    b, c = draw(st.integers(0, 2)), draw(st.integers(0, 4))
    h, w = draw(st.integers(0, 8)), draw(st.integers(0, 8))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    hypothesis.assume(h + 2 * pad[0] >= kernel[0] and w + 2 * pad[1] >= kernel[1])
    patch = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = tuple(draw(st.one_of(st.integers(1, 3), st.sampled_from([7, 1000, 2**31 - 1]))) for _ in range(2))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    input1 = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    input2 = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    out_h = (h + 2 * pad[0] - kernel[0]) // stride[0] + 1
    out_w = (w + 2 * pad[1] - kernel[1]) // stride[1] + 1
    grad = torch.randn(b, *patch, out_h, out_w, generator=g, dtype=dtype)
    return input1, input2, (kernel, patch, stride, pad, dilation), grad


@settings(FUZZ, max_examples=600)
@given(correlation_cases())
def test_correlation_matches_reference(case):
    input1, input2, params, grad = case
    assert_correlation_matches_reference(input1, input2, params, grad)


@st.composite
def crop_cases(draw):
    dtype = draw(DTYPES)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    out_size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        x1, x2 = draw(intervals(w, dtype))
        y1, y2 = draw(intervals(h, dtype))
        rows.append([float(draw(st.integers(0, n - 1))), x1, y1, x2, y2])
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    images = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    boxes = torch.tensor(rows, dtype=dtype).reshape(-1, 5)
    grad = torch.randn(boxes.shape[0], c, *out_size, generator=g, dtype=dtype)
    return images, boxes, out_size, draw(st.sampled_from(["zeros", "border"])), grad


@settings(FUZZ, max_examples=800)
@given(crop_cases())
def test_crop_and_resize_matches_reference(case):
    images, boxes, out_size, padding, grad = case
    assert_crop_matches_reference(images, boxes, out_size, padding, grad)
