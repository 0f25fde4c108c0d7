"""Loading of the compiled operators ``tracking._C`` and the switch to the pure-PyTorch references.

``load_extension()`` imports ``tracking._C`` once (which registers the C++/CUDA kernels under
``torch.ops.tracking``) and then registers each op's Python autograd formula and fake kernel. When the
extension is missing or broken, or ``TRACKING_DISABLE_EXTENSION=1`` is set, it returns False and every
op in ``tracking.ops`` runs its pure-PyTorch reference implementation instead, with a warning.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings

DISABLE_ENV_VAR = "TRACKING_DISABLE_EXTENSION"

# Modules under tracking.ops that define `register_python_kernels()` for their ops.
_OP_MODULES = ("prroi_pool", "correlation", "crop_and_resize")

_lock = threading.Lock()
_available: bool | None = None
_unavailable_reason: str | None = None
_warned_ops: set[str] = set()


def load_extension() -> bool:
    """Load ``tracking._C`` and register the Python-side kernels; return whether it is usable.

    Idempotent and thread-safe; the result is cached for the life of the process. Safe to call inside
    ``torch.compile`` (even ``fullgraph=True``): dynamo runs it eagerly and treats the result as a constant.
    """
    global _available, _unavailable_reason
    if _available is not None:
        return _available
    with _lock:
        if _available is not None:
            return _available
        if os.environ.get(DISABLE_ENV_VAR, "") == "1":
            _unavailable_reason = f"disabled by {DISABLE_ENV_VAR}=1"
            _available = False
            return False
        try:
            importlib.import_module("tracking._C")
        except ImportError as exc:
            import torch

            _unavailable_reason = (
                f"import of tracking._C failed ({exc}). Build it with `pip install -e .`; if you run a torch "
                f"other than the one it was built with (running {torch.__version__}), rebuild with "
                "`pip install --no-build-isolation -e .`")
            _available = False
            return False
        for name in _OP_MODULES:
            importlib.import_module(f"tracking.ops.{name}").register_python_kernels()
        _available = True
        return True


# torch.compile: dynamo cannot trace the lock nor the import above, so an op first called inside a compiled
# function (fullgraph=True) failed with "Unsupported context manager". Marked as having a constant result, the
# loader is run eagerly by dynamo at trace time and its result (fixed for the life of the process) is baked into
# the graph. This is what torch.compiler.assume_constant_result(load_extension) does; the attribute is set
# directly because that function imports torch._dynamo (over a second) and `import tracking.ops` must stay
# cheap. tests/test_extension_compile.py checks that the public function sets the same attribute.
load_extension._dynamo_marked_constant = True  # type: ignore[attr-defined]


def extension_available() -> bool:
    """True when the compiled kernels are loaded and used by ``tracking.ops``."""
    return load_extension()


def extension_unavailable_reason() -> str | None:
    """Why the compiled kernels are not used (None when they are)."""
    load_extension()
    return _unavailable_reason


def warn_reference_fallback(op_name: str) -> None:
    """Warn once per op that it runs its slow pure-PyTorch reference implementation."""
    if op_name in _warned_ops:
        return
    _warned_ops.add(op_name)
    warnings.warn(
        f"tracking.ops.{op_name}: compiled kernels unavailable ({_unavailable_reason}); using the pure-PyTorch "
        "reference implementation, which is much slower.", RuntimeWarning, stacklevel=3)


# Same for the warning (dynamo cannot trace warnings.warn): under torch.compile it is issued at trace time.
warn_reference_fallback._dynamo_marked_constant = True  # type: ignore[attr-defined]
