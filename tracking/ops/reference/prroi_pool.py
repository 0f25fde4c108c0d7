"""Pure-PyTorch precise RoI pooling (PrRoIPool): oracle for the compiled kernel and its fallback.

Each bin's output is the exact integral of the bilinearly interpolated feature map over the bin divided by
the bin area. The interpolant is separable, so the mean over a bin [y1, y2] x [x1, x2] of size bh x bw is
Wy . F . Wx^T with Wy[i] = (HatCdf(y2 - i) - HatCdf(y1 - i)) / bh (HatCdf: the integral of max(0, 1 - |s|)),
Wx likewise: each axis's weights are divided by its bin size, as in the compiled kernels, so no area (or its
square, in the gradient) under- or overflows. Differentiable by autograd with respect to features and roi
coordinates.
"""

from __future__ import annotations

import torch


def _hat_cdf(t: torch.Tensor) -> torch.Tensor:
    """Integral of max(0, 1 - |s|) over s in (-inf, t]."""
    t = t.clamp(-1.0, 1.0)
    return torch.where(t <= 0, 0.5 * (t + 1) ** 2, 1 - 0.5 * (1 - t) ** 2)


def _axis_weights(lo: torch.Tensor, hi: torch.Tensor, step: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised weights [K, P, size] of the pixels of one axis for the P intervals [lo, hi] ([K, P] each) of
    K rois, whose bins have size ``step`` ([K])."""
    pixel = torch.arange(size, dtype=lo.dtype, device=lo.device)
    return (_hat_cdf(hi[..., None] - pixel) - _hat_cdf(lo[..., None] - pixel)) / step[:, None, None]


def _bin_edges(start: torch.Tensor, step: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges [K, bins] of `bins` bins of size ``step`` starting at ``start`` (start, step: [K])."""
    lo = start[:, None] + torch.arange(bins, dtype=start.dtype, device=start.device) * step[:, None]
    return lo, lo + step[:, None]


def _roi_status(coords: torch.Tensor, pooled_height: int, pooled_width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(finite, pools) masks [K] of scaled roi corners ``coords`` [K, 4]: every corner is finite, and the bin
    height and width (computed as the pooling computes them) are positive finite numbers."""
    with torch.no_grad():
        x1, y1, x2, y2 = coords.unbind(1)
        bh = (y2 - y1).clamp(min=0) / pooled_height
        bw = (x2 - x1).clamp(min=0) / pooled_width
        finite = torch.isfinite(coords).all(1)
        return finite, finite & (bh > 0) & (bw > 0) & torch.isfinite(bh) & torch.isfinite(bw)


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float) -> torch.Tensor:
    """PrRoIPool of ``features`` [N, C, H, W] over ``rois`` [K, 5] -> [K, C, pooled_height, pooled_width].

    rois rows are (batch_index, x1, y1, x2, y2) in input-image coordinates; multiplied by spatial_scale they
    are in feature coordinates, where feature pixel (i, j) sits at (y=i, x=j) and the map is zero beyond
    its border pixels (it fades linearly to 0 one pixel outside). Bin (p, q) of a roi spans
    [y1 + p * bh, y1 + p * bh + bh] x [x1 + q * bw, x1 + q * bw + bw], bh = max(y2 - y1, 0) / pooled_height,
    bw likewise, all in the dtype of the rois. A roi pools to 0 (zero gradient) unless bh and bw are
    positive finite numbers (non-positive width or height, or an x2 - x1 / y2 - y1 beyond the dtype's range);
    a roi with a non-finite coordinate pools to NaN (zero gradient).
    """
    N, C, H, W = features.shape
    K = rois.shape[0]
    coords = rois[:, 1:] * spatial_scale
    # Rois that do not pool (degenerate, overflowing or non-finite) are replaced by a finite stand-in with
    # bins of size 1 (so no NaN or inf weight reaches the gradients) and their outputs overwritten below.
    finite, pools = _roi_status(coords, pooled_height, pooled_width)
    zero = torch.zeros((), dtype=coords.dtype, device=coords.device)
    coords = torch.where(pools[:, None], coords, zero)
    x1, y1, x2, y2 = coords.unbind(1)
    one = torch.ones((), dtype=coords.dtype, device=coords.device)
    bh = torch.where(pools, (y2 - y1).clamp(min=0) / pooled_height, one)
    bw = torch.where(pools, (x2 - x1).clamp(min=0) / pooled_width, one)
    wy = _axis_weights(*_bin_edges(y1, bh, pooled_height), bh, H)  # [K, ph, H]
    wx = _axis_weights(*_bin_edges(x1, bw, pooled_width), bw, W)  # [K, pw, W]

    # Per image: integrate along x, then along y. unbind/cat keep autograd's buffers per image small.
    batch_index = rois[:, 0].long()
    per_image = features.unbind(0)
    parts, order = [], []
    for n in torch.unique(batch_index).tolist():
        idx = (batch_index == n).nonzero().squeeze(1)
        cols = torch.einsum("chw,kqw->kchq", per_image[n], wx[idx])
        parts.append(torch.einsum("kph,kchq->kcpq", wy[idx], cols))
        order.append(idx)
    if parts:
        pooled = torch.cat(parts)[torch.argsort(torch.cat(order))]
    else:  # no rois: zeros that are still part of the graph (empty sums), as the compiled op's output is
        pooled = features.new_zeros(K, C, pooled_height, pooled_width) + features[:0].sum() + coords.sum()

    out = torch.where(pools[:, None, None, None], pooled, torch.zeros_like(pooled))
    return torch.where(finite[:, None, None, None], out, torch.full_like(out, float("nan")))
