"""Forward and forward+backward times of the tracking networks at their training shapes.

    python benchmarks/model_speed.py --out benchmarks/results/model_speed.json
    python benchmarks/model_speed.py --quick                       # DiMP-18 and ATOM, batch 2, no compile
    python benchmarks/model_speed.py --device cuda                 # adds bf16 autocast rows

Workload: pytracking's training step of each network, in train() mode with random initialisation (no
pretrained weights are needed): ``num_frames`` train + ``num_frames`` test images of ``size x size`` per
sequence (default 3 + 3 of 288x288), ``batch`` sequences, 8 IoU-Net proposals per test image (ATOM: 16), the
train boxes centred in the crop. Forward is timed under ``torch.no_grad()``; forward+backward sums every
output (all score maps of every iterate and the IoU predictions) into one scalar and back-propagates it into
every trainable parameter.

Modes: ``float32`` (eager, contiguous), ``channels_last`` (model and images in channels-last memory
format), ``compile`` (``torch.compile`` of the whole network, default inductor backend; its first call, which
compiles, is reported as ``compile_s``), and on CUDA ``bf16`` (autocast to bfloat16). Each time is the median
of repeated runs after a warm-up (fewer runs, at least 3, when they would exceed ``--budget`` seconds);
``ratio_vs_float32`` divides the float32 time of the same network, batch and pass by the mode's (above 1:
the mode is faster). Absolute times on a shared machine are noise; the ratios are the result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/, also when this file is imported by path

from harness import cli, machine  # noqa: E402
from harness.timing import measure  # noqa: E402

NETWORKS = ("dimpnet18", "dimpnet50", "atom_resnet18")
PROPOSALS = {"atom_resnet18": 16, "atom_resnet50": 16}  # per test image; DiMP: 8
MODES = ("float32", "channels_last", "compile", "bf16")


def make_inputs(batch: int, frames: int, size: int, proposals: int, device: torch.device, channels_last: bool,
                seed: int) -> dict[str, torch.Tensor]:
    """The network inputs of one training batch: ``train_imgs``/``test_imgs`` ``[frames, batch, 3, size, size]``
    (ImageNet-normalised statistics: N(0, 1)), ``train_bb [frames, batch, 4]`` xywh boxes of a quarter of the
    crop around its centre, ``test_proposals [frames, batch, proposals, 4]`` jittered copies of them."""
    g = torch.Generator().manual_seed(seed)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def images() -> torch.Tensor:
        flat = torch.randn(frames * batch, 3, size, size, generator=g).to(device, memory_format=memory_format)
        return flat.view(frames, batch, 3, size, size)  # splits the batch dimension only: keeps the format

    side = size / 4
    box = torch.tensor([size / 2 - side / 2, size / 2 - side / 2, side, side])
    train_bb = box.expand(frames, batch, 4).clone()
    jitter = 1 + 0.2 * torch.randn(frames, batch, proposals, 4, generator=g)
    test_proposals = box * jitter
    test_proposals[..., 2:] = test_proposals[..., 2:].abs() + 1
    return {"train_imgs": images(), "test_imgs": images(), "train_bb": train_bb.to(device),
            "test_proposals": test_proposals.to(device)}


def output_sum(output) -> torch.Tensor:
    """One scalar of every tensor in a network's output (a tensor, or nested lists / tuples of tensors)."""
    if isinstance(output, torch.Tensor):
        return output.float().sum()
    return sum(output_sum(o) for o in output)


def time_network(name: str, batch: int, modes: list[str], args, device: torch.device) -> list[dict]:
    from tracking.models import build_network

    rows = []
    for mode in modes:
        torch.manual_seed(args.seed)
        net = build_network(name, backbone_pretrained=False).to(device).train()
        if mode == "channels_last":
            net = net.to(memory_format=torch.channels_last)
        inputs = make_inputs(batch, args.frames, args.size, PROPOSALS.get(name, 8), device,
                             mode == "channels_last", args.seed)
        model = torch.compile(net) if mode == "compile" else net
        params = [p for p in net.parameters() if p.requires_grad]
        compile_s = None
        if mode == "compile":
            t0 = time.perf_counter()
            output_sum(model(**inputs)).backward()  # compiles the forward and the backward graphs
            _sync(device)
            compile_s = time.perf_counter() - t0

        def run(backward: bool):
            def call():
                ctx = torch.autocast(device.type, dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
                if backward:
                    for p in params:
                        p.grad = None
                    with ctx:
                        loss = output_sum(model(**inputs))
                    loss.backward()
                else:
                    with torch.no_grad(), ctx:
                        model(**inputs)
                _sync(device)
            return call

        for pass_name, backward in (("forward", False), ("forward+backward", True)):
            result = measure(run(backward), args.repeats, args.budget)
            row = {"network": name, "batch": batch, "mode": mode, "pass": pass_name, **result,
                   "samples_per_s": batch / (result["median_ms"] / 1e3)}
            if compile_s is not None:
                row["compile_s"] = round(compile_s, 1)
            rows.append(row)
            print(f"  {name:14s} batch {batch:3d} {mode:14s} {pass_name:17s} {result['median_ms']:10.1f} ms "
                  f"({result['runs']} runs)", file=sys.stderr, flush=True)
        del net, model, inputs
    base = {(r["pass"]): r["median_ms"] for r in rows if r["mode"] == "float32"}
    for r in rows:
        r["ratio_vs_float32"] = base[r["pass"]] / r["median_ms"] if r["pass"] in base else None
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def print_table(rows: list[dict]) -> None:
    print(f"{'network':14s} {'batch':>5s} {'mode':14s} {'pass':17s} {'median ms':>10s} {'samples/s':>9s} "
          f"{'x fp32':>7s}")
    for r in rows:
        ratio = f"{r['ratio_vs_float32']:7.2f}" if r["ratio_vs_float32"] is not None else "      -"
        print(f"{r['network']:14s} {r['batch']:5d} {r['mode']:14s} {r['pass']:17s} {r['median_ms']:10.1f} "
              f"{r['samples_per_s']:9.2f} {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/model_speed.json", help="JSON output path")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), help="registered network names")
    parser.add_argument("--batches", nargs="+", type=int, default=[10, 2], help="sequences per batch")
    parser.add_argument("--frames", type=int, default=3, help="train (and test) frames per sequence")
    parser.add_argument("--size", type=int, default=288, help="crop size")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=None,
                        help="default: float32 channels_last compile (+ bf16 on CUDA)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (after 1 warm-up)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds per measurement after which it stops at 3 runs or more")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--quick", action="store_true", help="DiMP-18 and ATOM, batch 2, no compile, 3 runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cli.check_out(parser, args.out)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available in this torch build or on this machine")
    modes = args.modes or ["float32", "channels_last", "compile"] + (["bf16"] if device.type == "cuda" else [])
    if args.quick:
        args.networks, args.batches, args.repeats = ["dimpnet18", "atom_resnet18"], [2], 3
        modes = [m for m in modes if m != "compile"]
    if "bf16" in modes and device.type != "cuda":
        parser.error("--modes bf16 is measured on CUDA only")
    from tracking.models import network_names

    unknown = sorted(set(args.networks) - set(network_names()))
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; known: {', '.join(network_names())}")
    if args.threads:
        torch.set_num_threads(args.threads)

    report = machine.header("model_speed", "model_speed.py", argv, device=str(device),
                            cuda_device=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    started = time.perf_counter()
    rows: list[dict] = []
    for name in args.networks:
        for batch in args.batches:
            print(f"{name}, batch {batch}: {args.frames} + {args.frames} frames of {args.size}x{args.size}",
                  file=sys.stderr, flush=True)
            rows += time_network(name, batch, modes, args, device)
    machine.finish(report)
    report.update({"workload": {"frames": args.frames, "size": args.size, "proposals": {
        n: PROPOSALS.get(n, 8) for n in args.networks}}, "modes": modes, "results": rows,
        "total_seconds": round(time.perf_counter() - started, 1)})
    cli.write_json(args.out, report)
    print_table(rows)
    print(f"machine: {report['machine']['cpu']}, {report['machine']['torch_threads']} torch threads, {device}; "
          f"{report['total_seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
