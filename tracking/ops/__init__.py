"""Geometric operators of the trackers, compiled (``tracking._C``) with pure-PyTorch fallbacks.

Public API (shapes and coordinate conventions in each function's docstring):
    prroi_pool2d / PrRoIPool2D      precise RoI pooling (exact bin integrals), grads to features and rois
    correlation / Correlation       spatial correlation (FlowNet / spatial-correlation-sampler semantics)
    CostVolume                      KYS cost volume built on correlation
    crop_and_resize                 bilinear crops of boxes to a fixed size, zero or border padding
    normalize_images                ImageNet normalisation of RGB network inputs (0-255 units by default)

The compiled kernels are loaded on first use; ``extension_available()`` tells whether they are used.
Pure-PyTorch reference implementations live in ``tracking.ops.reference``.

Argument checks. Shapes, dtypes, devices and sizes are always checked (no host synchronisation). The roi/box
batch indices of prroi_pool2d and crop_and_resize (a check of tensor values, hence a host sync) are checked
once per call: for CPU tensors always, for CUDA tensors only with the debug switch on, which is the
environment variable ``TRACKING_DEBUG_CHECKS=1`` (read at each call) or ``set_debug_checks(True)``
(``set_debug_checks(None)`` goes back to the variable; ``debug_checks_enabled()`` reads the switch).
Unchecked, the CUDA kernels clamp each index into [0, N), so a bad index selects a valid image instead of
raising and memory access stays in bounds. Details in ``tracking.ops._checks``.
"""

from ._checks import debug_checks_enabled, set_debug_checks
from ._extension import extension_available, extension_unavailable_reason, load_extension
from .correlation import CostVolume, Correlation, correlation
from .crop_and_resize import crop_and_resize
from .normalize import IMAGENET_MEAN, IMAGENET_STD, normalize_images
from .prroi_pool import PrRoIPool2D, prroi_pool2d

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "CostVolume", "Correlation", "PrRoIPool2D", "correlation", "crop_and_resize",
    "debug_checks_enabled", "extension_available", "extension_unavailable_reason", "load_extension",
    "normalize_images", "prroi_pool2d", "set_debug_checks",
]
