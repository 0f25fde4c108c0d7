"""Where a network runs: the one device resolver of training, the trackers and the runner's workers."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto", index: int = 0) -> torch.device:
    """``auto``: CUDA when available, else the CPU. ``auto`` and ``cuda`` (no index) take GPU ``index % n`` of
    the ``n`` visible GPUs (a torchrun local rank, or a worker process's number, spreads processes over GPUs).
    ValueError naming the device when it is malformed, not a CPU or CUDA device (the operators have kernels for
    those two), CUDA is not available or the index is out of range."""
    text = str(device)
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(text)
    except RuntimeError:
        raise ValueError(f"device {text!r}: expected auto, cpu, cuda or cuda:N") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {text!r}: expected auto, cpu, cuda or cuda:N")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {text!r}: CUDA is not available (torch {torch.__version__}); use cpu")
        count = torch.cuda.device_count()
        if resolved.index is None:
            resolved = torch.device("cuda", index % count)
        elif resolved.index >= count:
            raise ValueError(f"device {text!r}: only {count} GPU(s) visible")
    return resolved
