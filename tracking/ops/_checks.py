"""Argument validation shared by the ops' Python faces: clear Python errors before any kernel runs.

Every check raises ``ValueError`` (bad shape or value) or ``TypeError`` (bad dtype or type), with the
op's name and the offending argument in the message.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def check_floating(op: str, **tensors: torch.Tensor) -> None:
    """All tensors are floating point, of one dtype and on one device."""
    names = list(tensors)
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: `{name}` must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{op}: `{name}` must be a floating-point tensor, got dtype {t.dtype}")
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


def pair(op: str, name: str, value: int | Sequence[int], minimum: int = 1) -> tuple[int, int]:
    """``value`` as an (h, w) pair of ints >= ``minimum``."""
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
    return h, w


def check_batch_indices(op: str, name: str, batch_index: torch.Tensor, batch: int) -> None:
    """Column 0 of a roi/box tensor holds whole numbers in [0, batch).

    Skipped while torch.compile traces (a data-dependent check would break the graph); the compiled kernels
    check the indices again before using them.
    """
    if batch_index.numel() == 0 or torch.compiler.is_compiling():
        return
    if not torch.isfinite(batch_index).all() or (batch_index != batch_index.floor()).any():
        raise ValueError(f"{op}: `{name}`[:, 0] must hold whole batch indices")
    lo, hi = int(batch_index.min()), int(batch_index.max())
    if lo < 0 or hi >= batch:
        raise ValueError(f"{op}: `{name}`[:, 0] holds batch indices in [{lo}, {hi}] but the batch has {batch} "
                         f"image(s) (valid: 0..{batch - 1})")
