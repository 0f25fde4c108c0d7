"""ATOM's online target classifier (Danelljan et al., CVPR 2019): a factorised convolution learnt online.

Scores of a feature map ``x [N, D, h, w]``: ``s = conv_same(phi1(P * x), f)`` with the projection ``P
[c, D, 1, 1]`` (a 1x1 convolution to ``compressed_dim = c`` channels, ``phi1`` the projection activation) and the
filter ``f [1, c, kh, kw]``. Training minimises the weighted least squares

    sum_j w_j ||phi2(s_j) - y_j||^2 + filter_reg ||f||^2 (+ projection_reg ||P||^2 in the first frame)

with ``phi2`` the response activation and ``y_j`` Gaussian labels. First frame: Gauss-Newton + CG over ``(f, P)``
on the augmented samples; afterwards ``P`` is fixed, the memory stores projected samples and CG updates ``f``.
At test time the scores are the raw convolution (no ``phi2``), as in pytracking.

Spatial conventions: maps are ``[..., h, w]`` (y first). ``conv_same`` with an even kernel keeps output rows
``0..h-1`` of the zero-padded ``kh // 2`` correlation, so output row ``i`` is the filter centred at feature row
``i - 0.5`` (the labels carry the matching half-cell offset, see :func:`gaussian_label`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .atom_optim import ConjugateGradient, Vars, gauss_newton_cg, objective
from .memory import SampleMemory

__all__ = ["ATOMClassifier", "conv1x1", "conv_same", "gaussian_label", "make_activation"]

Activation = Callable[[torch.Tensor], torch.Tensor]


def make_activation(spec: Any, name: str = "activation") -> Activation:
    """``'none'``, ``'relu'``, ``'elu'`` or ``('mlu', a)`` (``elu(leaky_relu(x, 1/a), a)``) -> a function."""
    kind, param = (spec[0], float(spec[1])) if isinstance(spec, (list, tuple)) else (spec, None)
    if kind == "none":
        return lambda x: x
    if kind == "relu":
        return F.relu
    if kind == "elu":
        return F.elu
    if kind == "mlu":
        if param is None or param <= 0:
            raise ValueError(f"{name}: 'mlu' needs a positive parameter, e.g. [mlu, 0.05]; got {spec!r}")
        return lambda x: F.elu(F.leaky_relu(x, 1.0 / param), param)
    raise ValueError(f"{name}: unknown activation {spec!r} (none, relu, elu or [mlu, a])")


def conv_same(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """``x [N, c, h, w]`` correlated with ``filt [K, c, kh, kw]`` -> ``[N, K, h, w]`` (zero padding ``k // 2``, the
    trailing row/column dropped for even kernels: pytracking's ``mode='same'``)."""
    # As a matmul to one map per filter tap, then a sum of shifted taps: much faster than conv2d on the CPU for
    # a single-output filter (forward and both AD modes).
    n, c, h, w = x.shape
    k, _, kh, kw = filt.shape
    taps = torch.matmul(filt.permute(2, 3, 0, 1).reshape(kh * kw * k, c), x.reshape(n, c, h * w))
    taps = F.pad(taps.reshape(n, kh, kw, k, h, w), (kw // 2, kw // 2, kh // 2, kh // 2))
    out = taps[:, 0, 0, :, :h, :w]
    for a in range(kh):
        for b in range(kw):
            if a or b:
                out = out + taps[:, a, b, :, a: a + h, b: b + w]
    return out


def conv1x1(x: torch.Tensor, proj: torch.Tensor) -> torch.Tensor:
    """``x [N, D, h, w]`` times ``proj [c, D, 1, 1]`` -> ``[N, c, h, w]`` (a matmul: faster than conv2d on CPU,
    forward-mode AD included)."""
    n, d, h, w = x.shape
    return torch.matmul(proj.reshape(proj.shape[0], d), x.reshape(n, d, h * w)).reshape(n, -1, h, w)


def gaussian_label(size: Sequence[int], sigma: Sequence[float], center: torch.Tensor,
                   kernel_size: Sequence[int]) -> torch.Tensor:
    """Gaussian label ``[len(center), 1, h, w]`` on the score grid.

    Args:
        size: ``(h, w)`` of the feature/score map.
        sigma: ``(sigma_y, sigma_x)`` in feature cells.
        center: ``[B, 2]`` (y, x) target offsets from the map centre in feature cells (0 = the target at the
            sample centre); the even-kernel half-cell offset of :func:`conv_same` is added here.
        kernel_size: ``(kh, kw)`` of the filter.
    """
    out = []
    for d in range(2):
        sz = int(size[d])
        k = torch.arange(sz, dtype=center.dtype, device=center.device) - (sz - 1) / 2
        c = center[:, d: d + 1] + 0.5 * ((int(kernel_size[d]) + 1) % 2)
        out.append(torch.exp(-((k.view(1, -1) - c) ** 2) / (2 * float(sigma[d]) ** 2)))
    return (out[0][:, :, None] * out[1][:, None, :]).unsqueeze(1)


class ATOMClassifier:
    """The factorised-convolution classifier with its memory and optimisers.

    Args:
        compressed_dim: ``c``, the projection's output channels.
        kernel_size: ``(kh, kw)`` of the filter.
        filter_reg, projection_reg: regularisation weights.
        projection_activation, response_activation: activation specs (:func:`make_activation`).
        fletcher_reeves, standard_alpha, forget_factor: per-update CG settings (the first-frame Gauss-Newton
            uses Fletcher-Reeves, standard alpha and no direction memory, as pytracking's ``GaussNewtonCG``).
        generator: CPU generator for the random initialisations.
    """

    def __init__(self, compressed_dim: int, kernel_size: Sequence[int], filter_reg: float, projection_reg: float,
                 projection_activation: Any = "none", response_activation: Any = "none",
                 fletcher_reeves: bool = False, standard_alpha: bool = True, forget_factor: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        self.compressed_dim = int(compressed_dim)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.filter_reg = float(filter_reg)
        self.projection_reg = float(projection_reg)
        self.proj_act = make_activation(projection_activation, "projection_activation")
        self.linear_projection = projection_activation == "none"
        self.resp_act = make_activation(response_activation, "response_activation")
        self.filter_optimizer = ConjugateGradient(fletcher_reeves, standard_alpha, forget_factor)
        self.generator = generator
        self.projection: torch.Tensor | None = None
        self.filter: torch.Tensor | None = None
        self.memory: SampleMemory | None = None

    # -- model ---------------------------------------------------------------------------------------------------
    def project(self, x: torch.Tensor, projection: torch.Tensor | None = None) -> torch.Tensor:
        """``x [N, D, h, w]`` -> ``phi1(P x) [N, c, h, w]``."""
        return self.proj_act(conv1x1(x, self.projection if projection is None else projection))

    def scores(self, x_proj: torch.Tensor) -> torch.Tensor:
        """Raw scores ``[N, h, w]`` of projected features ``[N, c, h, w]``."""
        return conv_same(x_proj, self.filter)[:, 0]

    def _randn(self, shape: Sequence[int], std: float, like: torch.Tensor) -> torch.Tensor:
        t = torch.randn(*shape, generator=self.generator, dtype=torch.float32) * std
        return t.to(device=like.device, dtype=like.dtype)

    # -- problems ------------------------------------------------------------------------------------------------
    def joint_residuals(self, x: torch.Tensor, y: torch.Tensor, sqrt_w: torch.Tensor) -> Callable[..., Vars]:
        """Residual function of ``(filter, projection)`` on raw samples ``x [N, D, h, w]``, labels ``y [N, 1, h, w]``,
        ``sqrt_w [N]``."""
        rf, rp = math.sqrt(self.filter_reg), math.sqrt(self.projection_reg)

        def fn(filt: torch.Tensor, proj: torch.Tensor) -> Vars:
            if self.linear_projection:  # fold P into the filter: kh*kw instead of c output maps per sample
                s = conv_same(x, torch.einsum("kcyx,cd->kdyx", filt, proj.reshape(proj.shape[0], -1)))
            else:
                s = conv_same(self.proj_act(conv1x1(x, proj)), filt)
            s = self.resp_act(s)
            return sqrt_w.view(-1, 1, 1, 1) * (s - y), rf * filt, rp * proj

        return fn

    def filter_residuals(self, x_proj: torch.Tensor, y: torch.Tensor, sqrt_w: torch.Tensor) -> Callable[..., Vars]:
        """Residual function of ``(filter,)`` on projected samples ``[N, c, h, w]``."""
        rf = math.sqrt(self.filter_reg)

        def fn(filt: torch.Tensor) -> Vars:
            s = self.resp_act(conv_same(x_proj, filt))
            return sqrt_w.view(-1, 1, 1, 1) * (s - y), rf * filt

        return fn

    def memory_residuals(self) -> Callable[..., Vars]:
        """Filter residuals over the memory's used slots."""
        stored, weights = self.memory.training_set()
        return self.filter_residuals(stored["samples"], stored["labels"], weights.clamp(min=0).sqrt())

    # -- training ------------------------------------------------------------------------------------------------
    def initialize(self, x: torch.Tensor, y: torch.Tensor, memory_size: int, learning_rate: float,
                   init_samples_minimum_weight: float | None, init_CG_iter: int, init_GN_iter: int,
                   post_init_CG_iter: int = 0, update_projection_matrix: bool = True,
                   proj_init_method: str = "randn", filter_init_method: str = "randn") -> list[float]:
        """First-frame training on ``x [N, D, h, w]`` (normalised features of the augmented samples) and labels
        ``y [N, 1, h, w]``. Returns the joint objective before and after (host floats, for tests/diagnostics)."""
        n, d = x.shape[:2]
        c = self.compressed_dim
        if proj_init_method == "randn":
            self.projection = self._randn((c, d, 1, 1), 1.0 / math.sqrt(d), x)
        elif proj_init_method == "pca":
            xm = x.permute(1, 0, 2, 3).reshape(d, -1)
            xm = xm - xm.mean(dim=1, keepdim=True)
            u = torch.linalg.svd(xm @ xm.t())[0]
            self.projection = u[:, :c].t().reshape(c, d, 1, 1).contiguous()
        else:
            raise ValueError(f"proj_init_method: unknown {proj_init_method!r} (randn or pca)")
        kh, kw = self.kernel_size
        if filter_init_method == "randn":
            self.filter = self._randn((1, c, kh, kw), 1.0 / (c * kh * kw), x)
        elif filter_init_method == "zeros":
            self.filter = x.new_zeros(1, c, kh, kw)
        else:
            raise ValueError(f"filter_init_method: unknown {filter_init_method!r} (randn or zeros)")

        sqrt_w = x.new_full((n,), 1.0 / math.sqrt(n))
        losses = []
        if update_projection_matrix:
            fn = self.joint_residuals(x, y, sqrt_w)
            var = (self.filter, self.projection)
            losses.append(float(objective(fn, var)))
            fr, pr = self.filter_reg, self.projection_reg
            var = gauss_newton_cg(fn, var, max(init_CG_iter // max(init_GN_iter, 1), 0), init_GN_iter,
                                  precond=lambda r: (r[0] / fr, r[1] / pr), fletcher_reeves=True)
            losses.append(float(objective(fn, var)))
            self.filter, self.projection = (t.detach() for t in var)
        with torch.no_grad():
            x_proj = self.project(x)
        self.memory = SampleMemory({"samples": x_proj, "labels": y}, memory_size, learning_rate,
                                   init_samples_minimum_weight)
        if not update_projection_matrix:
            self.train(init_CG_iter)
        self.train(post_init_CG_iter)
        return losses

    def train(self, num_iter: int) -> None:
        """``num_iter`` CG iterations on the filter over the memory (projection fixed)."""
        if num_iter > 0:
            (self.filter,) = self.filter_optimizer.run(self.memory_residuals(), (self.filter,), num_iter)

    def memory_objective(self) -> float:
        """The filter objective over the memory (host float; diagnostics/tests)."""
        return float(objective(self.memory_residuals(), (self.filter,)))
