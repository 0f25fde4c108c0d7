"""The JSON of benchmarks/gpu_check.sh: the machine, one record per step, the pytest counts and the benchmark
results. Standard library only (it must run where torch is broken or missing); torch is only imported by
`probe`, in a subprocess of `machine`.

    gpu_report.py machine --python PY --out machine.json        # probe PY's torch/CUDA/packages + nvidia-smi
    gpu_report.py gpu-reason --machine machine.json --smi-reason R   # why no usable GPU ("" when there is one)
    gpu_report.py field --machine machine.json KEY              # one value of machine.json (e.g. cuda_arch)
    gpu_report.py record --steps DIR --index I --name N --status S [--reason R] [--duration D] [--timeout T]
                         [--rc RC] [--log LOG] [--pytest-xml X]... [--require-passed] [--bench-json J]...
                         [--note N]...                          # one step's record: DIR/<I>_<N>.json
    gpu_report.py finish --steps DIR --machine machine.json --out OUT.json [--log LOG] [--budget S]
                         [--started EPOCH] [--gpu-reason R]     # the report; exit 1 when a step failed

Step status: "ok", "failed" or "skipped" (with a reason). A step whose command timed out (timeout(1): exit
124, or 137 once killed) is "failed" with reason "timed out after N s"; a pytest step with --require-passed
that passed no test is "failed" ("no test passed"), since on a GPU machine its tests must run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

SCHEMA = "gpu_check/1"
LOG_TAIL_CHARS = 4000
EMBED_MAX_BYTES = 2_000_000


# ---- machine ----

def probe() -> dict:
    """Run inside the interpreter under test: Python, torch/CUDA, and the packages the checks need."""
    import importlib.metadata
    import importlib.util

    info: dict = {"python": sys.version.split()[0], "python_executable": sys.executable}
    try:
        import torch

        info.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                    torch_file=os.path.dirname(torch.__file__))
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info.update(cuda_devices=torch.cuda.device_count(), gpu=props.name,
                        capability=f"{props.major}.{props.minor}", gpu_memory_gib=round(props.total_memory / 2**30, 1),
                        multiprocessors=props.multi_processor_count)
    except Exception as exc:  # noqa: BLE001 - report any failure to import torch
        info.update(torch=None, cuda_available=False, torch_error=f"{type(exc).__name__}: {exc}"[:500])
    packages = {}
    for dist in ("numpy", "opencv-python", "opencv-python-headless", "simplejpeg", "pytest", "pytest-timeout",
                 "hypothesis", "psutil", "torchvision", "setuptools", "ninja", "nvidia-dali-cuda130",
                 "nvidia-dali-cuda120"):
        try:
            packages[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    info["packages"] = packages
    missing = [m for m in ("numpy", "cv2", "simplejpeg", "pytest", "hypothesis", "psutil")
               if importlib.util.find_spec(m) is None]
    info["missing_modules"] = missing
    if importlib.util.find_spec("nvidia.dali") is not None:
        try:
            from nvidia.dali.backend import GetCUDADeviceCount

            info["dali_cuda_devices"] = GetCUDADeviceCount()
        except Exception as exc:  # noqa: BLE001
            info["dali_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return info


def _run(cmd: list[str], timeout: float = 30) -> tuple[int | None, str]:
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        return done.returncode, (done.stdout + done.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def nvidia_smi() -> dict:
    if shutil.which("nvidia-smi") is None:
        return {"found": False}
    rc, out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                    "--format=csv,noheader"])
    gpus = []
    if rc == 0:
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 2:
                gpus.append(dict(zip(("name", "driver", "memory", "compute_cap"), parts)))
    info: dict = {"found": True, "gpus": gpus}
    if rc != 0:
        info["error"] = out[-500:]
    rc, out = _run(["nvidia-smi"])
    match = re.search(r"CUDA Version:\s*([\d.]+)", out or "")
    if match:
        info["driver_cuda"] = match.group(1)
    return info


def nvcc() -> dict:
    home = os.environ.get("CUDA_HOME") or ("/usr/local/cuda" if os.path.isfile("/usr/local/cuda/bin/nvcc") else None)
    path = os.path.join(home, "bin", "nvcc") if home and os.path.isfile(os.path.join(home, "bin", "nvcc")) \
        else shutil.which("nvcc")
    if path is None:
        return {"found": False}
    _, out = _run([path, "--version"])
    release = re.search(r"release ([\d.]+)", out or "")
    return {"found": True, "path": path, "cuda_home": home, "release": release.group(1) if release else None}


def machine(python: str, out: str) -> dict:
    info: dict = {"hostname": platform.node(), "os": f"{platform.system()} {platform.release()}",
                  "cpu_count": os.cpu_count(), "nvidia_smi": nvidia_smi(), "nvcc": nvcc()}
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    rc, text = _run([python, os.path.abspath(__file__), "probe"], timeout=120)
    try:
        info["python"] = json.loads(text.splitlines()[-1]) if rc == 0 else {"error": text[-1000:]}
    except (ValueError, IndexError):
        info["python"] = {"error": text[-1000:]}
    py = info["python"]
    if py.get("capability"):
        info["cuda_arch"] = py["capability"]
    gpus = info["nvidia_smi"].get("gpus") or []
    info["summary"] = {"gpu": gpus[0]["name"] if gpus else py.get("gpu"), "driver": gpus[0]["driver"] if gpus else None,
                       "torch": py.get("torch"), "torch_cuda": py.get("torch_cuda"),
                       "cuda_available": py.get("cuda_available", False), "nvcc": info["nvcc"].get("release"),
                       "python": py.get("python")}
    with open(out, "w") as f:
        json.dump(info, f, indent=2)
    return info


def gpu_reason(machine_info: dict, smi_reason: str) -> str:
    """Why this machine has no usable NVIDIA GPU, "" when it has one."""
    py = machine_info.get("python", {})
    available = bool(py.get("cuda_available"))
    if py.get("torch") is None:
        torch_part = f"torch not importable ({py.get('torch_error') or py.get('error', '?')})"
    elif available:
        torch_part = f"torch {py['torch']}: torch.cuda.is_available() True"
    elif py.get("torch_cuda") is None:
        torch_part = f"torch {py['torch']}: torch.cuda.is_available() False, not a CUDA build"
    else:
        torch_part = f"torch {py['torch']}: torch.cuda.is_available() False"
    if smi_reason:
        return f"no NVIDIA GPU ({smi_reason}; {torch_part})"
    if not available:
        return f"no usable NVIDIA GPU ({torch_part})"
    return ""


# ---- steps ----

def _tail(path: str | None, chars: int = LOG_TAIL_CHARS) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - chars))
        return f.read().decode("utf-8", "replace")


SUMMARY_RE = re.compile(r"^=*\s*((?:\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)"
                        r"(?:, )?)+ in [\d.]+s.*?|no tests ran in [\d.]+s.*?)\s*=*$")


def pytest_summary(xml_path: str, log_path: str | None) -> dict:
    """Counts, failures (id + message) and skip reasons from a junit XML, plus pytest's summary line."""
    result: dict = {"junit": xml_path}
    if log_path and os.path.isfile(log_path):
        with open(log_path, errors="replace") as f:
            lines = [m.group(1).strip() for m in map(SUMMARY_RE.match, f.read().splitlines()) if m]
        if lines:
            result["summary_line"] = lines[-1]
    if not os.path.isfile(xml_path):
        result["error"] = "no junit XML written (pytest did not finish)"
        return result
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        result["error"] = f"unreadable junit XML: {exc}"
        return result
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    result.update(counts)
    failed, skipped, properties = [], {}, {}
    for case in root.iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                failed.append({"test": test_id, "kind": tag, "message": (node.get("message") or "")[:500]})
        node = case.find("skipped")
        if node is not None:
            reason = (node.get("message") or "")[:300]
            skipped[reason] = skipped.get(reason, 0) + 1
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if props:
            properties[test_id] = props
    result["failed_tests"] = failed[:50]
    result["skip_reasons"] = skipped
    if properties:
        result["properties"] = properties
    return result


def key_figures(data: dict) -> list:
    """The headline numbers of a benchmark JSON: kernels*.json rows, or loader_speed.json rows per data set."""
    rows = []
    if isinstance(data.get("results"), list):
        for r in data["results"]:
            rows.append({k: r.get(k) for k in ("workload", "implementation", "pass", "median_ms", "ratio_vs_ours",
                                               "error") if r.get(k) is not None})
    for entry in data.get("sizes") or []:
        if not isinstance(entry, dict):
            continue
        label = entry.get("name") or entry.get("size")
        for section, value in entry.items():
            items = value.get("rows") if isinstance(value, dict) else value
            if not isinstance(items, list):
                continue
            for r in items:
                if isinstance(r, dict) and ("samples_per_s" in r or "status" in r):
                    rows.append({"data": label, "section": section, "name": r.get("name"), "status": r.get("status"),
                                 **{k: r[k] for k in ("samples_per_s", "frames_per_s", "reason") if r.get(k) is not None}})
    return rows


def bench_result(path: str) -> dict:
    if not os.path.isfile(path):
        return {"path": path, "error": "not written"}
    size = os.path.getsize(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as exc:
        return {"path": path, "error": f"not JSON: {exc}"}
    result = {"path": path, "bytes": size, "key_figures": key_figures(data)}
    if size <= EMBED_MAX_BYTES:
        result["json"] = data
    return result


def record(args: argparse.Namespace) -> dict:
    rec: dict = {"name": args.name, "status": args.status}
    if args.reason:
        rec["reason"] = args.reason
    rec["duration_s"] = round(args.duration or 0.0, 1)
    if args.timeout is not None:
        rec["timeout_s"] = args.timeout
    if args.rc is not None:
        rec["exit_code"] = args.rc
    if args.notes:
        rec["notes"] = args.notes
    if args.pytest_xml:
        rec["pytest"] = [pytest_summary(x, args.log) for x in args.pytest_xml]
        if rec["status"] == "ok" and args.require_passed:
            passed = sum(p.get("passed", 0) for p in rec["pytest"])
            if passed == 0:
                reasons = "; ".join(f"{n} x {r}" for p in rec["pytest"] for r, n in p.get("skip_reasons", {}).items())
                rec.update(status="failed", reason=f"no test passed{': skipped ' + reasons if reasons else ''}")
    if args.bench_json:
        rec["benchmarks"] = [bench_result(p) for p in args.bench_json]
    if args.log:
        rec["log"] = args.log
        if rec["status"] == "failed":
            rec["log_tail"] = _tail(args.log)
    os.makedirs(args.steps, exist_ok=True)
    with open(os.path.join(args.steps, f"{args.index:02d}_{args.name}.json"), "w") as f:
        json.dump(rec, f, indent=2)
    return rec


def finish(args: argparse.Namespace) -> int:
    steps = []
    for path in sorted(glob.glob(os.path.join(args.steps, "[0-9][0-9]_*.json"))):
        with open(path) as f:
            steps.append(json.load(f))
    machine_info: dict = {}
    if args.machine and os.path.isfile(args.machine):
        with open(args.machine) as f:
            machine_info = json.load(f)
    failed = [s["name"] for s in steps if s["status"] == "failed"]
    now = time.time()
    report = {
        "schema": SCHEMA, "script": "benchmarks/gpu_check.sh",
        "status": "failed" if failed else ("skipped" if steps and all(s["status"] == "skipped" for s in steps)
                                           else "ok"),
        "failed_steps": failed,
        "gpu": ({"available": False, "reason": args.gpu_reason} if args.gpu_reason else
                {"available": False, "assumed": True, "reason": args.gpu_assumed} if args.gpu_assumed else
                {"available": True}),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.started or now)),
        "duration_s": round(now - args.started, 1) if args.started else None, "budget_s": args.budget,
        "machine": machine_info, "steps": steps, "log": args.log,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
    os.replace(tmp, args.out)
    print(f"{'step':22s} {'status':8s} {'seconds':>8s}  detail")
    for s in steps:
        detail = s.get("reason", "")
        for p in s.get("pytest", []):
            detail = (detail + "; " if detail else "") + (p.get("summary_line") or
                                                         f"{p.get('passed', 0)} passed, {p.get('failures', 0)} "
                                                         f"failed, {p.get('skipped', 0)} skipped")
        for b in s.get("benchmarks", []):
            detail = (detail + "; " if detail else "") + (f"{b['path']}: {b['error']}" if b.get("error") else
                                                         f"{len(b['key_figures'])} key figures from {b['path']}")
        duration = s.get("duration_s")
        print(f"{s['name']:22s} {s['status']:8s} {'' if duration is None else duration:>8}  {detail[:150]}")
    print(f"overall: {report['status']}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}; "
          f"{report['duration_s']} s; JSON: {args.out}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("probe")
    p = sub.add_parser("machine")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--out", required=True)
    p = sub.add_parser("gpu-reason")
    p.add_argument("--machine", required=True)
    p.add_argument("--smi-reason", default="")
    p = sub.add_parser("field")
    p.add_argument("--machine", required=True)
    p.add_argument("key")
    p = sub.add_parser("record")
    p.add_argument("--steps", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--status", choices=("ok", "failed", "skipped"), required=True)
    p.add_argument("--reason", default="")
    p.add_argument("--duration", type=float, default=0.0)
    p.add_argument("--timeout", type=int, default=None)
    p.add_argument("--rc", type=int, default=None)
    p.add_argument("--log", default=None)
    p.add_argument("--pytest-xml", action="append", default=[])
    p.add_argument("--require-passed", action="store_true")
    p.add_argument("--bench-json", action="append", default=[])
    p.add_argument("--note", dest="notes", action="append", default=[])
    p = sub.add_parser("finish")
    p.add_argument("--steps", required=True)
    p.add_argument("--machine", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--log", default=None)
    p.add_argument("--budget", type=float, default=None)
    p.add_argument("--started", type=float, default=None)
    p.add_argument("--gpu-reason", default="")
    p.add_argument("--gpu-assumed", default="", help="GPU_CHECK_ASSUME_GPU=1: the steps ran although (reason)")
    args = parser.parse_args(argv)

    if args.command == "probe":
        print(json.dumps(probe()))
        return 0
    if args.command == "machine":
        summary = machine(args.python, args.out)["summary"]
        print("machine: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
        return 0
    if args.command in ("gpu-reason", "field"):
        with open(args.machine) as f:
            info = json.load(f)
        if args.command == "gpu-reason":
            print(gpu_reason(info, args.smi_reason))
        else:
            value = info.get(args.key, info.get("summary", {}).get(args.key))
            print("" if value is None else value)
        return 0
    if args.command == "record":
        rec = record(args)
        print(f"[{rec['name']}] {rec['status']}{': ' + rec['reason'] if rec.get('reason') else ''}"
              f" ({rec['duration_s']:.1f} s)")
        return 0
    return finish(args)


if __name__ == "__main__":
    sys.exit(main())
