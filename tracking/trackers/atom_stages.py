"""ATOM-specific per-frame stage: Fourier upsampling of the classifier's score map onto the patch's pixel grid
(pytracking's ``sample_fs`` with the even-kernel half-cell shift). Sampling, augmentation, localisation and IoU
refinement are the shared stages (``sampling``, ``augmentation``, ``localization``, ``iou_refine``).

Conventions: maps are ``[..., h, w]``; patch positions continuous pixels, **(y, x)** order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["ScoreUpsampler"]


class ScoreUpsampler:
    """Trigonometric (Fourier) interpolation of ``[S, h, w]`` score maps onto a grid of ``factor`` points per patch
    pixel: output ``[S, H, W]``, ``H = factor * patch_h``; output index ``j`` is patch position ``j / factor``
    (so index ``H / 2`` is the patch centre, displacement 0).

    Score index ``i`` (from ``conv_same`` with kernel size ``k``) sits at patch position
    ``(i + 0.5 * (k % 2)) * stride``, ``stride = patch / h``.
    """

    def __init__(self, score_size: Sequence[int], patch_size: Sequence[int], kernel_size: Sequence[int],
                 factor: int = 1, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.mats = []
        for d in range(2):
            n, patch = int(score_size[d]), float(patch_size[d])
            m = round(factor * patch)
            t = torch.arange(m, dtype=torch.float64) / factor / (patch / n) - 0.5 * (int(kernel_size[d]) % 2)
            ks = torch.arange(-(n // 2), n // 2 + 1, dtype=torch.float64)
            w = torch.ones_like(ks)
            if n % 2 == 0:
                w[0] = w[-1] = 0.5
            diff = t.view(-1, 1, 1) - torch.arange(n, dtype=torch.float64).view(1, -1, 1)
            mat = (w * torch.cos(2 * math.pi * ks * diff / n)).sum(-1) / n
            self.mats.append(mat.to(device=device, dtype=dtype))

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.einsum("yi,sij,xj->syx", self.mats[0], scores, self.mats[1])
