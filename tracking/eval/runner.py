"""One-pass evaluation (OPE) runner and result packers for the GOT-10k and TrackingNet servers.

Tracker protocol: ``tracker_factory()`` returns a fresh tracker per sequence, with
``initialize(frame, box) -> None`` (frame: HxWx3 RGB uint8, box: float64 [4] xywh in the benchmark's
coordinates, i.e. ``SequenceInfo.init_box``) and ``track(frame) -> box [4]`` (anything ``np.asarray`` turns
into 4 floats). Sequences are the :class:`~tracking.data.sequence.SequenceInfo` objects of a dataset of
:mod:`tracking.data.datasets` (:func:`tracking.eval.benchmarks.load_benchmark`).

Per sequence (:func:`run_sequence`): the result of frame 1 is the init box; frames are decoded with OpenCV
(BGR -> RGB; grayscale images are expanded to 3 channels) outside the timed region; ``initialize`` and every
``track`` call are timed with ``time.perf_counter``; ``<out_dir>/<seq>_time.txt`` and then ``<seq>.txt`` are
written atomically (the box file is written last, so it marks a finished sequence). Resumable: a sequence
whose ``<seq>.txt`` exists is skipped unless ``overwrite``. Any exception in the tracker or while decoding a
frame fails that sequence only: it is logged with the sequence name (and the frame file for decoding
errors), no result file is left for it (with ``overwrite``, stale files of an earlier run are removed too),
and the run continues.

Parallelism (:func:`run_dataset` with ``workers > 1``): a ``multiprocessing`` pool with the ``spawn`` start
method, one sequence per task. The factory and the sequences are pickled to the workers, so the factory
must be picklable: a module-level class or function, or a ``functools.partial`` of one (not a lambda or a
local function); it is checked before the pool starts. Each worker limits torch to one thread when torch is
already imported by the factory's module (``torch.set_num_threads(1)``) to avoid oversubscription.

CLI (smoke tests with the built-in trivial trackers)::

    python -m tracking.eval.runner --dataset otb --data-root DIR --tracker template --out DIR [--workers N]

A missing dataset root or sequence, or a malformed annotation, is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import pickle
import sys
import time
import traceback
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tracking.data.annotations import AnnotationError, read_boxes, write_boxes, write_times
from tracking.data.frames import decode_frame
from tracking.data.sequence import SequenceInfo, valid_boxes
from tracking.eval.benchmarks import BENCHMARK_NAMES, load_benchmark

log = logging.getLogger(__name__)


@dataclass
class SequenceStatus:
    name: str
    status: str  # "done" | "skipped" | "failed"
    frames: int = 0
    seconds: float = 0.0  # total tracker time (initialize + track calls)
    error: str | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.status == "done" and self.seconds > 0 else float("nan")


@dataclass
class RunSummary:
    statuses: list[SequenceStatus] = field(default_factory=list)

    def _names(self, status: str) -> list[str]:
        return [s.name for s in self.statuses if s.status == status]

    @property
    def done(self) -> list[str]:
        return self._names("done")

    @property
    def skipped(self) -> list[str]:
        return self._names("skipped")

    @property
    def failed(self) -> list[str]:
        return self._names("failed")

    @property
    def mean_fps(self) -> float:
        """Mean over the sequences run now of frames / tracker seconds (NaN if none ran)."""
        fps = [s.fps for s in self.statuses if s.status == "done" and s.seconds > 0]
        return float(np.mean(fps)) if fps else float("nan")

    def __str__(self) -> str:
        text = (f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed; "
                f"mean fps {self.mean_fps:.1f}")
        for s in self.statuses:
            if s.status == "failed":
                text += f"\n  FAILED {s.name}: {s.error}"
        return text


def result_paths(out_dir: str | os.PathLike, name: str) -> tuple[str, str]:
    out_dir = os.fspath(out_dir)
    return os.path.join(out_dir, f"{name}.txt"), os.path.join(out_dir, f"{name}_time.txt")


def _as_box(value, name: str, index: int) -> np.ndarray:
    box = np.asarray(value, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"{name}: tracker returned {box.shape[0]} values at frame {index + 1}, expected 4")
    return box


def run_sequence(tracker_factory, seq: SequenceInfo, out_dir: str | os.PathLike,
                 overwrite: bool = False) -> SequenceStatus:
    """Run one sequence (see the module docstring); returns its status, never raises for tracker errors."""
    box_path, time_path = result_paths(out_dir, seq.name)
    if os.path.exists(box_path) and not overwrite:
        return SequenceStatus(seq.name, "skipped", frames=len(seq))
    try:
        init_box = seq.init_box
        if not valid_boxes(init_box[None])[0]:
            raise ValueError(f"unusable first-frame box {init_box.tolist()} (needs finite x, y and w, h > 0)")
        tracker = tracker_factory()
        n = len(seq)
        boxes = np.empty((n, 4), dtype=np.float64)
        times = np.empty(n, dtype=np.float64)
        for i, path in enumerate(seq.frames):
            frame = decode_frame(path, rgb=True)
            if i == 0:
                t0 = time.perf_counter()
                tracker.initialize(frame, init_box.copy())
                times[0] = time.perf_counter() - t0
                boxes[0] = init_box
            else:
                t0 = time.perf_counter()
                out = tracker.track(frame)
                times[i] = time.perf_counter() - t0
                boxes[i] = _as_box(out, seq.name, i)
        os.makedirs(os.fspath(out_dir), exist_ok=True)
        write_times(time_path, times)
        write_boxes(box_path, boxes)  # last: its presence marks the sequence as finished
    except Exception as e:  # noqa: BLE001 - one bad sequence must not stop the run
        for p in (box_path, time_path):
            if os.path.exists(p):
                os.remove(p)
        log.error("sequence %s failed: %s\n%s", seq.name, e, traceback.format_exc())
        return SequenceStatus(seq.name, "failed", error=f"{type(e).__name__}: {e}")
    return SequenceStatus(seq.name, "done", frames=n, seconds=float(times.sum()))


def _worker_init():
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _run_task(args) -> SequenceStatus:
    factory, seq, out_dir, overwrite = args
    _worker_init()
    return run_sequence(factory, seq, out_dir, overwrite)


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="seq")


def run_dataset(tracker_factory, sequences: Iterable[SequenceInfo], out_dir: str | os.PathLike,
                workers: int = 1, overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Run every sequence (resumable, failures isolated); ``workers > 1`` runs sequences in parallel
    processes (spawn; the factory must be picklable). Returns a :class:`RunSummary` in sequence order."""
    sequences = list(sequences)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    order = {s.name: i for i, s in enumerate(sequences)}
    if len(order) != len(sequences):
        raise ValueError("run_dataset: duplicate sequence names (their result files would collide)")
    bar = _progress(len(sequences)) if progress else None
    statuses: list[SequenceStatus] = []

    def report(st: SequenceStatus):
        statuses.append(st)
        if bar is not None:
            bar.set_postfix_str(f"{st.name} {st.status}" + (f" {st.fps:.1f} fps" if st.status == "done" else ""))
            bar.update(1)

    try:
        if workers <= 1 or len(sequences) <= 1:
            for seq in sequences:
                report(run_sequence(tracker_factory, seq, out_dir, overwrite))
        else:
            try:
                pickle.dumps(tracker_factory)
            except Exception as e:
                raise TypeError(f"run_dataset(workers={workers}): the tracker factory must be picklable "
                                f"(a module-level class/function or functools.partial of one): {e}") from e
            tasks = [(tracker_factory, seq, out_dir, overwrite) for seq in sequences]
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(processes=min(workers, len(sequences))) as pool:
                for st in pool.imap_unordered(_run_task, tasks):
                    report(st)
    finally:
        if bar is not None:
            bar.close()
    statuses.sort(key=lambda s: order[s.name])
    summary = RunSummary(statuses)
    if progress:
        print(summary, flush=True)
    return summary


# ----------------------------------------------------------------------------------------------- packers

def _result_names(results_dir: str) -> list[str]:
    if not os.path.isdir(results_dir):
        raise FileNotFoundError(f"results dir not found: {results_dir}")
    names = sorted(f[:-4] for f in os.listdir(results_dir)
                   if f.endswith(".txt") and not f.endswith("_time.txt") and not f.startswith("."))
    if not names:
        raise FileNotFoundError(f"no <seq>.txt result files in {results_dir}")
    return names


def _box_text(path: str) -> str:
    boxes = read_boxes(path, allow_empty=False)
    return "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes)


def _write_zip(out_zip: str, entries: list[tuple[str, str]]) -> str:
    out_zip = os.fspath(out_zip)
    os.makedirs(os.path.dirname(os.path.abspath(out_zip)), exist_ok=True)
    tmp = f"{out_zip}.tmp{os.getpid()}"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for arcname, text in entries:
            z.writestr(arcname, text)
    os.replace(tmp, out_zip)
    return out_zip


def _packed_names(results_dir: str, sequences, who: str) -> list[str]:
    """The result names to pack: all of them, or exactly `sequences` (all of which must have results)."""
    names = _result_names(results_dir)
    if sequences is None:
        return names
    missing = sorted(set(sequences) - set(names))
    if missing:
        raise FileNotFoundError(f"{who}: no results for {len(missing)} sequence(s): {missing[:5]}")
    wanted = set(sequences)
    return [n for n in names if n in wanted]


def pack_got10k(results_dir: str | os.PathLike, out_zip: str | os.PathLike, sequences=None) -> str:
    """Zip for the GOT-10k test server: for each sequence ``<seq>/<seq>_001.txt`` (one ``x,y,w,h`` line per
    frame, commas, the first and only run) and ``<seq>/<seq>_time.txt`` (one time in seconds per line).
    Every result must have its ``_time.txt``; ``sequences`` (e.g. the reader's names), when given, must all
    have results. Returns the zip path."""
    results_dir = os.fspath(results_dir)
    names = _packed_names(results_dir, sequences, "pack_got10k")
    entries = []
    for n in names:
        box_path, time_path = result_paths(results_dir, n)
        if not os.path.isfile(time_path):
            raise FileNotFoundError(f"pack_got10k: {time_path} missing (the server requires times)")
        entries.append((f"{n}/{n}_001.txt", _box_text(box_path)))
        with open(time_path) as f:
            entries.append((f"{n}/{n}_time.txt", f.read()))
    return _write_zip(out_zip, entries)


def pack_trackingnet(results_dir: str | os.PathLike, out_zip: str | os.PathLike, sequences=None) -> str:
    """Zip for the TrackingNet server: ``<seq>.txt`` per sequence at the zip root, one ``x,y,w,h`` line per
    frame with commas (no time files). Returns the zip path."""
    results_dir = os.fspath(results_dir)
    names = _packed_names(results_dir, sequences, "pack_trackingnet")
    entries = [(f"{n}.txt", _box_text(result_paths(results_dir, n)[0])) for n in names]
    return _write_zip(out_zip, entries)


# ----------------------------------------------------------------------------------------------- CLI

def main(argv=None) -> int:
    from tracking.eval.trackers import TRACKERS, make_tracker_factory

    p = argparse.ArgumentParser(prog="python -m tracking.eval.runner",
                                description="OPE run of a built-in trivial tracker (smoke tests).")
    p.add_argument("--dataset", required=True, help=", ".join(BENCHMARK_NAMES))
    p.add_argument("--data-root", default=None,
                   help="dataset root (else TRACKING_<NAME>_ROOT, else the settings file)")
    p.add_argument("--tracker", default="static", choices=sorted(TRACKERS))
    p.add_argument("--out", required=True, help="results dir (<seq>.txt, <seq>_time.txt)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--sequences", nargs="*", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--pack", choices=("got10k", "trackingnet"), default=None, help="also write <out>.zip")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        dataset = load_benchmark(args.dataset, args.data_root, args.sequences)
    except (FileNotFoundError, AnnotationError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = run_dataset(make_tracker_factory(args.tracker), list(dataset), args.out, workers=args.workers,
                          overwrite=args.overwrite)
    if args.pack:
        packer = pack_got10k if args.pack == "got10k" else pack_trackingnet
        try:
            print("wrote", packer(args.out, os.path.normpath(args.out) + ".zip"))
        except (FileNotFoundError, AnnotationError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
