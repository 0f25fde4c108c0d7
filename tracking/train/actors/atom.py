"""ATOM's actor (semantics of pytracking's ``ltr/actors/bbreg.py`` ``AtomActor``; Danelljan et al., CVPR 2019):
the IoU-Net trained by the MSE between predicted and true IoUs of the test proposals
(``ltr/train_settings/bbreg/atom.py``: ``nn.MSELoss()``, no other term)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from .base import BaseActor

__all__ = ["ATOM_LOSS_WEIGHTS", "AtomActor"]

ATOM_LOSS_WEIGHTS: dict[str, float] = {"iou": 1.0}
"""pytracking's ATOM has one unweighted term; the weight is here for a uniform actor interface."""


class AtomActor(BaseActor):
    """Trains an ATOM network (``atom_resnet18``, ``atom_resnet50``).

    Args:
        net: ``net(train_imgs, test_imgs, train_bb, test_proposals) -> iou_pred [n_test, B, P]``.
        loss_weights: merged over :data:`ATOM_LOSS_WEIGHTS` (key ``iou``).
        check_finite: see ``BaseActor``.

    Batch fields: ``train_images [n_train, B, 3, S, S]``, ``test_images [n_test, B, 3, S, S]``,
    ``train_anno [n_train, B, 4]`` (xywh), ``test_proposals [n_test, B, P, 4]`` (xywh),
    ``proposal_iou [n_test, B, P]``.

    Loss: ``iou * MSE(iou_pred, proposal_iou)`` (mean over all ``n_test * B * P`` proposals, as pytracking's
    ``[-1, P]`` views). Stats: ``Loss/total``, ``Loss/iou`` (weighted; equal to the MSE with the default weight 1).
    """

    def __init__(self, net: nn.Module, loss_weights: Mapping[str, float] | None = None,
                 check_finite: bool = False) -> None:
        super().__init__(net, loss_weights, ATOM_LOSS_WEIGHTS, check_finite)
        self.iou_objective: nn.Module = nn.MSELoss()

    def required_fields(self) -> tuple[str, ...]:
        return ("train_images", "test_images", "train_anno", "test_proposals", "proposal_iou")

    def compute(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        iou_pred = self.net(train_imgs=batch["train_images"], test_imgs=batch["test_images"],
                            train_bb=batch["train_anno"], test_proposals=batch["test_proposals"])
        iou_gt = batch["proposal_iou"]
        self.check_shape("the net's iou_pred", iou_pred, "'proposal_iou'", iou_gt)
        loss = self.loss_weights["iou"] * self.iou_objective(iou_pred, iou_gt)
        return loss, {"Loss/total": loss, "Loss/iou": loss}
