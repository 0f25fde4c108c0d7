"""The timing harness: configurations (rows) run in interleaved passes, each under a MemoryMonitor, summarised
by their medians; timing one loader pass (untimed warm-up batches, then timed ones); timing a callable
(:func:`measure`: kernels.py, model_speed.py).

Passes are interleaved round-robin over the configurations of a section (pass r of every configuration before
pass r + 1), so that load changes on a shared machine hit all of them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .monitor import Clock, MemoryMonitor


@dataclass
class Config:
    """One row of a section: `run_pass()` does one untimed warm-up + one timed pass and returns its stats
    (monitor.Clock.stats keys); run_pass None: the row is skipped for `skip_reason`."""

    section: str
    name: str
    params: dict
    run_pass: Callable[[], dict] | None
    skip_reason: str | None = None
    passes: list[dict] = field(default_factory=list)
    error: str | None = None


def run_round_robin(configs: list[Config], repeats: int, log: Callable[[str], None]) -> None:
    """`repeats` passes of every runnable config, interleaved: pass r of every config before pass r + 1.
    A pass that raises marks its config as failed (no further passes) instead of ending the benchmark."""
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


def summarise(cfg: Config, frames_per_sample: int) -> dict:
    """The row of `cfg`: its params, status, and over its passes the median samples/s (frames/s =
    samples/s * frames_per_sample), samples per CPU-s, cores used and other processes' load, every pass's
    rates, and the peak PSS/RSS of all passes."""
    row = {"name": cfg.name, **cfg.params}
    if cfg.run_pass is None:
        return {**row, "status": "skipped", "reason": cfg.skip_reason}
    if cfg.error is not None or not cfg.passes:
        return {**row, "status": "error", "reason": cfg.error or "no pass completed"}
    samples = statistics.median(p["samples_per_s"] for p in cfg.passes)
    row.update(status="ok", samples_per_s=round(samples, 2), frames_per_s=round(samples * frames_per_sample, 1),
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
    """Stop a loader iterator's workers now (generator close, or a multi-process DataLoader iterator's
    shutdown through the loaders' one wrapper of that private call)."""
    if hasattr(iterator, "close"):
        iterator.close()
    if type(iterator).__name__ == "_MultiProcessingDataLoaderIter":
        from loaders.private_api import shutdown_dataloader_workers

        shutdown_dataloader_workers(iterator)


def measure(fn: Callable[[], object], repeats: int, budget_s: float) -> dict:
    """Median/min wall time of `fn` over up to `repeats` runs after one warm-up (fewer, at least 3, when a
    run is so slow that `repeats` would exceed `budget_s`)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3, "runs": len(times)}
