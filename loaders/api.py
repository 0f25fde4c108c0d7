"""build_loader: one entry point for every backend, sampler and processing.

    loader = build_loader(LoaderConfig(backend="auto", batch_size=10), datasets, rank=rank, world_size=world_size)
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)
        for batch in loader: ...          # layout: loaders.samples
    loader.close()

A tracker brings its own parts through the seams: ``processing`` (any tracking.data.processing.Processing:
it makes the records and declares the batch fields), ``sampler`` (any tracking.data.sampler.Sampler).
Every backend executes the same records, so batches depend only on (seed, epoch, global sample index),
never on the backend's threads or workers: runs are reproducible, state_dict / load_state_dict (or resume)
reproduce the remaining batches, and ranks get disjoint samples.

The backends are imported here, inside build_loader, and import nothing from this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracking.data.processing import PROCESSING_PRESETS, Processing
from tracking.data.sampler import Sampler, atom_sampler, dimp_sampler

from .config import LoaderConfig, Loader

#: The processing each shortcut name stands for: tracking.data.processing.PROCESSING_PRESETS ("dimp", "prdimp",
#: "super_dimp", "atom").
PROCESSING_SHORTCUTS = PROCESSING_PRESETS
#: The sampler factory each LoaderConfig.sampler name stands for.
SAMPLER_FACTORIES = {"dimp": dimp_sampler, "atom": atom_sampler}


def resolve_processing(processing: Processing | str | None) -> Processing:
    """None -> DiMP's ProcessingConfig(); a preset name ("dimp", "prdimp", "super_dimp", "atom") ->
    PROCESSING_SHORTCUTS; a Processing object as is."""
    if processing is None:
        return PROCESSING_SHORTCUTS["dimp"]
    if isinstance(processing, str):
        if processing not in PROCESSING_SHORTCUTS:
            raise ValueError(f"processing {processing!r}: the shortcuts are {sorted(PROCESSING_SHORTCUTS)}")
        return PROCESSING_SHORTCUTS[processing]
    if not isinstance(processing, Processing):
        raise TypeError(f"processing must be None, a shortcut name or a Processing object (output_size, padding, "
                        f"make_record, batch_fields), got {type(processing).__name__}")
    return processing


def resolve_sampler(cfg: LoaderConfig, sampler: Sampler | None, datasets: Sequence | None,
                    weights: Sequence[float] | None, rank: int, world_size: int) -> Sampler:
    """`sampler` as is, or cfg.sampler's factory over `datasets` with cfg's seed and samples_per_epoch."""
    if sampler is None:
        if datasets is None:
            raise ValueError("build_loader: give either datasets (to build cfg.sampler over) or a sampler object")
        factory = SAMPLER_FACTORIES[cfg.sampler]
        return factory(datasets, weights, seed=cfg.seed, rank=rank, world_size=world_size,
                       samples_per_epoch=cfg.samples_per_epoch)
    if isinstance(sampler, str):
        raise TypeError(f"build_loader: sampler={sampler!r}: name the sampler in LoaderConfig.sampler; the "
                        "sampler argument takes a sampler object")
    if not isinstance(sampler, Sampler):
        raise TypeError(f"build_loader: sampler must provide the tracking.data.sampler.Sampler protocol, got "
                        f"{type(sampler).__name__}")
    if datasets is not None or weights is not None:
        raise ValueError("build_loader: a sampler object brings its own datasets and weights; do not also give "
                         "datasets or weights")
    if (rank, world_size) != (0, 1) and (rank, world_size) != (sampler.rank, sampler.world_size):
        raise ValueError(f"build_loader: rank={rank}, world_size={world_size} differ from the sampler's "
                         f"({sampler.rank}, {sampler.world_size}); shard the sampler itself")
    return sampler


def dali_gpu_available() -> bool:
    """True when DALI imports and sees a CUDA device."""
    from .dali_pipeline import cuda_device_count

    return cuda_device_count() > 0


def build_loader(cfg: LoaderConfig, datasets: Sequence | None = None, processing: Processing | str | None = None,
                 weights: Sequence[float] | None = None, rank: int = 0, world_size: int = 1,
                 sampler: Sampler | None = None) -> Loader:
    """The loader of `cfg.backend`.

    datasets: TrackingDataset objects or (name, sequences) pairs, sampled with `weights` by cfg.sampler
        ("dimp" / "atom"), sharded for `rank` of `world_size` (e.g. torchrun's RANK / WORLD_SIZE).
    sampler: instead of datasets, a sampler object (tracking.data.sampler.Sampler, already sharded);
        cfg.sampler and cfg.samples_per_epoch are then unused.
    processing: None (DiMP's ProcessingConfig()), a preset name of tracking.data.processing.PROCESSING_PRESETS
        ("dimp", "prdimp", "super_dimp", "atom"), or any tracking.data.processing.Processing object.
    """
    processing = resolve_processing(processing)
    sampler = resolve_sampler(cfg, sampler, datasets, weights, rank, world_size)
    backend = cfg.backend
    if backend == "auto":
        # DALI on a GPU; on the CPU the OpenCV backend is faster on this project's machines
        # (benchmarks/loader_speed.py: DALI's CPU warp/resize and colour ops cost ~4x cv2's).
        backend = "dali" if dali_gpu_available() else "opencv"
    if backend == "dali":
        if cfg.decode == "reduced":
            raise ValueError("LoaderConfig.decode='reduced' needs the OpenCV backend, and backend='auto' chose DALI "
                             "(it sees a GPU); DALI's decoders have no DCT-domain scaling")
        from .dali import DaliLoader

        return DaliLoader(sampler, processing, cfg)
    from .opencv import OpenCVLoader

    return OpenCVLoader(sampler, processing, cfg)
