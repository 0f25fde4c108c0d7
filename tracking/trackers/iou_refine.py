"""IoU-Net box refinement (pytracking's ``refine_target_box`` / ``optimize_boxes_*``).

Boxes are ``(x, y, w, h)`` in continuous coordinates of the IoU-Net's input patch (the search patch the
features come from). Starting from the classifier's box and ``num_init_random_boxes`` jittered copies, each box
climbs the predicted IoU by gradient ascent, the best ``k`` (by predicted IoU, among boxes of a sane aspect
ratio) are averaged. Gradients flow only to the boxes (``torch.autograd.grad``), the network is untouched.

Two parametrisations (``space``):
    ``default``   ``box += step * dIoU/dbox * (w, h, w, h)`` (DiMP).
    ``relative``  on ``(cx / w0, cy / h0, log w, log h)`` with ``(w0, h0)`` the first box's size:
                  ``rel += step * dIoU/drel`` (PrDiMP, SuperDiMP).
``step`` is a number or ``(position step, size step)``; it is multiplied by ``decay`` after every iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["REFINEMENT_SPACES", "optimize_boxes", "random_init_boxes", "refine_box", "select_box"]

REFINEMENT_SPACES = ("default", "relative")

#: ``boxes [1, P, 4] -> predicted IoU [1, P]``, differentiable with respect to the boxes
IoUPredictor = Callable[[Tensor], Tensor]


def random_init_boxes(init_box: Tensor, num: int, jitter_pos: float, jitter_sz: float,
                      rng: np.random.Generator) -> Tensor:
    """``[1 + num, 4]``: ``init_box`` ``[4]`` (xywh) then ``num`` boxes with centre and size offsets uniform in
    ``+-jitter/2 * sqrt(w h)`` (sizes at least a third of the smaller side), as pytracking, from ``rng``."""
    if num <= 0:
        return init_box.reshape(1, 4)
    rand = torch.as_tensor(rng.random((num, 4)) - 0.5, dtype=init_box.dtype, device=init_box.device)
    side = init_box[2:].prod().sqrt()
    factor = side * torch.tensor([jitter_pos, jitter_pos, jitter_sz, jitter_sz], dtype=init_box.dtype,
                                 device=init_box.device)
    offset = rand * factor
    size = (init_box[2:] + offset[:, 2:]).clamp(min=init_box[2:].min() / 3)
    center = init_box[:2] + init_box[2:] / 2 + offset[:, :2]
    return torch.cat((init_box.reshape(1, 4), torch.cat((center - size / 2, size), dim=1)), dim=0)


def _step_tensor(step: float | Sequence[float], like: Tensor) -> Tensor:
    if isinstance(step, (int, float)):
        return like.new_full((4,), float(step))
    pos, sz = float(step[0]), float(step[1])
    return like.new_tensor([pos, pos, sz, sz])


def optimize_boxes(predict: IoUPredictor, boxes: Tensor, iterations: int, step: float | Sequence[float],
                   decay: float = 1.0, space: str = "default") -> tuple[Tensor, Tensor]:
    """Gradient ascent of ``predict`` from ``boxes`` ``[P, 4]``; returns ``(boxes [P, 4], iou [P])``, the IoU
    predicted at the last evaluated boxes (before the last step, as pytracking)."""
    if space not in REFINEMENT_SPACES:
        raise ValueError(f"box_refinement_space {space!r} unknown; known: {', '.join(REFINEMENT_SPACES)}")
    step_t = _step_tensor(step, boxes)
    boxes = boxes.detach().reshape(1, -1, 4)
    iou = boxes.new_full(boxes.shape[:2], float("nan"))
    with torch.enable_grad():
        if space == "default":
            for _ in range(iterations):
                b = boxes.clone().requires_grad_(True)
                out = predict(b)
                (grad,) = torch.autograd.grad(out.sum(), b)
                boxes = (b + step_t * grad * b[..., 2:].repeat(1, 1, 2)).detach()
                iou = out.detach()
                step_t = step_t * decay
            return boxes.reshape(-1, 4), iou.reshape(-1)
        norm = boxes[:, :1, 2:].clone()
        rel = torch.cat(((boxes[..., :2] + boxes[..., 2:] / 2) / norm, boxes[..., 2:].log()), dim=-1)

        def to_rect(r: Tensor) -> Tensor:
            sz = r[..., 2:].exp()
            return torch.cat((r[..., :2] * norm - sz / 2, sz), dim=-1)

        for _ in range(iterations):
            r = rel.clone().requires_grad_(True)
            out = predict(to_rect(r))
            (grad,) = torch.autograd.grad(out.sum(), r)
            rel = (r + step_t * grad).detach()
            iou = out.detach()
            step_t = step_t * decay
        return to_rect(rel).reshape(-1, 4), iou.reshape(-1)


def select_box(boxes: Tensor, iou: Tensor, maximal_aspect_ratio: float, k: int) -> tuple[Tensor, Tensor]:
    """Average of the top-``k`` boxes by ``iou`` among those with ``1/r < w/h < r`` (sizes clamped to >= 1 first).

    Returns ``(box [4], valid)`` with ``valid`` a bool tensor, False when no box qualifies (then ``box`` is
    NaN). No host synchronisation."""
    boxes = torch.cat((boxes[:, :2], boxes[:, 2:].clamp(min=1)), dim=1)
    ar = boxes[:, 2] / boxes[:, 3]
    ok = (ar < maximal_aspect_ratio) & (ar > 1.0 / maximal_aspect_ratio) & torch.isfinite(iou)
    score = torch.where(ok, iou, torch.full_like(iou, -float("inf")))
    k = min(k, boxes.shape[0])
    _, idx = torch.topk(score, k)
    w = ok[idx].to(boxes.dtype)
    total = w.sum()
    box = (boxes[idx] * w[:, None]).sum(0) / total
    return box, total > 0


def refine_box(predict: IoUPredictor, init_box: Tensor, params: dict, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """The whole refinement from the classifier's ``init_box`` ``[4]`` with the tracker parameters
    (``num_init_random_boxes``, ``box_jitter_pos``, ``box_jitter_sz``, ``box_refinement_iter``,
    ``box_refinement_step_length``, ``box_refinement_step_decay``, ``box_refinement_space``,
    ``maximal_aspect_ratio``, ``iounet_k``). Returns ``(box [4], valid)`` as :func:`select_box`."""
    init = random_init_boxes(init_box, params["num_init_random_boxes"], params["box_jitter_pos"],
                             params["box_jitter_sz"], rng)
    boxes, iou = optimize_boxes(predict, init, params["box_refinement_iter"], params["box_refinement_step_length"],
                                params["box_refinement_step_decay"], params["box_refinement_space"])
    return select_box(boxes, iou, params["maximal_aspect_ratio"], params["iounet_k"])
