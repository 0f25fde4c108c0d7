"""Training-loader throughput on DiMP samples (3 train + 3 test frames -> 288x288 crops), all backends in one run.

    python benchmarks/loader_speed.py --out benchmarks/results/loader_speed.json
    python benchmarks/loader_speed.py --quick                      # 640x360 only, few batches, 1 repeat (< 60 s)
    python benchmarks/loader_speed.py --sizes 1280x720 --backends reference dali --workers 2 --repeats 5

Data: the synthetic GOT-10k-layout dataset (JPEG quality 90) at each frame size, generated once into
<data-root>/bench-got10k-WxH (default data root ~/.cache/tracking; a non-default --sequences/--frames adds a
suffix). Every measurement of one size uses the same sampler (seed 0), hence the same sequences and frames for
sample i; every loader consumes samples [0, (warm-up + batches) * batch size) and times the same ones.

Sections (per frame size):
  decode      the floor: decoding exactly the frames of the timed samples (6 per sample) from bytes in memory,
              cv2.imdecode in the main thread and in --workers threads (ThreadPoolExecutor; cv2 releases the
              GIL), and DALI's CPU decoder (fn.decoders.image over external_source bytes) at 1 and --workers
              threads when nvidia.dali imports.
  baseline    a pytracking-style loader (our re-implementation of what pytracking's ltr does per DiMP sample:
              cv2.imread, integer-rounded crop + copyMakeBorder(REPLICATE) + cv2.resize, per-frame torch float
              conversion/brightness/normalisation, a Python perturbation loop per IoU proposal, torch Gaussian
              labels, stack along dim 1) in a torch DataLoader with 0 and --workers workers.
  reference   loaders.reference through build_loader(backend="reference") with 0 and --workers workers.
  dali        build_loader(backend="dali", device="cpu") with 1 and --workers CPU threads, when loaders.dali
              imports (else every row is "skipped" with the reason).
  end_to_end  the fastest of reference/dali (at --workers): a consumer doing nothing and consumers sleeping
              --consumer-ms per batch. With overlap, samples/s stays ~ min(loader rate, consumer rate).
  profile     one process, one cv2/torch thread: where the time of one sample goes, in ms, for the reference
              loader (record, read, decode, warpAffine, normalise, proposals, labels, collate) and the
              pytracking-style baseline.

Timing: each pass builds a fresh loader; the first 1 + --workers batches (worker start-up, pipeline fill) are
not timed, then --batches batches are (or fewer when --duration seconds are reached). Passes are interleaved
round-robin over the configurations of a section (so load changes on a shared machine hit all of them) and the
median of --repeats passes is reported. ratio_to_decode: samples/s over the decode floor of the same decoder at
--workers threads; ratio_to_baseline: over the pytracking-style baseline at the same parallelism (in-process
= 1 worker/thread, N workers = N threads); the *_cpu ratios compare samples per CPU-second instead. CPU time
is utime + stime of this process and its live descendants (all threads) over the timed window, from /proc; rows
also report the cores this process tree used and the cores other processes kept busy meanwhile
(other_load_cores, from /proc/stat): on a shared machine, trust rows with other_load_cores ~ 0 and the per-CPU
rates. Memory: peak over the pass of the summed PSS (and RSS) of this process and its descendants, polled
from /proc (RSS every 0.1 s, PSS every 0.5 s; PSS counts pages shared after fork once, RSS double-counts them);
where /proc is unavailable, getrusage maxima (lifetime, not per pass).
Absolute numbers on a shared machine are noise; ratios within one run are the result.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import importlib
import json
import math
import os
import platform
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/ and loaders/, not another installed copy

FRAMES_PER_SAMPLE = 6  # DiMP: 3 train + 3 test
DEFAULT_SEQUENCES, DEFAULT_FRAMES = 12, 100
QUICK = {"sizes": ["640x360"], "batches": 8, "repeats": 1, "profile_samples": 5}
FULL = {"sizes": ["640x360", "1280x720"], "batches": 20, "repeats": 3, "profile_samples": 20}
LOADER_BACKENDS = ("baseline", "reference", "dali")


# --------------------------------------------------------------------------------------------- memory


def _descendants(pid: int) -> list[int]:
    """Live descendant pids (Linux /proc/<pid>/task/<tid>/children; [] elsewhere)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(c) for c in f.read().split()]
            except OSError:
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def _statm_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


class MemoryMonitor:
    """Peak summed RSS and PSS (MiB) of this process and its descendants while active (a polling thread:
    RSS from /proc/<pid>/statm every `interval` s; PSS from smaps_rollup, which costs ~2.5 ms per large
    process, every `pss_every` polls)."""

    available = os.path.exists(f"/proc/{os.getpid()}/smaps_rollup")

    def __init__(self, interval: float = 0.1, pss_every: int = 5) -> None:
        self.interval, self.pss_every = interval, pss_every
        self.peak_rss = self.peak_pss = 0
        self._polls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, pss: bool) -> None:
        me = os.getpid()
        pids = [me] + _descendants(me)
        self.peak_rss = max(self.peak_rss, sum(_statm_rss_kb(p) for p in pids))
        if pss:
            self.peak_pss = max(self.peak_pss, sum(_pss_kb(p) for p in pids))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._polls += 1
            self._poll(self._polls % self.pss_every == 0)

    def __enter__(self) -> MemoryMonitor:
        if self.available:
            self._poll(True)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._poll(True)

    def result(self) -> dict:
        if self.available:
            return {"peak_pss_mib": round(self.peak_pss / 1024, 1), "peak_rss_mib": round(self.peak_rss / 1024, 1)}
        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {"peak_pss_mib": None, "peak_rss_mib": round((self_kb + children_kb) / 1024, 1),
                "memory_note": "getrusage lifetime maxima (self + largest child), not per pass"}


# --------------------------------------------------------------------------------------------- cpu time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime, all threads
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_busy_s() -> float | None:
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / _TICK  # user nice system irq softirq steal
    except (OSError, IndexError, ValueError):
        return None


class Clock:
    """Wall time, CPU time of this process tree (all threads; live descendants) and machine-wide busy time,
    so a pass can report samples per CPU-second and how many cores other processes were using meanwhile."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        me = os.getpid()
        self.cpu = sum(_process_cpu_s(p) for p in [me] + _descendants(me)) if os.path.isdir("/proc/self") else None
        if self.cpu is None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.cpu = usage.ru_utime + usage.ru_stime
        self.busy = _machine_busy_s()

    def stats(self, start: Clock, samples: int) -> dict:
        wall = self.wall - start.wall
        cpu = self.cpu - start.cpu
        out = {"samples_per_s": samples / wall, "timed_samples": samples, "wall_s": wall,
               "samples_per_cpu_s": samples / cpu if cpu > 0 else None, "cores_used": cpu / wall}
        if self.busy is not None and start.busy is not None:
            out["other_load_cores"] = max(0.0, (self.busy - start.busy - cpu) / wall)
        return out


# --------------------------------------------------------------------------------------------- timing


@dataclass
class Config:
    """One row of a section: `run_pass()` does one untimed warm-up + one timed pass and returns its stats."""

    section: str
    name: str
    params: dict
    run_pass: Callable[[], dict] | None
    skip_reason: str | None = None
    passes: list[dict] = field(default_factory=list)
    error: str | None = None


def run_round_robin(configs: list[Config], repeats: int, log: Callable[[str], None]) -> None:
    """`repeats` passes of every runnable config, interleaved: pass r of every config before pass r + 1."""
    for r in range(repeats):
        for cfg in configs:
            if cfg.run_pass is None or cfg.error is not None:
                continue
            try:
                with MemoryMonitor() as mem:
                    stats = cfg.run_pass()
                stats.update(mem.result())
            except Exception as exc:  # a backend under development must not sink the whole benchmark
                cfg.error = f"{type(exc).__name__}: {exc}"
                log(f"  {cfg.section}/{cfg.name}: ERROR {cfg.error}")
                continue
            cfg.passes.append(stats)
            log(f"  {cfg.section}/{cfg.name} pass {r + 1}/{repeats}: {stats['samples_per_s']:.1f} samples/s")


def summarise(cfg: Config) -> dict:
    row = {"name": cfg.name, **cfg.params}
    if cfg.run_pass is None:
        return {**row, "status": "skipped", "reason": cfg.skip_reason}
    if cfg.error is not None or not cfg.passes:
        return {**row, "status": "error", "reason": cfg.error or "no pass completed"}
    samples = statistics.median(p["samples_per_s"] for p in cfg.passes)
    row.update(status="ok", samples_per_s=round(samples, 2), frames_per_s=round(samples * FRAMES_PER_SAMPLE, 1),
               runs=[round(p["samples_per_s"], 2) for p in cfg.passes],
               timed_samples=round(cfg.passes[0]["timed_samples"]))
    per_cpu = [p["samples_per_cpu_s"] for p in cfg.passes if p.get("samples_per_cpu_s")]
    row["samples_per_cpu_s"] = round(statistics.median(per_cpu), 2) if per_cpu else None
    row["cores_used"] = round(statistics.median(p["cores_used"] for p in cfg.passes), 2)
    other = [p["other_load_cores"] for p in cfg.passes if "other_load_cores" in p]
    row["other_load_cores"] = round(statistics.median(other), 2) if other else None
    row["runs_per_cpu_s"] = [round(p["samples_per_cpu_s"], 2) if p.get("samples_per_cpu_s") else None
                             for p in cfg.passes]
    pss = [p["peak_pss_mib"] for p in cfg.passes if p.get("peak_pss_mib") is not None]
    row["peak_pss_mib"] = max(pss) if pss else None
    row["peak_rss_mib"] = max(p["peak_rss_mib"] for p in cfg.passes)
    for key in ("consumer_ms", "memory_note"):
        if key in cfg.passes[0]:
            row[key] = cfg.passes[0][key]
    return row


def time_loader(make: Callable[[], object], batch_size: int, warmup: int, batches: int, duration: float | None,
                consumer_s: float = 0.0) -> dict:
    """Build a loader, take `warmup` batches untimed, then time `batches` batches (stopping early after
    `duration` s), with a consumer sleeping `consumer_s` per batch; closes iterator and loader."""
    loader = make()
    iterator = iter(loader)
    try:
        for _ in range(warmup):
            next(iterator)
        timed = 0
        start = Clock()
        for _ in range(batches):
            batch = next(iterator)
            del batch
            if consumer_s:
                time.sleep(consumer_s)
            timed += 1
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        stats = Clock().stats(start, timed * batch_size)
    finally:
        close_iterator(iterator)
        close = getattr(loader, "close", None)
        if close is not None:
            close()
    return stats


def close_iterator(iterator) -> None:
    """Stop a loader iterator's workers now (generator close, or a DataLoader iterator's shutdown)."""
    if hasattr(iterator, "close"):
        iterator.close()
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


# --------------------------------------------------------------------------------------------- decode floor


def cv2_decode_pass(data: list[np.ndarray], group: int, threads: int, duration: float | None) -> dict:
    """Decode every buffer with cv2.imdecode, in this thread (threads=1) or a pool of `threads` threads;
    the first `group` buffers are decoded once untimed first (warm-up)."""
    import cv2

    def decode(buffer: np.ndarray) -> int:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError("cv2.imdecode failed")
        return image.shape[0]

    def decode_all(buffers: list[np.ndarray], pool) -> None:
        if pool is None:
            for b in buffers:
                decode(b)
        else:
            for _ in pool.map(decode, buffers):
                pass

    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        decode_all(data[:group], pool)
        done = 0
        start = Clock()
        for first in range(0, len(data), group):
            chunk = data[first:first + group]
            decode_all(chunk, pool)
            done += len(chunk)
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        end = Clock()
    finally:
        if pool is not None:
            pool.shutdown()
    return end.stats(start, done / FRAMES_PER_SAMPLE)


def dali_decode_pass(data: list[np.ndarray], group: int, threads: int, duration: float | None) -> dict:
    """DALI CPU decoding of the same buffers, `group` per pipeline batch, over an external_source."""
    from nvidia.dali import fn, pipeline_def, types

    class Source:
        def __init__(self) -> None:
            self.position = 0

        def __call__(self) -> list[np.ndarray]:
            out = [data[(self.position + k) % len(data)] for k in range(group)]
            self.position += group
            return out

    @pipeline_def(batch_size=group, num_threads=threads, device_id=None, prefetch_queue_depth=1)
    def decoder():
        encoded = fn.external_source(source=Source(), batch=True, dtype=types.UINT8)
        return fn.decoders.image(encoded, device="cpu", output_type=types.RGB)

    pipe = decoder()
    pipe.build()
    try:
        pipe.run()  # warm-up: the first batch
        runs = max(1, len(data) // group)
        done = 0
        start = Clock()
        for _ in range(runs):
            (images,) = pipe.run()
            done += len(images)
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        end = Clock()
    finally:
        del pipe
    return end.stats(start, done / FRAMES_PER_SAMPLE)


# --------------------------------------------------------------------------------------------- baseline
# A pytracking-style DiMP sample, written from a description of what pytracking's ltr does (not its code):
# everything per frame and per proposal in Python, torch ops on small tensors, a padded crop at the integer
# crop size then a resize. Only for comparison; the geometry is not the reference loader's.

class _NoTimer:
    def lap(self, name: str) -> None:
        pass


class StageTimer:
    """Accumulates the time between consecutive lap() calls under the given stage names (seconds)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.last = time.perf_counter()

    def reset(self) -> None:
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.totals[name] = self.totals.get(name, 0.0) + now - self.last
        self.last = now


def _pt_jitter(box, center_factor: float, scale_factor: float, gen):
    import torch

    size = box[2:4] * torch.exp(torch.randn(2, generator=gen) * scale_factor)
    max_offset = torch.sqrt(size.prod()) * center_factor
    centre = box[0:2] + 0.5 * box[2:4] + max_offset * (torch.rand(2, generator=gen) - 0.5)
    return torch.cat((centre - 0.5 * size, size))


def _pt_crop(image: np.ndarray, jittered, box, factor: float, output: int, timer) -> tuple[np.ndarray, object]:
    """Square crop of side ceil(sqrt(w*h) * factor) around the jittered box, integer-rounded corner, the
    out-of-image part replicated with copyMakeBorder, resized to output x output; box in crop coordinates."""
    import cv2
    import torch

    x, y, w, h = jittered.tolist()
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError("box too small to crop")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    H, W = image.shape[:2]
    if x2 <= 0 or y2 <= 0 or x1 >= W or y1 >= H:  # window entirely outside: replicate the nearest pixel
        xs, ys = min(max(x1, 0), W - 1), min(max(y1, 0), H - 1)
        patch, pads = image[ys:ys + 1, xs:xs + 1], (0, side - 1, 0, side - 1)
    else:
        patch = image[max(y1, 0):min(y2, H), max(x1, 0):min(x2, W)]
        pads = (max(0, -y1), max(0, y2 - H), max(0, -x1), max(0, x2 - W))
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    crop = cv2.resize(patch, (output, output))
    timer.lap("crop")
    scale = output / side
    centre = (box[0:2] + 0.5 * box[2:4] - torch.tensor([x1 + side * 0.5, y1 + side * 0.5])) * scale + output * 0.5
    size = box[2:4] * scale
    return crop, torch.cat((centre - 0.5 * size, size))


def _pt_iou(a, b):
    import torch

    tl = torch.max(a[:2], b[:2])
    br = torch.min(a[:2] + a[2:], b[:2] + b[2:])
    inter = (br - tl).clamp(min=0).prod()
    return inter / (a[2:].prod() + b[2:].prod() - inter)


def _pt_proposal(box, sigma_factor: float, min_iou: float, rng: random.Random):
    """Perturb `box` (xywh tensor) until the IoU exceeds min_iou, shrinking the noise 10% after each miss."""
    import torch

    cx, cy = float(box[0] + 0.5 * box[2]), float(box[1] + 0.5 * box[3])
    w, h = float(box[2]), float(box[3])
    sigma = sigma_factor * math.sqrt(w * h)
    candidate, iou = box, torch.tensor(1.0)
    for _ in range(100):
        pw = rng.gauss(w, sigma)
        ph = rng.gauss(h, sigma)
        if pw <= 1:
            pw = w * rng.uniform(0.15, 0.5)
        if ph <= 1:
            ph = h * rng.uniform(0.15, 0.5)
        pcx, pcy = rng.gauss(cx, sigma), rng.gauss(cy, sigma)
        candidate = torch.tensor([pcx - 0.5 * pw, pcy - 0.5 * ph, pw, ph])
        iou = _pt_iou(box, candidate)
        if iou > min_iou:
            break
        sigma *= 0.9
    return candidate, iou


def _pt_labels(boxes, output: int, feature: int, kernel: int, sigma_factor: float):
    """[n, L, L] Gaussian labels of n crop-coordinate boxes on the filter grid (torch, separable)."""
    import torch

    stride = output / feature
    size = feature + (kernel + 1) % 2
    grid = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * stride + output / 2
    centres = boxes[:, 0:2] + 0.5 * boxes[:, 2:4]
    sigma = sigma_factor * output
    gx = torch.exp(-0.5 * ((grid[None, :] - centres[:, 0:1]) / sigma) ** 2)
    gy = torch.exp(-0.5 * ((grid[None, :] - centres[:, 1:2]) / sigma) ** 2)
    return gy[:, :, None] * gx[:, None, :]


class PytrackingStyleSamples:
    """Map-style dataset: sample i uses the frames the shared sampler picks for i; the rest is pytracking-style."""

    def __init__(self, sampler, processing, seed: int = 0) -> None:
        self.sampler, self.processing, self.seed = sampler, processing, seed

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index, _NoTimer())

    def sample(self, index: int, timer) -> dict:
        import cv2
        import torch

        cfg = self.processing
        spec = self.sampler.sample(index, 0)
        seq = self.sampler.sequence(spec)
        rng = random.Random(self.seed * 1_000_003 + index)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
        std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
        grayscale = rng.random() < cfg.grayscale_prob
        timer.lap("record")
        out = {}
        for mode, name, frame_ids in ((0, "train", spec.train_frames), (1, "test", spec.test_frames)):
            brightness = rng.uniform(1 - cfg.brightness_jitter, 1 + cfg.brightness_jitter)
            images, boxes = [], []
            for fid in frame_ids:
                image = cv2.imread(seq.frames[int(fid)])
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                if grayscale:
                    image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
                timer.lap("decode")
                box = torch.tensor(seq.boxes[int(fid)], dtype=torch.float32)
                jittered = _pt_jitter(box, cfg.center_jitter[mode], cfg.scale_jitter[mode], gen)
                timer.lap("record")
                crop, crop_box = _pt_crop(image, jittered, box, cfg.search_area_factor, cfg.output_size, timer)
                tensor = torch.from_numpy(crop).permute(2, 0, 1).float().mul(brightness / 255.0).clamp(0.0, 1.0)
                images.append(tensor.sub(mean).div(std))
                boxes.append(crop_box)
                timer.lap("normalise")
            out[f"{name}_images"] = torch.stack(images)
            out[f"{name}_anno"] = torch.stack(boxes)
            timer.lap("normalise")
        proposals, ious = [], []
        for box in out["test_anno"]:
            drawn = [_pt_proposal(box, rng.choice(cfg.proposal_sigma_factors), cfg.proposal_min_iou, rng)
                     for _ in range(cfg.num_proposals)]
            proposals.append(torch.stack([p for p, _ in drawn]))
            ious.append(torch.stack([i for _, i in drawn]))
        out["test_proposals"], out["proposal_iou"] = torch.stack(proposals), torch.stack(ious)
        timer.lap("proposals")
        for name in ("train", "test"):
            out[f"{name}_label"] = _pt_labels(out[f"{name}_anno"], cfg.output_size, cfg.label_feature_size,
                                              cfg.label_kernel_size, cfg.label_sigma_factor)
        timer.lap("labels")
        return out


def stack1_collate(samples: list[dict]) -> dict:
    import torch

    return {key: torch.stack([s[key] for s in samples], 1) for key in samples[0]}


def build_baseline_loader(sampler, processing, batch_size: int, workers: int):
    import torch

    return torch.utils.data.DataLoader(PytrackingStyleSamples(sampler, processing), batch_size=batch_size,
                                       shuffle=False, num_workers=workers, collate_fn=stack1_collate,
                                       drop_last=True)


# --------------------------------------------------------------------------------------------- profile


def profile_reference(sampler, processing, samples: int, batch_size: int) -> dict:
    """Mean ms per sample of each stage of the reference loader, in this process with one thread."""
    import cv2

    from loaders.reference import collate_stack1, crop_frame, execute_record, finish_crop
    from tracking.data import geometry
    from tracking.data.processing import make_record

    def one(index: int, timer: StageTimer) -> dict:
        timer.reset()
        spec = sampler.sample(index, 0)
        record = make_record(sampler.sequence(spec), spec, processing, 0, 0, sampler.global_index(index))
        timer.lap("record")
        # proposals and labels again on the record's boxes, to split them out of make_record's time
        rng = np.random.default_rng(index)
        for box in record.test.boxes:
            geometry.sample_proposals(box, processing.num_proposals, processing.proposal_sigma_factors,
                                      processing.proposal_min_iou, rng)
        timer.lap("proposals")
        for frames in (record.train, record.test):
            centres = frames.boxes[:, :2] + frames.boxes[:, 2:] / 2
            np.stack([geometry.gaussian_label(c, processing.output_size, processing.label_feature_size,
                                              processing.label_kernel_size, processing.label_sigma_factor)
                      for c in centres]).astype(np.float32)
        timer.lap("labels")
        for frames in (record.train, record.test):
            for path, window in zip(frames.paths, frames.windows):
                data = np.fromfile(path, dtype=np.uint8)
                timer.lap("read")
                image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # BGR, as the reference loader keeps it
                timer.lap("decode")
                crop = crop_frame(image, window, record.output_size, record.padding)
                timer.lap("warpAffine")
                finish_crop(crop, record.grayscale, frames.brightness)
                timer.lap("normalise")
        sample = execute_record(record)  # the real thing, to collate (its time is not counted)
        timer.reset()
        return sample

    return _profile(one, samples, batch_size, collate_stack1, subtract={"record": ("proposals", "labels")})


def profile_baseline(sampler, processing, samples: int, batch_size: int) -> dict:
    dataset = PytrackingStyleSamples(sampler, processing)

    def one(index: int, timer: StageTimer) -> dict:
        timer.reset()
        return dataset.sample(index, timer)

    return _profile(one, samples, batch_size, stack1_collate, subtract={})


def _profile(one: Callable[[int, StageTimer], dict], samples: int, batch_size: int, collate,
             subtract: dict[str, tuple[str, ...]]) -> dict:
    import cv2
    import torch

    cv2_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)  # as in a loader worker: one core per sample
    torch.set_num_threads(1)
    try:
        one(0, StageTimer())  # warm-up
        timer = StageTimer()
        outputs = [one(i + 1, timer) for i in range(samples)]
        group = [outputs[i % len(outputs)] for i in range(batch_size)]
        collate(group)
        rounds = 5
        start = time.perf_counter()
        for _ in range(rounds):
            collate(group)
        timer.totals["collate"] = (time.perf_counter() - start) / (rounds * batch_size) * samples
    finally:
        cv2.setNumThreads(cv2_threads)
        torch.set_num_threads(torch_threads)
    totals = dict(timer.totals)
    for stage, parts in subtract.items():  # make_record includes proposals + labels, timed separately too
        totals[stage] = max(0.0, totals[stage] - sum(totals.get(p, 0.0) for p in parts))
    stages = {k: round(v / samples * 1e3, 3) for k, v in totals.items()}
    total = sum(stages.values())
    return {"samples": samples, "threads": 1, "stages_ms": stages, "total_ms": round(total, 3),
            "share": {k: round(v / total, 3) for k, v in stages.items()},
            "cpu_samples_per_s": round(1e3 / total, 1)}


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

    width, height = (int(v) for v in size.lower().split("x"))
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


def loader_configs(sd: SizeData, args, processing) -> list[Config]:
    from loaders.api import LoaderConfig, build_loader

    B, N, warmup = args.batch_size, args.workers, 1 + 2 * args.workers
    epoch = len(sd.sampler)
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
        cfg = LoaderConfig(backend="reference", batch_size=B, workers=workers, samples_per_epoch=epoch, seed=0)
        run = None if "reference" not in args.backends else timed(
            lambda c=cfg: build_loader(c, [sd.dataset], processing))
        configs.append(Config("reference", f"reference, {workers} workers",
                              {"backend": "reference", "workers": workers, "parallelism": max(1, workers)},
                              run, "not selected (--backends)"))
    dali_reason = "not selected (--backends)" if "dali" not in args.backends else dali_loader_import_error()
    for threads in sorted({1, N}):
        run = None
        if dali_reason is None:
            cfg = LoaderConfig(backend="dali", batch_size=B, workers=threads, device="cpu", samples_per_epoch=epoch,
                               seed=0)
            run = timed(lambda c=cfg: build_loader(c, [sd.dataset], processing))
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
                              lambda t=threads: cv2_decode_pass(sd.data, group, t, args.duration)))
    reason = "not selected (--backends)" if "dali" not in args.backends else dali_import_error()
    for threads in sorted({1, N}):
        run = None if reason else (lambda t=threads: dali_decode_pass(sd.data, group, t, args.duration))
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
    from loaders.api import LoaderConfig, build_loader

    N = args.workers
    candidates = [r for r in loader_rows if r["status"] == "ok" and r["backend"] in ("reference", "dali")
                  and r["parallelism"] == N]
    if not candidates:
        reason = "no reference or dali loader measured at --workers"
        return [Config("end_to_end", "none", {"consumer": "none"}, None, reason)], {"backend": None}
    best = max(candidates, key=lambda r: r["samples_per_s"])
    if best["backend"] == "dali":
        cfg = LoaderConfig(backend="dali", batch_size=args.batch_size, workers=N, device="cpu",
                           samples_per_epoch=len(sd.sampler), seed=0)
    else:
        cfg = LoaderConfig(backend="reference", batch_size=args.batch_size, workers=N,
                           samples_per_epoch=len(sd.sampler), seed=0)

    def run(consumer_s: float):
        def go():
            stats = time_loader(lambda: build_loader(cfg, [sd.dataset], processing), args.batch_size, 1 + N,
                                args.batches, args.duration, consumer_s)
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


# --------------------------------------------------------------------------------------------- report


def machine_info() -> dict:
    import cv2
    import torch

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    try:
        import nvidia.dali

        dali_version = nvidia.dali.__version__
    except Exception:
        dali_version = None
    return {
        "cpu": model, "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(), "cv2_threads": cv2.getNumThreads(),
        "python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
        "numpy": np.__version__, "opencv": cv2.__version__, "dali": dali_version,
        "loadavg_start": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(report: dict) -> None:
    """One line per configuration. samples/s and frames/s: wall-clock medians; /CPU-s: samples per CPU-second
    of this process tree; cores: CPU-s per wall-s used by it; other: cores busy with other processes meanwhile;
    x dec, x base: samples/s over the decode floor / the pytracking-style baseline (see the module docstring),
    the same ratios of samples per CPU-second in brackets; MiB: peak PSS of this process tree."""
    header = (f"{'size':8s} {'section':10s} {'configuration':42s} {'samples/s':>9s} {'frames/s':>8s} {'/CPU-s':>6s} "
              f"{'cores':>5s} {'other':>5s} {'x dec (cpu)':>12s} {'x base (cpu)':>12s} {'MiB':>5s}")
    print(header)
    print("-" * len(header))
    for entry in report["sizes"]:
        for section in ("decode", "baseline", "reference", "dali", "end_to_end"):
            for r in entry[section]["rows"] if section == "end_to_end" else entry[section]:
                if r["status"] != "ok":
                    print(f"{entry['size']:8s} {section:10s} {r['name'][:42]:42s} {r['status']}: {r['reason']}")
                    continue
                extra = ""
                if r.get("overlap_efficiency") is not None:
                    extra = (f"  consumer {r['consumer_samples_per_s']:.0f}/s: ideal overlap "
                             f"{r['expected_samples_per_s']:.1f}, none {r['serial_samples_per_s']:.1f}")

                def pair(key: str) -> str:
                    return f"{_fmt(r.get(key), '.2f')} ({_fmt(r.get(key + '_cpu'), '.2f')})"

                print(f"{entry['size']:8s} {section:10s} {r['name'][:42]:42s} {r['samples_per_s']:9.1f} "
                      f"{r['frames_per_s']:8.0f} {_fmt(r.get('samples_per_cpu_s'), '6.1f'):>6s} "
                      f"{r['cores_used']:5.2f} {_fmt(r.get('other_load_cores'), '5.2f'):>5s} "
                      f"{pair('ratio_to_decode') if 'ratio_to_decode' in r else '':>12s} "
                      f"{pair('ratio_to_baseline') if 'ratio_to_baseline' in r else '':>12s} "
                      f"{_fmt(r.get('peak_pss_mib') or r.get('peak_rss_mib'), '5.0f'):>5s}{extra}")
        for name, prof in entry["profile"].items():
            if prof.get("status") == "skipped":
                continue
            stages = ", ".join(f"{k} {v:.2f}" for k, v in prof["stages_ms"].items())
            print(f"{entry['size']:8s} profile    {name}: {prof['total_ms']:.1f} ms/sample on 1 thread "
                  f"({prof['cpu_samples_per_s']:.0f} samples per CPU-s): {stages}")
        print()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--data-root", default=os.path.join(os.path.expanduser("~"), ".cache", "tracking"),
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
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            parser.error(f"--sizes: {size!r} is not WxH")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    from tracking.data.processing import ProcessingConfig

    processing = ProcessingConfig()
    report = {
        "benchmark": "loader_speed",
        "command": " ".join([os.path.basename(sys.executable), sys.argv[0] if argv is None else "loader_speed.py"]
                            + (sys.argv[1:] if argv is None else [str(a) for a in argv])),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {"batch_size": args.batch_size, "workers": args.workers, "batches": args.batches,
                     "warmup_batches": 1 + 2 * args.workers, "duration": args.duration, "repeats": args.repeats,
                     "consumer_ms": args.consumer_ms, "sizes": args.sizes, "backends": args.backends,
                     "quick": args.quick, "frames_per_sample": FRAMES_PER_SAMPLE, "output_size": processing.output_size,
                     "memory": "PSS/RSS of self + descendants from /proc" if MemoryMonitor.available
                     else "getrusage maxima"},
        "sizes": [],
    }
    for size in args.sizes:
        sd = prepare_size(size, args, log)
        entry = {"size": size,
                 "data": {"root": sd.root, "sequences": args.sequences, "frames": args.frames, "jpeg_quality": 90,
                          "mean_jpeg_kb": round(sd.mean_jpeg_kb, 1), "ensure_s": round(sd.generation_s, 2),
                          "samples": len(sd.sampler), "timed_frames": len(sd.frames)}}
        decode = decode_configs(sd, args)
        log(f"[{size}] decode floor over {len(sd.frames)} frames")
        run_round_robin(decode, args.repeats, log)
        entry["decode"] = [summarise(c) for c in decode]
        loaders = loader_configs(sd, args, processing)
        log(f"[{size}] loaders")
        run_round_robin(loaders, args.repeats, log)
        rows = [summarise(c) for c in loaders]
        add_ratios(entry["decode"], rows, args.workers)
        for section in ("baseline", "reference", "dali"):
            entry[section] = [r for r, c in zip(rows, loaders) if c.section == section]
        e2e, info = end_to_end_configs(sd, args, processing, rows)
        log(f"[{size}] end to end ({info['backend']})")
        run_round_robin(e2e, args.repeats, log)
        e2e_rows = [summarise(c) for c in e2e]
        finish_end_to_end(e2e_rows, args.batch_size)
        entry["end_to_end"] = {**info, "rows": e2e_rows}
        entry["profile"] = {}
        if args.profile_samples > 0:
            log(f"[{size}] profile")
            entry["profile"]["reference"] = profile_reference(sd.sampler, processing, args.profile_samples,
                                                              args.batch_size)
            entry["profile"]["pytracking_style"] = profile_baseline(sd.sampler, processing, args.profile_samples,
                                                                    args.batch_size)
        else:
            entry["profile"]["reference"] = {"status": "skipped", "reason": "--profile-samples 0"}
        report["sizes"].append(entry)
    report["machine"]["loadavg_end"] = _loadavg()
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_table(report)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"JSON: {args.out} ({report['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
