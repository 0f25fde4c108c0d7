"""Pure-PyTorch precise RoI pooling (PrRoIPool): oracle for the compiled kernel and its fallback.

Each bin's output is the exact integral of the bilinearly interpolated feature map over the bin divided by
the bin area. The interpolant is separable, so the integral over [y1, y2] x [x1, x2] is Wy . F . Wx^T with
Wy[i] = HatCdf(y2 - i) - HatCdf(y1 - i) (HatCdf: the integral of max(0, 1 - |t|)). Differentiable by
autograd with respect to features and roi coordinates.
"""

from __future__ import annotations

import torch


def _hat_cdf(t: torch.Tensor) -> torch.Tensor:
    """Integral of max(0, 1 - |s|) over s in (-inf, t]."""
    t = t.clamp(-1.0, 1.0)
    return torch.where(t <= 0, 0.5 * (t + 1) ** 2, 1 - 0.5 * (1 - t) ** 2)


def _axis_weights(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
    """Weights [K, P, size] of the pixels of one axis for the P intervals [lo, hi] ([K, P] each) of K rois."""
    pixel = torch.arange(size, dtype=lo.dtype, device=lo.device)
    return _hat_cdf(hi[..., None] - pixel) - _hat_cdf(lo[..., None] - pixel)


def _bin_edges(start: torch.Tensor, extent: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges [K, bins] of `bins` equal bins splitting [start, start + extent] (start, extent: [K])."""
    step = extent / bins
    lo = start[:, None] + torch.arange(bins, dtype=start.dtype, device=start.device) * step[:, None]
    return lo, lo + step[:, None]


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float) -> torch.Tensor:
    """PrRoIPool of ``features`` [N, C, H, W] over ``rois`` [K, 5] -> [K, C, pooled_height, pooled_width].

    rois rows are (batch_index, x1, y1, x2, y2) in input-image coordinates; multiplied by spatial_scale they
    are in feature coordinates, where feature pixel (i, j) sits at (y=i, x=j) and the map is zero beyond
    its border pixels (it fades linearly to 0 one pixel outside). A roi with non-positive width or height
    pools to 0; a roi with a non-finite coordinate pools to NaN.
    """
    N, C, H, W = features.shape
    K = rois.shape[0]
    coords = rois[:, 1:] * spatial_scale
    # A roi with a non-finite coordinate pools to NaN with zero gradient: pool a finite stand-in (so no
    # NaN weight reaches the features' gradient) and overwrite its outputs below.
    finite = torch.isfinite(coords).all(1)
    coords = torch.where(finite[:, None], coords, torch.zeros((), dtype=coords.dtype, device=coords.device))
    x1, y1, x2, y2 = coords.unbind(1)
    roi_w = (x2 - x1).clamp(min=0)
    roi_h = (y2 - y1).clamp(min=0)
    wy = _axis_weights(*_bin_edges(y1, roi_h, pooled_height), H)  # [K, ph, H]
    wx = _axis_weights(*_bin_edges(x1, roi_w, pooled_width), W)  # [K, pw, W]

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
    else:
        pooled = features.new_zeros(K, C, pooled_height, pooled_width)

    area = (roi_h / pooled_height) * (roi_w / pooled_width)
    positive = area > 0
    safe_area = torch.where(positive, area, torch.ones_like(area))
    out = pooled / safe_area[:, None, None, None] * positive[:, None, None, None]
    return torch.where(finite[:, None, None, None], out, torch.full_like(out, float("nan")))
