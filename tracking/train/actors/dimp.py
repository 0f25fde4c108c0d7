"""DiMP's actor (semantics of pytracking's ``ltr/actors/tracking.py`` ``DiMPActor``; Bhat et al., ICCV 2019).

Loss = ``iou * MSE(iou_pred, proposal_iou)``
     + ``test_clf * hinge(final iterate)`` + ``test_init_clf * hinge(initial filter)``
     + ``test_iter_clf * mean(hinge(intermediate iterates))``,
``hinge`` being ``LBHinge(threshold=hinge_threshold)`` of a test score map against ``test_label``.
Weights of ``ltr/train_settings/dimp/dimp18.py`` and ``dimp50.py``: :data:`DIMP_LOSS_WEIGHTS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from tracking.models.loss import LBHinge

from .base import BaseActor, weigh_iterates

__all__ = ["DIMP_LOSS_WEIGHTS", "DiMPActor", "LABEL_SHAPE_HINT", "hinge_stats"]

DIMP_LOSS_WEIGHTS: dict[str, float] = {"iou": 1.0, "test_clf": 100.0, "test_init_clf": 100.0,
                                        "test_iter_clf": 400.0}
"""pytracking's DiMP-18 / DiMP-50 (and SuperDiMP's classifier) weights."""

LABEL_SHAPE_HINT = (" (labels must lie on the classifier's output grid: for an even filter size the score map has "
                    "one more row and column than the feature map, so the processing must make labels of side "
                    "tracking.data.geometry.label_size(feature_size, filter_size, end_pad_if_even=True))")


def hinge_stats(actor: BaseActor, objective: nn.Module, target_scores: list[Tensor], label: Tensor,
                test_anno: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
    """DiMP's hinge classification terms, shared by :class:`DiMPActor` and ``KLDiMPActor(clf_loss='hinge')``.

    Args:
        target_scores: one ``[n_test, B, L, L]`` score map per filter iterate, initial filter first.
        label: ``test_label`` ``[n_test, B, L, L]``.
        test_anno: ``[n_test, B, 4]`` passed to the objective as its ``target_bb`` (LBHinge ignores it).
    Returns:
        ``(weighted sum of the terms, stats)`` with stats ``Loss/target_clf``, ``Loss/test_init_clf``,
        ``Loss/test_iter_clf`` (weighted; the last only with intermediate iterates), ``ClfTrain/test_loss``,
        ``ClfTrain/test_init_loss``, ``ClfTrain/test_iter_loss`` (unweighted; the last only with intermediate
        iterates).
    """
    for i, s in enumerate(target_scores):
        actor.check_shape(f"score map {i}", s, "'test_label'", label, LABEL_SHAPE_HINT)
    w = actor.loss_weights
    terms = weigh_iterates([objective(s, label, test_anno) for s in target_scores],
                           w["test_clf"], w["test_init_clf"], w["test_iter_clf"])
    return terms.total, terms.stats(("Loss/target_clf", "Loss/test_init_clf", "Loss/test_iter_clf"),
                                    ("ClfTrain/test_loss", "ClfTrain/test_init_loss", "ClfTrain/test_iter_loss"))


class DiMPActor(BaseActor):
    """Trains a DiMP network (``dimpnet18``, ``dimpnet50``): IoU-Net MSE plus the hinge classification losses of
    every filter iterate.

    Args:
        net: ``net(train_imgs, test_imgs, train_bb, test_proposals) -> (target_scores, iou_pred)`` with
            ``target_scores`` a list of ``[n_test, B, L, L]`` maps (initial filter first, then one per optimiser
            step) and ``iou_pred`` ``[n_test, B, P]``.
        loss_weights: merged over :data:`DIMP_LOSS_WEIGHTS` (keys ``iou``, ``test_clf``, ``test_init_clf``,
            ``test_iter_clf``; the last is divided among the intermediate iterates).
        hinge_threshold: ``LBHinge`` threshold: label values below it are negatives (pytracking: 0.05).
        check_finite: see ``BaseActor``.

    Batch fields: ``train_images [n_train, B, 3, S, S]``, ``test_images [n_test, B, 3, S, S]``,
    ``train_anno [n_train, B, 4]`` (xywh), ``test_proposals [n_test, B, P, 4]`` (xywh),
    ``proposal_iou [n_test, B, P]``, ``test_label [n_test, B, L, L]``; ``test_anno [n_test, B, 4]`` if present is
    passed to the classification objective (LBHinge does not use it).

    Stats: ``Loss/total``, ``Loss/iou`` (weighted), ``Loss/target_clf``, ``Loss/test_init_clf``,
    ``Loss/test_iter_clf`` (weighted), ``ClfTrain/test_loss``, ``ClfTrain/test_init_loss``,
    ``ClfTrain/test_iter_loss`` (unweighted: final, initial, mean of intermediate iterates; the ``iter`` ones only
    when the net makes at least one intermediate iterate, i.e. ``optim_iter >= 2``).
    """

    def __init__(self, net: nn.Module, loss_weights: Mapping[str, float] | None = None,
                 hinge_threshold: float = 0.05, check_finite: bool = False) -> None:
        super().__init__(net, loss_weights, DIMP_LOSS_WEIGHTS, check_finite)
        self.hinge_threshold = float(hinge_threshold)
        self.iou_objective: nn.Module = nn.MSELoss()
        self.clf_objective: nn.Module = LBHinge(threshold=self.hinge_threshold)

    def required_fields(self) -> tuple[str, ...]:
        return ("train_images", "test_images", "train_anno", "test_proposals", "proposal_iou", "test_label")

    def compute(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        target_scores, iou_pred = self.net(train_imgs=batch["train_images"], test_imgs=batch["test_images"],
                                           train_bb=batch["train_anno"], test_proposals=batch["test_proposals"])
        iou_gt = batch["proposal_iou"]
        self.check_shape("the net's iou_pred", iou_pred, "'proposal_iou'", iou_gt)
        loss_iou = self.loss_weights["iou"] * self.iou_objective(iou_pred, iou_gt)
        test_anno = batch.get("test_anno")
        loss_clf, clf_stats = hinge_stats(self, self.clf_objective, list(target_scores), batch["test_label"],
                                          test_anno if isinstance(test_anno, Tensor) else None)
        loss = loss_iou + loss_clf
        return loss, {"Loss/total": loss, "Loss/iou": loss_iou, **clf_stats}
