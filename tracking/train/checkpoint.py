"""Training checkpoints: plain data, written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (no pickled objects), so it loads
under torch's safe unpickler and nothing in it can run code::

    format        "tracking.train/1"
    config        the run's merged config (plain dicts)
    network       {"name": registered name or None, "target": import path or None, "kwargs": {...}}
    epoch         the epoch the next batch belongs to
    next_batch    the position of the next batch within that epoch (0: the epoch starts afresh)
    global_step   optimizer steps taken
    model         the network's state_dict (unwrapped from DDP / torch.compile, CPU tensors)
    optimizer, scheduler, scaler   their state_dicts (scaler: {} when no GradScaler)
    rng           {"torch": ByteTensor, "cuda": [ByteTensor], "numpy": {...}, "python": [...]}
    loader        the rank-0 loader's state_dict (epoch, next batch, settings it must be resumed with)
    metrics       {"history": [per-epoch summaries], "extra": {"best": {"value", "epoch", "metric", "source"}, ...}}

Files live in ``<run_dir>/checkpoints/``: ``step_<global_step>.pth`` (the last ``keep_last`` are kept) and
``best.pth``. Each is written to a temporary file in the same directory, flushed to disk and renamed, so a
crash (or SIGKILL) never leaves a truncated checkpoint under a checkpoint's name.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

import numpy as np
import torch

from tracking.data.atomic import atomic_path

FORMAT = "tracking.train/1"
STEP_PATTERN = re.compile(r"^step_(\d+)\.pth$")

__all__ = ["FORMAT", "CheckpointError", "atomic_save", "capture_rng", "checkpoint_dir", "latest_checkpoint",
           "list_checkpoints", "load_checkpoint", "prune", "restore_rng"]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or not of this format (the message names the file)."""


def checkpoint_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``
    (:func:`tracking.data.atomic.atomic_path`)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, durable=True) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str) -> dict:
    """Read a training checkpoint with ``torch.load(weights_only=True)`` onto the CPU; CheckpointError when
    the file is missing, unreadable or of another format."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle refused by the safe unpickler, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{path}: cannot read the checkpoint ({type(e).__name__}: {first}); is it a "
                              "training checkpoint (<run_dir>/checkpoints/*.pth)?") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a training checkpoint of format {FORMAT!r} (found {found!r})")
    return data


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """``[(global_step, path)]`` of the run's step checkpoints, oldest first."""
    directory = checkpoint_dir(run_dir)
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        m = STEP_PATTERN.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(directory, name)))
    return sorted(found)


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest step checkpoint of the run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def prune(run_dir: str, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints (best.pth is separate and kept)."""
    for _, path in list_checkpoints(run_dir)[:-keep_last]:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def capture_rng() -> dict:
    """The global RNG states (torch CPU and CUDA, numpy's legacy global generator, Python's ``random``) as
    plain data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
            "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                      "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": [int(version), [int(v) for v in state], gauss]}


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only where as many devices are visible)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
