"""Instance-wise L2 normalisation of feature maps (DiMP's classification-feature normaliser)."""

import torch
from torch import nn


class InstanceL2Norm(nn.Module):
    """Scale every sample of a ``[N, C, H, W]`` batch to a fixed L2 norm.

    With ``size_average`` (the default) each sample becomes
    ``x * scale * sqrt(C*H*W / (sum(x**2) + eps))``, i.e. its root-mean-square value is ``scale``; otherwise
    ``x * scale / sqrt(sum(x**2) + eps)`` (its norm is ``scale``). Sums run over C, H and W of one sample.
    No parameters, no buffers.
    """

    def __init__(self, size_average: bool = True, eps: float = 1e-5, scale: float = 1.0) -> None:
        super().__init__()
        self.size_average = size_average
        self.eps = eps
        self.scale = scale

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 4:
            raise ValueError(f"InstanceL2Norm: input must be [N, C, H, W], got shape {tuple(input.shape)}")
        n, c, h, w = input.shape
        energy = (input * input).reshape(n, -1).sum(dim=1).reshape(n, 1, 1, 1) + self.eps
        if self.size_average:
            return input * (self.scale * (c * h * w / energy).sqrt())
        return input * (self.scale / energy.sqrt())

    def extra_repr(self) -> str:
        return f"size_average={self.size_average}, eps={self.eps}, scale={self.scale}"
