"""Precise RoI pooling (PrRoIPool, Jiang et al. 2018): the Python face of ``tracking::prroi_pool2d``.

Used by the IoU-Net box regressor (reference features pooled 3x3 / 1x1 at 1/8 and 1/16, proposals 5x5 /
3x3) and by the DiMP filter initializer (4x4 at 1/16). Differentiable with respect to the features and
to the roi coordinates (the tracker refines boxes by gradient ascent through this op).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import _checks
from ._extension import load_extension, warn_reference_fallback
from .reference import prroi_pool as reference

_OP = "prroi_pool2d"


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float) -> torch.Tensor:
    """Pool each roi into pooled_height x pooled_width bins holding the exact mean of the features.

    Args:
        features: [N, C, H, W] float tensor (float32/float64; half/bfloat16 on CUDA).
        rois: [K, 5] rows (batch_index, x1, y1, x2, y2), same dtype and device as ``features``. The corners
            are in input-image coordinates, x1y1x2y2, and multiplied by ``spatial_scale`` they are feature
            coordinates in which feature pixel (i, j) sits at (y=i, x=j) (no half-pixel offset, as in the
            original PrRoIPool). Boxes may extend beyond the map: the bilinearly interpolated map is zero
            one pixel beyond its border.
        pooled_height, pooled_width: bins per roi (> 0).
        spatial_scale: feature size / image size, e.g. 1/16 (> 0).

    Returns:
        [K, C, pooled_height, pooled_width]: bin (p, q) of roi k is the integral of the interpolated map
        over the bin divided by the bin area. The scaled corners, the bin size bh = max(y2 - y1, 0) / ph,
        bw = max(x2 - x1, 0) / pw and the bin edges y1 + p * bh, x1 + q * bw are computed in the dtype of the
        rois. A roi pools to 0 with zero gradient unless bh and bw are positive finite numbers: x2 <= x1 or
        y2 <= y1, or an x2 - x1 / y2 - y1 beyond the dtype's range (e.g. x1 = -3e38, x2 = 3e38 in float32).
        Any other finite roi, however large, tiny or far outside the map, pools its mean, computed as
        sum_ij (wy_i / bh) F_ij (wx_j / bw) with each axis's weights divided by its bin size, so that no
        bin area (or, in the gradient, its square) under- or overflows. (A bin narrower than the spacing of
        the dtype at its position has edges that round together: its weights, hence its output, are 0.)
        A roi with a non-finite coordinate (after scaling) pools to NaN (zero gradient).
        Dtypes: float32 and float64 on the CPU, also float16 and bfloat16 on CUDA.

    Validation: shapes, dtypes, devices and sizes are always checked. The batch indices ``rois[:, 0]`` (whole
    numbers in [0, N)) are checked once per call, with one host sync, for CPU tensors always and on the
    reference path always; for CUDA tensors only when the debug switch is on (``TRACKING_DEBUG_CHECKS=1`` or
    ``tracking.ops.set_debug_checks(True)``). Unchecked, the CUDA kernels clamp each index into [0, N)
    (negative/NaN -> 0, too large -> N - 1, fractional -> truncated): a bad index pools a valid image, never
    memory out of bounds. Called directly, the raw CPU ops raise RuntimeError on a bad index. See
    ``tracking.ops._checks``.

    Raises:
        ValueError / TypeError: bad shapes, sizes or dtypes (incl. float16/bfloat16 on the CPU); bad batch
            indices where they are checked.
    """
    _checks.check_floating(_OP, features=features, rois=rois)
    _checks.check_shape(_OP, "features", features, "N,C,H,W")
    _checks.check_shape(_OP, "rois", rois, "K,5")
    _checks.check_positive(_OP, pooled_height=pooled_height, pooled_width=pooled_width)
    if not isinstance(spatial_scale, (int, float)) or not math.isfinite(spatial_scale) or spatial_scale <= 0:
        raise ValueError(f"{_OP}: `spatial_scale` must be a finite number > 0, got {spatial_scale!r}")
    use_extension = load_extension()
    _checks.check_batch_indices(_OP, "rois", rois[:, 0], features.shape[0], force=not use_extension)
    if use_extension:
        return torch.ops.tracking.prroi_pool2d(features, rois, pooled_height, pooled_width, float(spatial_scale))
    warn_reference_fallback(_OP)
    return reference.prroi_pool2d(features, rois, pooled_height, pooled_width, float(spatial_scale))


class PrRoIPool2D(nn.Module):
    """Module form of :func:`prroi_pool2d`: ``PrRoIPool2D(ph, pw, scale)(features, rois)``."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_height = pooled_height
        self.pooled_width = pooled_width
        self.spatial_scale = spatial_scale

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return prroi_pool2d(features, rois, self.pooled_height, self.pooled_width, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"pooled=({self.pooled_height}, {self.pooled_width}), spatial_scale={self.spatial_scale}"


def _setup_context(ctx, inputs, output) -> None:
    features, rois, pooled_height, pooled_width, spatial_scale = inputs
    ctx.save_for_backward(features, rois, output)
    ctx.pooled = (pooled_height, pooled_width, spatial_scale)


def _backward(ctx, grad_output: torch.Tensor):
    features, rois, output = ctx.saved_tensors
    need_features, need_rois = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_features, grad_rois = torch.ops.tracking._prroi_pool2d_backward(
        grad_output.contiguous(), features, rois, output, *ctx.pooled, need_features, need_rois)
    return (grad_features if need_features else None, grad_rois if need_rois else None, None, None, None)


def register_python_kernels() -> None:
    """Fake (meta) kernels and the autograd formula of the op; called once when tracking._C is loaded."""

    @torch.library.register_fake("tracking::prroi_pool2d")
    def _(features, rois, pooled_height, pooled_width, spatial_scale):
        return features.new_empty(rois.shape[0], features.shape[1], pooled_height, pooled_width)

    @torch.library.register_fake("tracking::_prroi_pool2d_backward")
    def _(grad_output, features, rois, output, pooled_height, pooled_width, spatial_scale, need_features,
          need_rois):
        return features.new_empty(features.shape), rois.new_empty(rois.shape)

    torch.library.register_autograd("tracking::prroi_pool2d", _backward, setup_context=_setup_context)
