"""Forward and forward+backward times of tracking's compiled CUDA kernels against the pure-PyTorch references
(and torchvision.ops.roi_align where torchvision imports), on the GPU, on the workloads of benchmarks/kernels.py.

    python benchmarks/kernels_cuda.py --out benchmarks/results/kernels_cuda.json [--budget 1.0] [--dtype float32]

benchmarks/kernels.py times the CPU kernels (it has no device option); this is its GPU counterpart, with the
same workloads and inputs (same generators, same seed), moved to the GPU:
    prroi_layer2    IoUNet proposals: 78 images x 256x36x36 features (1/8), 16 rois per image, 5x5 bins
    prroi_layer3    IoUNet proposals: 78 images x 1024x18x18 features (1/16), 16 rois per image, 3x3 bins
    prroi_refine    tracker box refinement: 1 image x 256x36x36 (1/8), 10 boxes, gradients to the boxes too
    crop_resize     60 frames 3x360x640 -> one 288x288 crop each, border padding, boxes partly outside
    correlation     KYS cost volume: 1x512x18x18 pairs, kernel 1, patch 19

Timing: CUDA events around each call (device time including launch gaps), after 3 warm-up calls; calls are
repeated until --budget seconds or --max-runs, and the median is reported. Used by benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/ and kernels.py

from harness import cli, machine  # noqa: E402
from kernels import proposals, search_boxes  # noqa: E402


def build_cases(device: torch.device, dtype: torch.dtype, with_torchvision: bool) -> list[dict]:
    """Workloads: name, description, inputs (on `device`), implementations, inputs that get gradients."""
    from tracking import ops
    from tracking.ops import reference

    g = torch.Generator().manual_seed(0)

    def put(**tensors: torch.Tensor) -> dict:
        return {k: v.to(device=device, dtype=dtype) for k, v in tensors.items()}

    def with_index(boxes: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.arange(boxes.shape[0], dtype=boxes.dtype, device=boxes.device)[:, None], boxes], 1)

    cases = []
    for name, channels, size, scale, bins, images, per_image, grads in (
            ("prroi_layer2", 256, 36, 1 / 8, 5, 78, 16, ("features",)),
            ("prroi_layer3", 1024, 18, 1 / 16, 3, 78, 16, ("features",)),
            ("prroi_refine", 256, 36, 1 / 8, 5, 1, 10, ("features", "rois"))):
        inputs = put(features=torch.randn(images, channels, size, size, generator=g), rois=proposals(g, images, per_image))
        impls: dict[str, Callable] = {
            "ours": lambda features, rois, b=bins, s=scale: ops.prroi_pool2d(features, rois, b, b, s),
            "reference": lambda features, rois, b=bins, s=scale: reference.prroi_pool2d(features, rois, b, b, s),
        }
        if with_torchvision:
            from torchvision.ops import roi_align

            impls["torchvision.roi_align"] = lambda features, rois, b=bins, s=scale: roi_align(
                features, rois, (b, b), s, sampling_ratio=2, aligned=True)
        cases.append({"name": name, "description": f"{images}x{channels}x{size}x{size} features, "
                      f"{images * per_image} rois, {bins}x{bins} bins, gradients to {' + '.join(grads)}",
                      "inputs": inputs, "impls": impls, "grads": grads})

    crop = put(images=torch.rand(60, 3, 360, 640, generator=g) * 255, boxes=search_boxes(g, 60, 360, 640))
    crop_impls: dict[str, Callable] = {
        "ours": lambda images, boxes: ops.crop_and_resize(images, boxes, 288, "border"),
        "affine_grid+grid_sample": lambda images, boxes: reference.crop_and_resize(images, with_index(boxes), 288, 288,
                                                                                   "border"),
    }
    if with_torchvision:
        from torchvision.ops import roi_align

        crop_impls["torchvision.roi_align"] = lambda images, boxes: roi_align(
            images, with_index(boxes), (288, 288), 1.0, sampling_ratio=1, aligned=True)
    cases.append({"name": "crop_resize", "description": "60 frames 3x360x640 -> 288x288, border padding",
                  "inputs": crop, "impls": crop_impls, "grads": ("images",)})

    corr = put(input1=torch.randn(1, 512, 18, 18, generator=g), input2=torch.randn(1, 512, 18, 18, generator=g))
    cases.append({"name": "correlation", "description": "1x512x18x18 pairs, kernel 1, patch 19 (KYS)", "inputs": corr,
                  "impls": {"ours": lambda input1, input2: ops.correlation(input1, input2, 1, 19, 1, 0, 1),
                            "reference": lambda input1, input2: reference.correlation(input1, input2, 1, 19, 1, 0, 1)},
                  "grads": ("input1", "input2")})
    return cases


def measure_cuda(fn: Callable[[], object], budget_s: float, max_runs: int, warmup: int = 3) -> dict:
    """Median of CUDA-event times (ms) of `fn` over runs until `budget_s` or `max_runs` (at least 3)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < max_runs and (len(times) < 3 or time.perf_counter() < deadline):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {"median_ms": round(statistics.median(times), 4), "min_ms": round(min(times), 4), "runs": len(times)}


def time_case(case: dict, budget_s: float, max_runs: int) -> list[dict]:
    rows = []
    for impl, op in case["impls"].items():
        inputs = case["inputs"]
        leaves = {k: (v.detach().requires_grad_() if k in case["grads"] else v) for k, v in inputs.items()}

        def forward(op=op, inputs=inputs):
            with torch.no_grad():
                return op(**inputs)

        def forward_backward(op=op, leaves=leaves):
            for k in case["grads"]:
                leaves[k].grad = None
            op(**leaves).sum().backward()

        for pass_name, fn in (("forward", forward), ("forward+backward", forward_backward)):
            try:
                result = measure_cuda(fn, budget_s, max_runs)
            except Exception as exc:  # noqa: BLE001 - e.g. an implementation without a CUDA kernel
                result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
            rows.append({"workload": case["name"], "implementation": impl, "pass": pass_name, **result})
            shown = f"{result['median_ms']:10.3f} ms ({result['runs']} runs)" if "median_ms" in result \
                else result["error"]
            print(f"  {case['name']:13s} {impl:25s} {pass_name:17s} {shown}", file=sys.stderr, flush=True)
    ours = {r["pass"]: r.get("median_ms") for r in rows if r["implementation"] == "ours"}
    for r in rows:
        if r.get("median_ms") and ours.get(r["pass"]):
            r["ratio_vs_ours"] = round(r["median_ms"] / ours[r["pass"]], 3)  # > 1: ours is faster
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/kernels_cuda.json", help="JSON output path")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (at least 3 runs)")
    parser.add_argument("--max-runs", type=int, default=50, help="most timed runs per measurement")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    parser.add_argument("--workloads", nargs="*", default=None, help="subset of workload names")
    args = parser.parse_args(argv)
    cli.check_out(parser, args.out)
    if not torch.cuda.is_available():
        cli.fail(f"no CUDA device (torch {torch.__version__}: torch.cuda.is_available() is False)")
    from tracking.ops import extension_available, extension_unavailable_reason

    if not extension_available():
        print(f"warning: compiled kernels unavailable ({extension_unavailable_reason()}); 'ours' is the "
              "reference path", file=sys.stderr)
    try:
        import torchvision.ops  # noqa: F401

        with_torchvision = True
    except Exception:  # noqa: BLE001 - torchvision absent, or built for another torch
        with_torchvision = False
    device = torch.device("cuda")
    report = machine.header("kernels_cuda", "kernels_cuda.py", argv, compiled_kernels=extension_available(),
                            gpu=torch.cuda.get_device_name(device), torch_cuda=torch.version.cuda)
    started = time.perf_counter()
    cases = [c for c in build_cases(device, getattr(torch, args.dtype), with_torchvision)
             if args.workloads is None or c["name"] in args.workloads]
    rows: list[dict] = []
    for case in cases:
        print(f"{case['name']}: {case['description']}", file=sys.stderr, flush=True)
        rows += time_case(case, args.budget, args.max_runs)
    machine.finish(report)
    report.update({"dtype": args.dtype, "torchvision": with_torchvision,
                   "workloads": {c["name"]: c["description"] for c in cases}, "results": rows,
                   "total_seconds": round(time.perf_counter() - started, 1)})
    cli.write_json(args.out, report)
    print(f"{'workload':13s} {'implementation':25s} {'pass':17s} {'median ms':>10s} {'x ours':>8s}")
    for r in rows:
        ms = f"{r['median_ms']:10.3f}" if "median_ms" in r else f"{'error':>10s}"
        ratio = f"{r['ratio_vs_ours']:8.2f}" if "ratio_vs_ours" in r else f"{'-':>8s}"
        print(f"{r['workload']:13s} {r['implementation']:25s} {r['pass']:17s} {ms} {ratio}")
    print(f"GPU: {report['machine']['gpu']}; {report['total_seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
