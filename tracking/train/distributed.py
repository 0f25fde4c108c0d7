"""Process layout: one process per device, started by ``torchrun`` (or a single plain process).

``torchrun --nproc_per_node N -m tracking.train --config ...`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` / ``MASTER_PORT``; :func:`setup` then joins the process group (NCCL when the device is a GPU,
gloo on the CPU) and each rank trains a DistributedDataParallel replica on its shard of the samples (the
samplers shard by rank). Several machines use torchrun's rendezvous, the same command on each::

    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 --rdzv_id RUN \\
        -m tracking.train --config configs/dimp50.yaml
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from tracking.models.devices import resolve_device

__all__ = ["Layout", "setup", "teardown"]


@dataclass(frozen=True)
class Layout:
    """rank / world_size over all processes; local_rank on this machine; the device this process uses."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(requested_device: str) -> Layout:
    """The process layout from torchrun's environment (one process when WORLD_SIZE is unset or 1); joins the
    process group when there are several."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        device = resolve_device(requested_device, local_rank)
    except ValueError as e:
        raise ValueError(f"train.device: {e}") from None
    if world_size > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Layout(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(layout: Layout) -> None:
    if layout.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def broadcast_flag(layout: Layout, value: bool) -> bool:
    """Rank 0's ``value`` on every rank (a collective; plain return when not distributed)."""
    if not layout.distributed:
        return value
    import torch.distributed as dist

    t = torch.tensor([1 if value else 0], device=layout.device if layout.device.type == "cuda" else "cpu")
    dist.broadcast(t, 0)
    return bool(t.item())
