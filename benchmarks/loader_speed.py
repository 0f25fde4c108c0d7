"""Training-loader throughput on DiMP samples (3 train + 3 test frames -> 288x288 crops), all backends in one run.

    python benchmarks/loader_speed.py --out benchmarks/results/loader_speed.json
    python benchmarks/loader_speed.py --quick                      # textured 640x360 only, few batches, 1 repeat
    python benchmarks/loader_speed.py --sizes 1280x720 --textures smooth --backends opencv dali --repeats 5
    python benchmarks/loader_speed.py --dataset got10k --data-root /data/GOT-10k   # real frames instead
    python benchmarks/loader_speed.py --dali-device gpu            # DALI rows on GPU 0 (nvJPEG "mixed" decoder)

Data (one entry of the JSON's "sizes" per data set, each measured with every section below):
  synthetic   (default) the synthetic GOT-10k-layout dataset (JPEG quality 90) for every --textures x --sizes,
              texture-major (default textured then smooth, each at 640x360 1280x720 1920x1080; --quick:
              textured 640x360), generated once into <data-root>/bench-got10k-<texture>-WxH (--data-root
              default: the user cache directory, $TRACKING_CACHE_DIR or ~/.cache/tracking; a non-default
              --sequences/--frames adds a suffix). "textured" frames (fine surface texture + per-frame sensor
              noise, ~2.2-2.4 bits per pixel) are as heavy to decode as real tracking footage (1-3 bits per
              pixel); "smooth" ones (~0.8 bits per pixel) decode ~2.5x faster and flatter every loader.
  --dataset   got10k or lasot: the real dataset at --data-root (with --dataset, --data-root is that dataset's
              root; default its configured root: $TRACKING_GOT10K_ROOT / $TRACKING_LASOT_ROOT or the settings
              file), one entry named after it with the frames' native sizes (GOT-10k: split "train"; LaSOT:
              every sequence found, split None). --sizes, --textures, --sequences and --frames do not apply.
              A missing or empty root is a one-line error.
Every entry reports its data: bits_per_pixel = mean over the timed frames of file bytes * 8 / (width * height)
(width and height from the JPEG header), with its min and max, and the mean frame size (the table shows the
bits per pixel next to the size). Every measurement of one entry uses the same sampler (seed 0), hence the same
sequences and frames for sample i; every loader consumes samples [0, (warm-up + batches) * batch size) and times
the same ones.

Sections (per entry):
  decode      the floor: decoding exactly the frames of the timed samples (6 per sample) from bytes in memory,
              cv2.imdecode in the main thread and in --workers threads (ThreadPoolExecutor; cv2 releases the
              GIL), and DALI's decoder (fn.decoders.image over external_source bytes) at 1 and --workers
              threads when nvidia.dali imports: the CPU decoder, or with --dali-device gpu the "mixed" decoder
              on GPU 0, timed until the GPU has finished (harness/decode.py).
  baseline    a pytracking-style loader (harness/baseline.py, our re-implementation of what pytracking's ltr
              does per DiMP sample: cv2.imread, integer-rounded crop + copyMakeBorder(REPLICATE) + cv2.resize,
              per-frame torch float conversion/brightness/normalisation, a Python perturbation loop per IoU
              proposal, torch Gaussian labels, stack along dim 1) in a torch DataLoader with 0 and --workers
              workers.
  opencv      the OpenCV backend (loaders.opencv) through build_loader(backend="opencv") with 0 and --workers
              workers.
  dali        build_loader(backend="dali", device=--dali-device) with 1 and --workers CPU threads, when
              loaders.dali imports (else every row is "skipped" with the reason); rows "dali cpu, ..." or
              "dali gpu, ...". --dali-device gpu (default cpu) needs a CUDA device that DALI sees (else a
              one-line error before anything runs).
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
ratio_to_decode: samples/s over the decode floor of the same decoder (and DALI device) at --workers threads;
ratio_to_baseline: over the pytracking-style baseline at the same parallelism (in-process = 1 worker/thread,
N workers = N threads); the *_cpu ratios compare samples per CPU-second instead.
CPU time (harness/monitor.py, psutil) is user + system time of this process and its live descendants (all
threads) over the timed window; rows also report the cores this process tree used and the cores other
processes kept busy meanwhile (other_load_cores, from the machine-wide CPU times): on a shared machine, trust
rows with other_load_cores ~ 0 and the per-CPU rates. Memory: peak over the pass of the summed PSS (and RSS)
of this process and its descendants, polled by a thread (RSS every 0.1 s, PSS every 0.5 s; PSS counts pages
shared after fork once, RSS double-counts them); where PSS is unavailable (not Linux), RSS only; where psutil
cannot read memory at all, getrusage maxima (lifetime, not per pass). GPU memory is not measured. The JSON's
"machine" is the description every benchmark writes (harness/machine.py).

JSON: "settings", then "sizes": one entry per data set, in run order, with name ("textured 640x360", "got10k"),
source ("synthetic" or the dataset key), texture (null for a real dataset), size (WxH; a real dataset's mean
frame size, rounded), data (root, bits_per_pixel{,_min,_max}, mean_width/height, frame_sizes, mean_jpeg_kb,
...) and one key per section.
Absolute numbers on a shared machine are noise; ratios within one run are the result.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time


_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/ and loaders/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/, also when this file is imported by path (tests)

from harness import cli, machine, monitor  # noqa: E402
from harness.baseline import build_baseline_loader  # noqa: E402
from harness.bench_data import (DATASETS, DEFAULT_FRAMES, DEFAULT_SEQUENCES, FRAMES_PER_SAMPLE,  # noqa: E402
                                BenchData, data_description, dataset_root, parse_size, prepare_dataset,
                                prepare_synthetic)
from harness.decode import cv2_decode_pass, dali_decode_pass  # noqa: E402
from harness.profile import profile_baseline, profile_opencv  # noqa: E402
from harness.startup import epoch_startup  # noqa: E402
from harness.report import print_table  # noqa: E402
from harness.timing import Config, run_round_robin, summarise, time_loader  # noqa: E402

from tracking.data.roots import cache_dir  # noqa: E402

TEXTURES = ("textured", "smooth")  # tracking.data.synthetic.SyntheticSpec.texture
QUICK = {"startup_epochs": 2, "textures": ["textured"], "sizes": ["640x360"], "batches": 8, "repeats": 1,
         "profile_samples": 5}
FULL = {"startup_epochs": 5, "textures": ["textured", "smooth"], "sizes": ["640x360", "1280x720", "1920x1080"],
        "batches": 20, "repeats": 3, "profile_samples": 20}
LOADER_BACKENDS = ("baseline", "opencv", "dali")
DALI_DEVICES = ("cpu", "gpu")


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


def dali_gpu_error() -> str | None:
    """Why DALI cannot run on a GPU here (None: it sees at least one CUDA device)."""
    reason = dali_import_error()
    if reason is not None:
        return reason
    try:
        from nvidia.dali.backend import GetCUDADeviceCount

        count = GetCUDADeviceCount()
    except Exception as exc:  # noqa: BLE001 - any failure means: no GPU for DALI
        return f"DALI cannot count CUDA devices: {type(exc).__name__}: {exc}"
    return None if count > 0 else "DALI sees no CUDA device (nvidia.dali.backend.GetCUDADeviceCount() == 0)"


def our_loader(backend: str, sd: BenchData, processing, batch_size: int, workers: int, dali_device: str = "cpu",
               images: str = "uint8", decode: str = "auto"):
    """A function building our loader `backend` ("opencv", or "dali" on `dali_device` with `workers` CPU
    threads) over the entry's dataset, seed 0, one epoch = the sampler's samples, yielding `images` batches
    ("uint8": raw, as the trainer takes them to normalise on its device; "float": normalised in this process)
    decoded per `decode` (LoaderConfig.decode). The only use of loaders.api here."""
    from loaders.api import LoaderConfig, build_loader

    device = {"device": dali_device} if backend == "dali" else {}
    cfg = LoaderConfig(backend=backend, batch_size=batch_size, workers=workers, samples_per_epoch=len(sd.sampler),
                       seed=0, images=images, decode=decode, **device)
    return lambda: build_loader(cfg, [sd.dataset], processing)


def loader_configs(sd: BenchData, args, processing) -> list[Config]:
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
    variants = [(0, "uint8", "reduced"), (N, "uint8", "reduced"), (N, "float", "reduced"), (N, "uint8", "full")]
    for workers, images, decode in variants:
        run = None if "opencv" not in args.backends else timed(
            our_loader("opencv", sd, processing, B, workers, images=images, decode=decode))
        name = f"opencv, {workers} workers" + (", float (normalised here)" if images == "float" else "") + (
            ", full-size decode" if decode == "full" else "")
        configs.append(Config("opencv", name, {"backend": "opencv", "workers": workers, "parallelism": max(1, workers),
                                               "images": images, "decode": decode},
                              run, "not selected (--backends)"))
    dali_reason = "not selected (--backends)" if "dali" not in args.backends else dali_loader_import_error()
    device = args.dali_device
    for threads in sorted({1, N}):
        run = None if dali_reason is not None else timed(
            our_loader("dali", sd, processing, B, threads, device, images="uint8", decode="full"))
        configs.append(Config("dali", f"dali {device}, {threads} thread{'s' * (threads > 1)}",
                              {"backend": "dali", "device": device, "threads": threads, "parallelism": threads,
                               "images": "uint8", "decode": "full"},
                              run, dali_reason))
    return configs


def decode_configs(sd: BenchData, args) -> list[Config]:
    group = args.batch_size * FRAMES_PER_SAMPLE
    N = args.workers
    configs = []
    for threads in sorted({1, N}):
        configs.append(Config("decode", f"cv2.imdecode, {threads} thread{'s' * (threads > 1)}",
                              {"decoder": "cv2", "threads": threads},
                              lambda t=threads: cv2_decode_pass(sd.data, group, t, args.duration, FRAMES_PER_SAMPLE)))
    reason = "not selected (--backends)" if "dali" not in args.backends else dali_import_error()
    device = args.dali_device
    what = "decoders.image mixed" if device == "gpu" else "decoders.image"
    for threads in sorted({1, N}):
        run = None if reason else (
            lambda t=threads: dali_decode_pass(sd.data, group, t, args.duration, FRAMES_PER_SAMPLE, device))
        configs.append(Config("decode", f"dali {device} {what}, {threads} thread{'s' * (threads > 1)}",
                              {"decoder": "dali", "device": device, "threads": threads}, run, reason))
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


def summary(loader_rows: list[dict], workers: int) -> dict:
    """The issue's goals in one place: the fastest of our loaders at `workers` (uint8 batches) against the
    pytracking-style baseline at `workers` (goal >= 3x) and against the full-decode floor (cv2.imdecode of
    every frame in `workers` threads; goal >= 1x), and scaling()."""
    ours = [r for r in loader_rows if r["status"] == "ok" and r["backend"] in ("opencv", "dali")
            and r["parallelism"] == workers and r.get("images") == "uint8"]
    best = max(ours, key=lambda r: r["samples_per_s"], default=None)
    out: dict = {"scaling": scaling(loader_rows, workers)}
    if best is not None:
        out.update(best=best["name"], samples_per_s=best["samples_per_s"],
                   ratio_to_baseline=best.get("ratio_to_baseline"), ratio_to_decode=best.get("ratio_to_decode"),
                   ratio_to_baseline_cpu=best.get("ratio_to_baseline_cpu"),
                   ratio_to_decode_cpu=best.get("ratio_to_decode_cpu"))
    return out


def scaling(loader_rows: list[dict], workers: int) -> dict | None:
    """How the OpenCV loader (uint8 batches, reduced decode) scales from 0 to `workers` workers: the ratio of
    samples/s (goal >= 0.9 * workers) and of samples per CPU-second (goal >= 0.9: parallelism costs little)."""
    rows = {r["workers"]: r for r in loader_rows if r["status"] == "ok" and r["backend"] == "opencv"
            and r.get("images") == "uint8" and r.get("decode") == "reduced"}
    if 0 not in rows or workers not in rows:
        return None
    inline, parallel = rows[0], rows[workers]
    return {"workers": workers,
            "speedup": round(parallel["samples_per_s"] / inline["samples_per_s"], 3),
            "cpu_efficiency": round(parallel["samples_per_cpu_s"] / inline["samples_per_cpu_s"], 3)
            if parallel.get("samples_per_cpu_s") and inline.get("samples_per_cpu_s") else None}


def end_to_end_configs(sd: BenchData, args, processing, loader_rows: list[dict]) -> tuple[list[Config], dict]:
    N = args.workers
    candidates = [r for r in loader_rows if r["status"] == "ok" and r["backend"] in ("opencv", "dali")
                  and r["parallelism"] == N]
    if not candidates:
        reason = "no opencv or dali loader measured at --workers"
        return [Config("end_to_end", "none", {"consumer": "none"}, None, reason)], {"backend": None}
    best = max(candidates, key=lambda r: r["samples_per_s"])
    make = our_loader(best["backend"], sd, processing, args.batch_size, N, args.dali_device,
                      images=best["images"], decode=best["decode"])

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


def startup_rows(sd: BenchData, args, processing, log) -> dict:
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/loader_speed.json", help="JSON output path")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK} unless given explicitly (full: {FULL})")
    parser.add_argument("--textures", nargs="+", default=None, choices=TEXTURES,
                        help="synthetic frame textures, measured in this order (default textured smooth; quick "
                             "textured): textured ~2.3 bits per pixel like real footage, smooth ~0.8")
    parser.add_argument("--sizes", nargs="+", default=None,
                        help="synthetic frame sizes WxH (default 640x360 1280x720 1920x1080; quick 640x360)")
    parser.add_argument("--dataset", choices=DATASETS, default=None,
                        help="measure on this real dataset at --data-root (GOT-10k train split / every LaSOT "
                             "sequence, native frame sizes) instead of the synthetic data")
    parser.add_argument("--data-root", default=None,
                        help="synthetic data: the directory holding one bench-got10k-<texture>-WxH dataset per "
                             "texture and size (default: the user cache directory); with --dataset: the root of "
                             "that dataset (default: its configured root, e.g. $TRACKING_GOT10K_ROOT)")
    parser.add_argument("--backends", nargs="+", default=list(LOADER_BACKENDS), choices=LOADER_BACKENDS,
                        help="loaders to measure (dali also selects the DALI decode rows); cv2 decode always runs")
    parser.add_argument("--dali-device", choices=DALI_DEVICES, default="cpu",
                        help="device of the DALI loader rows; gpu also makes the DALI decode rows use the "
                             "'mixed' (nvJPEG) decoder on GPU 0 (default cpu)")
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
    parser.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES,
                        help="synthetic sequences per texture and size")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per synthetic sequence")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.dataset is not None:
        given = [f"--{k}" for k in ("sizes", "textures") if getattr(args, k) is not None]
        if given:
            parser.error(f"{' and '.join(given)} apply to the synthetic data only, not to --dataset {args.dataset}")
        args.sizes, args.textures = [], []
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.batch_size < 1 or args.workers < 1 or args.batches < 1 or args.repeats < 1:
        parser.error("--batch-size, --workers, --batches and --repeats must be >= 1")
    if args.sequences < 1 or args.frames < 1:
        parser.error("--sequences and --frames must be >= 1")
    for size in args.sizes:
        try:
            parse_size(size)
        except ValueError:
            parser.error(f"--sizes: {size!r} is not WxH (positive integers, e.g. 640x360)")
    args.textures = list(dict.fromkeys(args.textures))  # each once, in the given order
    if args.dali_device == "gpu" and "dali" in args.backends:
        reason = dali_gpu_error()
        if reason is not None:
            parser.error(f"--dali-device gpu: {reason}; use --dali-device cpu")
    cli.check_out(parser, args.out)
    if args.dataset is not None:
        args.data_root = dataset_root(parser, args)
    else:
        args.data_root = os.path.abspath(os.path.expanduser(args.data_root or cache_dir()))
        if os.path.exists(args.data_root) and not os.path.isdir(args.data_root):
            parser.error(f"--data-root {args.data_root} is not a directory")
    return args


def measure(sd: BenchData, args, processing, log) -> dict:
    """Every section on one data set: its entry of report["sizes"]."""
    label = sd.name
    entry = {"name": sd.name, "source": sd.source, "texture": sd.texture, "size": sd.size,
             "data": data_description(sd, args)}
    log(f"[{label}] {sd.stats['bits_per_pixel']:.2f} bits per pixel, mean frame {sd.size}, "
        f"{sd.stats['mean_jpeg_kb']:.0f} KiB")
    decode = decode_configs(sd, args)
    log(f"[{label}] decode floor over {len(sd.frames)} frames")
    run_round_robin(decode, args.repeats, log)
    entry["decode"] = [summarise(c, FRAMES_PER_SAMPLE) for c in decode]
    loaders = loader_configs(sd, args, processing)
    log(f"[{label}] loaders")
    run_round_robin(loaders, args.repeats, log)
    rows = [summarise(c, FRAMES_PER_SAMPLE) for c in loaders]
    add_ratios(entry["decode"], rows, args.workers)
    for section in ("baseline", "opencv", "dali"):
        entry[section] = [r for r, c in zip(rows, loaders) if c.section == section]
    entry["summary"] = summary(rows, args.workers)
    e2e, info = end_to_end_configs(sd, args, processing, rows)
    log(f"[{label}] end to end ({info['backend']})")
    run_round_robin(e2e, args.repeats, log)
    e2e_rows = [summarise(c, FRAMES_PER_SAMPLE) for c in e2e]
    finish_end_to_end(e2e_rows, args.batch_size)
    entry["end_to_end"] = {**info, "rows": e2e_rows}
    if args.startup_epochs > 0 and "opencv" in args.backends:
        log(f"[{label}] epoch start-up")
        entry["startup"] = startup_rows(sd, args, processing, log)
    entry["profile"] = {}
    if args.profile_samples > 0:
        log(f"[{label}] profile")
        entry["profile"]["opencv"] = profile_opencv(sd.sampler, processing, args.profile_samples, args.batch_size)
        entry["profile"]["pytracking_style"] = profile_baseline(sd.sampler, processing, args.profile_samples,
                                                                args.batch_size)
    else:
        entry["profile"]["opencv"] = {"status": "skipped", "reason": "--profile-samples 0"}
    return entry


def cuda_device_name() -> str | None:
    """The name of GPU 0 as torch sees it (None without CUDA torch): recorded for --dali-device gpu."""
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - informational only
        return None


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
        "consumer_ms": args.consumer_ms, "dataset": args.dataset, "data_root": args.data_root,
        "textures": args.textures, "sizes": args.sizes, "backends": args.backends, "dali_device": args.dali_device,
        "quick": args.quick, "frames_per_sample": FRAMES_PER_SAMPLE, "output_size": processing.output_size,
        "memory": monitor.memory_description()}
    if args.dali_device == "gpu":
        report["settings"]["cuda_device"] = cuda_device_name()
    report["sizes"] = []
    if args.dataset is not None:
        report["sizes"].append(measure(prepare_dataset(args, log), args, processing, log))
    for texture in args.textures:
        for size in args.sizes:
            report["sizes"].append(measure(prepare_synthetic(texture, size, args, log), args, processing, log))
    machine.finish(report)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(report)
    cli.write_json(args.out, report)
    print(f"JSON: {args.out} ({report['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
