"""CPU time and peak memory of this process tree, and how busy the rest of the machine is, read with psutil.

    start = Clock(); ...; stats = Clock().stats(start, samples)   # samples/s, per CPU-s, cores, other load
    with MemoryMonitor() as mem: ...                              # peak PSS/RSS of the tree meanwhile
    mem.result()

The tree is this process and its live descendants (Process.children(recursive=True), e.g. DataLoader
workers); a process that exits between being listed and being read is left out of that reading.
"""

from __future__ import annotations

import functools
import threading
import time

import psutil

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied)  # NoSuchProcess covers ZombieProcess
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal", "interrupt", "dpc")  # not idle, iowait, guest*


def process_tree() -> list[psutil.Process]:
    """This process and its live descendants (just this process where the others cannot be listed)."""
    me = psutil.Process()
    try:
        return [me] + me.children(recursive=True)
    except _GONE:
        return [me]


def tree_cpu_s(processes: list[psutil.Process]) -> float:
    """user + system CPU seconds (all threads) of `processes`; a process that is gone counts 0. Where this
    process's own times are unreadable, getrusage(RUSAGE_SELF) of this process alone."""
    total = 0.0
    for i, process in enumerate(processes):
        try:
            times = process.cpu_times()
        except _GONE:
            if i == 0:
                import resource

                usage = resource.getrusage(resource.RUSAGE_SELF)
                return usage.ru_utime + usage.ru_stime
            continue
        total += times.user + times.system
    return total


def machine_busy_s() -> float | None:
    """Seconds all CPUs of the machine spent busy since boot (user, nice, system, irq, softirq, steal)."""
    try:
        times = psutil.cpu_times()
    except (OSError, psutil.Error):
        return None
    return sum(getattr(times, name, 0.0) for name in _BUSY)


class Clock:
    """Wall time, CPU time of this process tree and machine-wide busy time at one instant, so that a pass can
    report samples per CPU-second and how many cores other processes kept busy meanwhile."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = tree_cpu_s(process_tree())
        self.busy = machine_busy_s()

    def stats(self, start: Clock, samples: float) -> dict:
        wall = self.wall - start.wall
        cpu = self.cpu - start.cpu
        out = {"samples_per_s": samples / wall, "timed_samples": samples, "wall_s": wall,
               "samples_per_cpu_s": samples / cpu if cpu > 0 else None, "cores_used": cpu / wall}
        if self.busy is not None and start.busy is not None:
            out["other_load_cores"] = max(0.0, (self.busy - start.busy - cpu) / wall)
        return out


@functools.cache
def memory_source() -> str:
    """"pss" (Linux: RSS and PSS per process), "rss" (psutil without PSS) or "getrusage" (psutil cannot
    read this process's memory)."""
    me = psutil.Process()
    try:
        me.memory_info()
    except (psutil.Error, OSError):
        return "getrusage"
    try:
        return "pss" if hasattr(me.memory_full_info(), "pss") else "rss"
    except (psutil.Error, OSError):
        return "rss"


def memory_description() -> str:
    return {"pss": "PSS/RSS of self + descendants from /proc",
            "rss": "RSS of self + descendants (psutil; no PSS on this platform)",
            "getrusage": "getrusage maxima"}[memory_source()]


class MemoryMonitor:
    """Peak summed RSS and PSS (MiB) of the process tree while active: a polling thread reads every process's
    RSS every `interval` s and its PSS (smaps_rollup, ~0.5 ms per large process) every `pss_every` polls.
    PSS counts pages shared after fork once; RSS counts them in every process that maps them. The tree is
    listed again only at the PSS polls (psutil lists children by reading every process of the machine,
    ~1.7 ms here, which would otherwise cost this process ~2% of a core)."""

    def __init__(self, interval: float = 0.1, pss_every: int = 5) -> None:
        self.interval, self.pss_every = interval, pss_every
        self.source = memory_source()
        self.peak_rss = self.peak_pss = 0  # bytes
        self._polls = 0
        self._tree: list[psutil.Process] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, pss: bool) -> None:
        if pss or not self._tree:
            self._tree = process_tree()
        pss = pss and self.source == "pss"
        rss_sum = pss_sum = 0
        for process in self._tree:
            try:
                rss_sum += process.memory_info().rss
                if pss:
                    pss_sum += process.memory_full_info().pss
            except _GONE:
                continue
        self.peak_rss = max(self.peak_rss, rss_sum)
        if pss:
            self.peak_pss = max(self.peak_pss, pss_sum)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._polls += 1
            self._poll(self._polls % self.pss_every == 0)

    def __enter__(self) -> MemoryMonitor:
        if self.source != "getrusage":
            self._poll(True)
            self._thread = threading.Thread(target=self._run, name="MemoryMonitor", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._poll(True)

    def result(self) -> dict:
        if self.source == "pss":
            return {"peak_pss_mib": round(self.peak_pss / 2**20, 1), "peak_rss_mib": round(self.peak_rss / 2**20, 1)}
        if self.source == "rss":
            return {"peak_pss_mib": None, "peak_rss_mib": round(self.peak_rss / 2**20, 1),
                    "memory_note": "no PSS on this platform: RSS, which counts pages shared after fork per process"}
        import resource

        self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {"peak_pss_mib": None, "peak_rss_mib": round((self_kb + children_kb) / 1024, 1),
                "memory_note": "getrusage lifetime maxima (self + largest child), not per pass"}
