"""DiMP's target-classification loss (Bhat et al., ICCV 2019, eq. 4): a hinge on the lower bound."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LBHinge"]


class LBHinge(nn.Module):
    """``error_metric(p', positive * label)`` with ``p' = relu(prediction)`` where ``label < threshold``
    (negatives: no loss for any prediction <= 0, the label counts as 0) and ``p' = prediction`` elsewhere.

    Args:
        error_metric: the base loss of (prediction, target); default ``nn.MSELoss()`` (mean over all elements).
        threshold: labels below it are negatives; None means -100 as in pytracking, i.e. every label of a
            Gaussian label map is positive and the loss is the plain error metric.
        clip: if given, the loss is ``min(loss, clip)``.

    ``forward(prediction, label, target_bb=None)``: prediction and label of one shape (DiMP: score maps
    ``[num_iter, num_test, B, H, W]`` vs labels ``[num_test, B, H, W]`` broadcast as the metric allows);
    ``target_bb`` is unused (the actor's common signature). Returns the metric's output (a scalar for MSE).
    """

    def __init__(self, error_metric: nn.Module | None = None, threshold: float | None = None,
                 clip: float | None = None) -> None:
        super().__init__()
        self.error_metric = nn.MSELoss() if error_metric is None else error_metric
        self.threshold = -100.0 if threshold is None else float(threshold)
        self.clip = clip

    def forward(self, prediction: torch.Tensor, label: torch.Tensor,
                target_bb: torch.Tensor | None = None) -> torch.Tensor:
        negative = label < self.threshold
        prediction = torch.where(negative, F.relu(prediction), prediction)
        loss = self.error_metric(prediction, torch.where(negative, torch.zeros_like(label), label))
        if self.clip is not None:
            loss = loss.clamp(max=self.clip)
        return loss
