"""Training throughput and how much of it waits for data: iterations/s, samples/s and the loader-bound fraction.

    python benchmarks/train_speed.py --out benchmarks/results/train_speed.json
    python benchmarks/train_speed.py --quick            # the demo workload, OpenCV loader, a few iterations

Each configuration is one real ``python -m tracking.train`` run (a subprocess, so DataLoader workers, DALI
threads and torch's thread pool start fresh), one epoch of ``warmup + iterations`` batches with every
iteration logged to metrics.jsonl; the first ``warmup`` iterations (worker start-up, first allocations) are
dropped. From the rest:

* ``it_per_s`` = 1 / mean iteration wall time (loader wait + step + hooks), ``samples_per_s`` = batch x that;
* ``loader_bound`` = total data wait / total iteration time: the share of the run the network waited for the
  loader (0: the data path is never the bottleneck);
* ``data_ms`` / ``compute_ms``: mean wait and mean step (host to device, forward, backward, optimizer).

Workloads: ``demo`` (configs/demo.yaml: DiMP-18, 128x128 crops, batch 6) and ``dimp50`` (configs/dimp50.yaml's
network and 288x288 crops of 3 + 3 frames on the synthetic data, random init; batch 10 on a GPU, 2 on the CPU,
where a batch of 10 takes ~30 s per step), each with the OpenCV and the DALI loader. Data: the embedded
synthetic dataset (640x360 JPEGs of ~0.8 bits per pixel, flatter than real footage's 1-3, which decode faster:
the loader-bound fraction is a lower bound). Absolute numbers are the machine's; compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from harness import cli, machine  # noqa: E402

WORKLOADS = {
    "demo": {"config": "configs/demo.yaml", "overrides": []},
    "dimp50": {"config": "configs/dimp50.yaml",
               "overrides": ["data.datasets=[{name: synthetic, split: train}]", "model.kwargs.backbone_pretrained=false"]},
}
BACKENDS = ("opencv", "dali")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks/results/train_speed.json", help="JSON output path")
    p.add_argument("--quick", action="store_true", help="demo workload, OpenCV loader, 1 + 3 iterations")
    p.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=None)
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=None)
    p.add_argument("--workers", type=int, default=2, help="loader workers (OpenCV processes / DALI threads)")
    p.add_argument("--iterations", type=int, default=None, help="timed iterations per run (default 20; dimp50 on "
                   "the CPU: a quarter)")
    p.add_argument("--warmup", type=int, default=None, help="iterations dropped first (default 3; quick 1)")
    p.add_argument("--device", default="auto", help="train.device (auto: cuda when available)")
    p.add_argument("--batch", type=int, default=None, help="override every workload's batch size")
    args = p.parse_args(argv)
    args.workloads = args.workloads or (["demo"] if args.quick else list(WORKLOADS))
    args.backends = args.backends or (["opencv"] if args.quick else list(BACKENDS))
    args.iterations = args.iterations or (3 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if args.iterations < 1 or args.warmup < 0 or args.workers < 0:
        p.error("--iterations must be >= 1, --warmup and --workers >= 0")
    cli.check_out(p, args.out)
    return args


def _on_gpu(device: str) -> bool:
    import torch

    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def run_one(workload: str, backend: str, args: argparse.Namespace, log) -> dict:
    spec = WORKLOADS[workload]
    gpu = _on_gpu(args.device)
    batch = args.batch or (2 if workload == "dimp50" and not gpu else None)
    iterations = args.iterations if gpu or workload != "dimp50" else max(2, args.iterations // 4)
    from tracking.train.config import load_config

    base = load_config(os.path.join(_REPO, spec["config"]), spec["overrides"])
    batch = batch or base.data.batch_size
    with tempfile.TemporaryDirectory(prefix="train_speed-") as run_dir:
        overrides = spec["overrides"] + [
            f"data.batch_size={batch}", f"data.samples_per_epoch={batch * (iterations + args.warmup)}",
            f"data.loader.backend={backend}", f"data.loader.workers={args.workers}", "data.val.datasets=[]",
            "train.epochs=1", "train.log_every=1", "train.tensorboard=false", f"train.device={args.device}",
            f"train.run_dir={run_dir}"]
        cmd = [sys.executable, "-m", "tracking.train", "--config", spec["config"], *overrides]
        log(f"[{workload} / {backend}] batch {batch}, {args.warmup} + {iterations} iterations")
        started = time.perf_counter()
        out = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True)
        if out.returncode != 0:
            return {"workload": workload, "backend": backend, "error": out.stderr.strip().splitlines()[-1:]}
        from tracking.train.events import read_metrics

        records = read_metrics(run_dir, "train")[args.warmup:]
    data = sum(r["time/data"] for r in records)
    compute = sum(r["time/compute"] for r in records)
    total = sum(r["time/iter"] for r in records)
    return {"workload": workload, "backend": backend, "workers": args.workers, "batch": batch,
            "iterations": len(records), "it_per_s": len(records) / total, "samples_per_s": len(records) * batch / total,
            "loader_bound": data / total, "data_ms": 1000 * data / len(records),
            "compute_ms": 1000 * compute / len(records), "run_s": time.perf_counter() - started,
            "first_loss": records[0]["Loss/total"], "last_loss": records[-1]["Loss/total"]}


def table(rows: list[dict]) -> str:
    lines = ["| workload | loader | batch | it/s | samples/s | loader-bound | data ms | compute ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['backend']} | | error: {' '.join(r['error'])} | | | | |")
            continue
        lines.append(f"| {r['workload']} | {r['backend']} | {r['batch']} | {r['it_per_s']:.2f} | "
                     f"{r['samples_per_s']:.1f} | {r['loader_bound']:.1%} | {r['data_ms']:.0f} | {r['compute_ms']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    report = machine.header("train_speed", "train_speed.py", argv, torch=str(torch.__version__),
                            cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    report["settings"] = {k: getattr(args, k) for k in ("workloads", "backends", "workers", "iterations", "warmup",
                                                          "device", "batch", "quick")}

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = [run_one(w, b, args, log) for w in args.workloads for b in args.backends]
    report["rows"] = rows
    report["table"] = table(rows)
    machine.finish(report)
    cli.write_json(args.out, report)
    print(report["table"])
    print(f"\nwritten: {args.out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
