"""The common loader API: one config, one builder, one protocol for every backend.

    loader = build_loader(LoaderConfig(backend="auto", batch_size=10), datasets, ProcessingConfig(),
                          rank=rank, world_size=world_size)
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)
        for batch in loader: ...          # pytracking stack_dim=1 layout (loaders.reference docstring)
    loader.close()

Every backend executes the same sample records (tracking.data.processing), so batches depend only on
(seed, epoch, global sample index), never on the backend's threads or workers: runs are reproducible,
resume at (epoch, iteration) reproduces the remaining batches, and ranks get disjoint samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from tracking.data.processing import ProcessingConfig
from tracking.data.sampler import TrackingSampler, atom_sampler, dimp_sampler

BACKENDS = ("auto", "dali", "reference")


@dataclass(frozen=True)
class LoaderConfig:
    """How batches are made.

    backend: "reference" (OpenCV in torch DataLoader workers), "dali", or "auto" (DALI when it sees a GPU,
        else the reference loader, which is the faster one on a CPU).
    batch_size: samples per batch.
    workers: reference: DataLoader worker processes (0: in the main process); dali: CPU threads.
    device: dali only: "gpu", "cpu" or "auto" (GPU when DALI sees a CUDA device).
    sampler: "dimp" (3+3 frames, causal) or "atom" (1+1, interval); samples_per_epoch, seed: the sampler's.
    """

    backend: str = "auto"
    batch_size: int = 10
    workers: int = 2
    device: str = "auto"
    sampler: str = "dimp"
    samples_per_epoch: int = 26000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"LoaderConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.sampler not in ("dimp", "atom"):
            raise ValueError(f"LoaderConfig.sampler must be 'dimp' or 'atom', got {self.sampler!r}")
        if self.device not in ("auto", "cpu", "gpu"):
            raise ValueError(f"LoaderConfig.device must be 'auto', 'cpu' or 'gpu', got {self.device!r}")
        if self.batch_size <= 0 or self.workers < 0 or self.samples_per_epoch <= 0:
            raise ValueError("LoaderConfig: batch_size and samples_per_epoch must be > 0, workers >= 0")


class Loader(Protocol):
    """What every backend provides."""

    def __len__(self) -> int: ...  # batches per epoch for this rank

    def __iter__(self) -> Iterator[dict]: ...  # the batches of the current epoch from the resume point

    def set_epoch(self, epoch: int) -> None: ...

    def resume(self, epoch: int, iteration: int) -> None: ...  # next __iter__ starts at that batch

    def close(self) -> None: ...


class EpochCursor:
    """The epoch/resume bookkeeping every backend shares: which epoch, and which batch the next
    iteration starts at (reset to 0 once an iteration has started)."""

    def __init__(self, sampler: TrackingSampler, processing: ProcessingConfig, cfg: LoaderConfig) -> None:
        self.sampler, self.processing, self.cfg = sampler, processing, cfg
        self.epoch, self.start_iteration = 0, 0

    def __len__(self) -> int:
        return len(self.sampler) // self.cfg.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.start_iteration = epoch, 0

    def resume(self, epoch: int, iteration: int) -> None:
        if not 0 <= iteration <= len(self):
            raise ValueError(f"resume: iteration {iteration} outside [0, {len(self)}]")
        self.epoch, self.start_iteration = epoch, iteration

    def _take_start(self) -> int:
        """The batch the iteration starting now begins at; later iterations start at 0."""
        start, self.start_iteration = self.start_iteration, 0
        return start


class ReferenceLoader(EpochCursor):
    """The OpenCV reference backend behind the Loader protocol."""

    def __iter__(self) -> Iterator[dict]:
        from .reference import build_reference_loader

        start = self._take_start()
        yield from build_reference_loader(self.sampler, self.processing, self.cfg.batch_size, seed=self.cfg.seed,
                                          epoch=self.epoch, num_workers=self.cfg.workers, start_iteration=start)

    def close(self) -> None:
        """Nothing persists between epochs: workers stop when each epoch's iteration ends."""


def make_sampler(cfg: LoaderConfig, datasets: Sequence, weights: Sequence[float] | None, rank: int,
                 world_size: int) -> TrackingSampler:
    factory = dimp_sampler if cfg.sampler == "dimp" else atom_sampler
    return factory(datasets, weights, seed=cfg.seed, rank=rank, world_size=world_size,
                   samples_per_epoch=cfg.samples_per_epoch)


def dali_gpu_available() -> bool:
    """True when DALI imports and sees a CUDA device."""
    try:
        from nvidia.dali.backend import GetCUDADeviceCount
    except ImportError:
        return False
    return GetCUDADeviceCount() > 0


def build_loader(cfg: LoaderConfig, datasets: Sequence, processing: ProcessingConfig | None = None,
                 weights: Sequence[float] | None = None, rank: int = 0, world_size: int = 1) -> Loader:
    """The loader of `cfg.backend` over `datasets` (TrackingDataset objects or (name, sequences) pairs)
    sharded for `rank` of `world_size` (e.g. from torchrun's RANK / WORLD_SIZE)."""
    processing = processing or ProcessingConfig()
    sampler = make_sampler(cfg, datasets, weights, rank, world_size)
    backend = cfg.backend
    if backend == "auto":
        # DALI on a GPU; on the CPU the OpenCV reference loader is faster on this project's machines
        # (benchmarks/loader_speed.py: DALI's CPU warp/resize and colour ops cost ~4x cv2's).
        backend = "dali" if dali_gpu_available() else "reference"
    if backend == "dali":
        from .dali import DaliLoader

        return DaliLoader(sampler, processing, cfg)
    return ReferenceLoader(sampler, processing, cfg)
