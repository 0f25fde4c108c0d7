"""Tracking speed of the parameter-set trackers: frames per second, ms per stage, host syncs per frame.

    python benchmarks/tracker_speed.py --out benchmarks/results/tracker_speed.json
    python benchmarks/tracker_speed.py --trackers dimp18 --frames 30 --devices cpu
    python benchmarks/tracker_speed.py --trackers dimp50 --devices cuda --params net_opt_iter=5

Workload: each parameter set (default: dimp18, dimp50 and atom, those of ``configs/trackers`` that exist) with
its network randomly initialised (``build_network(params['network'], backbone_pretrained=False)``: no weights
are needed, and none downloaded), run by ``build_tracker(name, net=...)`` on one sequence: OTB's Crossing from
``../shared/data/sequences`` when present (``--sequence`` for another image folder with a ground truth), else a
synthetic 640x360 sequence of :mod:`tracking.data.synthetic`. Frames are decoded before timing. Random weights
track nothing, but they run the same code at the same shapes; a tracker whose code path depends on its
confidence (DiMP's not-found state skips the update) may take other branches than with trained weights.

Per tracker and device: the first frame's ``initialize`` (``init_ms``), then every ``track_info`` call
(``track`` when the tracker has none) timed with ``time.perf_counter`` around the call (on CUDA after a
``torch.cuda.synchronize``, so that each frame's GPU work is in its time); the first ``--warmup`` frames are
not counted. ``fps`` = counted frames / their total seconds; ``stages_ms``: the mean of
``track_info(frame).timings`` per stage (what the tracker measures itself). On CUDA, a second pass over
``--sync-frames`` frames with ``torch.cuda.set_sync_debug_mode("warn")`` counts the warnings of synchronising
operations (``.item()``, ``.cpu()``, ``nonzero``, blocking copies) per frame (``host_syncs_per_frame``); on the
CPU there is no device for the host to wait on, so it is not measurable (``null``, with a note).

Devices: the CPU, and CUDA when available (``--devices`` to choose). Writes the JSON report (command, machine,
rows) and a markdown table beside it (``.md``), and prints the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/, also when this file is imported by path

from harness import cli, machine  # noqa: E402

DEFAULT_TRACKERS = ("dimp18", "dimp50", "atom")
SHARED_SEQUENCES = os.path.join(os.environ.get("TRACKING_SHARED_DATA") or os.path.join(_REPO, "..", "shared", "data"),
                                "sequences")
CPU_SYNC_NOTE = "not measurable on the CPU (no device for the host to wait on)"


def load_sequence(path: str | None, frames: int, seed: int) -> tuple[str, list[np.ndarray], np.ndarray]:
    """``(description, RGB frames, 0-based xywh first box)``: the image folder ``path`` (a sequence with a
    ground truth), else Crossing when present, else a synthetic sequence; at most ``frames`` frames."""
    from tracking.data.datasets import ImageFolderDataset
    from tracking.data.frames import decode_frame

    crossing = os.path.join(SHARED_SEQUENCES, "Crossing")
    if path is None and os.path.isdir(crossing):
        path = crossing
    if path is not None:
        seq = next(iter(ImageFolderDataset(os.path.normpath(path), one_based=path == crossing)))
        images = [decode_frame(p, rgb=True) for p in seq.frames[:frames]]
        return f"{seq.name} ({os.path.normpath(path)})", images, np.asarray(seq.boxes[0], dtype=np.float64)
    from tracking.data.synthetic import SyntheticSpec, generate_sequence

    spec = SyntheticSpec(num_sequences=1, num_frames=frames, width=640, height=360, seed=seed,
                         out_of_view_prob=0.0, occlusion_prob=0.0)
    bgr, boxes, _, _ = generate_sequence(spec, 0)
    return f"synthetic 640x360 (tracking.data.synthetic, seed {seed})", [f[..., ::-1].copy() for f in bgr], boxes[0]


def _step(tracker, frame: np.ndarray) -> dict[str, float]:
    """One frame; returns the tracker's stage timings (empty without ``track_info``)."""
    info_fn = getattr(tracker, "track_info", None)
    if info_fn is None:
        tracker.track(frame)
        return {}
    return dict(info_fn(frame).timings or {})


def _make_tracker(name: str, overrides: list[str], device: torch.device, seed: int):
    from tracking.trackers import build_tracker, load_params
    from tracking.trackers.weights import build_untrained_network

    params = load_params(name, overrides)
    torch.manual_seed(seed)
    net = build_untrained_network(params["network"]).to(device)
    return build_tracker(name, overrides=overrides, device=str(device), net=net, seed=seed), params["network"]


def count_host_syncs(name: str, overrides: list[str], device: torch.device, frames: list[np.ndarray],
                     box: np.ndarray, seed: int) -> float:
    """Synchronising CUDA operations per tracked frame (``torch.cuda.set_sync_debug_mode("warn")``)."""
    tracker, _ = _make_tracker(name, overrides, device, seed)
    tracker.initialize(frames[0], box.copy())
    torch.cuda.synchronize(device)
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for frame in frames[1:]:
                _step(tracker, frame)
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    return len(syncs) / max(len(frames) - 1, 1)


def time_tracker(name: str, args: argparse.Namespace, device: torch.device, frames: list[np.ndarray],
                 box: np.ndarray) -> dict:
    """One row: init and per-frame times, fps, ms per stage, host syncs per frame."""
    tracker, network = _make_tracker(name, args.params, device, args.seed)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *a: None)
    t0 = time.perf_counter()
    tracker.initialize(frames[0], box.copy())
    sync(device)
    init_ms = 1e3 * (time.perf_counter() - t0)
    seconds, stages = [], {}
    for index, frame in enumerate(frames[1:]):
        t0 = time.perf_counter()
        timings = _step(tracker, frame)
        sync(device)
        if index >= args.warmup:
            seconds.append(time.perf_counter() - t0)
            for stage, value in timings.items():
                stages.setdefault(stage, []).append(1e3 * float(value))
    ms = [1e3 * s for s in seconds]
    row = {"tracker": name, "network": network, "device": str(device), "frames": len(ms),
           "init_ms": round(init_ms, 2), "fps": round(len(ms) / sum(seconds), 2) if seconds else None,
           "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
           "median_ms": round(statistics.median(ms), 2) if ms else None,
           "p90_ms": round(float(np.percentile(ms, 90)), 2) if ms else None,
           "stages_ms": {stage: round(statistics.fmean(v), 2) for stage, v in stages.items()}}
    if device.type == "cuda":
        sync_frames = frames[:args.sync_frames + 1]
        row["host_syncs_per_frame"] = round(count_host_syncs(name, args.params, device, sync_frames, box,
                                                             args.seed), 2)
    else:
        row["host_syncs_per_frame"], row["host_syncs_note"] = None, CPU_SYNC_NOTE
    print(f"  {name:10s} {str(device):7s} {row['fps'] or float('nan'):7.2f} fps, init {init_ms:.0f} ms",
          file=sys.stderr, flush=True)
    return row


def markdown_table(rows: list[dict]) -> str:
    """The rows as a markdown table (stages as ``stage ms`` pairs)."""
    lines = ["| tracker | device | frames | fps | median ms | p90 ms | init ms | ms per stage | host syncs/frame |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items()) or "-"
        syncs = "n/a (CPU)" if r["host_syncs_per_frame"] is None else f"{r['host_syncs_per_frame']:.1f}"
        lines.append(f"| {r['tracker']} | {r['device']} | {r['frames']} | {r['fps']} | {r['median_ms']} | "
                     f"{r['p90_ms']} | {r['init_ms']} | {stages} | {syncs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tracking.trackers import tracker_names

    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/tracker_speed.json", help="JSON output (and .md)")
    parser.add_argument("--trackers", nargs="+", default=None,
                        help="parameter sets (names or .yaml paths); default: those of dimp18 dimp50 atom that exist")
    parser.add_argument("--devices", nargs="+", default=None, help="cpu, cuda[:i]; default: cpu (+ cuda if present)")
    parser.add_argument("--sequence", default=None, help="an image folder with a ground truth (default: Crossing)")
    parser.add_argument("--frames", type=int, default=100, help="frames of the sequence to track (first included)")
    parser.add_argument("--warmup", type=int, default=3, help="tracked frames not counted")
    parser.add_argument("--sync-frames", type=int, default=10, help="frames of the CUDA sync-counting pass")
    parser.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every tracker")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cli.check_out(parser, args.out)
    if args.frames < args.warmup + 2:
        parser.error(f"--frames {args.frames}: needs at least --warmup + 2 = {args.warmup + 2}")
    known = tracker_names()
    trackers = args.trackers or [t for t in DEFAULT_TRACKERS if t in known]
    if not trackers:
        parser.error(f"none of the default parameter sets {', '.join(DEFAULT_TRACKERS)} exists in configs/trackers; "
                     "name one with --trackers")
    unknown = [t for t in trackers if t not in known and not t.endswith((".yaml", ".yml"))]
    if unknown:
        parser.error(f"unknown parameter set(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}")
    devices = [torch.device(d) for d in (args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))]
    if any(d.type == "cuda" for d in devices) and not torch.cuda.is_available():
        parser.error("--devices cuda: CUDA is not available in this torch build or on this machine")
    if args.sequence is not None and not os.path.isdir(args.sequence):
        parser.error(f"--sequence {args.sequence}: not a folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = next((d for d in devices if d.type == "cuda"), None)
    report = machine.header("tracker_speed", "tracker_speed.py", argv, devices=[str(d) for d in devices],
                            cuda_device=torch.cuda.get_device_name(cuda) if cuda is not None else None)
    description, frames, box = load_sequence(args.sequence, args.frames, args.seed)
    print(f"sequence: {description}, {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    rows = []
    try:
        for device in devices:
            for name in trackers:
                rows.append(time_tracker(name, args, device, frames, box))
    except (ValueError, FileNotFoundError) as e:  # a parameter set that does not build (e.g. a bad override)
        cli.fail(str(e))
    machine.finish(report)
    report.update({"workload": {"sequence": description, "frames": len(frames), "warmup": args.warmup,
                                "sync_frames": args.sync_frames, "params": args.params, "weights": "random init"},
                   "results": rows, "total_seconds": round(time.perf_counter() - started, 1)})
    cli.write_json(args.out, report)
    table = markdown_table(rows)
    md_path = os.path.splitext(args.out)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(f"`{report['command']}`\n\n{report['machine']['cpu']}, {report['machine']['torch_threads']} torch "
                f"threads{', ' + report['machine']['cuda_device'] if cuda is not None else ''}; {description}\n\n"
                + table)
    print(table, end="")
    print(f"machine: {report['machine']['cpu']}, {report['machine']['torch_threads']} torch threads; "
          f"{report['total_seconds']} s; JSON: {args.out}, table: {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
