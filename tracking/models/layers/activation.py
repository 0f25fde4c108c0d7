"""Parametric score activations of DiMP's filter optimiser and their derivatives, and a regularised softmax.

Each parametric activation takes the scores ``x`` and a per-element parameter ``a`` (the target mask, in
[0, 1] for a sigmoid mask) of any broadcastable shapes: ``a = 1`` is the identity, ``a = 0`` a ReLU-like
function. The ``...Deriv`` modules return the derivative with respect to ``x`` (the Gauss-Newton Jacobian's
diagonal); the score is detached there, so no gradient flows through the derivative's dependence on ``x``.
"""

import torch
from torch import nn


class LeakyReluPar(nn.Module):
    """``(1 - a)/2 * |x| + (1 + a)/2 * x``: x where x >= 0, ``a * x`` where x < 0."""

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * torch.abs(x) + (1.0 + a) / 2.0 * x


class LeakyReluParDeriv(nn.Module):
    """d/dx of :class:`LeakyReluPar`: ``(1 - a)/2 * sign(x) + (1 + a)/2`` (x detached; 1/2 + a/2 at x = 0)."""

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * torch.sign(x.detach()) + (1.0 + a) / 2.0


def _bend(name: str, b: float | None) -> float:
    """The bend ``b`` (``act_param``) of the bent-identity activations, checked positive."""
    if b is None or not b > 0:
        raise ValueError(f"{name}: b (act_param) must be a positive number, got {b!r}")
    return float(b)


class BentIdentPar(nn.Module):
    """Smooth counterpart of :class:`LeakyReluPar`: ``(1 - a)/2 * (sqrt(x^2 + 4b^2) - 2b) + (1 + a)/2 * x``."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = _bend("BentIdentPar", b)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b = self.b
        return (1.0 - a) / 2.0 * (torch.sqrt(x * x + 4.0 * b * b) - 2.0 * b) + (1.0 + a) / 2.0 * x


class BentIdentParDeriv(nn.Module):
    """d/dx of :class:`BentIdentPar`: ``(1 - a)/2 * x / sqrt(x^2 + 4b^2) + (1 + a)/2``."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = _bend("BentIdentParDeriv", b)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * (x / torch.sqrt(x * x + 4.0 * self.b * self.b)) + (1.0 + a) / 2.0


def softmax_reg(x: torch.Tensor, dim: int, reg: float | torch.Tensor | None = None) -> torch.Tensor:
    """Softmax along ``dim`` whose denominator has an extra term ``exp(reg)``: ``exp(x_i) / (exp(reg) +
    sum_j exp(x_j))``; ``reg=None`` is the plain softmax. Shape of ``x`` is kept."""
    if reg is None:
        return torch.softmax(x, dim=dim)
    dim = dim % x.dim()
    reg_t = torch.as_tensor(reg, dtype=x.dtype, device=x.device).reshape(-1)[:1]
    extra_shape = [1 if d == dim else x.shape[d] for d in range(x.dim())]
    extended = torch.cat((x, reg_t.reshape([1] * x.dim()).expand(extra_shape)), dim=dim)
    return torch.softmax(extended, dim=dim).narrow(dim, 0, x.shape[dim])
