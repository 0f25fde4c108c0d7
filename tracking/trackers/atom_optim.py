"""Least-squares optimisers for ATOM's online classifier: Gauss-Newton with Conjugate Gradient (first frame,
filter and projection jointly) and Conjugate Gradient on a fixed linearisation (per update, filter only).

A problem is a residual function ``f(*x) -> tuple of residual tensors`` of a variable ``x`` that is a tuple of
tensors; the objective is ``0.5 * sum_i ||f_i(x)||^2``. Each optimiser step linearises ``f`` at ``x`` and solves
the normal equations ``J^T J dx = -J^T f(x)`` with (preconditioned) CG. The Jacobian-vector products come from
autograd: ``J v`` by forward mode (``torch.func.jvp``) and ``J^T u`` by reverse mode (``torch.func.vjp``), so a
problem only writes its forward pass.

CG is written without host synchronisation: a zero ``rho`` or ``p^T A p`` gives a zero step instead of a Python
branch (pytracking stops the loop there; the result is the same iterate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = [
    "CGState",
    "ConjugateGradient",
    "ResidualFn",
    "Vars",
    "conjugate_gradient",
    "gauss_newton_cg",
    "objective",
]

Vars = tuple[torch.Tensor, ...]
ResidualFn = Callable[..., Sequence[torch.Tensor]]


def _ip(a: Vars, b: Vars) -> torch.Tensor:
    """Inner product summed over all parts (a 0-dim tensor)."""
    return sum((x * y).sum() for x, y in zip(a, b))  # type: ignore[return-value]


def _axpy(alpha: torch.Tensor | float, x: Vars, y: Vars) -> Vars:
    """``y + alpha * x`` part-wise."""
    return tuple(b + alpha * a for a, b in zip(x, y))


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, 0 where ``den == 0`` (no host sync)."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def objective(fn: ResidualFn, x: Vars) -> torch.Tensor:
    """``sum_i ||f_i(x)||^2`` (pytracking's reported loss, without the 0.5) as a 0-dim tensor."""
    with torch.no_grad():
        res = tuple(fn(*x))
    return _ip(res, res)


@dataclass
class CGState:
    """Search direction and ``rho`` kept between CG runs (used when the direction forget factor is non-zero)."""

    p: Vars | None = None
    rho: torch.Tensor | None = None


def conjugate_gradient(A: Callable[[Vars], Vars], b: Vars, num_iter: int,
                       precond: Callable[[Vars], Vars] | None = None, fletcher_reeves: bool = True,
                       standard_alpha: bool = True, state: CGState | None = None,
                       forget_factor: float = 0.0) -> tuple[Vars, CGState]:
    """Solve ``A dx = b`` from ``dx = 0`` with ``num_iter`` iterations of preconditioned CG.

    Args:
        A: the symmetric positive semi-definite operator on variables.
        b: right-hand side (same structure as the variable).
        precond: ``M^{-1}`` (identity when None).
        fletcher_reeves: beta = rho / rho_prev (True) or Polak-Ribiere ``(rho - <r_prev, z>) / rho_prev``; both
            clamped at 0.
        standard_alpha: alpha = rho / <p, Ap> (True) or <p, r> / <p, Ap>.
        state: direction from a previous run, kept when ``forget_factor > 0`` (``rho`` divided by it), dropped
            otherwise.

    Returns:
        ``(dx, state)``.
    """
    if state is None or forget_factor == 0 or state.p is None:
        p, rho = None, None
    else:
        p, rho = state.p, state.rho / forget_factor
    r = tuple(t.clone() for t in b)
    dx = tuple(torch.zeros_like(t) for t in b)
    r_prev: Vars | None = None
    for it in range(num_iter):
        z = precond(r) if precond is not None else r
        rho_prev, rho = rho, _ip(r, z)
        if p is None or rho_prev is None:
            p = z
        else:
            if fletcher_reeves or r_prev is None:
                beta = _safe_div(rho, rho_prev)
            else:
                beta = _safe_div(rho - _ip(r_prev, z), rho_prev)
            p = _axpy(beta.clamp(min=0), p, z)
        q = A(p)
        pq = _ip(p, q)
        alpha = _safe_div(rho if standard_alpha else _ip(p, r), pq)
        r_prev = r
        dx = _axpy(alpha, p, dx)
        if it < num_iter - 1:
            r = _axpy(-alpha, q, r)
    return dx, CGState(p=p, rho=rho)


def _linearised(fn: ResidualFn, x: Vars) -> tuple[Vars, Callable[[Vars], Vars], Callable[[Vars], Vars]]:
    """``(f(x), v -> J v, u -> J^T u)`` at ``x``."""
    f0, vjp_fn = torch.func.vjp(lambda *v: tuple(fn(*v)), *x)

    def jvp(v: Vars) -> Vars:
        return torch.func.jvp(lambda *w: tuple(fn(*w)), x, v)[1]

    def vjp(u: Vars) -> Vars:
        return tuple(vjp_fn(tuple(u)))

    return tuple(t.detach() for t in f0), jvp, vjp


def _gn_step(fn: ResidualFn, x: Vars, num_cg: int, precond: Callable[[Vars], Vars] | None, fletcher_reeves: bool,
             standard_alpha: bool, state: CGState | None, forget_factor: float) -> tuple[Vars, CGState]:
    with torch.enable_grad():
        x = tuple(t.detach() for t in x)
        f0, jvp, vjp = _linearised(fn, x)
        b = tuple(-t.detach() for t in vjp(f0))

        def A(v: Vars) -> Vars:
            return tuple(t.detach() for t in vjp(jvp(v)))

        dx, state = conjugate_gradient(A, b, num_cg, precond, fletcher_reeves, standard_alpha, state, forget_factor)
    return tuple(a + d for a, d in zip(x, dx)), state


def gauss_newton_cg(fn: ResidualFn, x: Vars, num_cg_iter: int | Sequence[int], num_gn_iter: int | None = None,
                    precond: Callable[[Vars], Vars] | None = None, fletcher_reeves: bool = True,
                    standard_alpha: bool = True) -> Vars:
    """Gauss-Newton: ``num_gn_iter`` re-linearisations, each followed by ``num_cg_iter`` CG iterations (or a list
    of CG iteration counts, one per GN step). The CG direction is reset at each GN step. Returns the new ``x``."""
    counts = [num_cg_iter] * int(num_gn_iter or 0) if isinstance(num_cg_iter, int) else list(num_cg_iter)
    if isinstance(num_cg_iter, int) and num_gn_iter is None:
        raise ValueError("gauss_newton_cg: give `num_gn_iter` when `num_cg_iter` is an int")
    for n in counts:
        x, _ = _gn_step(fn, x, n, precond, fletcher_reeves, standard_alpha, None, 0.0)
    return x


class ConjugateGradient:
    """CG on one linearisation per :meth:`run` (pytracking's ``ConjugateGradient``): each run linearises ``fn`` at
    the current ``x``, runs ``num_iter`` CG iterations and adds the step. The direction is kept between runs when
    ``forget_factor > 0``."""

    def __init__(self, fletcher_reeves: bool = False, standard_alpha: bool = True, forget_factor: float = 0.0,
                 precond: Callable[[Vars], Vars] | None = None) -> None:
        self.fletcher_reeves = fletcher_reeves
        self.standard_alpha = standard_alpha
        self.forget_factor = forget_factor
        self.precond = precond
        self.state = CGState()

    def run(self, fn: ResidualFn, x: Vars, num_iter: int) -> Vars:
        """One linearisation + ``num_iter`` CG iterations; returns the new ``x`` (``x`` itself when 0)."""
        if num_iter <= 0:
            return x
        x, self.state = _gn_step(fn, x, num_iter, self.precond, self.fletcher_reeves, self.standard_alpha,
                                 self.state, self.forget_factor)
        return x
