"""Benchmark report: score trackers' result folders against ground truth, print/write tables and plots.

Usage::

    python -m tracking.eval.report --results RES/TrackerA RES/TrackerB --anno-dir OTB/anno \\
        [--protocol otb] [--out-dir OUT] [--plot] [--allow-missing]
    python -m tracking.eval.report --results RES/TrackerA --dataset lasot --data-root DIR [--sequences S ...]
    python -m tracking.eval.report --score RESULT.txt --gt GT.txt [--protocol otb]

* Each ``--results`` folder is one tracker (its name = the folder name) holding ``<seq>.txt`` (and
  optionally ``<seq>_time.txt`` with per-frame seconds: FPS = all frames / all seconds, reported only when
  every sequence has one).
* The sequences are those of the ground truth: ``--anno-dir`` holds ``<Seq>.txt`` per sequence (OTB
  toolkit format, the evaluated frame range only, every frame present); ``--dataset NAME --data-root DIR``
  reads a benchmark with :func:`tracking.eval.benchmarks.load_benchmark` (its evaluation split, its own
  coordinates and absent-frame labels), narrowed by ``--sequences``.
* ``--protocol`` defaults to the benchmark's own (got10k for GOT-10k, lasot for LaSOT / TrackingNet, otb
  otherwise: :func:`tracking.eval.benchmarks.default_protocol`).
* Result lines: ``x,y,w,h`` separated by commas, tabs or spaces, or polygon corners (their axis-aligned
  box): :func:`tracking.data.annotations.read_regions`.
* A missing result file is an error naming tracker and sequence, unless ``--allow-missing`` (the sequence
  is then skipped for that tracker, with a warning; its overall scores are over fewer sequences).
* Every error (missing root, sequence or file, malformed line, wrong length) is one line on stderr and exit
  code 2.
* Overall scores follow :func:`tracking.eval.metrics.aggregate` (OTB: mean over sequences).
* Invalid frames: the result rows that are not valid boxes (NaN -- also a polygon with a NaN or a 1-value VOT
  status line --, inf, ``w <= 0`` or ``h <= 0``), counted with
  :func:`tracking.eval.runner.count_invalid_frames` on the rows of the file, as the runner's summary counts
  them: ``invalid_frames`` per sequence and in total per tracker in ``report.json``, an "Invalid" column in
  the table when any tracker has some. They are scored by the protocol's rules
  (:mod:`tracking.eval.metrics`: OTB and LaSOT carry the previous box forward, GOT-10k counts a failure);
  the count only reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import numpy as np

from tracking.data.annotations import AnnotationError, read_boxes, read_regions, read_times
from tracking.data.datasets.base import select_names

from . import metrics as M
from .benchmarks import BENCHMARK_NAMES, default_protocol, load_benchmark
from .runner import count_invalid_frames

COLUMNS = [("auc", "AUC"), ("precision", "Prec@20"), ("norm_precision", "NormPrec@0.2"), ("op50", "OP50"),
           ("op75", "OP75")]
GOT_COLUMNS = [("ao", "AO"), ("sr50", "SR0.5"), ("sr75", "SR0.75")]


class ReportError(ValueError):
    """A report that cannot be made (no ground truth, missing results); the message says what and where."""


def read_result(path: str | os.PathLike) -> np.ndarray:
    """[T, 4] xywh boxes of a result file (4-value lines, or polygons -> their bounding box)."""
    return read_regions(path, allow_empty=False)


def _read_gt_dir(anno_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not os.path.isdir(anno_dir):
        raise ReportError(f"{anno_dir}: annotation directory not found")
    names = sorted(f[:-4] for f in os.listdir(anno_dir) if f.endswith(".txt") and not f.endswith("_time.txt"))
    if not names:
        raise ReportError(f"{anno_dir}: no <sequence>.txt annotation files")
    out = {}
    for name in names:
        gt = read_boxes(os.path.join(anno_dir, name + ".txt"), allow_empty=False)
        out[name] = (gt, np.ones(len(gt), dtype=bool))
    return out


def load_ground_truth(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{sequence name: (gt [T, 4] xywh in the benchmark's coordinates, visible [T] bool)} from ``--anno-dir``
    or from ``--dataset NAME --data-root DIR [--sequences ...]``."""
    sequences = getattr(args, "sequences", None)
    if getattr(args, "anno_dir", None):
        gts = _read_gt_dir(args.anno_dir)
        return {s: gts[s] for s in select_names("annotations", list(gts), sequences, args.anno_dir)}
    if getattr(args, "dataset", None):
        dataset = load_benchmark(args.dataset, args.data_root, sequences)
        unscorable = [s.name for s in dataset if s.first_frame_only]
        if unscorable:
            raise ReportError(f"{args.dataset}: {len(unscorable)} sequence(s) have first-frame ground truth only "
                              f"(e.g. {unscorable[0]}): their results are scored by the benchmark's server "
                              "(python -m tracking.eval.runner ... --pack got10k|trackingnet)")
        return {s.name: (s.ground_truth, s.visible) for s in dataset}
    raise ReportError("give --anno-dir (or --dataset with --data-root)")


def _read_fps(tracker_dir: str, names: list[str]) -> float | None:
    total_t, total_n = 0.0, 0
    for name in names:
        p = os.path.join(tracker_dir, name + "_time.txt")
        if not os.path.isfile(p):
            return None
        times = read_times(p)
        total_t += float(times.sum())
        total_n += len(times)
    return total_n / total_t if total_t > 0 else None


def evaluate_tracker(tracker_dir: str, gts: dict, protocol: str = "otb", allow_missing: bool = False) -> dict:
    """Score one tracker folder on all sequences of ``gts``: {'overall': SequenceMetrics, 'sequences': {...},
    'fps': float | None, 'missing': [...], 'invalid_frames': {sequence: count}}.  Errors name the tracker and
    the sequence."""
    tracker = os.path.basename(os.path.normpath(tracker_dir))
    per_seq, frames, missing, invalid = {}, [], [], {}
    for name, (gt, valid) in gts.items():
        path = os.path.join(tracker_dir, name + ".txt")
        if not os.path.isfile(path):
            if allow_missing:
                warnings.warn(f"tracker {tracker}: no result for sequence {name} ({path}); skipped")
                missing.append(name)
                continue
            raise ReportError(f"tracker {tracker}: no result for sequence {name} ({path})")
        try:
            pred = read_result(path)
            fe = M.frame_errors(pred, gt, valid, protocol)
        except ValueError as e:  # AnnotationError, ResultLengthError
            raise ReportError(f"tracker {tracker}, sequence {name}: {e}") from None
        frames.append(fe)
        per_seq[name] = M.metrics_from_frames(fe)
        invalid[name] = count_invalid_frames(pred)
    if not per_seq:
        raise ReportError(f"tracker {tracker}: no result file for any sequence in {tracker_dir}")
    return {"name": tracker, "overall": M.aggregate(list(per_seq.values()), protocol, frames),
            "sequences": per_seq, "fps": _read_fps(tracker_dir, list(per_seq)), "missing": missing,
            "invalid_frames": invalid}


def _columns(protocol: str):
    return COLUMNS + (GOT_COLUMNS if protocol == "got10k" else [])


def markdown_table(reports: list[dict], protocol: str) -> str:
    cols = _columns(protocol)
    show_fps = any(r["fps"] is not None for r in reports)
    show_invalid = any(sum(r["invalid_frames"].values()) for r in reports)
    head = ["Tracker"] + [c[1] for c in cols] + (["FPS"] if show_fps else [])
    head += ["Invalid"] if show_invalid else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in sorted(reports, key=lambda r: -r["overall"].auc):
        row = [r["name"]] + [f"{getattr(r['overall'], k):.4f}" for k, _ in cols]
        if show_fps:
            row.append(f"{r['fps']:.1f}" if r["fps"] is not None else "-")
        if show_invalid:
            row.append(str(sum(r["invalid_frames"].values())))
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
            "invalid_frames": sum(r["invalid_frames"].values()),
            "success_curve": o.success_curve.tolist(), "precision_curve": o.precision_curve.tolist(),
            "norm_precision_curve": o.norm_precision_curve.tolist(),
            "per_sequence": {k: {**v.scalars(), "invalid_frames": r["invalid_frames"][k],
                                 "success_curve": v.success_curve.tolist(),
                                 "precision_curve": v.precision_curve.tolist()}
                             for k, v in r["sequences"].items()}}
    return out


def _score_one(args) -> int:
    gt = read_regions(args.gt, allow_empty=False)
    pred = read_result(args.score)
    m = M.evaluate_sequence(pred, gt, None, args.protocol)
    print(f"{os.path.basename(args.score)} vs {os.path.basename(args.gt)} (protocol {args.protocol}, "
          f"{m.num_frames} frames counted, {count_invalid_frames(pred)} invalid result frames)")
    for k, label in _columns(args.protocol) + ([] if args.protocol == "got10k" else GOT_COLUMNS):
        print(f"{label:>13}: {getattr(m, k):.4f}")
    return 0


def _write_outputs(args, reports: list[dict], gts: dict, table: str) -> None:
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
                           os.path.join(args.out_dir, "precision_plot.png"), f"Precision plots of OPE ({n} sequences)")
        print(f"plots: {s} {p}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracking.eval.report", description=__doc__.split("\n")[0])
    p.add_argument("--results", nargs="+", metavar="DIR", help="one folder of <seq>.txt per tracker")
    p.add_argument("--anno-dir", help="ground truth: <Seq>.txt per sequence (OTB toolkit format)")
    p.add_argument("--dataset", help=f"benchmark ({', '.join(BENCHMARK_NAMES)}), with --data-root")
    p.add_argument("--data-root", help="dataset root for --dataset (else TRACKING_<NAME>_ROOT or the settings file)")
    p.add_argument("--sequences", nargs="+", metavar="NAME", help="score only these sequences")
    p.add_argument("--protocol", default=None, choices=M.PROTOCOLS,
                   help="metrics protocol (default: the benchmark's own, otb for --anno-dir / --score)")
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
        if args.protocol is None:
            args.protocol = default_protocol(args.dataset) if args.dataset and not args.anno_dir else "otb"
        if args.score or args.gt:
            if not (args.score and args.gt):
                parser.error("--score and --gt go together")
            return _score_one(args)
        if not args.results:
            parser.error("give --results DIR [DIR ...] (or --score/--gt)")
        gts = load_ground_truth(args)
        reports = [evaluate_tracker(d, gts, args.protocol, args.allow_missing) for d in args.results]
    except (ReportError, AnnotationError, M.ResultLengthError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown_table(reports, args.protocol)
    print(table, end="")
    if args.plot and not args.out_dir:
        args.out_dir = "."
    if args.out_dir:
        _write_outputs(args, reports, gts, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
