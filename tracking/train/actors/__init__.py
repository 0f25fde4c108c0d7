"""Training actors: one training batch -> ``(loss, stats)`` (pytracking's ``ltr/actors``).

    from tracking.train.actors import build_actor
    actor = build_actor("dimp", net)                      # pytracking's DiMP-18/50 loss weights
    actor = build_actor("kl_dimp", net)                   # PrDiMP (clf_loss="kl_grid")
    actor = build_actor("kl_dimp", net, clf_loss="hinge") # SuperDiMP
    loss, stats = actor(batch)                            # stats: detached 0-dim tensors

Names (:data:`ACTORS`): ``dimp`` (:class:`DiMPActor`), ``kl_dimp`` (:class:`KLDiMPActor`), ``atom``
(:class:`AtomActor`). Default loss weights per pytracking train setting:

=============  ===========  ==================================================================================
setting        actor        loss weights
=============  ===========  ==================================================================================
dimp18/50      dimp         iou 1, test_clf 100, test_init_clf 100, test_iter_clf 400 (LBHinge threshold 0.05)
prdimp18/50    kl_dimp      bb_ce 0.0025, clf_ce 0.25, clf_ce_init 0.25, clf_ce_iter 1 (clf_loss="kl_grid")
super_dimp     kl_dimp      bb_ce 0.01, test_clf 100, test_init_clf 100, test_iter_clf 400 (clf_loss="hinge")
atom           atom         iou 1 (pytracking: plain MSE)
=============  ===========  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from .atom import ATOM_LOSS_WEIGHTS, AtomActor
from .base import Actor, BaseActor
from .dimp import DIMP_LOSS_WEIGHTS, DiMPActor
from .kl_dimp import BB_ONLY_LOSS_WEIGHTS, CLF_LOSSES, PRDIMP_LOSS_WEIGHTS, SUPER_DIMP_LOSS_WEIGHTS, KLDiMPActor

ACTORS: dict[str, type[BaseActor]] = {"dimp": DiMPActor, "kl_dimp": KLDiMPActor, "atom": AtomActor}
"""Actor names accepted by :func:`build_actor`."""


class UnknownActorError(KeyError, ValueError):
    """``build_actor`` got a name not in :data:`ACTORS` (both a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else ""


def build_actor(name: str, net: nn.Module, loss_weights: Mapping[str, float] | None = None,
                **kwargs: Any) -> BaseActor:
    """The actor registered as ``name`` for ``net``: ``ACTORS[name](net, loss_weights=loss_weights, **kwargs)``.

    ``loss_weights`` are merged over the actor's defaults (None or empty: the defaults); ``kwargs`` are the
    actor's other constructor arguments (e.g. ``hinge_threshold``, ``clf_loss``). An unknown name raises
    :class:`UnknownActorError` listing the known ones.
    """
    if name not in ACTORS:
        raise UnknownActorError(f"unknown actor {name!r}; known actors: {sorted(ACTORS)}")
    return ACTORS[name](net, loss_weights=loss_weights, **kwargs)


__all__ = ["ACTORS", "ATOM_LOSS_WEIGHTS", "Actor", "AtomActor", "BB_ONLY_LOSS_WEIGHTS", "BaseActor", "CLF_LOSSES",
           "DIMP_LOSS_WEIGHTS", "DiMPActor", "KLDiMPActor", "PRDIMP_LOSS_WEIGHTS", "SUPER_DIMP_LOSS_WEIGHTS",
           "UnknownActorError", "build_actor"]
