"""PrDiMP's KL-divergence losses (Danelljan et al., CVPR 2020) for a network that predicts an unnormalised
log-density ``s(y)`` (the score) of a target quantity y: ``p(y) = exp(s(y)) / Z``, ``Z = ∫ exp(s(y)) dy``.
The loss is ``KL(p_gt || p) + const = log Z - ∫ s(y) p_gt(y) dy``.

* ``KLRegression``: both integrals by importance sampling with samples ``y_k ~ q`` (the proposal density,
  ``tracking.data.proposals.sample_box_gmm``): ``Z ≈ mean_k exp(s_k) / q_k`` and
  ``∫ s p_gt ≈ mean_k s_k p_gt(y_k) / q_k``. Used for the box branch (IoU-Net scores of sampled boxes).
* ``KLRegressionGrid``: both integrals as sums over a regular grid with cell area A:
  ``Z ≈ A Σ exp(s)``, ``∫ s p_gt ≈ A Σ s p_gt``. Used for the classifier's score map.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["KLRegression", "KLRegressionGrid"]


class KLRegression(nn.Module):
    """Monte-Carlo KL loss.

    Args:
        eps: added to the sample density before dividing by it / taking its log (0 as in PrDiMP).

    ``forward(scores, sample_density, gt_density, mc_dim=-1)``: three tensors of one shape, the samples along
    ``mc_dim`` (PrDiMP: ``[num_test * B, P]``). Per sample set the loss is
    ``logsumexp_k(s_k - log(q_k + eps)) - log(K) - mean_k(s_k * p_k / (q_k + eps))``; returns its mean over
    the remaining dimensions (a scalar).
    """

    def __init__(self, eps: float = 0.0) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, scores: torch.Tensor, sample_density: torch.Tensor, gt_density: torch.Tensor,
                mc_dim: int = -1) -> torch.Tensor:
        if scores.shape != sample_density.shape or scores.shape != gt_density.shape:
            raise ValueError(f"KLRegression: `scores` {tuple(scores.shape)}, `sample_density` "
                             f"{tuple(sample_density.shape)} and `gt_density` {tuple(gt_density.shape)} must have "
                             f"one shape")
        q = sample_density + self.eps
        log_z = torch.logsumexp(scores - torch.log(q), dim=mc_dim) - math.log(scores.shape[mc_dim])
        return (log_z - torch.mean(scores * (gt_density / q), dim=mc_dim)).mean()


class KLRegressionGrid(nn.Module):
    """Grid KL loss.

    ``forward(scores, gt_density, grid_dim=-1, grid_scale=1.0)``: scores and gt density of one shape, the grid
    along ``grid_dim`` (an int or a tuple, e.g. ``(-2, -1)`` for ``[num_test, B, H, W]`` score maps);
    ``grid_scale`` is the area of one cell (``gt_density`` is a density, so ``grid_scale * Σ gt_density ≈ 1``).
    Per grid: ``logsumexp(s) + log(grid_scale) - grid_scale * Σ s * p_gt``; returns the mean (a scalar).
    """

    def forward(self, scores: torch.Tensor, gt_density: torch.Tensor, grid_dim: int | tuple[int, ...] = -1,
                grid_scale: float = 1.0) -> torch.Tensor:
        if scores.shape != gt_density.shape:
            raise ValueError(f"KLRegressionGrid: `scores` {tuple(scores.shape)} and `gt_density` "
                             f"{tuple(gt_density.shape)} must have one shape")
        if not grid_scale > 0:
            raise ValueError(f"KLRegressionGrid: `grid_scale` must be > 0, got {grid_scale!r}")
        score_corr = grid_scale * torch.sum(scores * gt_density, dim=grid_dim)
        return (torch.logsumexp(scores, dim=grid_dim) + math.log(grid_scale) - score_corr).mean()
