"""Training-loader throughput on DiMP samples (3 train + 3 test frames -> 288x288 crops), all backends in one run.

    python benchmarks/loader_speed.py --out benchmarks/results/loader_speed.json
    python benchmarks/loader_speed.py --quick                      # 640x360 only, few batches, 1 repeat (< 60 s)
    python benchmarks/loader_speed.py --sizes 1280x720 --backends opencv dali --workers 2 --repeats 5

Data: the synthetic GOT-10k-layout dataset (JPEG quality 90) at each frame size, generated once into
<data-root>/bench-got10k-WxH (default data root: the user cache directory, ~/.cache/tracking; a non-default
--sequences/--frames adds a suffix). Every measurement of one size uses the same sampler (seed 0), hence the same sequences and frames for
sample i; every loader consumes samples [0, (warm-up + batches) * batch size) and times the same ones.

Sections (per frame size):
  decode      the floor: decoding exactly the frames of the timed samples (6 per sample) from bytes in memory,
              cv2.imdecode in the main thread and in --workers threads (ThreadPoolExecutor; cv2 releases the
              GIL), and DALI's CPU decoder (fn.decoders.image over external_source bytes) at 1 and --workers
              threads when nvidia.dali imports (harness/decode.py).
  baseline    a pytracking-style loader (harness/baseline.py, our re-implementation of what pytracking's ltr
              does per DiMP sample: cv2.imread, integer-rounded crop + copyMakeBorder(REPLICATE) + cv2.resize,
              per-frame torch float conversion/brightness/normalisation, a Python perturbation loop per IoU
              proposal, torch Gaussian labels, stack along dim 1) in a torch DataLoader with 0 and --workers
              workers.
  opencv      the OpenCV backend (loaders.opencv) through build_loader(backend="opencv") with 0 and --workers
              workers.
  dali        build_loader(backend="dali", device="cpu") with 1 and --workers CPU threads, when loaders.dali
              imports (else every row is "skipped" with the reason).
  startup     epoch start-up of the OpenCV loader at --workers: first-batch latency and epoch time of
              --startup-epochs short epochs (--startup-batches batches each) with persistent workers (the
              default) and with workers started anew every epoch (harness/startup.py).
  end_to_end  the fastest of opencv/dali (at --workers): a consumer doing nothing and consumers sleeping
              --consumer-ms per batch. With overlap, samples/s stays ~ min(loader rate, consumer rate).
  profile     one process, one cv2/torch thread: where the time of one sample goes, in ms, for the OpenCV
              loader (record, read, decode, warpAffine, normalise, proposals, labels, collate) and the
              pytracking-style baseline (harness/profile.py).

Timing (harness/timing.py): each pass builds a fresh loader; the first 1 + 2 * --workers batches (worker
start-up, pipeline fill; 1 + --workers end to end) are not timed, then --batches batches are (or fewer when
--duration seconds are reached). Passes are interleaved round-robin over the configurations of a section (so
load changes on a shared machine hit all of them) and the median of --repeats passes is reported.
ratio_to_decode: samples/s over the decode floor of the same decoder at --workers threads; ratio_to_baseline:
over the pytracking-style baseline at the same parallelism (in-process = 1 worker/thread, N workers = N
threads); the *_cpu ratios compare samples per CPU-second instead.
CPU time (harness/monitor.py, psutil) is user + system time of this process and its live descendants (all
threads) over the timed window; rows also report the cores this process tree used and the cores other
processes kept busy meanwhile (other_load_cores, from the machine-wide CPU times): on a shared machine, trust
rows with other_load_cores ~ 0 and the per-CPU rates. Memory: peak over the pass of the summed PSS (and RSS)
of this process and its descendants, polled by a thread (RSS every 0.1 s, PSS every 0.5 s; PSS counts pages
shared after fork once, RSS double-counts them); where PSS is unavailable (not Linux), RSS only; where psutil
cannot read memory at all, getrusage maxima (lifetime, not per pass). The JSON's "machine" is the description
every benchmark writes (harness/machine.py).
Absolute numbers on a shared machine are noise; ratios within one run are the result.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/ and loaders/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/, also when this file is imported by path (tests)

from harness import cli, machine, monitor  # noqa: E402
from harness.baseline import build_baseline_loader  # noqa: E402
from harness.decode import cv2_decode_pass, dali_decode_pass  # noqa: E402
from harness.profile import profile_baseline, profile_opencv  # noqa: E402
from harness.startup import epoch_startup  # noqa: E402
from harness.report import print_table  # noqa: E402
from harness.timing import Config, run_round_robin, summarise, time_loader  # noqa: E402

from tracking.data.roots import cache_dir  # noqa: E402

FRAMES_PER_SAMPLE = 6  # DiMP: 3 train + 3 test
DEFAULT_SEQUENCES, DEFAULT_FRAMES = 12, 100
QUICK = {"startup_epochs": 2, "sizes": ["640x360"], "batches": 8, "repeats": 1, "profile_samples": 5}
FULL = {"startup_epochs": 5, "sizes": ["640x360", "1280x720"], "batches": 20, "repeats": 3, "profile_samples": 20}
LOADER_BACKENDS = ("baseline", "opencv", "dali")


# --------------------------------------------------------------------------------------------- sections


def dali_import_error() -> str | None:
    try:
        import nvidia.dali  # noqa: F401
    except Exception as exc:
        return f"nvidia.dali not importable: {type(exc).__name__}: {exc}"
    return None


def dali_loader_import_error() -> str | None:
    try:
        importlib.import_module("loaders.dali")
    except Exception as exc:
        return f"loaders.dali not importable: {type(exc).__name__}: {exc}"
    return dali_import_error()


@dataclass
class SizeData:
    size: str
    root: str
    dataset: object
    sampler: object
    generation_s: float
    frames: list[str]  # the timed samples' frame paths, 6 per sample, in sample order
    mean_jpeg_kb: float
    data: list[np.ndarray]


def prepare_size(size: str, args, log) -> SizeData:
    from tracking.data.datasets import Got10k
    from tracking.data.sampler import dimp_sampler
    from tracking.data.synthetic import SyntheticSpec, ensure_dataset

    width, height = parse_size(size)
    spec = SyntheticSpec(num_sequences=args.sequences, num_frames=args.frames, width=width, height=height, seed=0)
    name = f"bench-got10k-{width}x{height}"
    if (args.sequences, args.frames) != (DEFAULT_SEQUENCES, DEFAULT_FRAMES):
        name += f"-{args.sequences}seq-{args.frames}f"
    root = os.path.join(args.data_root, name)
    start = time.perf_counter()
    ensure_dataset(root, "got10k", spec)
    generation_s = time.perf_counter() - start
    log(f"[{size}] data: {root} ({generation_s:.1f} s to ensure)")
    dataset = Got10k(root=root, split="train")
    warmup = 1 + 2 * args.workers  # prefetch: 2 batches in flight per worker
    sampler = dimp_sampler([dataset], seed=0, samples_per_epoch=(warmup + args.batches) * args.batch_size)
    frames = []
    for index in range(warmup * args.batch_size, len(sampler)):
        spec_ = sampler.sample(index, 0)
        seq = sampler.sequence(spec_)
        frames.extend(seq.frames[int(f)] for f in list(spec_.train_frames) + list(spec_.test_frames))
    data = [np.fromfile(p, dtype=np.uint8) for p in frames]
    mean_kb = sum(d.size for d in data) / len(data) / 1024
    return SizeData(size, root, dataset, sampler, generation_s, frames, mean_kb, data)


def our_loader(backend: str, sd: SizeData, processing, batch_size: int, workers: int):
    """A function building our loader `backend` ("opencv", or "dali" on the CPU with `workers` threads)
    over the size's dataset, seed 0, one epoch = the sampler's samples. The only use of loaders.api here."""
    from loaders.api import LoaderConfig, build_loader

    device = {"device": "cpu"} if backend == "dali" else {}
    cfg = LoaderConfig(backend=backend, batch_size=batch_size, workers=workers, samples_per_epoch=len(sd.sampler),
                       seed=0, **device)
    return lambda: build_loader(cfg, [sd.dataset], processing)


def loader_configs(sd: SizeData, args, processing) -> list[Config]:
    B, N, warmup = args.batch_size, args.workers, 1 + 2 * args.workers
    configs = []

    def timed(make, consumer_s: float = 0.0):
        def run():
            stats = time_loader(make, B, warmup, args.batches, args.duration, consumer_s)
            if consumer_s:
                stats["consumer_ms"] = consumer_s * 1e3
            return stats
        return run

    for workers in (0, N):
        run = None if "baseline" not in args.backends else timed(
            lambda w=workers: build_baseline_loader(sd.sampler, processing, B, w))
        configs.append(Config("baseline", f"pytracking-style, {workers} workers",
                              {"backend": "pytracking_style", "workers": workers, "parallelism": max(1, workers)},
                              run, "not selected (--backends)"))
    for workers in (0, N):
        run = None if "opencv" not in args.backends else timed(our_loader("opencv", sd, processing, B, workers))
        configs.append(Config("opencv", f"opencv, {workers} workers",
                              {"backend": "opencv", "workers": workers, "parallelism": max(1, workers)},
                              run, "not selected (--backends)"))
    dali_reason = "not selected (--backends)" if "dali" not in args.backends else dali_loader_import_error()
    for threads in sorted({1, N}):
        run = None if dali_reason is not None else timed(our_loader("dali", sd, processing, B, threads))
        configs.append(Config("dali", f"dali cpu, {threads} thread{'s' * (threads > 1)}",
                              {"backend": "dali", "threads": threads, "parallelism": threads}, run, dali_reason))
    return configs


def decode_configs(sd: SizeData, args) -> list[Config]:
    group = args.batch_size * FRAMES_PER_SAMPLE
    N = args.workers
    configs = []
    for threads in sorted({1, N}):
        configs.append(Config("decode", f"cv2.imdecode, {threads} thread{'s' * (threads > 1)}",
                              {"decoder": "cv2", "threads": threads},
                              lambda t=threads: cv2_decode_pass(sd.data, group, t, args.duration, FRAMES_PER_SAMPLE)))
    reason = "not selected (--backends)" if "dali" not in args.backends else dali_import_error()
    for threads in sorted({1, N}):
        run = None if reason else (
            lambda t=threads: dali_decode_pass(sd.data, group, t, args.duration, FRAMES_PER_SAMPLE))
        configs.append(Config("decode", f"dali decoders.image cpu, {threads} thread{'s' * (threads > 1)}",
                              {"decoder": "dali", "threads": threads}, run, reason))
    return configs


def add_ratios(decode_rows: list[dict], loader_rows: list[dict], workers: int) -> None:
    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    floor = {r["decoder"]: r for r in decode_rows if r["status"] == "ok" and r["threads"] == workers}
    baseline = {r["parallelism"]: r for r in loader_rows
                if r["status"] == "ok" and r["backend"] == "pytracking_style"}
    for r in loader_rows:
        if r["status"] != "ok":
            continue
        f = floor.get("dali" if r["backend"] == "dali" else "cv2", {})
        b = baseline.get(r["parallelism"], {})
        for suffix, key in (("", "samples_per_s"), ("_cpu", "samples_per_cpu_s")):
            r["ratio_to_decode" + suffix] = ratio(r[key], f.get(key))
            r["ratio_to_baseline" + suffix] = ratio(r[key], b.get(key))


def end_to_end_configs(sd: SizeData, args, processing, loader_rows: list[dict]) -> tuple[list[Config], dict]:
    N = args.workers
    candidates = [r for r in loader_rows if r["status"] == "ok" and r["backend"] in ("opencv", "dali")
                  and r["parallelism"] == N]
    if not candidates:
        reason = "no opencv or dali loader measured at --workers"
        return [Config("end_to_end", "none", {"consumer": "none"}, None, reason)], {"backend": None}
    best = max(candidates, key=lambda r: r["samples_per_s"])
    make = our_loader(best["backend"], sd, processing, args.batch_size, N)

    def run(consumer_s: float):
        def go():
            stats = time_loader(make, args.batch_size, 1 + N, args.batches, args.duration, consumer_s)
            stats["consumer_ms"] = consumer_s * 1e3
            return stats
        return go

    configs = [Config("end_to_end", f"{best['name']}, no-op consumer", {"consumer": "none"}, run(0.0))]
    for ms in args.consumer_ms:
        configs.append(Config("end_to_end", f"{best['name']}, consumer sleeps {ms:g} ms",
                              {"consumer": "sleep"}, run(ms / 1e3)))
    return configs, {"backend": best["backend"], "parallelism": N, "selected_by": f"highest samples/s at {N}"}


def finish_end_to_end(rows: list[dict], batch_size: int) -> None:
    pure = next((r["samples_per_s"] for r in rows if r.get("consumer") == "none" and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] != "ok" or r.get("consumer") != "sleep":
            continue
        consumer_rate = batch_size / (r["consumer_ms"] / 1e3)
        r["consumer_samples_per_s"] = round(consumer_rate, 2)
        if pure:
            expected = min(pure, consumer_rate)
            r["expected_samples_per_s"] = round(expected, 2)  # perfect overlap
            r["serial_samples_per_s"] = round(1 / (1 / pure + 1 / consumer_rate), 2)  # no overlap at all
            r["overlap_efficiency"] = round(r["samples_per_s"] / expected, 3)


# --------------------------------------------------------------------------------------------- CLI


def startup_rows(sd: SizeData, args, processing, log) -> dict:
    """The startup section: the OpenCV loader at --workers, persistent workers vs new workers every epoch."""
    from loaders.config import LoaderConfig
    from loaders.opencv import OpenCVLoader
    from tracking.data.sampler import dimp_sampler

    B, N = args.batch_size, args.workers
    sampler = dimp_sampler([sd.dataset], samples_per_epoch=B * args.startup_batches, seed=0)
    cfg = LoaderConfig(backend="opencv", batch_size=B, workers=N, seed=0)
    rows = []
    for persistent in (False, True):
        row = {"name": f"opencv, {N} workers, {'persistent' if persistent else 'new every epoch'}",
               "persistent_workers": persistent, "workers": N, "batches_per_epoch": args.startup_batches}
        try:
            row.update(epoch_startup(lambda p=persistent: OpenCVLoader(sampler, processing, cfg, persistent_workers=p),
                                     args.startup_epochs))
        except Exception as exc:  # noqa: BLE001 - report, do not sink the benchmark
            row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
        log(f"  startup/{row['name']}: {row.get('first_batch_ms')} ms to the first batch")
        rows.append(row)
    fresh, kept = rows
    saved = None
    if fresh["status"] == kept["status"] == "ok":
        saved = {"first_batch_ms": round(fresh["first_batch_ms"] - kept["first_batch_ms"], 1),
                 "epoch_s": round(fresh["epoch_s"] - kept["epoch_s"], 3),
                 "first_batch_ratio": round(fresh["first_batch_ms"] / kept["first_batch_ms"], 2)}
    return {"rows": rows, "saved_per_epoch": saved}


def parse_size(size: str) -> tuple[int, int]:
    """"WxH" -> (W, H); ValueError unless both are positive integers."""
    width, height = (int(v) for v in size.lower().split("x"))
    if width < 1 or height < 1:
        raise ValueError(size)
    return width, height


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/loader_speed.json", help="JSON output path")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK} unless given explicitly (full: {FULL})")
    parser.add_argument("--sizes", nargs="+", default=None, help="frame sizes WxH (default 640x360 1280x720)")
    parser.add_argument("--backends", nargs="+", default=list(LOADER_BACKENDS), choices=LOADER_BACKENDS,
                        help="loaders to measure (dali also selects the DALI decode rows); cv2 decode always runs")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2,
                        help="N: DataLoader workers, decode threads and DALI threads of the parallel rows")
    parser.add_argument("--batches", type=int, default=None, help="timed batches per pass (default 20; quick 8)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop a timed pass after this many seconds (at least one batch)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per configuration (default 3)")
    parser.add_argument("--consumer-ms", type=float, nargs="*", default=[50.0],
                        help="end-to-end consumers sleeping this long per batch (besides the do-nothing one)")
    parser.add_argument("--profile-samples", type=int, default=None,
                        help="samples for the per-stage profile (default 20; quick 5; 0 disables)")
    parser.add_argument("--startup-epochs", type=int, default=None,
                        help="epochs timed by the startup section after a first one (default 5; quick 2; 0 skips it)")
    parser.add_argument("--startup-batches", type=int, default=4, help="batches per epoch of the startup section")
    parser.add_argument("--data-root", default=cache_dir(),
                        help="directory holding one bench-got10k-WxH dataset per size")
    parser.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES, help="synthetic sequences per size")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per synthetic sequence")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.batch_size < 1 or args.workers < 1 or args.batches < 1 or args.repeats < 1:
        parser.error("--batch-size, --workers, --batches and --repeats must be >= 1")
    for size in args.sizes:
        try:
            parse_size(size)
        except ValueError:
            parser.error(f"--sizes: {size!r} is not WxH (positive integers, e.g. 640x360)")
    cli.check_out(parser, args.out)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    from tracking.data.processing import ProcessingConfig

    processing = ProcessingConfig()
    report = machine.header("loader_speed", "loader_speed.py", argv)
    report["settings"] = {
        "batch_size": args.batch_size, "workers": args.workers, "batches": args.batches,
        "warmup_batches": 1 + 2 * args.workers, "duration": args.duration, "repeats": args.repeats,
        "consumer_ms": args.consumer_ms, "sizes": args.sizes, "backends": args.backends, "quick": args.quick,
        "frames_per_sample": FRAMES_PER_SAMPLE, "output_size": processing.output_size,
        "memory": monitor.memory_description()}
    report["sizes"] = []
    for size in args.sizes:
        sd = prepare_size(size, args, log)
        entry = {"size": size,
                 "data": {"root": sd.root, "sequences": args.sequences, "frames": args.frames, "jpeg_quality": 90,
                          "mean_jpeg_kb": round(sd.mean_jpeg_kb, 1), "ensure_s": round(sd.generation_s, 2),
                          "samples": len(sd.sampler), "timed_frames": len(sd.frames)}}
        decode = decode_configs(sd, args)
        log(f"[{size}] decode floor over {len(sd.frames)} frames")
        run_round_robin(decode, args.repeats, log)
        entry["decode"] = [summarise(c, FRAMES_PER_SAMPLE) for c in decode]
        loaders = loader_configs(sd, args, processing)
        log(f"[{size}] loaders")
        run_round_robin(loaders, args.repeats, log)
        rows = [summarise(c, FRAMES_PER_SAMPLE) for c in loaders]
        add_ratios(entry["decode"], rows, args.workers)
        for section in ("baseline", "opencv", "dali"):
            entry[section] = [r for r, c in zip(rows, loaders) if c.section == section]
        e2e, info = end_to_end_configs(sd, args, processing, rows)
        log(f"[{size}] end to end ({info['backend']})")
        run_round_robin(e2e, args.repeats, log)
        e2e_rows = [summarise(c, FRAMES_PER_SAMPLE) for c in e2e]
        finish_end_to_end(e2e_rows, args.batch_size)
        entry["end_to_end"] = {**info, "rows": e2e_rows}
        if args.startup_epochs > 0 and "opencv" in args.backends:
            log(f"[{size}] epoch start-up")
            entry["startup"] = startup_rows(sd, args, processing, log)
        entry["profile"] = {}
        if args.profile_samples > 0:
            log(f"[{size}] profile")
            entry["profile"]["opencv"] = profile_opencv(sd.sampler, processing, args.profile_samples,
                                                              args.batch_size)
            entry["profile"]["pytracking_style"] = profile_baseline(sd.sampler, processing, args.profile_samples,
                                                                    args.batch_size)
        else:
            entry["profile"]["opencv"] = {"status": "skipped", "reason": "--profile-samples 0"}
        report["sizes"].append(entry)
    machine.finish(report)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(report)
    cli.write_json(args.out, report)
    print(f"JSON: {args.out} ({report['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
