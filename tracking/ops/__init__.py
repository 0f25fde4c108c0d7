"""Geometric operators of the trackers, compiled (``tracking._C``) with pure-PyTorch fallbacks.

Public API (shapes and coordinate conventions in each function's docstring):
    prroi_pool2d / PrRoIPool2D      precise RoI pooling (exact bin integrals), grads to features and rois
    correlation / Correlation       spatial correlation (FlowNet / spatial-correlation-sampler semantics)
    CostVolume                      KYS cost volume built on correlation
    crop_and_resize                 bilinear crops of boxes to a fixed size, zero or border padding

The compiled kernels are loaded on first use; ``extension_available()`` tells whether they are used.
Pure-PyTorch reference implementations live in ``tracking.ops.reference``.
"""

from ._extension import extension_available, extension_unavailable_reason, load_extension
from .correlation import CostVolume, Correlation, correlation
from .crop_and_resize import crop_and_resize
from .prroi_pool import PrRoIPool2D, prroi_pool2d

__all__ = [
    "CostVolume", "Correlation", "PrRoIPool2D", "correlation", "crop_and_resize", "extension_available",
    "extension_unavailable_reason", "load_extension", "prroi_pool2d",
]
