"""What every actor shares: the :class:`Actor` protocol, batch checks, loss-weight handling and the weighting of
the classifier's filter iterates.

An actor turns one training batch (pytracking's ``stack_dim=1`` layout, already on the device) into
``(loss, stats)``: ``loss`` a scalar tensor with grad, ``stats`` a dict of *detached 0-dim tensors* named as
pytracking logs them. Nothing here calls ``.item()`` / ``.cpu()`` or branches on a tensor's value, so an
iteration costs no host synchronisation (the trainer converts the stats only when it logs).

Loss weights: an actor has pytracking's weights of its train setting as defaults; the ``loss_weights`` given to
the constructor are merged over them (``None`` or ``{}``: the defaults), and a key the actor does not know is a
``ValueError`` listing the known ones (a YAML typo fails at build time). A term is always computed and logged;
weight 0 removes it from the total. (pytracking instead drops a term whose key is absent from its dict.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = ["Actor", "BaseActor", "IterateLosses", "weigh_iterates", "INVALID_ANNO"]

INVALID_ANNO: float = 99999.0
"""pytracking's marker of a test frame without a valid box: ``test_anno[..., 0] >= INVALID_ANNO``."""


@runtime_checkable
class Actor(Protocol):
    """The trainer's view of an actor.

    ``net`` may be replaced by the trainer (DistributedDataParallel, ``torch.compile``); an actor always calls
    ``self.net(...)``. ``__call__(batch)`` returns ``(loss, stats)``: loss a scalar with grad, stats detached
    0-dim tensors keyed ``'Loss/total'``, ...
    """

    net: nn.Module
    loss_weights: dict[str, float]

    def __call__(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]: ...


class BaseActor:
    """Common part of the actors.

    Args:
        net: the network (called as ``self.net(train_imgs=..., test_imgs=..., train_bb=..., test_proposals=...)``).
        loss_weights: weights merged over ``default_weights`` (None / empty: the defaults).
        default_weights: this actor's (and setting's) weights; their keys are the only ones accepted.
        check_finite: raise ``FloatingPointError`` when the total loss is NaN or inf (pytracking's KLDiMPActor
            always does). Costs a host synchronisation per iteration, hence off by default.

    Subclasses set :meth:`required_fields` and implement :meth:`compute`.
    """

    def __init__(self, net: nn.Module, loss_weights: Mapping[str, float] | None,
                 default_weights: Mapping[str, float], check_finite: bool = False) -> None:
        self.net = net
        self.loss_weights: dict[str, float] = self._merge_weights(loss_weights, default_weights)
        self.check_finite = bool(check_finite)

    @property
    def name(self) -> str:
        return type(self).__name__

    def _merge_weights(self, loss_weights: Mapping[str, float] | None,
                       default_weights: Mapping[str, float]) -> dict[str, float]:
        merged = {k: float(v) for k, v in default_weights.items()}
        if not loss_weights:
            return merged
        if not isinstance(loss_weights, Mapping):
            raise TypeError(f"{self.name}: loss_weights must be a mapping name -> float, got "
                            f"{type(loss_weights).__name__}")
        unknown = sorted(set(loss_weights) - set(merged))
        if unknown:
            raise ValueError(f"{self.name}: unknown loss weight(s) {unknown}; this actor's weights are "
                             f"{sorted(merged)} (defaults {merged}){self._weights_hint(unknown)}")
        for key, value in loss_weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{self.name}: loss weight {key!r} must be a number, got {value!r}")
            merged[key] = float(value)
        return merged

    def _weights_hint(self, unknown: Sequence[str]) -> str:
        """Extra text for the unknown-weight error (subclasses may say which option enables those keys)."""
        return ""

    def required_fields(self) -> tuple[str, ...]:
        """The batch fields this actor reads."""
        raise NotImplementedError

    def check_batch(self, batch: Mapping[str, object]) -> None:
        """``KeyError`` naming the actor and the first missing field; ``TypeError`` if a field is not a tensor."""
        for key in self.required_fields():
            if key not in batch:
                have = sorted(k for k, v in batch.items() if isinstance(v, Tensor))
                raise KeyError(f"{self.name}: the batch has no '{key}' field (this actor needs "
                               f"{list(self.required_fields())}; the batch's tensors: {have})")
            if not isinstance(batch[key], Tensor):
                raise TypeError(f"{self.name}: batch field '{key}' must be a tensor, got {type(batch[key]).__name__}")

    def check_shape(self, what: str, tensor: Tensor, other_what: str, other: Tensor, hint: str = "") -> None:
        """``ValueError`` when two tensors that a loss compares elementwise differ in shape (no broadcasting)."""
        if tensor.shape != other.shape:
            raise ValueError(f"{self.name}: {what} has shape {tuple(tensor.shape)} but {other_what} has "
                             f"{tuple(other.shape)}; they must match{hint}")

    def compute(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The actor's loss and (undetached) stats; ``__call__`` checks the batch before and detaches after."""
        raise NotImplementedError

    def __call__(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss and stats of one batch (see the module docstring)."""
        self.check_batch(batch)
        loss, stats = self.compute(batch)
        if self.check_finite and not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"{self.name}: the loss is {loss.detach().item()} (stats: "
                                     f"{ {k: float(v.detach()) for k, v in stats.items()} })")
        return loss, {k: v.detach().reshape(()) for k, v in stats.items()}

    def train(self, mode: bool = True) -> BaseActor:
        """``net.train(mode)``; returns self."""
        self.net.train(mode)
        return self

    def eval(self) -> BaseActor:
        """``net.eval()``; returns self."""
        return self.train(False)

    def __repr__(self) -> str:
        return f"{self.name}(loss_weights={self.loss_weights})"


@dataclass
class IterateLosses:
    """The classifier losses of the filter iterates, pytracking's way.

    ``final``/``init``: unweighted losses of the last and the first iterate; ``iter_mean``: the mean over the
    intermediate iterates (None when there are none, i.e. fewer than 3 iterates); ``w_final``, ``w_init``,
    ``w_iter``: the weighted terms (``w_iter`` = ``weight_iter * iter_mean``, i.e. pytracking's
    ``weight / (n - 2) * sum``; 0 when there is no intermediate iterate); ``total`` their sum.
    """

    final: Tensor
    init: Tensor
    iter_mean: Tensor | None
    w_final: Tensor
    w_init: Tensor
    w_iter: Tensor

    @property
    def total(self) -> Tensor:
        return self.w_final + self.w_init + self.w_iter

    def stats(self, weighted: tuple[str, str, str], unweighted: tuple[str, str, str]) -> dict[str, Tensor]:
        """The terms under pytracking's stat names: ``weighted`` = names of (w_final, w_init, w_iter),
        ``unweighted`` = names of (final, init, iter_mean); the iter entries only with intermediate iterates."""
        out = {weighted[0]: self.w_final, weighted[1]: self.w_init}
        if self.iter_mean is not None:
            out[weighted[2]] = self.w_iter
        out.update({unweighted[0]: self.final, unweighted[1]: self.init})
        if self.iter_mean is not None:
            out[unweighted[2]] = self.iter_mean
        return out


def weigh_iterates(losses: Sequence[Tensor], weight_final: float, weight_init: float,
                   weight_iter: float) -> IterateLosses:
    """Weigh the per-iterate classifier losses (``losses[0]``: the initialiser's filter, ``losses[-1]``: the
    final filter, ``losses[1:-1]``: the steepest-descent iterates in between) as pytracking does: the final
    iterate by ``weight_final``, the first by ``weight_init``, the intermediate ones by
    ``weight_iter / (number of intermediate iterates)`` each."""
    if len(losses) == 0:
        raise ValueError("weigh_iterates: the network returned no classifier score map")
    final, init = losses[-1], losses[0]
    middle = list(losses[1:-1])
    iter_mean = torch.stack(middle).mean() if middle else None
    w_iter = weight_iter * iter_mean if iter_mean is not None else final.new_zeros(())
    return IterateLosses(final=final, init=init, iter_mean=iter_mean, w_final=weight_final * final,
                         w_init=weight_init * init, w_iter=w_iter)
