"""Unrolled filter optimisers of DiMP (steepest descent, Gauss-Newton step length) and PrDiMP (KL loss on the
score grid, Newton step length).

Shapes (``[]`` = optional dimension): filter ``[S, C, fH, fW]``; train features ``[I, [S], C, H, W]``; train
boxes ``(x, y, w, h)`` in image pixels ``[I, [S], 4]``; score maps ``[I, S, H', W']`` with
``H' = H + (fH + 1) % 2`` (see ``layers.filter``). A box centre ``c`` (pixels) sits on the score grid at
``c / feat_stride - (fsz % 2) / 2`` (row, col).
Each optimiser returns ``(weights, weight_iterates, losses)``: the final filter, the list of the initial filter
and every iterate (``num_iter + 1`` entries), and the training loss before each step and after the last
(empty when ``compute_losses`` is False).
"""

import math

import torch
from torch import Tensor, nn

from ..layers import activation
from ..layers.distance import DistanceMap
from ..layers.filter import apply_feat_transpose, apply_filter


def _problem_sizes(weights: Tensor, feat: Tensor) -> tuple[int, int, tuple[int, int], tuple[int, int]]:
    """(num_images, num_sequences, filter size, score-map size)."""
    if weights.dim() != 4:
        raise ValueError(f"weights must be [sequences, C, fH, fW], got shape {tuple(weights.shape)}")
    if feat.dim() not in (4, 5):
        raise ValueError(f"feat must be [images, [sequences], C, H, W], got shape {tuple(feat.shape)}")
    num_images = feat.shape[0]
    num_sequences = feat.shape[1] if feat.dim() == 5 else 1
    filter_sz = (weights.shape[-2], weights.shape[-1])
    output_sz = (feat.shape[-2] + (filter_sz[0] + 1) % 2, feat.shape[-1] + (filter_sz[1] + 1) % 2)
    return num_images, num_sequences, filter_sz, output_sz


def _grid_centers(bb: Tensor, feat_stride: float, filter_sz: tuple[int, int]) -> Tensor:
    """Box centres on the score grid as (row, col), shape ``bb.shape[:-1] + (2,)``."""
    if bb.shape[-1] != 4:
        raise ValueError(f"bb must end in (x, y, w, h), got shape {tuple(bb.shape)}")
    offset = (torch.tensor(filter_sz, dtype=bb.dtype, device=bb.device) % 2) / 2.0
    return ((bb[..., :2] + bb[..., 2:] / 2) / feat_stride).flip((-1,)) - offset


class _UnrolledOptimizer(nn.Module):
    """Learnt step-length factor ``exp(log_step_length)`` and filter regularisation ``filter_reg**2`` (clamped
    at ``min_filter_reg**2``), shared by both optimisers."""

    def __init__(self, num_iter: int, feat_stride: int, init_step_length: float, init_filter_reg: float,
                 min_filter_reg: float, detach_length: float, alpha_eps: float) -> None:
        super().__init__()
        if not init_step_length > 0:
            raise ValueError(f"init_step_length must be > 0, got {init_step_length}")
        self.num_iter = num_iter
        self.feat_stride = feat_stride
        self.log_step_length = nn.Parameter(math.log(init_step_length) * torch.ones(1))
        self.filter_reg = nn.Parameter(init_filter_reg * torch.ones(1))
        self.min_filter_reg = min_filter_reg
        self.detach_length = detach_length
        self.alpha_eps = alpha_eps

    def _scalars(self) -> tuple[Tensor, Tensor]:
        step = torch.exp(self.log_step_length)
        reg = (self.filter_reg * self.filter_reg).clamp(min=self.min_filter_reg ** 2)
        return step, reg

    def _detach_now(self, i: int) -> bool:
        return i > 0 and i % self.detach_length == 0


class DiMPSteepestDescentGN(_UnrolledOptimizer):
    """DiMP's optimiser: ``num_iter`` steepest-descent steps on
    ``L(f) = sum_i ||v_i * (act(s_i(f), m_i) - y_i)||^2 + reg * ||f||^2`` (per sequence; the reported loss is
    divided by the number of sequences), ``s_i(f) = apply_filter(x_i, f)``, with the Gauss-Newton step length
    ``alpha = |g|^2 / (|J g|^2 + (reg + alpha_eps) |g|^2)`` times the learnt factor, ``g`` the gradient/2.

    The label ``y``, target mask ``m`` and spatial weight ``v`` are 1x1 convs (no bias) of the
    ``DistanceMap`` of each cell to the box centre: ``label_map_predictor`` initialised to
    ``gauss(d) - min(gauss(d))`` with ``gauss(d) = exp(-d^2 / (2 init_gauss_sigma^2))`` and ``d = k *
    bin_displacement`` the bin distances (a one-hot first bin when ``init_gauss_sigma == 0``);
    ``target_mask_predictor`` = conv (+ Sigmoid for ``mask_act='sigmoid'``) initialised to
    ``mask_init_factor * tanh(2 - d)`` (+ 0.5 for ``mask_act='linear'``); ``spatial_weight_predictor``
    initialised to 1. ``score_act`` is ``'relu'`` (LeakyReluPar) or ``'bentpar'`` (BentIdentPar(act_param)).
    The per-image weight is ``sqrt(1 / I)`` (or ``sqrt(sample_weight)``) times ``v``.
    """

    def __init__(self, num_iter: int = 1, feat_stride: int = 16, init_step_length: float = 1.0,
                 init_filter_reg: float = 1e-2, init_gauss_sigma: float = 1.0, num_dist_bins: int = 5,
                 bin_displacement: float = 1.0, mask_init_factor: float = 4.0, score_act: str = "relu",
                 act_param: float | None = None, min_filter_reg: float = 1e-3, mask_act: str = "sigmoid",
                 detach_length: float = float("Inf"), alpha_eps: float = 0) -> None:
        super().__init__(num_iter, feat_stride, init_step_length, init_filter_reg, min_filter_reg, detach_length,
                         alpha_eps)
        self.distance_map = DistanceMap(num_dist_bins, bin_displacement)

        d = torch.arange(num_dist_bins, dtype=torch.float32).reshape(1, -1, 1, 1) * bin_displacement
        if init_gauss_sigma == 0:
            init_gauss = torch.zeros_like(d)
            init_gauss[0, 0, 0, 0] = 1.0
        else:
            init_gauss = torch.exp(-0.5 * (d / init_gauss_sigma) ** 2)

        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        if mask_act == "sigmoid":
            mask_layers: list[nn.Module] = [nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False), nn.Sigmoid()]
            mask_bias = 0.0
        elif mask_act == "linear":
            mask_layers = [nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)]
            mask_bias = 0.5
        else:
            raise ValueError(f"DiMPSteepestDescentGN: mask_act must be 'sigmoid' or 'linear', got {mask_act!r}")
        self.target_mask_predictor = nn.Sequential(*mask_layers)
        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.label_map_predictor.weight.copy_(init_gauss - init_gauss.min())
            self.target_mask_predictor[0].weight.copy_(mask_init_factor * torch.tanh(2.0 - d) + mask_bias)
            self.spatial_weight_predictor.weight.fill_(1.0)

        if score_act == "relu":
            self.score_activation: nn.Module = activation.LeakyReluPar()
            self.score_activation_deriv: nn.Module = activation.LeakyReluParDeriv()
        elif score_act == "bentpar":
            self.score_activation = activation.BentIdentPar(act_param)
            self.score_activation_deriv = activation.BentIdentParDeriv(act_param)
        else:
            raise ValueError(f"DiMPSteepestDescentGN: score_act must be 'relu' or 'bentpar', got {score_act!r}")

    def loss_terms(self, bb: Tensor, num_images: int, num_sequences: int, filter_sz: tuple[int, int],
                   output_sz: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
        """(label map y, target mask m, spatial weight v), each ``[I, S, H', W']``, for boxes ``bb``."""
        center = _grid_centers(bb, self.feat_stride, filter_sz).reshape(-1, 2)
        if center.shape[0] != num_images * num_sequences:
            raise ValueError(f"bb must hold {num_images}x{num_sequences} boxes, got shape {tuple(bb.shape)}")
        dist_map = self.distance_map(center, output_sz)
        shape = (num_images, num_sequences, *dist_map.shape[-2:])
        return (self.label_map_predictor(dist_map).reshape(shape),
                self.target_mask_predictor(dist_map).reshape(shape),
                self.spatial_weight_predictor(dist_map).reshape(shape))

    def forward(self, weights: Tensor, feat: Tensor, bb: Tensor, sample_weight: Tensor | float | None = None,
                num_iter: int | None = None, compute_losses: bool = True) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        num_iter = self.num_iter if num_iter is None else num_iter
        num_images, num_sequences, filter_sz, output_sz = _problem_sizes(weights, feat)
        step_factor, reg_weight = self._scalars()
        label_map, target_mask, spatial_weight = self.loss_terms(bb, num_images, num_sequences, filter_sz, output_sz)

        if sample_weight is None:
            sample_weight = math.sqrt(1.0 / num_images) * spatial_weight
        else:
            sample_weight = torch.as_tensor(sample_weight, dtype=feat.dtype, device=feat.device)
            sample_weight = sample_weight.sqrt().reshape(num_images, num_sequences, 1, 1) * spatial_weight

        def loss(w: Tensor) -> Tensor:
            act = self.score_activation(apply_filter(feat, w), target_mask)
            return (((sample_weight * (act - label_map)) ** 2).sum() + reg_weight * (w ** 2).sum()) / num_sequences

        weight_iterates = [weights]
        losses: list[Tensor] = []
        for i in range(num_iter):
            if self.detach_length <= 0 or self._detach_now(i):
                weights = weights.detach()

            scores = apply_filter(feat, weights)
            scores_act = self.score_activation(scores, target_mask)
            score_mask = self.score_activation_deriv(scores, target_mask)
            residuals = sample_weight * (scores_act - label_map)
            if compute_losses:
                losses.append(((residuals ** 2).sum() + reg_weight * (weights ** 2).sum()) / num_sequences)

            # Half gradient g = J^T r + reg * f, and its image J g under the Jacobian of the residuals.
            residuals_mapped = score_mask * (sample_weight * residuals)
            weights_grad = apply_feat_transpose(feat, residuals_mapped, filter_sz, training=self.training) + \
                reg_weight * weights
            scores_grad = sample_weight * (score_mask * apply_filter(feat, weights_grad))

            alpha_num = (weights_grad * weights_grad).sum(dim=(1, 2, 3))
            jg_sq = (scores_grad * scores_grad).reshape(num_images, num_sequences, -1).sum(dim=(0, 2))
            alpha_den = (jg_sq + (reg_weight + self.alpha_eps) * alpha_num).clamp(1e-8)
            alpha = alpha_num / alpha_den

            weights = weights - (step_factor * alpha.reshape(-1, 1, 1, 1)) * weights_grad
            weight_iterates.append(weights)

        if compute_losses:
            losses.append(loss(weights))
        return weights, weight_iterates, losses


class PrDiMPSteepestDescentNewton(_UnrolledOptimizer):
    """PrDiMP's optimiser: steepest descent on the KL/cross-entropy loss of the softmax of the scores against a
    Gaussian label density, ``L(f) = sum_i w_i (log(sum exp s_i + exp(softmax_reg)) - <p_i, s_i>) / S +
    reg ||f||^2 / S``, with the Newton step length ``alpha = |g|^2 / (g^T H g + (reg + alpha_eps) |g|^2)``
    (``H`` the softmax Hessian in score space, mapped through the filter) times the learnt factor.

    The label density per image is ``N(centre, gauss_sigma^2)`` on the score grid (``gauss_sigma`` in cells;
    a one-hot at the nearest cell if 0), zeroed below ``label_threshold``, optionally normalised to sum 1
    (``normalize_label``), mixed with a uniform density by ``init_uni_weight`` and scaled by
    ``1 - label_shrink``. Sample weights default to ``1 / I``.
    """

    def __init__(self, num_iter: int = 1, feat_stride: int = 16, init_step_length: float = 1.0,
                 init_filter_reg: float = 1e-2, gauss_sigma: float = 1.0, min_filter_reg: float = 1e-3,
                 detach_length: float = float("Inf"), alpha_eps: float = 0.0, init_uni_weight: float | None = None,
                 normalize_label: bool = False, label_shrink: float = 0, softmax_reg: float | None = None,
                 label_threshold: float = 0.0) -> None:
        super().__init__(num_iter, feat_stride, init_step_length, init_filter_reg, min_filter_reg, detach_length,
                         alpha_eps)
        self.gauss_sigma = gauss_sigma
        self.uni_weight = 0 if init_uni_weight is None else init_uni_weight
        self.normalize_label = normalize_label
        self.label_shrink = label_shrink
        self.softmax_reg = softmax_reg
        self.label_threshold = label_threshold

    def get_label_density(self, center: Tensor, output_sz: tuple[int, int]) -> Tensor:
        """Label densities ``[I, S, H', W']`` for grid centres ``center`` ``[I, [S], 2]`` (row, col)."""
        center = center.reshape(center.shape[0], -1, 2)
        dev, dt = center.device, center.dtype
        rows = torch.arange(output_sz[0], dtype=dt, device=dev).reshape(1, 1, -1, 1)
        cols = torch.arange(output_sz[1], dtype=dt, device=dev).reshape(1, 1, 1, -1)
        dist0 = (rows - center[:, :, 0, None, None]) ** 2
        dist1 = (cols - center[:, :, 1, None, None]) ** 2
        if self.gauss_sigma == 0:
            one0 = torch.zeros_like(dist0).scatter_(2, dist0.argmin(dim=2, keepdim=True), 1.0)
            one1 = torch.zeros_like(dist1).scatter_(3, dist1.argmin(dim=3, keepdim=True), 1.0)
            gauss = one0 * one1
        else:
            s2 = self.gauss_sigma ** 2
            gauss = torch.exp(-dist0 / (2 * s2)) / (2 * math.pi * s2) * torch.exp(-dist1 / (2 * s2))
        gauss = gauss * (gauss > self.label_threshold).to(gauss.dtype)
        if self.normalize_label:
            gauss = gauss / (gauss.sum(dim=(-2, -1), keepdim=True) + 1e-8)
        uniform = self.uni_weight / (output_sz[0] * output_sz[1])
        return (1.0 - self.label_shrink) * ((1.0 - self.uni_weight) * gauss + uniform)

    def forward(self, weights: Tensor, feat: Tensor, bb: Tensor, sample_weight: Tensor | float | None = None,
                num_iter: int | None = None, compute_losses: bool = True) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        num_iter = self.num_iter if num_iter is None else num_iter
        num_images, num_sequences, filter_sz, output_sz = _problem_sizes(weights, feat)
        step_factor, reg_weight = self._scalars()
        label_density = self.get_label_density(_grid_centers(bb, self.feat_stride, filter_sz), output_sz)
        if label_density.shape[:2] != (num_images, num_sequences):
            raise ValueError(f"bb must hold {num_images}x{num_sequences} boxes, got shape {tuple(bb.shape)}")

        if sample_weight is None:
            sample_weight = feat.new_full((1, 1, 1, 1), 1.0 / num_images)
        else:
            sample_weight = torch.as_tensor(sample_weight, dtype=feat.dtype, device=feat.device)
            sample_weight = sample_weight.reshape(num_images, num_sequences, 1, 1)
        sw = sample_weight.reshape(sample_weight.shape[0], -1)
        exp_reg = 0.0 if self.softmax_reg is None else math.exp(self.softmax_reg)

        def loss(scores: Tensor, w: Tensor) -> Tensor:
            log_z = torch.log(scores.exp().sum(dim=(-2, -1)) + exp_reg)
            data = torch.sum(sw * (log_z - (label_density * scores).sum(dim=(-2, -1))))
            return data / num_sequences + reg_weight * (w ** 2).sum() / num_sequences

        weight_iterates = [weights]
        losses: list[Tensor] = []
        for i in range(num_iter):
            if self._detach_now(i):
                weights = weights.detach()

            scores = apply_filter(feat, weights)
            probs = activation.softmax_reg(scores.reshape(num_images, num_sequences, -1), dim=2,
                                           reg=self.softmax_reg).reshape(scores.shape)
            if compute_losses:
                losses.append(loss(scores, weights))

            weights_grad = apply_feat_transpose(feat, sample_weight * (probs - label_density), filter_sz,
                                                training=self.training) + reg_weight * weights

            # g^T H g with H = diag(p) - p p^T per image (the softmax Hessian), in score space.
            scores_grad = apply_filter(feat, weights_grad)
            p_sg = probs * scores_grad
            hess_sg = p_sg - probs * p_sg.sum(dim=(-2, -1), keepdim=True)
            ghg = (scores_grad * hess_sg).reshape(num_images, num_sequences, -1).sum(dim=2).clamp(min=0)
            ghg = (sw * ghg).sum(dim=0)

            alpha_num = (weights_grad * weights_grad).sum(dim=(1, 2, 3))
            alpha = alpha_num / (ghg + (reg_weight + self.alpha_eps) * alpha_num).clamp(1e-8)
            weights = weights - (step_factor * alpha.reshape(-1, 1, 1, 1)) * weights_grad
            weight_iterates.append(weights)

        if compute_losses:
            losses.append(loss(apply_filter(feat, weights), weights))
        return weights, weight_iterates, losses
