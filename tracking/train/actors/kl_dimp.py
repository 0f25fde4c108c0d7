"""PrDiMP's / SuperDiMP's actor (semantics of pytracking's ``ltr/actors/tracking.py`` ``KLDiMPActor``;
Danelljan et al., CVPR 2020).

Box branch: the IoU-Net output is read as a box score ``s`` and trained with ``KLRegression`` on the test
proposals (Monte-Carlo samples with densities ``proposal_density`` and ``gt_density``):
``bb_ce * KL(proposals)``, over the test frames whose box is valid (``test_anno[..., 0] < 99999``).

Classifier branch, ``clf_loss``:

* ``"kl_grid"`` (PrDiMP, ``ltr/train_settings/dimp/prdimp18.py`` / ``prdimp50.py``): ``KLRegressionGrid`` of each
  score map against ``test_label_density`` over the ``(-2, -1)`` grid (cell area 1, as pytracking);
  terms ``clf_ce`` (final iterate), ``clf_ce_init`` (initial filter), ``clf_ce_iter`` (mean of the
  intermediate iterates). Defaults: :data:`PRDIMP_LOSS_WEIGHTS`.
* ``"hinge"`` (SuperDiMP, ``ltr/train_settings/dimp/super_dimp.py``): DiMP's ``LBHinge`` against ``test_label``;
  terms ``test_clf``, ``test_init_clf``, ``test_iter_clf``. Defaults: :data:`SUPER_DIMP_LOSS_WEIGHTS`.
* ``"none"``: the box branch alone (pytracking's constructor default ``{'bb_ce': 1.0}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from tracking.models.loss import KLRegression, KLRegressionGrid, LBHinge

from .base import INVALID_ANNO, BaseActor, weigh_iterates
from .dimp import LABEL_SHAPE_HINT, hinge_stats

__all__ = ["CLF_LOSSES", "KLDiMPActor", "PRDIMP_LOSS_WEIGHTS", "SUPER_DIMP_LOSS_WEIGHTS", "BB_ONLY_LOSS_WEIGHTS"]

PRDIMP_LOSS_WEIGHTS: dict[str, float] = {"bb_ce": 0.0025, "clf_ce": 0.25, "clf_ce_init": 0.25, "clf_ce_iter": 1.0}
"""pytracking's PrDiMP-18 / PrDiMP-50 weights (``clf_loss='kl_grid'``)."""

SUPER_DIMP_LOSS_WEIGHTS: dict[str, float] = {"bb_ce": 0.01, "test_clf": 100.0, "test_init_clf": 100.0,
                                              "test_iter_clf": 400.0}
"""pytracking's SuperDiMP weights (``clf_loss='hinge'``)."""

BB_ONLY_LOSS_WEIGHTS: dict[str, float] = {"bb_ce": 1.0}
"""pytracking's ``KLDiMPActor`` constructor default (``clf_loss='none'``)."""

CLF_LOSSES: dict[str, dict[str, float]] = {"kl_grid": PRDIMP_LOSS_WEIGHTS, "hinge": SUPER_DIMP_LOSS_WEIGHTS,
                                           "none": BB_ONLY_LOSS_WEIGHTS}
"""``clf_loss`` choices and their default loss weights."""


def _infer_clf_loss(loss_weights: Mapping[str, float] | None) -> str:
    keys = set(loss_weights or ())
    hinge = bool(keys & {"test_clf", "test_init_clf", "test_iter_clf"})
    grid = bool(keys & {"clf_ce", "clf_ce_init", "clf_ce_iter"})
    if hinge and grid:
        raise ValueError(f"KLDiMPActor: loss_weights {dict(loss_weights or {})} mix the hinge (test_clf*) and the "
                         f"grid-KL (clf_ce*) classifier losses; use one, and set clf_loss")
    return "hinge" if hinge else "kl_grid"


class KLDiMPActor(BaseActor):
    """Trains PrDiMP (``klcedimpnet18/50``, ``clf_loss='kl_grid'``) or SuperDiMP (``super_dimp``,
    ``clf_loss='hinge'``).

    Args:
        net: ``net(train_imgs, test_imgs, train_bb, test_proposals) -> (target_scores, bb_scores)``:
            ``target_scores`` a list of ``[n_test, B, L, L]`` score maps (initial filter first), ``bb_scores``
            ``[n_test, B, P]`` (the IoU-Net's output, read as an unnormalised log-density of the boxes).
        loss_weights: merged over the defaults of ``clf_loss`` (:data:`CLF_LOSSES`).
        clf_loss: ``"kl_grid"``, ``"hinge"`` or ``"none"``; None: ``"hinge"`` if ``loss_weights`` has a
            ``test_clf*`` key, else ``"kl_grid"``.
        hinge_threshold: the ``LBHinge`` threshold (``clf_loss='hinge'``).
        check_finite: see ``BaseActor`` (pytracking's KLDiMPActor always raises on a NaN/inf loss).

    Batch fields: ``train_images``, ``test_images``, ``train_anno``, ``test_anno [n_test, B, 4]``,
    ``test_proposals [n_test, B, P, 4]``, ``proposal_density [n_test, B, P]``, ``gt_density [n_test, B, P]``, and
    ``test_label_density [n_test, B, L, L]`` (``kl_grid``) or ``test_label [n_test, B, L, L]`` (``hinge``).

    Stats: ``Loss/total``, ``Loss/bb_ce`` (unweighted), ``Loss/loss_bb_ce`` (weighted); ``kl_grid``:
    ``Loss/clf_ce``, ``Loss/clf_ce_init``, ``Loss/clf_ce_iter`` (weighted), ``ClfTrain/clf_ce``,
    ``ClfTrain/clf_ce_init``, ``ClfTrain/clf_ce_iter`` (unweighted); ``hinge``: ``Loss/target_clf``,
    ``Loss/test_init_clf``, ``Loss/test_iter_clf``, ``ClfTrain/test_loss``, ``ClfTrain/test_init_loss``,
    ``ClfTrain/test_iter_loss``. The ``iter`` stats only when there is an intermediate iterate (``optim_iter >= 2``).
    """

    def __init__(self, net: nn.Module, loss_weights: Mapping[str, float] | None = None, clf_loss: str | None = None,
                 hinge_threshold: float = 0.05, check_finite: bool = False) -> None:
        if clf_loss is None:
            clf_loss = _infer_clf_loss(loss_weights)
        if clf_loss not in CLF_LOSSES:
            raise ValueError(f"KLDiMPActor: clf_loss must be one of {sorted(CLF_LOSSES)}, got {clf_loss!r}")
        self.clf_loss = clf_loss
        super().__init__(net, loss_weights, CLF_LOSSES[clf_loss], check_finite)
        self.hinge_threshold = float(hinge_threshold)
        self.bb_objective: nn.Module = KLRegression()
        self.clf_objective: nn.Module | None = {"kl_grid": KLRegressionGrid(),
                                                "hinge": LBHinge(threshold=self.hinge_threshold),
                                                "none": None}[clf_loss]

    def _weights_hint(self, unknown: Sequence[str]) -> str:
        others = [name for name, defaults in CLF_LOSSES.items()
                  if name != self.clf_loss and set(unknown) <= set(defaults)]
        return f"; those are the weights of clf_loss={others[0]!r}" if others else ""

    def required_fields(self) -> tuple[str, ...]:
        fields = ("train_images", "test_images", "train_anno", "test_anno", "test_proposals", "proposal_density",
                  "gt_density")
        if self.clf_loss == "kl_grid":
            return fields + ("test_label_density",)
        if self.clf_loss == "hinge":
            return fields + ("test_label",)
        return fields

    def bb_loss(self, bb_scores: Tensor, proposal_density: Tensor, gt_density: Tensor, test_anno: Tensor) -> Tensor:
        """``KLRegression`` over the proposals (dim -1) of the test frames with a valid box, averaged over those
        frames (pytracking's ``bb_scores[is_valid]``). Invalid frames get neutral inputs (score 0, densities
        1 and 0: a loss of ``log P - log P``, zero up to rounding) and the mean is rescaled by
        ``count / valid count``, so no boolean indexing (and no host synchronisation) is needed. All frames
        invalid: 0 (pytracking: NaN). Shapes: ``[n_test, B, P]`` scores and densities, ``[n_test, B, 4]`` boxes."""
        valid = (test_anno[..., 0] < INVALID_ANNO).unsqueeze(-1)  # [n_test, B, 1]
        scores = torch.where(valid, bb_scores, torch.zeros_like(bb_scores))
        q = torch.where(valid, proposal_density, torch.ones_like(proposal_density))
        p = torch.where(valid, gt_density, torch.zeros_like(gt_density))
        loss = self.bb_objective(scores.flatten(0, -2), sample_density=q.flatten(0, -2), gt_density=p.flatten(0, -2),
                                 mc_dim=1)
        rows = valid.numel()
        return loss * (rows / valid.sum().clamp(min=1).to(loss.dtype))

    def compute(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        target_scores, bb_scores = self.net(train_imgs=batch["train_images"], test_imgs=batch["test_images"],
                                            train_bb=batch["train_anno"], test_proposals=batch["test_proposals"])
        for key in ("proposal_density", "gt_density"):
            self.check_shape("the net's bb_scores", bb_scores, f"'{key}'", batch[key])
        test_anno = batch["test_anno"]
        if test_anno.shape != bb_scores.shape[:-1] + (4,):
            raise ValueError(f"{self.name}: 'test_anno' has shape {tuple(test_anno.shape)}, expected "
                             f"{tuple(bb_scores.shape[:-1]) + (4,)} for bb_scores {tuple(bb_scores.shape)}")
        bb_ce = self.bb_loss(bb_scores, batch["proposal_density"], batch["gt_density"], test_anno)
        loss_bb_ce = self.loss_weights["bb_ce"] * bb_ce
        stats: dict[str, Tensor] = {"Loss/bb_ce": bb_ce, "Loss/loss_bb_ce": loss_bb_ce}
        if self.clf_loss == "hinge":
            assert self.clf_objective is not None
            loss_clf, clf_stats = hinge_stats(self, self.clf_objective, list(target_scores), batch["test_label"],
                                              test_anno)
        elif self.clf_loss == "kl_grid":
            loss_clf, clf_stats = self._grid_stats(list(target_scores), batch["test_label_density"])
        else:
            loss_clf, clf_stats = bb_ce.new_zeros(()), {}
        loss = loss_bb_ce + loss_clf
        return loss, {"Loss/total": loss, **stats, **clf_stats}

    def _grid_stats(self, target_scores: list[Tensor], density: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """PrDiMP's grid-KL terms of the score maps ``[n_test, B, L, L]`` against ``test_label_density``."""
        assert self.clf_objective is not None
        for i, s in enumerate(target_scores):
            self.check_shape(f"score map {i}", s, "'test_label_density'", density, LABEL_SHAPE_HINT)
        w = self.loss_weights
        terms = weigh_iterates([self.clf_objective(s, density, grid_dim=(-2, -1)) for s in target_scores],
                               w["clf_ce"], w["clf_ce_init"], w["clf_ce_iter"])
        return terms.total, terms.stats(("Loss/clf_ce", "Loss/clf_ce_init", "Loss/clf_ce_iter"),
                                        ("ClfTrain/clf_ce", "ClfTrain/clf_ce_init", "ClfTrain/clf_ce_iter"))
