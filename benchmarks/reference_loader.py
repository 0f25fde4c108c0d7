"""Throughput of the OpenCV reference loader (DiMP samples: 3 train + 3 test frames at 288x288).

    python benchmarks/reference_loader.py --out benchmarks/results/reference_loader.json [--workers 0 2]

Data: the synthetic GOT-10k-layout dataset (JPEG, quality 90) at the given frame size, generated once into
--data-root (default: a cache under ~/.cache/tracking). For each worker count: one warm-up epoch slice,
then --repeats timed passes over --batches batches; reports the median samples/s and frames/s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time


def measure(workers: int, sampler, processing, batch_size: int, batches: int, repeats: int) -> dict:
    from loaders.reference import build_reference_loader

    rates = []
    for repeat in range(repeats + 1):  # pass 0 is the warm-up (page cache, worker start-up excluded below)
        loader = build_reference_loader(sampler, processing, batch_size, seed=repeat, num_workers=workers)
        iterator = iter(loader)
        next(iterator)  # worker start-up and the first batch are not timed
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        elapsed = time.perf_counter() - start
        del iterator
        if repeat:
            rates.append(batches * batch_size / elapsed)
    median = statistics.median(rates)
    frames = sampler.num_train_frames + sampler.num_test_frames
    return {"workers": workers, "samples_per_s": median, "frames_per_s": median * frames,
            "runs": [round(r, 2) for r in rates]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/reference_loader.json")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--size", default="640x360", help="frame size WxH of the synthetic data")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)

    import torch

    from tracking.data.datasets import Got10k
    from tracking.data.processing import ProcessingConfig
    from tracking.data.sampler import dimp_sampler
    from tracking.data.synthetic import SyntheticSpec, ensure_dataset

    width, height = (int(v) for v in args.size.lower().split("x"))
    spec = SyntheticSpec(num_sequences=12, num_frames=100, width=width, height=height, seed=0)
    root = args.data_root or os.path.join(os.path.expanduser("~"), ".cache", "tracking", f"bench-got10k-{args.size}")
    dataset = Got10k(root=ensure_dataset(root, "got10k", spec), split="train")
    needed = (args.batches + 1) * args.batch_size
    sampler = dimp_sampler([dataset], samples_per_epoch=needed)
    results = []
    for workers in args.workers:
        result = measure(workers, sampler, ProcessingConfig(), args.batch_size, args.batches, args.repeats)
        results.append(result)
        print(f"workers={workers}: {result['samples_per_s']:.1f} samples/s, {result['frames_per_s']:.0f} frames/s "
              f"(runs {result['runs']})", flush=True)
    report = {
        "benchmark": "reference_loader",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads()},
        "data": {"frame_size": args.size, "sequences": spec.num_sequences, "frames": spec.num_frames,
                 "jpeg_quality": spec.jpeg_quality, "root": root},
        "batch_size": args.batch_size, "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
