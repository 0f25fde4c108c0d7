"""The OpenCV backend: batches rendered by loaders.opencv_render in torch DataLoader worker processes.

One DataLoader serves every epoch: its map-style dataset (RenderedBatches) is keyed by (epoch,
batch position), and its sampler (BatchKeys), iterated in the main process, yields the keys of the
current iteration. The epoch travels with each key, so the workers are never told about epochs and,
with persistent workers (the default), they are started once and kept until close():

    loader = OpenCVLoader(sampler, ProcessingConfig(), LoaderConfig(backend="opencv", workers=2))
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for batch in loader: ...          # layout: loaders.samples
    loader.close()

The workers render raw batches (uint8 crops and brightness factors, in shared memory: a quarter of the
bytes of float32 images to move to the main process). With cfg.images="float" (the default) the loader
normalises each batch in the consumer's process as it arrives (loaders.normalize.normalize_batch: cv2.LUT,
the values of tracking.ops.normalize_images); with "uint8" it yields the raw batch. cfg.pin_memory pins
batches (with CUDA only): raw ones in the DataLoader's pinning thread, normalised ones after normalisation.

Breaking out of an iteration keeps the workers (the batches they were still preparing are discarded when
the next iteration starts). An exception raised in a worker (e.g. a dataset whose frames cannot be read)
is re-raised in the main process after the workers are stopped. With workers=0 the batches are rendered in
the consumer's process. persistent_workers=False starts the workers at each iteration and stops them when
it ends (the behaviour before persistent workers, kept to measure what they save).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import torch

from tracking.data.processing import Processing
from tracking.data.sampler import Sampler

from .config import LoaderConfig
from .cursor import EpochCursor
from .normalize import normalize_batch
from .opencv_render import render_batch
from .private_api import shutdown_dataloader_workers
from .samples import EpochRecords, pin_batch, pin_memory_enabled

#: Batches each worker prepares ahead (DataLoader's prefetch_factor).
PREFETCH_FACTOR = 2


class RenderedBatches(torch.utils.data.Dataset):
    """Map-style dataset of raw batches, executed in the workers: key (epoch, k) is this rank's local samples
    [k*B, (k+1)*B) of `epoch` (the epoch the samples are drawn from), rendered by render_batch."""

    def __init__(self, sampler: Sampler, processing: Processing, batch_size: int, seed: int,
                 reduce: bool = False) -> None:
        self.sampler, self.processing, self.batch_size, self.seed = sampler, processing, batch_size, seed
        self.reduce = reduce

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, position = key
        records = EpochRecords(self.sampler, self.processing, seed=self.seed, epoch=epoch)
        start = position * self.batch_size
        return render_batch(records, range(start, start + self.batch_size), reduce=self.reduce)


class BatchKeys(torch.utils.data.Sampler):
    """The keys (epoch, position) of one iteration, positions [start, stop); the loader sets them before each
    iteration (the DataLoader iterates its sampler anew at each iteration, in the main process)."""

    def __init__(self) -> None:
        self.epoch, self.start, self.stop = 0, 0, 0

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, position) for position in range(self.start, self.stop)])


def _as_is(batch: dict) -> dict:
    """The DataLoader's collate_fn: batches are made whole by RenderedBatches."""
    return batch


class OpenCVLoader(EpochCursor):
    """The OpenCV backend behind the Loader protocol (module docstring).

    cfg.workers: worker processes (0: render in the consumer's process); persistent_workers: keep them
    across epochs (False: one set of workers per iteration); cfg.images / cfg.pin_memory: module docstring.
    """

    def __init__(self, sampler: Sampler, processing: Processing, cfg: LoaderConfig,
                 persistent_workers: bool = True) -> None:
        super().__init__(sampler, cfg)
        self.processing = processing
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory_enabled(cfg.pin_memory)
        # raw batches are pinned by the DataLoader's pinning thread; normalised ones after normalisation
        self._dataloader_pins = self.pin_memory and cfg.images == "uint8" and cfg.workers > 0
        self._batches = RenderedBatches(sampler, processing, cfg.batch_size, cfg.seed,
                                        reduce=cfg.decode in ("auto", "reduced"))
        self._keys = BatchKeys()
        self._dataloader: torch.utils.data.DataLoader | None = None
        self._iterator = None  # the persistent DataLoader iterator (it holds the workers)
        # the generator of the current iteration, weakly: one the consumer dropped is closed at once
        self._active: weakref.ReferenceType | None = None

    # ----------------------------------------------------------------------------------- Loader protocol
    def __iter__(self) -> Iterator[dict]:
        self._stop_active()
        epoch, start = self.draw_epoch, self._begin()
        generator = self._iterate(epoch, start) if self.cfg.workers else self._inline(epoch, start)
        self._active = weakref.ref(generator)
        return generator

    def close(self) -> None:
        """Stop an unfinished iteration and the worker processes (a later iteration starts new ones)."""
        self._stop_active()
        self._stop_workers()

    # ---------------------------------------------------------------------------------------- internals
    def _stop_active(self) -> None:
        active, self._active = (self._active() if self._active is not None else None), None
        if active is not None:
            active.close()

    def _stop_workers(self) -> None:
        iterator, self._iterator, self._dataloader = self._iterator, None, None
        if iterator is not None:
            shutdown_dataloader_workers(iterator)

    def _loader(self) -> torch.utils.data.DataLoader:
        if self._dataloader is None:
            self._dataloader = torch.utils.data.DataLoader(
                self._batches, batch_size=None, sampler=self._keys, num_workers=self.cfg.workers,
                collate_fn=_as_is, persistent_workers=self.persistent_workers, prefetch_factor=PREFETCH_FACTOR,
                pin_memory=self._dataloader_pins)
        return self._dataloader

    def _deliver(self, batch: dict) -> dict:
        """A raw batch as the consumer gets it: normalised for cfg.images="float", pinned for pin_memory."""
        if self.cfg.images == "float":
            batch = normalize_batch(batch)
        if self.pin_memory and not self._dataloader_pins:
            batch = pin_batch(batch)
        return batch

    def _inline(self, epoch: int, start: int) -> Iterator[dict]:
        for position in range(start, len(self)):
            batch = self._deliver(self._batches[(epoch, position)])
            self._advance(position + 1)
            yield batch

    def _iterate(self, epoch: int, start: int) -> Iterator[dict]:
        self._keys.epoch, self._keys.start, self._keys.stop = epoch, start, len(self)
        if start >= len(self):
            return
        iterator = iter(self._loader())  # persistent workers: the same iterator, reset for these keys
        if self.persistent_workers:
            self._iterator = iterator  # else it is only referenced here: dropped, it stops its workers
        position = start
        try:
            for raw in iterator:
                batch = self._deliver(raw)
                del raw  # the worker's shared-memory block is freed with it
                position += 1
                self._advance(position)
                yield batch
        except GeneratorExit:  # the consumer stopped early: persistent workers stay for the next iteration
            raise
        except BaseException:  # e.g. unreadable data re-raised from a worker: stop the workers at once
            shutdown_dataloader_workers(iterator)
            if self._iterator is iterator:
                self._iterator = self._dataloader = None
            raise
