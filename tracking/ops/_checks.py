"""Argument validation shared by the ops' Python faces: clear Python errors before any kernel runs.

Every check raises ``ValueError`` (bad shape or value) or ``TypeError`` (bad dtype or type), with the
op's name and the offending argument in the message.

Two kinds of checks:

* Shape, dtype, device, size and type checks read only metadata (no host synchronisation). They always run,
  here and again in the C++ entries of the ops.
* Value checks read tensor contents; the only one is ``check_batch_indices`` (the roi/box batch indices are
  whole numbers in [0, N)). It runs once per op call with a single host sync (``_any_bad_batch_index``:
  one copy of the few indices to the host, or one fused reduction for many; the details for the error
  message are computed only when it fails), and only where ``value_checks_enabled(device)`` says so:

  - CPU tensors: always (reading host memory costs no device stall);
  - other devices (CUDA): only with the debug switch on, i.e. the environment variable
    ``TRACKING_DEBUG_CHECKS=1`` (read at every call) or ``tracking.ops.set_debug_checks(True)`` (which
    overrides the variable until ``set_debug_checks(None)``). Unchecked, the CUDA kernels clamp every index
    into [0, N) (negative/NaN -> 0, too large -> N - 1, fractional -> truncated), so a bad index pools or
    crops a valid image instead of raising, and never reads or writes out of bounds;
  - the pure-PyTorch reference path (extension unavailable or ``TRACKING_DISABLE_EXTENSION=1``): always,
    whatever the device (``force=True``), since the references index with the values unclamped;
  - never while torch.compile traces (a data-dependent check would break the graph);
  - never on the meta device (no values).

  Besides, the raw CPU ops (``torch.ops.tracking.*``) reject bad indices with a ``RuntimeError`` while their
  kernels read them (no separate pass); the raw CUDA ops do not check them (they clamp).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

DEBUG_ENV_VAR = "TRACKING_DEBUG_CHECKS"

# Set by set_debug_checks(); None: follow the environment variable.
_debug_override: bool | None = None


def set_debug_checks(enabled: bool | None) -> None:
    """Turn the value checks of non-CPU tensors on (True) or off (False) for this process.

    Overrides ``TRACKING_DEBUG_CHECKS``; ``None`` goes back to following the variable. CPU tensors are
    always checked, whatever the switch.
    """
    global _debug_override
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_debug_checks: `enabled` must be a bool or None, got {type(enabled).__name__}")
    _debug_override = enabled


def debug_checks_enabled() -> bool:
    """The debug switch: ``set_debug_checks``'s setting, else whether ``TRACKING_DEBUG_CHECKS=1``."""
    if _debug_override is not None:
        return _debug_override
    return os.environ.get(DEBUG_ENV_VAR, "") == "1"


def value_checks_enabled(device: torch.device | str) -> bool:
    """Whether checks of tensor values (they cost a host sync on an accelerator) run for tensors on ``device``.

    CPU: always. meta: never (no values). Any other device (cuda, ...): only with the debug switch on.
    """
    device_type = torch.device(device).type
    if device_type == "cpu":
        return True
    if device_type == "meta":
        return False
    return debug_checks_enabled()


# The dtypes the ops take: the CPU kernels (and, for one behaviour everywhere, the references on the CPU) take
# float32 and float64; the CUDA kernels also float16 and bfloat16 (accumulating in float32). Other devices
# (meta, used for tracing) are checked like CUDA.
CPU_DTYPES = (torch.float32, torch.float64)
ACCELERATOR_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_floating(op: str, **tensors: torch.Tensor) -> None:
    """All tensors are floating point of a dtype the ops support on their device (``CPU_DTYPES`` on the CPU,
    ``ACCELERATOR_DTYPES`` elsewhere; TypeError), of one dtype and on one device."""
    names = list(tensors)
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: `{name}` must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{op}: `{name}` must be a floating-point tensor, got dtype {t.dtype}")
        if t.dtype not in (CPU_DTYPES if t.device.type == "cpu" else ACCELERATOR_DTYPES):
            raise TypeError(f"{op}: `{name}` has dtype {t.dtype}, which the op does not support on "
                            f"{t.device.type}: it takes float32 or float64 on the CPU, also float16 or bfloat16 "
                            "on CUDA")
    first = tensors[names[0]]
    for name in names[1:]:
        t = tensors[name]
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: `{name}` has dtype {t.dtype} but `{names[0]}` has {first.dtype}; "
                            "they must match")
        if t.device != first.device:
            raise ValueError(f"{op}: `{name}` is on {t.device} but `{names[0]}` is on {first.device}; "
                             "they must be on the same device")


def check_shape(op: str, name: str, t: torch.Tensor, pattern: str) -> None:
    """``t`` matches ``pattern``, e.g. "N,C,H,W" (any sizes) or "K,5" (a digit fixes that size)."""
    dims = pattern.split(",")
    if t.dim() != len(dims) or any(d.isdigit() and t.shape[i] != int(d) for i, d in enumerate(dims)):
        raise ValueError(f"{op}: `{name}` must have shape [{pattern}], got {list(t.shape)}")


def check_positive(op: str, **values: int) -> None:
    """Every value is an int > 0."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{op}: `{name}` must be an int, got {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{op}: `{name}` must be > 0, got {v}")


def pair(op: str, name: str, value: int | Sequence[int], minimum: int = 1,
         maximum: int | None = None) -> tuple[int, int]:
    """``value`` as an (h, w) pair of ints >= ``minimum`` (and <= ``maximum`` when given)."""
    if isinstance(value, int) and not isinstance(value, bool):
        h = w = value
    else:
        try:
            h, w = value  # type: ignore[misc]
        except (TypeError, ValueError):
            raise TypeError(f"{op}: `{name}` must be an int or a pair of ints, got {value!r}") from None
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{op}: `{name}` must be an int or a pair of ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{op}: `{name}` must be >= {minimum}, got {value!r}")
        if maximum is not None and v > maximum:
            raise ValueError(f"{op}: `{name}` must be <= {maximum}, got {value!r}")
    return h, w


def check_batch_indices(op: str, name: str, batch_index: torch.Tensor, batch: int, *, force: bool = False) -> None:
    """Column 0 of a roi/box tensor holds whole numbers in [0, batch).

    Runs when ``value_checks_enabled(batch_index.device)`` (CPU: always; CUDA: debug switch only) or when
    ``force`` (the reference path, which does not clamp), with one host sync; skipped while torch.compile
    traces and on the meta device. Unchecked indices are clamped by the CUDA kernels (see the module
    docstring). An empty batch with rows to index is rejected whatever the device (a size check).
    """
    if batch_index.numel() == 0 or torch.compiler.is_compiling() or batch_index.device.type == "meta":
        return
    if batch == 0:  # no index is valid; known from the sizes alone
        _raise_bad_batch_indices(op, name, batch_index, batch)
    if not (force or value_checks_enabled(batch_index.device)):
        return
    if _any_bad_batch_index(batch_index, batch):
        _raise_bad_batch_indices(op, name, batch_index, batch)


# Up to this many indices, _any_bad_batch_index reads them to the host and checks them in Python (cheaper than
# launching the seven small tensor ops of the fused reduction); above, one fused reduction. Either way: one host
# sync.
_HOST_CHECK_MAX = 64


def _any_bad_batch_index(batch_index: torch.Tensor, batch: int) -> bool:
    """Whether some index is not a whole number in [0, batch): the check's only host sync.

    Few indices: one copy to the host (``tolist``), checked in Python. Many: one fused
    reduction, read back once. NaN and +-inf fail the range test (and ``b == b.floor()`` fails for NaN), so
    non-finite values need no separate pass.
    """
    if batch_index.numel() <= _HOST_CHECK_MAX:
        return not all(0 <= v < batch and v == int(v) for v in batch_index.tolist())  # range test first: no int(nan)
    good = (batch_index >= 0) & (batch_index < batch) & (batch_index == batch_index.floor())
    return not bool(good.all())


def _raise_bad_batch_indices(op: str, name: str, batch_index: torch.Tensor, batch: int) -> None:
    """The error for indices known to be bad; computes the details of the message (more syncs: error path)."""
    if not torch.isfinite(batch_index).all() or (batch_index != batch_index.floor()).any():
        raise ValueError(f"{op}: `{name}`[:, 0] must hold whole batch indices")
    lo, hi = int(batch_index.min()), int(batch_index.max())
    raise ValueError(f"{op}: `{name}`[:, 0] holds batch indices in [{lo}, {hi}] but the batch has {batch} "
                     f"image(s) (valid: 0..{batch - 1})")
