"""Pure-PyTorch spatial correlation: the oracle of the compiled ``tracking::correlation`` and its fallback.

Semantics (every pair is (h, w); see ``tracking.ops.correlation`` for the full description):
    out[b, ph, pw, h, w] = sum_c sum_{i<kH, j<kW} in1[b, c, y, x] * in2[b, c, y + du, x + dv]
    y = h*dH - padH + i, x = w*dW - padW + j,
    du = (ph - (patchH - 1) // 2) * dpH, dv = (pw - (patchW - 1) // 2) * dpW,
    terms with either position outside the image are dropped (zero padding).

Computed as: for each displacement, the channel sum of ``in1 * in2`` over the rows and columns where both
positions lie inside the image (a [B, H, W] map, zero elsewhere: the dropped terms are never multiplied, so
a NaN/inf input pixel reaches exactly the outputs whose terms read it, as in the compiled kernels), then a
box filter of size kernel_size with the given stride over that map zero-padded by ``padding`` (a sum of
kH * kW strided slices, exact and backend-independent). Differentiable by autograd; no argument
validation (the public ``tracking.ops.correlation`` bounds the sizes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def _as_pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    h, w = value
    return int(h), int(w)


def _displacements(patch: int, dilation: int) -> list[int]:
    """Displacements of patch indices 0..patch-1: (p - (patch - 1) // 2) * dilation."""
    return [(p - (patch - 1) // 2) * dilation for p in range(patch)]


def _overlap(displacement: int, size: int) -> tuple[int, int]:
    """Indices [lo, hi) with both i and i + displacement in [0, size); (0, 0) when there are none."""
    lo, hi = max(0, -displacement), min(size, size - displacement)
    return (lo, hi) if hi > lo else (0, 0)


def _product_map(input1: torch.Tensor, input2: torch.Tensor, du: int, dv: int) -> torch.Tensor:
    """[B, H, W]: sum_c input1[:, c, y, x] * input2[:, c, y + du, x + dv] where both positions are inside
    the image, 0 elsewhere: the channel sum over the overlap, zero-padded to H x W. An empty overlap gives
    empty slices (start == stop), which stay part of the autograd graph."""
    height, width = input1.shape[-2:]
    y0, y1 = _overlap(du, height)
    x0, x1 = _overlap(dv, width)
    prod = (input1[:, :, y0:y1, x0:x1] * input2[:, :, y0 + du:y1 + du, x0 + dv:x1 + dv]).sum(1)
    return F.pad(prod, (x0, width - x1, y0, height - y1))


def correlation(input1: torch.Tensor, input2: torch.Tensor, kernel_size: int | Sequence[int],
                patch_size: int | Sequence[int], stride: int | Sequence[int], padding: int | Sequence[int],
                dilation_patch: int | Sequence[int]) -> torch.Tensor:
    """Spatial correlation of ``input1`` [B, C, H, W] with ``input2`` [B, C, H, W].

    Returns [B, patchH, patchW, oH, oW] with oH = (H + 2*padH - kH) // dH + 1 (likewise oW).
    """
    kh, kw = _as_pair(kernel_size)
    patch_h, patch_w = _as_pair(patch_size)
    sh, sw = _as_pair(stride)
    pad_h, pad_w = _as_pair(padding)
    dil_h, dil_w = _as_pair(dilation_patch)
    batch, _, height, width = input1.shape
    out_h = (height + 2 * pad_h - kh) // sh + 1
    out_w = (width + 2 * pad_w - kw) // sw + 1
    maps = [_product_map(input1, input2, du, dv)
            for du in _displacements(patch_h, dil_h) for dv in _displacements(patch_w, dil_w)]
    prod = F.pad(torch.stack(maps, 1), (pad_w, pad_w, pad_h, pad_h))  # [B, patchH*patchW, H + 2padH, W + 2padW]
    out = None
    for i in range(kh):
        for j in range(kw):
            window = prod[:, :, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw]
            out = window if out is None else out + window
    return out.reshape(batch, patch_h, patch_w, out_h, out_w)
