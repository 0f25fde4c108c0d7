"""Pure-PyTorch reference implementations of ``tracking.ops``: the tests' oracle and the fallback used
when the compiled extension is unavailable. Same signatures and semantics as the compiled ops, no
argument validation (the public functions in ``tracking.ops`` validate)."""

from .correlation import correlation
from .crop_and_resize import crop_and_resize
from .prroi_pool import prroi_pool2d

__all__ = ["correlation", "crop_and_resize", "prroi_pool2d"]
