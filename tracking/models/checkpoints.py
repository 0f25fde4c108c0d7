"""Checkpoint I/O: loading state_dicts with readable errors (more to come)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

_MAX_LISTED = 8


class CheckpointMismatchError(RuntimeError):
    """A state_dict does not fit the network: missing / unexpected keys or shape mismatches (listed)."""


class LoadResult(NamedTuple):
    """Keys of a non-strict ``load_into`` that were missing from the state_dict or not used from it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"{len(items)} {title}: {shown}{more}"


def _state_dict_of(checkpoint_or_state_dict: Any) -> Mapping[str, Any]:
    net = getattr(checkpoint_or_state_dict, "net", None)
    if isinstance(net, Mapping):  # a PytrackingCheckpoint
        return net
    if isinstance(checkpoint_or_state_dict, Mapping):
        inner = checkpoint_or_state_dict.get("state_dict")
        if isinstance(inner, Mapping) and "format" in checkpoint_or_state_dict:  # our checkpoint format
            return inner
        return checkpoint_or_state_dict
    raise TypeError(f"expected a state_dict (mapping) or a checkpoint, got {type(checkpoint_or_state_dict).__name__}")


def load_into(net: nn.Module, checkpoint_or_state_dict: Any, strict: bool = True,
              source: str | os.PathLike | None = None) -> LoadResult:
    """Copy a state_dict (or a checkpoint's, e.g. ``PytrackingCheckpoint.net``) into ``net``.

    Shape mismatches always raise; with ``strict=True`` missing or unexpected keys raise too. The
    ``CheckpointMismatchError`` lists a few of each (and names ``source``, e.g. the file, when given) instead of
    torch's full dump. Returns the missing and unexpected keys (both empty when strict).
    """
    state_dict = _state_dict_of(checkpoint_or_state_dict)
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = []
    for key, value in state_dict.items():
        if key in own and isinstance(value, Tensor) and value.shape != own[key].shape:
            mismatched.append(f"{key} (file {list(value.shape)}, net {list(own[key].shape)})")
        elif key in own and not isinstance(value, Tensor):
            mismatched.append(f"{key} (file holds a {type(value).__name__}, not a tensor)")
    problems = []
    if mismatched:
        problems.append(_listing("shape mismatch(es)", mismatched))
    if strict and missing:
        problems.append(_listing("missing key(s)", missing))
    if strict and unexpected:
        problems.append(_listing("unexpected key(s)", unexpected))
    if problems:
        where = f" from {os.fspath(source)!r}" if source is not None else ""
        raise CheckpointMismatchError(
            f"cannot load the state_dict{where} into {type(net).__name__} ({len(state_dict)} entries, net has "
            f"{len(own)}): " + "; ".join(problems))
    net.load_state_dict(state_dict, strict=strict)
    return LoadResult(missing, unexpected)
