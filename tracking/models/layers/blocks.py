"""Small building blocks shared by the networks: a conv + BN + ReLU block and a linear + BN + ReLU block.

Both keep pytracking's parameter names, so state_dicts are interchangeable: ``conv_block`` is an
``nn.Sequential`` whose children are numbered ``0`` (Conv2d), ``1`` (BatchNorm2d), ``2`` (ReLU) as far as
they are present (keys ``<name>.0.weight``, ``<name>.0.bias``, ``<name>.1.weight``, ...), and
``LinearBlock`` has the children ``linear`` and ``bn`` (keys ``<name>.linear.weight``, ``<name>.bn.running_mean``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["conv_block", "LinearBlock"]


def conv_block(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
               dilation: int = 1, bias: bool = True, batch_norm: bool = True, relu: bool = True) -> nn.Sequential:
    """``Conv2d(in_planes, out_planes, kernel_size, stride, padding, dilation, bias)``, then optionally
    ``BatchNorm2d(out_planes)`` and ``ReLU`` (in place), as one ``nn.Sequential``.

    Input ``[N, in_planes, H, W]``, output ``[N, out_planes, H', W']`` with the usual convolution sizes
    (``H' = (H + 2*padding - dilation*(kernel_size - 1) - 1) // stride + 1``). Children are numbered in the
    order they are present: with ``batch_norm=False`` the ReLU is child ``1``.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride,
                                         padding=padding, dilation=dilation, bias=bias)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_planes))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class LinearBlock(nn.Module):
    """A fully connected layer on a flattened ``[N, in_planes, input_sz, input_sz]`` map, then optionally a
    BatchNorm (a ``BatchNorm2d`` over the ``[N, out_planes, 1, 1]`` view, as pytracking, so its keys and
    statistics match) and a ReLU.

    Input ``[N, in_planes, input_sz, input_sz]`` (anything with ``in_planes * input_sz**2`` elements per
    sample); output ``[N, out_planes]``.
    """

    def __init__(self, in_planes: int, out_planes: int, input_sz: int, bias: bool = True, batch_norm: bool = True,
                 relu: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_planes * input_sz * input_sz, out_planes, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes) if batch_norm else None
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        expected = self.linear.in_features
        if x.numel() != n * expected:
            raise ValueError(f"LinearBlock: input `x` of shape {tuple(x.shape)} does not have "
                             f"{expected} elements per sample (in_planes * input_sz**2)")
        x = self.linear(x.reshape(n, expected))
        if self.bn is not None:
            x = self.bn(x.reshape(n, -1, 1, 1)).reshape(n, -1)
        if self.relu is not None:
            x = self.relu(x)
        return x
