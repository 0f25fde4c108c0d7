"""Comparisons of the compiled ops with their pure-PyTorch references, with principled tolerances.

Used by tests/test_ops_fuzz.py (hypothesis strategies live there) and by the regression tests of the op test
files, on the CPU and (tests/test_cuda_ops*.py) on the GPU, which also share the random inputs and the opcheck
calls below. Plain torch: no optional dependency.

Tolerances. The compiled kernels and the references evaluate the same documented formulas in the same dtype
(bin edges, pixel weights and sample positions are computed identically), but sum in other orders (separable
loops vs einsum, per-row caches vs grid_sample). A sum of n rounded terms is off by at most ~n * eps times the
sum of the terms' magnitudes, so each comparison is made against such a magnitude ("bound"), computed from the
absolute values of the inputs, never from the code under test's output:

* prroi_pool2d outputs / feature gradients: the reference run on |features| / with |grad| (all pixel weights
  are >= 0, so this is exactly the sum of the terms' magnitudes);
* prroi_pool2d roi gradients: an analytic bound of the terms of d out / d edge ((normalised edge integral -
  out) / bin size, see ``prroi_roi_grad_bound``); tiny bins make these terms huge and the gradient pure
  rounding noise (its true value is O(max|F|)), which the bound reflects;
* correlation: the op run on |input1|, |input2| (and with |grad|);
* crop_and_resize: the reference normalises the sample positions for grid_sample and back, which moves them
  by a few eps * (W + H) pixels; the bilinear map has slope <= 2 max|image| per pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tracking.ops import correlation as public_correlation
from tracking.ops import crop_and_resize as public_crop_and_resize
from tracking.ops import prroi_pool2d as public_prroi_pool2d
from tracking.ops import reference

# Multiples of eps allowed per unit of bound. The sums have at most a few hundred terms (maps <= 12 x 12,
# windows <= 3 x 3, <= 33 channels), and their rounding errors partly cancel: observed errors stay below
# ~2 eps * bound (tests/test_ops_fuzz.py), so 256 eps leaves two orders of magnitude. The roi-gradient bound
# is a worst case over its terms (max|F| everywhere, every bin's terms added up), observed errors stay below
# ~0.01 eps * bound, so 64 eps is as safe and keeps the comparison meaningful.
ULPS = 256
ROI_GRAD_ULPS = 64


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def _assert_within(name: str, got: torch.Tensor, expected: torch.Tensor, bound: torch.Tensor, rtol: float,
                   atol: float = 0.0) -> None:
    """|got - expected| <= rtol * bound + atol (+ a few float32 subnormals) elementwise, and NaN exactly where
    ``expected`` is NaN."""
    assert got.shape == expected.shape, (name, got.shape, expected.shape)
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(got), nan), f"{name}: NaN at other positions than the reference"
    got, expected, bound = got[~nan].double(), expected[~nan].double(), bound[~nan].double()
    tol = rtol * bound + atol + 64 * torch.finfo(torch.float32).tiny * eps(torch.float32)
    err = (got - expected).abs()
    bad = ~(err <= tol)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise AssertionError(f"{name}: {int(bad.sum())} element(s) off, e.g. got {got[i].item()!r}, expected "
                             f"{expected[i].item()!r}, error {err[i].item():.3g} > tolerance {tol[i].item():.3g}")


# ---- prroi_pool2d ----

def run_prroi(path: str, features: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, scale: float,
              grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, grad of features, grad of rois) of one code path: "reference", "cpu" (the public op and its
    autograd formula, i.e. the CPU kernels) or "gpu_path" (the CUDA kernels' per-element code run on the CPU)."""
    if path == "gpu_path":
        out = torch.ops.tracking._prroi_pool2d_gpu_path(features, rois, ph, pw, scale)
        grad_features, grad_rois = torch.ops.tracking._prroi_pool2d_gpu_path_backward(grad, features, rois, out, ph,
                                                                                      pw, scale)
        return out, grad_features, grad_rois
    op = reference.prroi_pool2d if path == "reference" else public_prroi_pool2d
    f, r = features.detach().clone().requires_grad_(), rois.detach().clone().requires_grad_()
    out = op(f, r, ph, pw, scale)
    out.backward(grad)
    return out.detach(), f.grad, r.grad


def prroi_pools(rois: torch.Tensor, ph: int, pw: int, scale: float) -> torch.Tensor:
    """[K] bool, the documented rule: the scaled corners are finite and the bin height max(y2 - y1, 0) / ph
    and width max(x2 - x1, 0) / pw, computed in the rois' dtype, are positive finite numbers."""
    c = rois[:, 1:] * scale
    bh = (c[:, 3] - c[:, 1]).clamp(min=0) / ph
    bw = (c[:, 2] - c[:, 0]).clamp(min=0) / pw
    return torch.isfinite(c).all(1) & (bh > 0) & (bw > 0) & torch.isfinite(bh) & torch.isfinite(bw)


def prroi_roi_grad_bound(features: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, scale: float,
                         grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(bound [K], comparable [K]), float64: a bound of the magnitudes of the terms summed into each roi's
    coordinate gradients, and whether no intermediate of either implementation can overflow.

    Per bin of size bh x bw (G = sum_c |grad| over the bin, M = max|features|): d out / d y1 = (out - ey1) / bh
    with the normalised edge integral |ey1| <= M min(bw, W + 1) / bw and |out| <= Mo = M min(bh, H + 1) / bh
    * min(bw, W + 1) / bw; the x edges likewise. Each coordinate collects at most two edges per bin, times
    spatial_scale. Comparable: the bound and 1 / min(bh, bw) (the reference's d(w / bh) / d bh is ~ 1 / bh)
    stay far below the dtype's maximum; beyond, the gradient is not representable, and it would be rounding
    noise anyway.
    """
    _, _, H, W = features.shape
    c = rois[:, 1:].double() * scale
    bh = (c[:, 3] - c[:, 1]).clamp(min=0) / ph
    bw = (c[:, 2] - c[:, 0]).clamp(min=0) / pw
    M = features.detach().abs().max().double() if features.numel() else c.new_zeros(())
    G = grad.detach().abs().double().sum(1).flatten(1).sum(1) if grad.numel() else c.new_zeros(rois.shape[0])
    fy = torch.minimum(bh, c.new_tensor(H + 1.0)) / bh  # fraction of a bin row that lies on the map's support
    fx = torch.minimum(bw, c.new_tensor(W + 1.0)) / bw
    mo = M * fy * fx
    bound = 2 * scale * G * ((M * fx + mo) / bh + (M * fy + mo) / bw)
    big = torch.finfo(features.dtype).max * 1e-3
    comparable = (bound < big) & (1 / torch.minimum(bh, bw) < big)
    return bound, comparable


def assert_prroi_matches_reference(features: torch.Tensor, rois: torch.Tensor, ph: int, pw: int, scale: float,
                                   grad: torch.Tensor, path: str) -> None:
    """Output, feature and roi gradients of ``path`` ("cpu" or "gpu_path") against the reference."""
    rtol = ULPS * eps(features.dtype)
    out, grad_f, grad_r = run_prroi(path, features, rois, ph, pw, scale, grad)
    ref_out, ref_f, ref_r = run_prroi("reference", features, rois, ph, pw, scale, grad)
    _, bound_f, _ = run_prroi("reference", features.abs(), rois, ph, pw, scale, grad.abs())
    with torch.no_grad():
        bound_out = reference.prroi_pool2d(features.abs(), rois, ph, pw, scale)
    _assert_within(f"prroi {path} output", out, ref_out, bound_out, rtol)
    _assert_within(f"prroi {path} grad features", grad_f, ref_f, bound_f, rtol)
    assert torch.equal(grad_r[:, 0], torch.zeros_like(grad_r[:, 0])), "batch indices get no gradient"
    bound_r, comparable = prroi_roi_grad_bound(features, rois, ph, pw, scale, grad)
    pools = prroi_pools(rois, ph, pw, scale)
    for g in (grad_r, ref_r):  # documented: zero gradient for the rois that do not pool (0 or NaN outputs)
        assert torch.equal(g[~pools], torch.zeros_like(g[~pools])), f"{path}: rois that do not pool get no gradient"
    keep = comparable & pools
    _assert_within(f"prroi {path} grad rois", grad_r[keep, 1:], ref_r[keep, 1:],
                   bound_r[keep, None].expand(-1, 4), ROI_GRAD_ULPS * eps(features.dtype))


# ---- correlation ----

def assert_correlation_matches_reference(input1: torch.Tensor, input2: torch.Tensor, params: tuple,
                                         grad: torch.Tensor) -> None:
    """Forward and both input gradients of the public op (compiled) against the reference."""
    rtol = ULPS * eps(input1.dtype)
    results = []
    for op in (public_correlation, reference.correlation):
        a, b = input1.detach().clone().requires_grad_(), input2.detach().clone().requires_grad_()
        out = op(a, b, *params)
        ga, gb = torch.autograd.grad(out, (a, b), grad, allow_unused=True)
        results.append((out.detach(), torch.zeros_like(a) if ga is None else ga,
                        torch.zeros_like(b) if gb is None else gb))
    a, b = input1.abs().requires_grad_(), input2.abs().requires_grad_()
    bound = reference.correlation(a, b, *params)
    bound_a, bound_b = torch.autograd.grad(bound, (a, b), grad.abs(), allow_unused=True)
    bounds = (bound.detach(), torch.zeros_like(a) if bound_a is None else bound_a,
              torch.zeros_like(b) if bound_b is None else bound_b)
    for name, got, expected, b in zip(("output", "grad input1", "grad input2"), *results, bounds):
        _assert_within(f"correlation {name}", got, expected, b, rtol)


# ---- crop_and_resize ----

def assert_crop_matches_reference(images: torch.Tensor, boxes: torch.Tensor, out_size: tuple[int, int],
                                  padding: str, grad: torch.Tensor) -> None:
    """Forward and image gradient of the public op (compiled) against the reference.

    Sample positions agree up to the reference's grid normalisation, a few eps * (W + H) pixels (``shift``):
    outputs then differ by <= 2 max|image| * shift (slope of the bilinear map) plus summation rounding; an
    image-gradient pixel by <= 2 * shift times the |grad| reaching it or a neighbour (a tap can move to the
    next pixel with a weight of at most ``shift``), bounded by a 3x3 max-pool of the reference's gradient
    for |grad|.
    """
    n, c, h, w = images.shape
    e = eps(images.dtype)
    shift = 16 * e * (h + w + 4)
    results = []
    for op in (lambda i, b: public_crop_and_resize(i, b, out_size, padding),
               lambda i, b: reference.crop_and_resize(i, b, *out_size, padding)):
        im = images.detach().clone().requires_grad_()
        out = op(im, boxes)
        (g,) = torch.autograd.grad(out, (im,), grad, allow_unused=True)
        results.append((out.detach(), torch.zeros_like(im) if g is None else g))
    im = images.detach().abs().requires_grad_()
    out_abs = reference.crop_and_resize(im, boxes, *out_size, padding)
    (reach,) = torch.autograd.grad(out_abs, (im,), grad.abs(), allow_unused=True)
    reach = torch.zeros_like(im) if reach is None else reach
    m = float(images.abs().max()) if images.numel() else 0.0
    near = F.max_pool2d(reach.flatten(0, 1)[:, None], 3, 1, 1)[:, 0].view_as(reach) if reach.numel() else reach
    rtol = ULPS * e
    _assert_within("crop_and_resize output", results[0][0], results[1][0], out_abs.detach(), rtol, 2 * m * shift)
    _assert_within("crop_and_resize grad images", results[0][1], results[1][1], reach + near * (2 * shift / rtol),
                   rtol)


# ---- inputs and checks shared by the CPU and GPU op tests ----

def random_rois(generator: torch.Generator, batch: int, count: int, height: int, width: int, scale: float,
                dtype=torch.float64) -> torch.Tensor:
    """[count, 5] rois in image coordinates, centres anywhere from well outside to inside the map."""
    size_h, size_w = height / scale, width / scale
    cx = (torch.rand(count, generator=generator, dtype=dtype) * 1.6 - 0.3) * size_w
    cy = (torch.rand(count, generator=generator, dtype=dtype) * 1.6 - 0.3) * size_h
    w = torch.rand(count, generator=generator, dtype=dtype) * 0.7 * size_w + 0.05 / scale
    h = torch.rand(count, generator=generator, dtype=dtype) * 0.7 * size_h + 0.05 / scale
    index = torch.randint(0, batch, (count,), generator=generator).to(dtype)
    return torch.stack([index, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def random_boxes(generator: torch.Generator, k: int, n: int, height: int, width: int,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Boxes [K,5] inside, partly outside, fully outside, mirrored, tiny and zero-size."""
    centre_x = torch.rand(k, generator=generator) * (width * 1.6) - 0.3 * width
    centre_y = torch.rand(k, generator=generator) * (height * 1.6) - 0.3 * height
    box_w = (torch.rand(k, generator=generator) * 1.2 - 0.1) * width
    box_h = (torch.rand(k, generator=generator) * 1.2 - 0.1) * height
    batch = torch.randint(0, n, (k,), generator=generator).double()
    boxes = torch.stack([batch, centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2,
                         centre_y + box_h / 2], dim=1)
    return boxes.to(dtype)


def opcheck_prroi_pool2d(features: torch.Tensor, rois: torch.Tensor) -> None:
    """torch.library.opcheck of prroi_pool2d (float32, and float64 with gradients) and of its backward op on
    `features` [N, C, H, W] and `rois` [K, 5] (float32, spatial scale 0.25), on their device."""
    op = torch.ops.tracking.prroi_pool2d.default
    torch.library.opcheck(op, (features, rois, 2, 3, 0.25))
    torch.library.opcheck(op, (features.double().requires_grad_(), rois.double().requires_grad_(), 3, 3, 0.25))
    out = op(features, rois, 2, 3, 0.25)
    torch.library.opcheck(torch.ops.tracking._prroi_pool2d_backward.default,
                          (torch.randn_like(out), features, rois, out, 2, 3, 0.25, True, True))
