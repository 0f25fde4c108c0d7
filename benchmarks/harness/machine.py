"""The machine a benchmark ran on, one dict for every benchmark's JSON (benchmarks/kernels.py, loader_speed.py).

    report = machine.header("kernels", "kernels.py", argv)   # benchmark, command, date, machine
    ...
    machine.finish(report)                                    # machine.loadavg_end

Libraries that do not import are reported as None (OpenCV, DALI, numpy, torch).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys

import psutil


def cpu_model() -> str:
    """The CPU's model name: /proc/cpuinfo's `model name` on Linux, else platform.processor()."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return model


def loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages (psutil; emulated on Windows), None where unavailable."""
    try:
        return [round(v, 2) for v in psutil.getloadavg()]
    except (OSError, AttributeError):
        return None


def _affinity_cpus() -> int | None:
    try:
        return len(psutil.Process().cpu_affinity())
    except (AttributeError, psutil.Error):  # no cpu_affinity on macOS
        return None


def _gib(value: int) -> float:
    return round(value / 2**30, 2)


def describe() -> dict:
    """CPU, cores, memory, OS, Python and library versions/threads of this process, and the load average now.

    Keys: cpu, logical_cpus, physical_cpus, affinity_cpus, memory_total_gib, memory_available_gib, os,
    platform, python, numpy, torch, torch_threads, opencv, cv2_threads, dali, loadavg_start."""
    memory = psutil.virtual_memory()
    info = {
        "cpu": cpu_model(), "logical_cpus": psutil.cpu_count(logical=True),
        "physical_cpus": psutil.cpu_count(logical=False), "affinity_cpus": _affinity_cpus(),
        "memory_total_gib": _gib(memory.total), "memory_available_gib": _gib(memory.available),
        "os": f"{platform.system()} {platform.release()}", "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": None, "torch": None, "torch_threads": None, "opencv": None, "cv2_threads": None, "dali": None,
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"], info["torch_threads"] = torch.__version__, torch.get_num_threads()
    except ImportError:
        pass
    try:
        import cv2

        info["opencv"], info["cv2_threads"] = cv2.__version__, cv2.getNumThreads()
    except ImportError:
        pass
    try:
        import nvidia.dali

        info["dali"] = nvidia.dali.__version__
    except Exception:  # absent, or present and failing to load its libraries
        pass
    info["loadavg_start"] = loadavg()
    return info


def command(script: str, argv: list[str] | None) -> str:
    """The command line: this interpreter and sys.argv when `argv` is None (run as a script), else
    `script` and the arguments given to main()."""
    words = sys.argv if argv is None else [script] + [str(a) for a in argv]
    return " ".join([os.path.basename(sys.executable)] + words)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def header(benchmark: str, script: str, argv: list[str] | None, **machine_extra) -> dict:
    """The first keys of a benchmark's JSON: benchmark, command, date (UTC, now) and machine (describe(), now,
    plus `machine_extra`). Call it before measuring, and finish() after."""
    return {"benchmark": benchmark, "command": command(script, argv), "date": utc_now(),
            "machine": {**describe(), **machine_extra}}


def finish(report: dict) -> None:
    """Adds the load average at the end of the run (machine.loadavg_end)."""
    report["machine"]["loadavg_end"] = loadavg()
