"""Pure-PyTorch spatial correlation: the oracle of the compiled ``tracking::correlation`` and its fallback.

Semantics (every pair is (h, w); see ``tracking.ops.correlation`` for the full description):
    out[b, ph, pw, h, w] = sum_c sum_{i<kH, j<kW} in1[b, c, y, x] * in2[b, c, y + du, x + dv]
    y = h*dH - padH + i, x = w*dW - padW + j,
    du = (ph - (patchH - 1) // 2) * dpH, dv = (pw - (patchW - 1) // 2) * dpW,
    terms with either position outside the image are dropped (zero padding).

Computed as: for each displacement, the channel sum of ``in1 * shift(in2)`` (a [B, H, W] map, zero where
the shifted position falls outside), then a box filter of size kernel_size with the given stride and zero
padding over that map (a conv2d with a ones kernel). Differentiable by autograd; no argument validation.
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
    dus = _displacements(patch_h, dil_h)
    dvs = _displacements(patch_w, dil_w)
    # Zero-pad input2 by the largest displacement so every shift is a plain slice.
    mh = max(abs(d) for d in dus)
    mw = max(abs(d) for d in dvs)
    padded2 = F.pad(input2, (mw, mw, mh, mh))
    maps = [(input1 * padded2[:, :, mh + du:mh + du + height, mw + dv:mw + dv + width]).sum(1)
            for du in dus for dv in dvs]
    prod = torch.stack(maps, 1)  # [B, patchH*patchW, H, W]
    if (kh, kw, sh, sw, pad_h, pad_w) != (1, 1, 1, 1, 0, 0):
        ones = prod.new_ones(1, 1, kh, kw)
        prod = F.conv2d(prod.reshape(-1, 1, height, width), ones, stride=(sh, sw), padding=(pad_h, pad_w))
    return prod.reshape(batch, patch_h, patch_w, prod.shape[-2], prod.shape[-1])
