"""Pure-PyTorch reference of ``crop_and_resize`` (grid_sample on explicit sample positions), differentiable
to images.

Semantics are those of ``tracking.ops.crop_and_resize`` (see its docstring); no argument validation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def source_coordinates(start: torch.Tensor, end: torch.Tensor, out_size: int) -> torch.Tensor:
    """Source index coordinates [K, out_size] of the samples of K boxes along one axis (edges ``start``,
    ``end``: [K]): ``start + t * (end - start) - 0.5`` with ``t = (o + 0.5) / out_size``, in the boxes' dtype.

    Where ``end - start`` overflows (a finite box wider than the dtype's range) the same point is computed
    as ``(1 - t) * start + t * end - 0.5``, which cannot overflow: a finite box has finite coordinates.
    """
    t = (torch.arange(out_size, dtype=start.dtype, device=start.device) + 0.5) / out_size
    start, end = start[:, None], end[:, None]
    extent = end - start
    plain = start + t * extent
    return torch.where(torch.isfinite(extent), plain, (1 - t) * start + t * end) - 0.5


def _grid_axis(coordinate: torch.Tensor, size: int, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """grid_sample's normalised coordinates (align_corners=False) of source index coordinates, and where
    they are finite. Clamped first, which changes no sample: with zero padding every coordinate beyond
    [-1, size] has both taps outside the image (clamped to [-2, size + 1]), with border padding grid_sample
    clamps to [0, size - 1] itself; so the normalisation cannot overflow. Non-finite ones become -2."""
    finite = torch.isfinite(coordinate)
    low, high = (-2.0, size + 1.0) if padding == "zeros" else (0.0, size - 1.0)
    coordinate = torch.where(finite, coordinate.clamp(low, high), torch.full_like(coordinate, low))
    return (2 * coordinate + 1) / size - 1, finite


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, out_height: int, out_width: int,
                    padding: str) -> torch.Tensor:
    """Bilinear crops: images [N,C,H,W], boxes [K,5] = (batch_index, x1, y1, x2, y2) -> [K,C,oh,ow].

    ``padding`` is "zeros" or "border" (grid_sample's padding_mode). Output pixels whose sample position is
    not finite (boxes with a NaN/inf coordinate) are 0 with no gradient, as in the compiled kernels.
    """
    n, c, h, w = images.shape
    k = boxes.shape[0]
    if k == 0 or c == 0:  # zeros that are still part of the graph (an empty sum), as the compiled op's output is
        return images.new_zeros((k, c, out_height, out_width)) + images[:0].sum()
    boxes = boxes.to(images.dtype)
    gx, finite_x = _grid_axis(source_coordinates(boxes[:, 1], boxes[:, 3], out_width), w, padding)  # [K, ow]
    gy, finite_y = _grid_axis(source_coordinates(boxes[:, 2], boxes[:, 4], out_height), h, padding)  # [K, oh]
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # [K, oh, ow, 2]
    source = images.index_select(0, boxes[:, 0].long())
    crops = F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    finite = (finite_y[:, :, None] & finite_x[:, None, :])[:, None]  # [K, 1, oh, ow]
    return torch.where(finite, crops, torch.zeros((), dtype=crops.dtype, device=crops.device))
