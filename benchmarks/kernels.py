"""Forward and forward+backward times of tracking's compiled CPU kernels against their pure-PyTorch
references (and torchvision.ops.roi_align where torchvision imports), on the workloads of DiMP/KYS training.

    python benchmarks/kernels.py --out benchmarks/results/kernels.json [--repeats 7] [--threads 2]

Workloads (ARCHITECTURE.md section 3/4):
    prroi_layer2    IoUNet proposals: 78 images x 256x36x36 features (1/8), 16 rois per image, 5x5 bins
    prroi_layer3    IoUNet proposals: 78 images x 1024x18x18 features (1/16), 16 rois per image, 3x3 bins
    prroi_refine    tracker box refinement: 1 image x 256x36x36 (1/8), 10 boxes, gradients to the boxes too
    crop_resize     60 frames 3x360x640 -> one 288x288 crop each, border padding, boxes partly outside
    correlation     KYS cost volume: 1x512x18x18 pairs, kernel 1, patch 19

Each timing is the median of repeated runs after a warm-up run; ratios compare each baseline with ours
measured in the same run. Absolute times on a shared machine are noise; the ratios are the result. The JSON's
"machine" is the description every benchmark writes (harness/machine.py), plus compiled_kernels.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
if __name__ == "__main__" and _REPO not in sys.path:
    sys.path.insert(0, _REPO)  # this checkout's tracking/, not another installed copy
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # harness/, also when this file is imported by path

from harness import cli, machine  # noqa: E402
from harness.timing import measure  # noqa: E402


@dataclass
class Case:
    """One workload: how to build its inputs and the implementations to time on them."""

    name: str
    description: str
    make_inputs: Callable[[torch.Generator], dict]
    implementations: dict[str, Callable[..., torch.Tensor]]
    grad_inputs: tuple[str, ...]  # inputs that receive gradients in the forward+backward pass
    ours: str = "ours"


def proposals(g: torch.Generator, images: int, per_image: int, crop: float = 288.0) -> torch.Tensor:
    """IoUNet-like proposals [K, 5] in a crop of `crop` px whose target spans about crop / 5."""
    k = images * per_image
    centre = crop / 2 + torch.randn(k, 2, generator=g) * crop / 30
    size = crop / 5 * torch.exp(torch.randn(k, 2, generator=g) * 0.3)
    index = torch.arange(images).repeat_interleave(per_image)[:, None].float()
    return torch.cat([index, centre - size / 2, centre + size / 2], 1)


def search_boxes(g: torch.Generator, frames: int, height: int, width: int) -> torch.Tensor:
    """[frames, 4] x1y1x2y2 search regions (5x a target of 5-30% of the frame), often beyond the frame."""
    target = torch.sqrt(torch.rand(frames, generator=g) * 0.25 + 0.05) * min(height, width) * 0.5
    side = target * 5 ** 0.5 * 2
    cx = torch.rand(frames, generator=g) * width
    cy = torch.rand(frames, generator=g) * height
    return torch.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def build_cases(with_torchvision: bool) -> list[Case]:
    from tracking import ops
    from tracking.ops import reference

    def prroi_case(name: str, channels: int, size: int, scale: float, bins: int, images: int = 78,
                   per_image: int = 16, grad_inputs: tuple[str, ...] = ("features",)) -> Case:
        def make(g):
            return {"features": torch.randn(images, channels, size, size, generator=g),
                    "rois": proposals(g, images, per_image)}

        impls = {
            "ours": lambda features, rois: ops.prroi_pool2d(features, rois, bins, bins, scale),
            "reference": lambda features, rois: reference.prroi_pool2d(features, rois, bins, bins, scale),
        }
        if with_torchvision:
            from torchvision.ops import roi_align

            impls["torchvision.roi_align"] = lambda features, rois: roi_align(
                features, rois, (bins, bins), scale, sampling_ratio=2, aligned=True)
        grads = " + ".join(grad_inputs)
        return Case(name, f"{images}x{channels}x{size}x{size} features, {images * per_image} rois, {bins}x{bins} bins, "
                    f"scale 1/{round(1 / scale)}, gradients to {grads}", make, impls, grad_inputs)

    def make_crop(g):
        return {"images": torch.rand(60, 3, 360, 640, generator=g) * 255, "boxes": search_boxes(g, 60, 360, 640)}

    def with_index(boxes: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.arange(boxes.shape[0], dtype=boxes.dtype)[:, None], boxes], 1)

    crop_impls = {
        "ours": lambda images, boxes: ops.crop_and_resize(images, boxes, 288, "border"),
        "affine_grid+grid_sample": lambda images, boxes: reference.crop_and_resize(
            images, with_index(boxes), 288, 288, "border"),
    }
    if with_torchvision:
        from torchvision.ops import roi_align

        crop_impls["torchvision.roi_align"] = lambda images, boxes: roi_align(
            images, with_index(boxes), (288, 288), 1.0, sampling_ratio=1, aligned=True)

    def make_corr(g):
        return {"input1": torch.randn(1, 512, 18, 18, generator=g), "input2": torch.randn(1, 512, 18, 18, generator=g)}

    corr_impls = {
        "ours": lambda input1, input2: ops.correlation(input1, input2, 1, 19, 1, 0, 1),
        "reference": lambda input1, input2: reference.correlation(input1, input2, 1, 19, 1, 0, 1),
    }
    return [
        prroi_case("prroi_layer2", 256, 36, 1 / 8, 5),
        prroi_case("prroi_layer3", 1024, 18, 1 / 16, 3),
        prroi_case("prroi_refine", 256, 36, 1 / 8, 5, images=1, per_image=10, grad_inputs=("features", "rois")),
        Case("crop_resize", "60 frames 3x360x640 -> 288x288, border padding", make_crop, crop_impls, ("images",)),
        Case("correlation", "1x512x18x18 pairs, kernel 1, patch 19 (KYS)", make_corr, corr_impls,
             ("input1", "input2")),
    ]


def time_case(case: Case, repeats: int, budget_s: float, seed: int) -> list[dict]:
    inputs = case.make_inputs(torch.Generator().manual_seed(seed))
    rows = []
    for impl_name, op in case.implementations.items():
        def forward():
            with torch.no_grad():
                return op(**inputs)

        leaves = {k: (v.detach().requires_grad_() if k in case.grad_inputs else v) for k, v in inputs.items()}

        def forward_backward():
            for k in case.grad_inputs:
                leaves[k].grad = None
            op(**leaves).sum().backward()

        for pass_name, fn in (("forward", forward), ("forward+backward", forward_backward)):
            result = measure(fn, repeats, budget_s)
            rows.append({"workload": case.name, "implementation": impl_name, "pass": pass_name, **result})
            print(f"  {case.name:13s} {impl_name:25s} {pass_name:17s} {result['median_ms']:10.1f} ms "
                  f"({result['runs']} runs)", file=sys.stderr, flush=True)
    ours = {r["pass"]: r["median_ms"] for r in rows if r["implementation"] == case.ours}
    for r in rows:
        r["ratio_vs_ours"] = r["median_ms"] / ours[r["pass"]]  # > 1: ours is faster
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'workload':13s} {'implementation':25s} {'pass':17s} {'median ms':>10s} {'x ours':>8s}")
    for r in rows:
        print(f"{r['workload']:13s} {r['implementation']:25s} {r['pass']:17s} {r['median_ms']:10.1f} "
              f"{r['ratio_vs_ours']:8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results/kernels.json", help="JSON output path")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (after 1 warm-up)")
    parser.add_argument("--budget", type=float, default=6.0,
                        help="seconds per measurement after which it stops at 3 runs or more")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--workloads", nargs="*", default=None, help="subset of workload names")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cli.check_out(parser, args.out)

    if args.threads:
        torch.set_num_threads(args.threads)
    from tracking.ops import extension_available, extension_unavailable_reason

    if not extension_available():
        print(f"warning: compiled kernels unavailable ({extension_unavailable_reason()}); 'ours' is the "
              "reference path", file=sys.stderr)
    try:
        import torchvision.ops  # noqa: F401

        with_torchvision = True
    except Exception:  # torchvision absent, or built for another torch
        with_torchvision = False

    cases = [c for c in build_cases(with_torchvision) if args.workloads is None or c.name in args.workloads]
    report = machine.header("kernels", "kernels.py", argv, compiled_kernels=extension_available())
    started = time.perf_counter()
    rows: list[dict] = []
    for case in cases:
        print(f"{case.name}: {case.description}", file=sys.stderr, flush=True)
        rows += time_case(case, args.repeats, args.budget, args.seed)
    machine.finish(report)
    report.update({
        "torchvision": with_torchvision,
        "workloads": {c.name: c.description for c in cases},
        "results": rows,
        "total_seconds": round(time.perf_counter() - started, 1),
    })
    cli.write_json(args.out, report)
    print_table(rows)
    print(f"machine: {report['machine']['cpu']}, {report['machine']['torch_threads']} torch threads; "
          f"{report['total_seconds']} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
