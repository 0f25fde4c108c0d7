"""Pure-PyTorch reference of ``crop_and_resize`` (affine_grid + grid_sample), differentiable to images.

Semantics are those of ``tracking.ops.crop_and_resize`` (see its docstring); no argument validation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_theta(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Affine matrices [K,2,3] for ``affine_grid(align_corners=False)`` that map the output grid of each
    box (x1, y1, x2, y2) = boxes[:, 1:5] onto its source pixels.

    grid_sample(align_corners=False) reads normalised g at index coordinate ((g + 1) * W - 1) / 2, and the
    output column q has normalised coordinate u = (2q + 1) / out_w - 1; requiring the index coordinate
    x1 + (q + 0.5) * (x2 - x1) / out_w - 0.5 gives g = (x2 - x1) / W * u + (x1 + x2) / W - 1.
    """
    x1, y1, x2, y2 = boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    zero = torch.zeros_like(x1)
    row_x = torch.stack([(x2 - x1) / width, zero, (x1 + x2) / width - 1], dim=1)
    row_y = torch.stack([zero, (y2 - y1) / height, (y1 + y2) / height - 1], dim=1)
    return torch.stack([row_x, row_y], dim=1)


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, out_height: int, out_width: int,
                    padding: str) -> torch.Tensor:
    """Bilinear crops: images [N,C,H,W], boxes [K,5] = (batch_index, x1, y1, x2, y2) -> [K,C,oh,ow].

    ``padding`` is "zeros" or "border" (grid_sample's padding_mode). Boxes with a non-finite coordinate
    give all-zero crops, as in the compiled kernels.
    """
    n, c, h, w = images.shape
    k = boxes.shape[0]
    if k == 0 or c == 0:
        return images.new_zeros((k, c, out_height, out_width))
    boxes = boxes.to(images.dtype)
    # A box with a NaN/inf coordinate has no finite sample positions: its crop is 0 (no gradient). Such
    # boxes are replaced by finite ones before grid_sample, which crashes on NaN grids with border padding.
    finite = torch.isfinite(boxes[:, 1:]).all(dim=1)
    boxes = torch.where(finite[:, None], boxes, torch.zeros((), dtype=boxes.dtype, device=boxes.device))
    theta = box_theta(boxes, h, w)
    grid = F.affine_grid(theta, [k, c, out_height, out_width], align_corners=False)
    source = images.index_select(0, boxes[:, 0].long())
    crops = F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    return torch.where(finite[:, None, None, None], crops, torch.zeros((), dtype=crops.dtype, device=crops.device))
