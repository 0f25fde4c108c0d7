"""The data sets benchmarks/loader_speed.py measures: synthetic GOT-10k-layout datasets (one per texture and
frame size, generated once under --data-root) or a real dataset (--dataset), the sampler of the timed samples,
their frames' bytes and statistics (bits per pixel, frame sizes, KiB per frame), and the JSON description."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np

from . import cli

FRAMES_PER_SAMPLE = 6  # DiMP: 3 train + 3 test
DEFAULT_SEQUENCES, DEFAULT_FRAMES = 12, 100
DATASETS = ("got10k", "lasot")
DATASET_NAMES = {"got10k": "GOT-10k", "lasot": "LaSOT"}


@dataclass
class BenchData:
    """One data set to measure: a synthetic (texture, size) or a real dataset; the sampler and the timed frames."""

    name: str  # "textured 640x360" or the dataset key
    source: str  # "synthetic" or the dataset key
    texture: str | None  # synthetic only
    root: str
    dataset: object
    sampler: object
    prepare_s: float  # time to ensure the synthetic data / to index the real dataset
    frames: list[str]  # the timed samples' frame paths, 6 per sample, in sample order
    data: list[np.ndarray]  # their bytes
    stats: dict  # frame_stats(...)

    @property
    def size(self) -> str:
        return f"{round(self.stats['mean_width'])}x{round(self.stats['mean_height'])}"


def frame_stats(paths: list[str], data: list[np.ndarray]) -> dict:
    """Bits per pixel (file bytes * 8 / (width * height), sizes from the JPEG header) of each frame: mean, min,
    max; the mean frame size and the most common sizes; the mean file size."""
    from collections import Counter

    from tracking.data.frames import frame_size

    sizes = [frame_size(p) for p in paths]  # (h, w)
    bpp = [d.size * 8 / (w * h) for d, (h, w) in zip(data, sizes)]
    counts = Counter(f"{w}x{h}" for h, w in sizes)
    return {"bits_per_pixel": round(float(np.mean(bpp)), 3), "bits_per_pixel_min": round(min(bpp), 3),
            "bits_per_pixel_max": round(max(bpp), 3),
            "mean_width": round(float(np.mean([w for _, w in sizes])), 1),
            "mean_height": round(float(np.mean([h for h, _ in sizes])), 1),
            "frame_sizes": dict(counts.most_common(5)), "distinct_frame_sizes": len(counts),
            "mean_jpeg_kb": round(sum(d.size for d in data) / len(data) / 1024, 1)}


def timed_frames(sampler, args) -> tuple[list[str], list[np.ndarray]]:
    """The frame paths of the timed samples (after the warm-up batches), 6 per sample, and their bytes."""
    warmup = 1 + 2 * args.workers  # prefetch: 2 batches in flight per worker
    frames = []
    for index in range(warmup * args.batch_size, len(sampler)):
        spec_ = sampler.sample(index, 0)
        seq = sampler.sequence(spec_)
        frames.extend(seq.frames[int(f)] for f in list(spec_.train_frames) + list(spec_.test_frames))
    return frames, [np.fromfile(p, dtype=np.uint8) for p in frames]


def make_sampler(dataset, args):
    from tracking.data.sampler import dimp_sampler

    warmup = 1 + 2 * args.workers
    return dimp_sampler([dataset], seed=0, samples_per_epoch=(warmup + args.batches) * args.batch_size)


def synthetic_dataset(texture: str, size: str, data_root: str, sequences: int = DEFAULT_SEQUENCES,
                      frames: int = DEFAULT_FRAMES) -> str:
    """The root of the benchmarks' synthetic GOT-10k-layout dataset of `texture` and `size` ("WxH") under
    `data_root` (bench-got10k-<texture>-WxH, plus -<n>seq-<t>f for non-default sizes), generated once."""
    from tracking.data.synthetic import SyntheticSpec, ensure_dataset

    width, height = parse_size(size)
    spec = SyntheticSpec(num_sequences=sequences, num_frames=frames, width=width, height=height, seed=0,
                         texture=texture)
    name = f"bench-got10k-{texture}-{width}x{height}"
    if (sequences, frames) != (DEFAULT_SEQUENCES, DEFAULT_FRAMES):
        name += f"-{sequences}seq-{frames}f"
    root = os.path.join(data_root, name)
    ensure_dataset(root, "got10k", spec)
    return root


def prepare_synthetic(texture: str, size: str, args, log) -> BenchData:
    from tracking.data.datasets import Got10k

    start = time.perf_counter()
    root = synthetic_dataset(texture, size, args.data_root, args.sequences, args.frames)
    generation_s = time.perf_counter() - start
    label = f"{texture} {size}"
    log(f"[{label}] data: {root} ({generation_s:.1f} s to ensure)")
    dataset = Got10k(root=root, split="train")
    sampler = make_sampler(dataset, args)
    frames, data = timed_frames(sampler, args)
    return BenchData(label, "synthetic", texture, root, dataset, sampler, generation_s, frames, data,
                     frame_stats(frames, data))


def dataset_root(parser: argparse.ArgumentParser, args) -> str:
    """The root of --dataset: --data-root, else the dataset's configured root; parser.error (one line) when it
    is missing, not a directory or empty."""
    from tracking.data.roots import resolve_root

    try:
        root = resolve_root(args.dataset, args.data_root, DATASET_NAMES[args.dataset])
    except (OSError, ValueError) as exc:  # DatasetNotFoundError names the dataset, the root and where it came from
        parser.error(str(exc))
    try:
        empty = not os.listdir(root)
    except OSError as exc:
        parser.error(f"--dataset {args.dataset}: cannot list --data-root {root}: {exc}")
    if empty:
        parser.error(f"--dataset {args.dataset}: --data-root {root} is empty")
    return root


def prepare_dataset(args, log) -> BenchData:
    """The real dataset of --dataset at args.data_root; cli.fail (one line) when it cannot be used."""
    import warnings

    from tracking.data.datasets import Got10k, Lasot

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = (Got10k(root=args.data_root, split="train") if args.dataset == "got10k"
                       else Lasot(root=args.data_root, split=None))
        if len(dataset) == 0:
            raise ValueError(f"no {DATASET_NAMES[args.dataset]} sequences found")
        index_s = time.perf_counter() - start
        sampler = make_sampler(dataset, args)
        frames, data = timed_frames(sampler, args)
        stats = frame_stats(frames, data)
    except (OSError, ValueError, RuntimeError) as exc:  # DatasetNotFoundError, AnnotationError, FrameDecodeError
        cli.fail(f"--dataset {args.dataset} --data-root {args.data_root}: {type(exc).__name__}: {exc}")
    log(f"[{args.dataset}] data: {args.data_root}: {len(dataset)} sequences ({index_s:.1f} s to index)")
    return BenchData(args.dataset, args.dataset, None, args.data_root, dataset, sampler, index_s, frames, data, stats)


def parse_size(size: str) -> tuple[int, int]:
    """"WxH" -> (W, H); ValueError unless both are positive integers."""
    width, height = (int(v) for v in size.lower().split("x"))
    if width < 1 or height < 1:
        raise ValueError(size)
    return width, height


def data_description(sd: BenchData, args) -> dict:
    """The "data" of an entry: where the frames are, how they were made, their bits per pixel and sizes."""
    if sd.source == "synthetic":
        data = {"root": sd.root, "texture": sd.texture, "sequences": args.sequences, "frames": args.frames,
                "jpeg_quality": 90, "ensure_s": round(sd.prepare_s, 2)}
    else:
        data = {"root": sd.root, "dataset": sd.source, "split": getattr(sd.dataset, "split", None),
                "sequences": len(sd.dataset), "frames": sd.dataset.num_frames, "index_s": round(sd.prepare_s, 2)}
    return {**data, "samples": len(sd.sampler), "timed_frames": len(sd.frames), **sd.stats}
