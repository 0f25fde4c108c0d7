"""Benchmark report: score trackers' result folders against ground truth, print/write tables and plots.

Usage::

    python -m tracking.eval.report --results RES/TrackerA RES/TrackerB --anno-dir OTB/anno \\
        [--protocol otb] [--out-dir OUT] [--plot] [--allow-missing]
    python -m tracking.eval.report --score RESULT.txt --gt GT.txt [--protocol otb]

* Each ``--results`` folder is one tracker (its name = the folder name) holding ``<seq>.txt`` (and
  optionally ``<seq>_time.txt`` with per-frame seconds: FPS = all frames / all seconds, reported only when
  every sequence has one).
* The sequences are those of the ground truth: ``--anno-dir`` holds ``<Seq>.txt`` per sequence (OTB
  toolkit format, the evaluated frame range only).  ``--dataset NAME --data-root DIR`` is the hook for the
  dataset readers of ``tracking/eval/datasets.py``: :func:`load_ground_truth` calls
  ``tracking.eval.datasets.load_ground_truth(name, root)`` when that exists.
* Result lines: ``x,y,w,h`` separated by commas, tabs or spaces; lines of 8 values (polygon corners
  ``x1,y1,...,x4,y4``) are turned into their axis-aligned bounding box (x = min, w = max - min).
* A missing result file is an error naming tracker and sequence, unless ``--allow-missing`` (the sequence
  is then skipped for that tracker, with a warning; its overall scores are over fewer sequences).
* Overall scores follow :func:`tracking.eval.metrics.aggregate` (OTB: mean over sequences).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

from . import metrics as M
from .results_io import ResultFileError, read_boxes

COLUMNS = [("auc", "AUC"), ("precision", "Prec@20"), ("norm_precision", "NormPrec@0.2"), ("op50", "OP50"),
           ("op75", "OP75")]
GOT_COLUMNS = [("ao", "AO"), ("sr50", "SR0.5"), ("sr75", "SR0.75")]


def read_result(path: str | os.PathLike) -> np.ndarray:
    """[T, 4] xywh boxes of a result file with 4 values per line, or 8 (polygon -> bounding box)."""
    try:
        return read_boxes(path)
    except ResultFileError as err4:
        try:
            poly = read_boxes(path, num_fields=8)
        except ResultFileError:
            raise err4 from None
    xs, ys = poly[:, 0::2], poly[:, 1::2]
    x0, y0 = xs.min(1), ys.min(1)
    return np.stack([x0, y0, xs.max(1) - x0, ys.max(1) - y0], axis=1)


def _read_gt_dir(anno_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not os.path.isdir(anno_dir):
        raise ResultFileError(f"{anno_dir}: annotation directory not found")
    names = sorted(f[:-4] for f in os.listdir(anno_dir) if f.endswith(".txt") and not f.endswith("_time.txt"))
    if not names:
        raise ResultFileError(f"{anno_dir}: no <sequence>.txt annotation files")
    out = {}
    for name in names:
        gt = read_boxes(os.path.join(anno_dir, name + ".txt"))
        out[name] = (gt, np.ones(len(gt), dtype=bool))
    return out


def load_ground_truth(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{sequence name: (gt [T, 4] xywh, valid [T] bool = target present)} from ``--anno-dir`` (OTB toolkit
    layout: one ``<Seq>.txt`` per sequence) or from ``--dataset NAME --data-root DIR`` (the evaluation
    readers of tracking.eval.datasets)."""
    if getattr(args, "anno_dir", None):
        return _read_gt_dir(args.anno_dir)
    if getattr(args, "dataset", None):
        from .datasets import load_ground_truth as dataset_ground_truth

        return dataset_ground_truth(args.dataset, args.data_root)
    raise ValueError("give --anno-dir (or --dataset with --data-root)")


def _read_fps(tracker_dir: str, names: list[str]) -> float | None:
    total_t, total_n = 0.0, 0
    for name in names:
        p = os.path.join(tracker_dir, name + "_time.txt")
        if not os.path.isfile(p):
            return None
        with open(p) as f:
            times = [float(v) for v in f.read().replace(",", " ").split()]
        total_t += sum(times)
        total_n += len(times)
    return total_n / total_t if total_t > 0 else None


def evaluate_tracker(tracker_dir: str, gts: dict, protocol: str = "otb", allow_missing: bool = False) -> dict:
    """Score one tracker folder on all sequences of ``gts``: {'overall': SequenceMetrics, 'sequences': {...},
    'fps': float | None, 'missing': [...]}.  Errors name the tracker and the sequence."""
    tracker = os.path.basename(os.path.normpath(tracker_dir))
    per_seq, frames, missing = {}, [], []
    for name, (gt, valid) in gts.items():
        path = os.path.join(tracker_dir, name + ".txt")
        if not os.path.isfile(path):
            if allow_missing:
                warnings.warn(f"tracker {tracker}: no result for sequence {name} ({path}); skipped")
                missing.append(name)
                continue
            raise ResultFileError(f"tracker {tracker}: no result for sequence {name} ({path})")
        try:
            fe = M.frame_errors(read_result(path), gt, valid, protocol)
        except (ResultFileError, ValueError) as e:
            raise ResultFileError(f"tracker {tracker}, sequence {name}: {e}") from None
        frames.append(fe)
        per_seq[name] = M._metrics_from_frames(fe)
    if not per_seq:
        raise ResultFileError(f"tracker {tracker}: no result file for any sequence in {tracker_dir}")
    return {"name": tracker, "overall": M.aggregate(list(per_seq.values()), protocol, frames),
            "sequences": per_seq, "fps": _read_fps(tracker_dir, list(per_seq)), "missing": missing}


def _columns(protocol: str):
    return COLUMNS + (GOT_COLUMNS if protocol == "got10k" else [])


def markdown_table(reports: list[dict], protocol: str) -> str:
    cols = _columns(protocol)
    show_fps = any(r["fps"] is not None for r in reports)
    head = ["Tracker"] + [c[1] for c in cols] + (["FPS"] if show_fps else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in sorted(reports, key=lambda r: -r["overall"].auc):
        row = [r["name"]] + [f"{getattr(r['overall'], k):.4f}" for k, _ in cols]
        if show_fps:
            row.append(f"{r['fps']:.1f}" if r["fps"] is not None else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _json_report(reports: list[dict], protocol: str, sequences: list[str]) -> dict:
    out = {"protocol": protocol, "sequences": sequences,
           "thresholds": {"overlap": M.OVERLAP_THRESHOLDS.tolist(), "error": M.ERROR_THRESHOLDS.tolist(),
                          "norm_error": M.NORM_ERROR_THRESHOLDS.tolist()},
           "trackers": {}}
    for r in sorted(reports, key=lambda r: -r["overall"].auc):
        o = r["overall"]
        out["trackers"][r["name"]] = {
            **o.scalars(), "fps": r["fps"], "missing": r["missing"],
            "success_curve": o.success_curve.tolist(), "precision_curve": o.precision_curve.tolist(),
            "norm_precision_curve": o.norm_precision_curve.tolist(),
            "per_sequence": {k: {**v.scalars(), "success_curve": v.success_curve.tolist(),
                                 "precision_curve": v.precision_curve.tolist()}
                             for k, v in r["sequences"].items()}}
    return out


def _score_one(args) -> int:
    gt = read_boxes(args.gt)
    m = M.evaluate_sequence(read_result(args.score), gt, None, args.protocol)
    print(f"{os.path.basename(args.score)} vs {os.path.basename(args.gt)} (protocol {args.protocol}, "
          f"{m.num_frames} frames counted)")
    for k, label in _columns(args.protocol) + ([] if args.protocol == "got10k" else GOT_COLUMNS):
        print(f"{label:>13}: {getattr(m, k):.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracking.eval.report", description=__doc__.split("\n")[0])
    p.add_argument("--results", nargs="+", metavar="DIR", help="one folder of <seq>.txt per tracker")
    p.add_argument("--anno-dir", help="ground truth: <Seq>.txt per sequence (OTB toolkit format)")
    p.add_argument("--dataset", help="dataset name for tracking.eval.datasets (with --data-root)")
    p.add_argument("--data-root", help="dataset root for --dataset")
    p.add_argument("--protocol", default="otb", choices=M.PROTOCOLS)
    p.add_argument("--out-dir", help="write report.md, report.json (and plots) here")
    p.add_argument("--plot", action="store_true", help="write success_plot.png and precision_plot.png")
    p.add_argument("--allow-missing", action="store_true", help="skip missing result files with a warning")
    p.add_argument("--score", metavar="RESULT.txt", help="score a single result file (with --gt)")
    p.add_argument("--gt", metavar="GT.txt", help="ground truth of --score")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.score or args.gt:
            if not (args.score and args.gt):
                parser.error("--score and --gt go together")
            return _score_one(args)
        if not args.results:
            parser.error("give --results DIR [DIR ...] (or --score/--gt)")
        if args.dataset and not args.data_root:
            parser.error("--dataset needs --data-root")
        gts = load_ground_truth(args)
        reports = [evaluate_tracker(d, gts, args.protocol, args.allow_missing) for d in args.results]
    except (ResultFileError, NotImplementedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown_table(reports, args.protocol)
    print(table, end="")
    if args.plot and not args.out_dir:
        args.out_dir = "."
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "report.md"), "w") as f:
            f.write(f"# OPE report ({args.protocol} protocol, {len(gts)} sequences)\n\n{table}")
        with open(os.path.join(args.out_dir, "report.json"), "w") as f:
            json.dump(_json_report(reports, args.protocol, list(gts)), f, indent=1)
        if args.plot:
            from .plots import plot_precision, plot_success
            n = len(gts)
            s = plot_success({r["name"]: r["overall"].success_curve for r in reports},
                             {r["name"]: r["overall"].auc for r in reports},
                             os.path.join(args.out_dir, "success_plot.png"), f"Success plots of OPE ({n} sequences)")
            p = plot_precision({r["name"]: r["overall"].precision_curve for r in reports},
                               os.path.join(args.out_dir, "precision_plot.png"),
                               f"Precision plots of OPE ({n} sequences)")
            print(f"plots: {s} {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
