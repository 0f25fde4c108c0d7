"""The loader settings and the protocol every backend implements (no backend is imported here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: Loader backends: "opencv" (OpenCV in torch DataLoader workers, loaders.opencv), "dali" (loaders.dali),
#: "auto" (DALI when it sees a GPU, else OpenCV).
BACKENDS = ("auto", "opencv", "dali")
#: The samplers LoaderConfig.sampler names (tracking.data.sampler.dimp_sampler / atom_sampler).
SAMPLERS = ("dimp", "atom")
DEVICES = ("auto", "cpu", "gpu")
#: Batch image layouts (LoaderConfig.images; loaders.samples): "float" (normalised float32) or "uint8" (raw).
IMAGE_LAYOUTS = ("float", "uint8")
#: Frame decoding (LoaderConfig.decode): "auto", "reduced" or "full".
DECODES = ("auto", "reduced", "full")


@dataclass(frozen=True)
class LoaderConfig:
    """How batches are made.

    backend: one of BACKENDS. "auto" picks DALI when it sees a GPU, else the OpenCV backend, which is the
        faster one on a CPU.
    batch_size: samples per batch (B); the last incomplete batch of an epoch is dropped.
    workers: opencv: DataLoader worker processes (0: in the main process), kept across epochs;
        dali: CPU threads.
    device: dali only: "gpu", "cpu" or "auto" (GPU when DALI sees a CUDA device).
    sampler: "dimp" (3+3 frames, causal) or "atom" (1+1, interval), built by build_loader over its datasets
        with samples_per_epoch and seed; both are unused when build_loader is given a sampler object.
    seed: the processing seed (and the built sampler's): batches are a function of (seed, epoch, global
        sample index) only.
    validation: batches do not depend on the epoch: every epoch yields the batches of epoch 0 of `seed`
        (give a validation loader its own config and seed).
    images: the batches' image layout (loaders.samples), one of IMAGE_LAYOUTS. Either way the backend renders
        uint8 crops (OpenCV workers: in shared memory) and the brightness factors. "float" (default):
        the loader normalises them in the consumer's process as each batch arrives and yields float32
        ImageNet-normalised [n, B, 3, S, S] images, no brightness fields. "uint8": it yields the raw batch
        (uint8 [n, B, 3, S, S] images, float64 train_brightness / test_brightness [n, B]), a quarter of the
        bytes to move; the consumer normalises with loaders.normalize.normalize_batch(batch, device), on its
        device, to exactly the "float" batch.
    decode: how frames are decoded, one of DECODES. The OpenCV backend (and DALI's CPU graphs) decode only the
        rows and columns a crop reads. "reduced" (the OpenCV backend's "auto"): where a crop shrinks the frame 2x or more, the frame is also
        decoded at 1/2, 1/4 or 1/8 size in libjpeg's DCT domain (loaders.window_decode): less work, and closer
        to an area-filtered crop than bilinear sampling of the full frame (tests/test_window_decode.py); boxes,
        labels and proposals are unchanged. "full" (DALI's "auto"; DALI has no DCT-scaled decoder): full
        resolution, the pixels of a whole-frame decode, comparable pixel by pixel across backends.
    pin_memory: yield batches in page-locked memory (for non_blocking copies to a CUDA device; the OpenCV
        backend pins in the DataLoader's pinning thread). Without CUDA it does nothing (logged once).
    """

    backend: str = "auto"
    batch_size: int = 10
    workers: int = 2
    device: str = "auto"
    sampler: str = "dimp"
    samples_per_epoch: int = 26000
    seed: int = 0
    validation: bool = False
    images: str = "float"
    decode: str = "auto"
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if self.backend == "reference":
            raise ValueError("LoaderConfig.backend 'reference' was renamed to 'opencv' (the OpenCV backend); "
                             f"choose one of {BACKENDS}")
        if self.backend not in BACKENDS:
            raise ValueError(f"LoaderConfig.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"LoaderConfig.sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.images not in IMAGE_LAYOUTS:
            raise ValueError(f"LoaderConfig.images must be one of {IMAGE_LAYOUTS} (the batches' image layout: "
                             f"normalised float32, or raw uint8 crops for loaders.normalize.normalize_batch), "
                             f"got {self.images!r}")
        if self.decode not in DECODES:
            raise ValueError(f"LoaderConfig.decode must be one of {DECODES}, got {self.decode!r}")
        if self.decode == "reduced" and self.backend == "dali":
            raise ValueError("LoaderConfig.decode='reduced' needs the OpenCV backend: DALI's decoders have no "
                             "DCT-domain scaling (use decode='auto' or 'full' with backend='dali')")
        if not isinstance(self.pin_memory, bool):
            raise ValueError(f"LoaderConfig.pin_memory must be a bool, got {self.pin_memory!r}")
        if self.device not in DEVICES:
            raise ValueError(f"LoaderConfig.device must be one of {DEVICES}, got {self.device!r}")
        if self.batch_size <= 0 or self.workers < 0 or self.samples_per_epoch <= 0 or self.seed < 0:
            raise ValueError("LoaderConfig: batch_size and samples_per_epoch must be > 0, workers and seed >= 0")


@runtime_checkable
class Loader(Protocol):
    """What every backend provides.

    Iterating yields the batches of the current epoch (a dict per batch, layout in loaders.samples), from
    the batch set by resume / load_state_dict (else from the first); a later iteration of the same epoch
    starts at its first batch again. Breaking out of an iteration keeps the backend's workers for the next
    one; close() releases them (the loader may still be iterated afterwards: it starts them again).
    """

    def __len__(self) -> int: ...  # batches per epoch for this rank

    def __iter__(self) -> Iterator[dict]: ...

    def set_epoch(self, epoch: int) -> None: ...  # the next iteration yields epoch `epoch` from its start

    def resume(self, epoch: int, iteration: int) -> None: ...  # the next iteration starts at that batch

    def state_dict(self) -> dict: ...  # epoch, next batch and the settings that must match to resume

    def load_state_dict(self, state: dict) -> None: ...  # ValueError naming any mismatching setting

    def close(self) -> None: ...
