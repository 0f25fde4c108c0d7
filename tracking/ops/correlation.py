"""Spatial correlation (FlowNet / spatial-correlation-sampler semantics) and the KYS cost volume.

``correlation`` validates its arguments, then runs the compiled ``torch.ops.tracking.correlation`` (CPU or
CUDA kernels of ``tracking._C``) or, when the extension is unavailable, the pure-PyTorch reference
``tracking.ops.reference.correlation``. ``register_python_kernels()`` adds the op's fake (meta) kernels and
its autograd formula once ``tracking._C`` is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from . import reference
from ._checks import check_floating, check_shape, pair
from ._extension import load_extension, warn_reference_fallback

_OP = "correlation"
IntPair = int | Sequence[int]

# Largest value of any size parameter (as in csrc/kernels/correlation.h, kMaxSize): up to it, no displacement
# ((patch - 1) * dilation < 2**62), position or window sum of the kernels' int64 index arithmetic can overflow.
# Larger values cannot be meaningful for any tensor and are rejected with a ValueError naming the argument.
MAX_SIZE = 2**31 - 1
_INT64_MAX = 2**63 - 1


def _output_size(size: Any, kernel: int, stride: int, pad: int) -> Any:
    """(size + 2*pad - kernel) // stride + 1 (works on ints and SymInts)."""
    return (size + 2 * pad - kernel) // stride + 1


def correlation(input1: torch.Tensor, input2: torch.Tensor, kernel_size: IntPair = 1, patch_size: IntPair = 1,
                stride: IntPair = 1, padding: IntPair = 0, dilation_patch: IntPair = 1) -> torch.Tensor:
    """Spatial correlation of two feature maps (no normalisation), differentiable w.r.t. both inputs.

    Args:
        input1, input2: [B, C, H, W] floating-point tensors of one dtype, shape and device.
        kernel_size: (kH, kW) window summed around each output position (int or pair), >= 1.
        patch_size: (patchH, patchW) number of displacements per axis, >= 1.
        stride: (dH, dW) step between output positions in input1, >= 1.
        padding: (padH, padW) implicit zero padding of both inputs, >= 0.
        dilation_patch: (dpH, dpW) step between successive displacements, >= 1.
        Every size is at most ``MAX_SIZE`` = 2**31 - 1 (larger ones would overflow the kernels' int64 index
        arithmetic), and the output must have fewer than 2**63 elements.
        Dtypes: float32 and float64 on the CPU, also float16 and bfloat16 on CUDA.

    Returns:
        [B, patchH, patchW, oH, oW] with oH = (H + 2*padH - kH) // dH + 1 (likewise oW)::

            out[b, ph, pw, h, w] = sum_c sum_{i<kH, j<kW} input1[b, c, y, x] * input2[b, c, y + du, x + dv]
            y = h*dH - padH + i,   x = w*dW - padW + j
            du = (ph - (patchH - 1) // 2) * dpH,   dv = (pw - (patchW - 1) // 2) * dpW

        A term counts only when both (y, x) and (y + du, x + dv) lie inside the H x W image. Displacements
        are ordered row-major: index ph walks the vertical displacement from most negative (up) to most
        positive (down), pw likewise from left to right; for odd patch sizes the centre index
        ((patch - 1) // 2) is the zero displacement.

    Raises:
        TypeError: non-tensor or non-floating inputs, an unsupported dtype (float16/bfloat16 on the CPU),
            dtype mismatch, non-int sizes.
        ValueError: wrong shapes, device mismatch, out-of-range sizes (each naming the argument), empty output,
            an output with 2**63 or more elements.
    """
    check_floating(_OP, input1=input1, input2=input2)
    check_shape(_OP, "input1", input1, "B,C,H,W")
    check_shape(_OP, "input2", input2, "B,C,H,W")
    if input1.shape != input2.shape:
        raise ValueError(f"{_OP}: `input1` and `input2` must have the same shape, got {list(input1.shape)} and "
                         f"{list(input2.shape)}")
    kernel = pair(_OP, "kernel_size", kernel_size, 1, MAX_SIZE)
    patch = pair(_OP, "patch_size", patch_size, 1, MAX_SIZE)
    step = pair(_OP, "stride", stride, 1, MAX_SIZE)
    pad = pair(_OP, "padding", padding, 0, MAX_SIZE)
    dilation = pair(_OP, "dilation_patch", dilation_patch, 1, MAX_SIZE)
    height, width = input1.shape[-2:]
    out_h = _output_size(height, kernel[0], step[0], pad[0])
    out_w = _output_size(width, kernel[1], step[1], pad[1])
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"{_OP}: output size must be > 0, got {out_h}x{out_w} for input {height}x{width}, "
                         f"kernel_size {kernel}, stride {step}, padding {pad}")
    out_shape = (input1.shape[0], patch[0], patch[1], out_h, out_w)
    if math.prod(out_shape) > _INT64_MAX:
        raise ValueError(f"{_OP}: the output {list(out_shape)} would have more elements than int64 can count; "
                         "reduce `patch_size` or `padding`")
    if load_extension():
        return torch.ops.tracking.correlation(input1, input2, list(kernel), list(patch), list(step), list(pad),
                                              list(dilation))
    warn_reference_fallback(_OP)
    return reference.correlation(input1, input2, kernel, patch, step, pad, dilation)


# ---- registration of the Python-side kernels of tracking::correlation (called once by load_extension) ----

def _fake_correlation(input1: torch.Tensor, input2: torch.Tensor, kernel_size: Sequence[int],
                      patch_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                      dilation_patch: Sequence[int]) -> torch.Tensor:
    """Shape [B, patchH, patchW, oH, oW] of the forward, without computing it."""
    batch, _, height, width = input1.shape
    out_h = _output_size(height, kernel_size[0], stride[0], padding[0])
    out_w = _output_size(width, kernel_size[1], stride[1], padding[1])
    return input1.new_empty((batch, patch_size[0], patch_size[1], out_h, out_w))


def _fake_correlation_backward(grad_output: torch.Tensor, input1: torch.Tensor, input2: torch.Tensor,
                               kernel_size: Sequence[int], patch_size: Sequence[int], stride: Sequence[int],
                               padding: Sequence[int], dilation_patch: Sequence[int]
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients have the (contiguous) shapes of the inputs."""
    return input1.new_empty(input1.shape), input2.new_empty(input2.shape)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    input1, input2, *params = inputs
    ctx.save_for_backward(input1, input2)
    ctx.params = params


def _backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    input1, input2 = ctx.saved_tensors
    grad1, grad2 = torch.ops.tracking._correlation_backward(grad_output.contiguous(), input1, input2,
                                                            *ctx.params)
    needs = ctx.needs_input_grad
    return (grad1 if needs[0] else None, grad2 if needs[1] else None, None, None, None, None, None)


def register_python_kernels() -> None:
    """Register fake kernels and the autograd formula of tracking::correlation (needs tracking._C loaded)."""
    torch.library.register_fake("tracking::correlation")(_fake_correlation)
    torch.library.register_fake("tracking::_correlation_backward")(_fake_correlation_backward)
    torch.library.register_autograd("tracking::correlation", _backward, setup_context=_setup_context)


# ---- modules ----

class Correlation(nn.Module):
    """Module form of :func:`correlation`: [B, C, H, W] x 2 -> [B, patchH, patchW, oH, oW]."""

    def __init__(self, kernel_size: IntPair = 1, patch_size: IntPair = 1, stride: IntPair = 1,
                 padding: IntPair = 0, dilation_patch: IntPair = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.patch_size = patch_size
        self.stride = stride
        self.padding = padding
        self.dilation_patch = dilation_patch

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
        return correlation(input1, input2, self.kernel_size, self.patch_size, self.stride, self.padding,
                           self.dilation_patch)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, patch_size={self.patch_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation_patch={self.dilation_patch}")


class CostVolume(nn.Module):
    """KYS cost volume: correlation of every position of ``feat1`` with a window of ``feat2`` around it.

    ``forward(feat1, feat2)``, feat1 and feat2 [B, C, H, W], computes ``correlation`` with patch
    P = 2*max_displacement + 1 and ``padding = (kernel_size - 1) // 2`` (so odd kernels keep oH x oW = H x W
    at stride 1) and returns, as KYS does:

    - relative layout (default): [B, P*P, oH, oW], channel ``(dy + md) * P + (dx + md)`` holding the
      correlation of ``feat1`` at (h, w) with ``feat2`` at (h + dy, w + dx) (md = max_displacement);
    - ``abs_coordinate_output=True``: [B, oH*oW, oH, oW], channel ``y2 * oW + x2`` holding the correlation of
      ``feat1`` at (h, w) with ``feat2`` at the absolute position (y2, x2), and 0 where |y2 - h| > md or
      |x2 - w| > md. (Absolute positions index the output grid, which is the input grid at stride 1.)
    """

    def __init__(self, kernel_size: int, max_displacement: int, stride: int = 1,
                 abs_coordinate_output: bool = False) -> None:
        super().__init__()
        if isinstance(max_displacement, bool) or not isinstance(max_displacement, int) or max_displacement < 0:
            raise ValueError(f"CostVolume: `max_displacement` must be an int >= 0, got {max_displacement!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"CostVolume: `kernel_size` must be an int >= 1, got {kernel_size!r}")
        self.kernel_size = kernel_size
        self.max_displacement = max_displacement
        self.stride = stride
        self.abs_coordinate_output = abs_coordinate_output

    def forward(self, feat1: torch.Tensor, feat2: torch.Tensor) -> torch.Tensor:
        patch = 2 * self.max_displacement + 1
        volume = correlation(feat1, feat2, self.kernel_size, patch, self.stride, (self.kernel_size - 1) // 2, 1)
        if self.abs_coordinate_output:
            return absolute_cost_volume(volume)
        return volume.flatten(1, 2)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, max_displacement={self.max_displacement}, "
                f"stride={self.stride}, abs_coordinate_output={self.abs_coordinate_output}")


def absolute_cost_volume(volume: torch.Tensor) -> torch.Tensor:
    """Re-index a correlation volume [B, P, P, H, W] (odd P) by absolute position: [B, H*W, H, W] with
    ``out[b, y2 * W + x2, y, x] = volume[b, y2 - y + md, x2 - x + md, y, x]`` (md = (P - 1) // 2), 0 where
    the displacement (y2 - y, x2 - x) is beyond md."""
    batch, patch_h, patch_w, height, width = volume.shape
    if patch_h != patch_w or patch_h % 2 != 1:
        raise ValueError(f"absolute_cost_volume: needs an odd square patch, got {patch_h}x{patch_w}")
    md = (patch_h - 1) // 2
    dev = volume.device
    y2 = torch.arange(height, device=dev)[:, None, None, None]
    x2 = torch.arange(width, device=dev)[None, :, None, None]
    y = torch.arange(height, device=dev)[None, None, :, None]
    x = torch.arange(width, device=dev)[None, None, None, :]
    dy, dx = y2 - y + md, x2 - x + md
    inside = (dy >= 0) & (dy < patch_h) & (dx >= 0) & (dx < patch_w)
    flat = ((dy.clamp(0, patch_h - 1) * patch_w + dx.clamp(0, patch_w - 1)) * height + y) * width + x
    gathered = volume.reshape(batch, -1)[:, flat.reshape(-1)].view(batch, height * width, height, width)
    return gathered * inside.reshape(1, height * width, height, width).to(volume.dtype)
