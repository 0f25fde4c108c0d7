"""Processes or threads for the OpenCV backend's rendering? The same uint8 batches (reduced decode) rendered
in this process (0 workers), in N threads of this process (one batch per thread at a time: decode, crop and
colour release the GIL, the records and the Python glue do not) and in N DataLoader worker processes
(the OpenCV loader as it ships).

    python benchmarks/render_threads.py --out benchmarks/results/render_threads.json
    python benchmarks/render_threads.py --size 1280x720 --workers 2 --batches 20 --repeats 3

Data: the textured synthetic GOT-10k-layout dataset loader_speed.py uses (<data-root>/bench-got10k-textured-WxH,
generated once). Each pass renders --batches batches of 10 DiMP samples after one warm-up round; passes are
interleaved round-robin and the median of --repeats is reported, with samples per CPU-second of the process
tree (psutil). Absolute numbers on a shared machine are noise; compare the modes within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__" and os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from harness import machine  # noqa: E402
from harness.bench_data import DEFAULT_FRAMES, DEFAULT_SEQUENCES, parse_size, synthetic_dataset  # noqa: E402

BATCH = 10


def _cpu_seconds() -> float:
    import psutil

    me = psutil.Process()
    procs = [me] + me.children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _dataset(size: str, data_root: str, sequences: int = DEFAULT_SEQUENCES, frames: int = DEFAULT_FRAMES):
    """loader_speed.py's textured dataset of `size` (harness.bench_data.synthetic_dataset)."""
    from tracking.data.datasets import Got10k

    return Got10k(root=synthetic_dataset("textured", size, data_root, sequences, frames), split="train")


def run_mode(mode: str, dataset, workers: int, batches: int) -> dict:
    """samples/s and samples per CPU-second of one pass of `mode` ("inline", "threads", "processes")."""
    from loaders.config import LoaderConfig
    from loaders.opencv import OpenCVLoader
    from loaders.opencv_render import render_batch
    from loaders.samples import EpochRecords
    from tracking.data.processing import ProcessingConfig
    from tracking.data.sampler import dimp_sampler

    warm = {"inline": 1, "threads": workers, "processes": 1 + 2 * workers}[mode]  # processes: prefetch filled
    total = (warm + batches) * BATCH
    sampler = dimp_sampler([dataset], seed=0, samples_per_epoch=total)
    processing = ProcessingConfig()
    if mode == "processes":
        loader = OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=BATCH, workers=workers,
                                                                  samples_per_epoch=total, images="uint8"))
        iterator = iter(loader)
        for _ in range(warm):
            next(iterator)
        done = 0
        start, cpu = time.perf_counter(), _cpu_seconds()
        for _ in iterator:
            done += 1
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        loader.close()
    else:
        records = EpochRecords(sampler, processing, seed=0, epoch=0)

        def one(k: int):
            return render_batch(records, range(k * BATCH, (k + 1) * BATCH), reduce=True)

        pool = ThreadPoolExecutor(max_workers=workers) if mode == "threads" else None
        run = pool.map if pool else map
        list(run(one, range(warm)))
        start, cpu = time.perf_counter(), _cpu_seconds()
        done = len(list(run(one, range(warm, warm + batches))))
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        if pool:
            pool.shutdown()
    samples = done * BATCH
    return {"samples_per_s": samples / wall, "samples_per_cpu_s": samples / cpu if cpu > 0 else None,
            "cores_used": cpu / wall, "batches": done}


def _median(values: list) -> float | None:
    """The median of the values that were measured (None when none was: a pass too short for the CPU clock)."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def main(argv: list[str] | None = None) -> int:
    from tracking.data.roots import cache_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--workers", type=int, default=2, help="threads / worker processes")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=cache_dir())
    parser.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--out", default="benchmarks/results/render_threads.json")
    args = parser.parse_args(argv)
    try:
        parse_size(args.size)
    except ValueError:
        parser.error(f"--size {args.size!r} is not WxH")
    if args.workers < 1 or args.batches < 1 or args.repeats < 1:
        parser.error("--workers, --batches and --repeats must be >= 1")
    dataset = _dataset(args.size, args.data_root, args.sequences, args.frames)
    modes = ("inline", "threads", "processes")
    passes: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode in modes:
            passes[mode].append(run_mode(mode, dataset, args.workers, args.batches))
    rows = {}
    for mode in modes:
        runs = passes[mode]
        rows[mode] = {k: _median([r[k] for r in runs]) for k in ("samples_per_s", "samples_per_cpu_s", "cores_used")}
        per_cpu = rows[mode]["samples_per_cpu_s"]
        print(f"{args.size} {mode:10s} {'' if mode == 'inline' else args.workers:>2} "
              f"{rows[mode]['samples_per_s']:7.1f} samples/s {'-' if per_cpu is None else f'{per_cpu:7.1f}'} per "
              f"CPU-s {rows[mode]['cores_used']:5.2f} cores")
    report = machine.header("render_threads", "render_threads.py", argv)
    report.update(settings=vars(args), rows=rows)
    machine.finish(report)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
