"""One-pass evaluation (OPE) runner (the servers' result packers: :mod:`tracking.eval.packing`).

Tracker protocol: ``tracker_factory()`` returns a fresh tracker per sequence, with
``initialize(frame, box) -> None`` (frame: HxWx3 RGB uint8, box: float64 [4] xywh in the benchmark's
coordinates, i.e. ``SequenceInfo.init_box``) and ``track(frame) -> box``: 4 numbers x, y, w, h (a sequence, an
array of shape [4] or [1, 4], anything ``np.asarray`` turns into one). Sequences are the
:class:`~tracking.data.sequence.SequenceInfo` objects of a dataset of :mod:`tracking.data.datasets`
(:func:`tracking.eval.benchmarks.load_benchmark`).

Per sequence (:func:`run_sequence`): the result of frame 1 is the init box; frames are decoded with OpenCV
(BGR -> RGB; grayscale images are expanded to 3 channels) outside the timed region; ``initialize`` and every
``track`` call are timed with ``time.perf_counter``; ``<out_dir>/<seq>_time.txt`` and then ``<seq>.txt`` are
written atomically (the box file is written last, so it marks a finished sequence). Resumable: a sequence
whose ``<seq>.txt`` exists is skipped unless ``overwrite``. Any exception in the tracker or while decoding a
frame fails that sequence only -- ``SystemExit`` and ``KeyboardInterrupt`` raised by the tracker's code
included: it is logged with the sequence name (and the frame file for decoding errors), no result file is
left for it (with ``overwrite``, stale files of an earlier run are removed too), and the run continues. A
real Ctrl-C (a SIGINT received by the process while a sequence runs) is not a failure: it stops the run.

Invalid tracker outputs (:func:`frame_box`): a box that is not finite (NaN, inf) or has ``w <= 0`` or
``h <= 0`` is an *invalid frame*, and so is an output that is not 4 numbers (wrong shape such as [2, 2] or
[3], ``None``, not numeric): the sequence goes on. What is written: a 4-number output as the tracker gave it
(``nan``, ``inf``, negative sizes -- the result format holds them and every reader, this package's, the
pytracking and OTB toolkits', parses them), anything else as a NaN row ``nan,nan,nan,nan``. Scoring them is
the metrics' business (:mod:`tracking.eval.metrics`: OTB and LaSOT carry the previous box forward, GOT-10k
counts a failure). The number of invalid frames of a sequence (:func:`count_invalid_frames`) is counted on
the result file as written -- the rows that are not :func:`~tracking.data.sequence.valid_boxes` -- so the
run summary (finished and skipped sequences alike) and the report (``invalid_frames`` in ``report.json``)
give the same count, also after a resume; the first invalid output of a sequence is logged with its reason.

Parallelism (:func:`run_dataset` with ``workers > 1``): :func:`tracking.eval.workers.run_tasks`, a
``concurrent.futures`` process pool (``spawn``), one sequence per task. The factory and the sequences are
pickled to the workers, so the factory must be picklable: a module-level class or function, or a
``functools.partial`` of one (not a lambda or a local function); it is checked before the pool starts. Each
worker limits torch to one thread to avoid oversubscription: ``torch.set_num_threads(1)`` when the factory's
module imported torch, else ``OMP_NUM_THREADS=1`` for the tracker that imports it later. A worker process that dies (``os._exit``, SIGKILL, a
crash) never hangs the run: the sequences in flight are rerun once, each alone in a fresh worker; the one
that kills its worker again is failed ("its worker process died (exit code 1) ..."), its result files
removed, and the other sequences go on in a fresh pool (the rule is in :mod:`tracking.eval.workers`). With
``workers=1`` sequences run in this process: a tracker that kills the process ends the run (rerun to resume:
the finished sequences are skipped) -- use ``workers >= 2`` to isolate such trackers. When the first
sequences all kill their workers and none finishes (say, the workers cannot import the factory), the run
stops with :class:`~tracking.eval.workers.WorkersKeepDying` rather than failing every sequence one by one.

CLI: a parameter set (``configs/trackers/<name>.yaml`` or a .yaml path) with its weights, a built-in trivial
tracker (smoke tests) or any ``module:attr`` factory (:func:`tracking.eval.trackers.make_tracker_factory`)::

    python -m tracking.eval.runner --dataset otb --data-root DIR --tracker dimp50 --weights dimp50.pth \
        --out results/dimp50 [--workers N] [--params key=value ...] [--device auto|cpu|cuda[:N]] [--seed S]
    python -m tracking.eval.runner --dataset otb --data-root DIR --tracker template --out DIR

A parameter-set tracker is built once before the run (so a missing or mismatching weights file, an unknown
parameter or device is one error), then by every process for its sequences (one device per process; GPUs
over worker processes: :mod:`tracking.eval.trackers`). A missing dataset root or sequence, a malformed
annotation, an unknown tracker or such a tracker error is one line on stderr and exit code 2; exit code 1
when a sequence failed (the summary lists them) or the workers keep dying (one line on stderr), 130 after
Ctrl-C, else 0 (invalid frames do not change it: the summary counts them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tracking.data.annotations import AnnotationError, read_boxes, write_boxes, write_times
from tracking.data.frames import decode_frame
from tracking.data.sequence import SequenceInfo, valid_boxes
from tracking.eval.benchmarks import BENCHMARK_NAMES, load_benchmark
from tracking.eval.packing import pack_got10k, pack_trackingnet, result_paths  # noqa: F401  (public here too)
from tracking.eval.workers import WorkersKeepDying, run_tasks

log = logging.getLogger(__name__)


@dataclass
class SequenceStatus:
    """The outcome of one sequence; ``frames`` is its length (done and skipped), ``error`` says why it failed."""

    name: str
    status: str  # "done" | "skipped" | "failed"
    frames: int = 0
    seconds: float = 0.0  # total tracker time (initialize + track calls)
    error: str | None = None
    invalid_frames: int | None = None  # rows of the result file that are not valid boxes (None: no file)

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
    def invalid_frames(self) -> dict[str, int]:
        """{sequence: number of invalid frames} of the done and skipped sequences that have any."""
        return {s.name: s.invalid_frames for s in self.statuses if s.invalid_frames}

    @property
    def mean_fps(self) -> float:
        """Mean over the sequences run now of frames / tracker seconds (NaN if none ran)."""
        fps = [s.fps for s in self.statuses if s.status == "done" and s.seconds > 0]
        return float(np.mean(fps)) if fps else float("nan")

    def __str__(self) -> str:
        invalid = self.invalid_frames
        text = (f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed; "
                f"{sum(invalid.values())} invalid frame(s) in {len(invalid)} sequence(s); "
                f"mean fps {self.mean_fps:.1f}")
        for s in self.statuses:
            if s.status == "failed":
                text += f"\n  FAILED {s.name}: {s.error}"
            elif s.invalid_frames:
                text += f"\n  INVALID {s.name}: {s.invalid_frames} of {s.frames} frames"
        return text


NAN_BOX = np.full(4, np.nan)


def frame_box(output) -> tuple[np.ndarray, str | None]:
    """``(box [4] float64, why it is invalid or None)`` of one ``track()`` output (module docstring): 4 numbers
    (shape [4] or [1, 4]) are kept as given, anything else becomes :data:`NAN_BOX`."""
    try:
        box = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError) as e:
        return NAN_BOX.copy(), f"not 4 numbers ({type(output).__name__}: {e})"
    if box.shape not in ((4,), (1, 4)):
        return NAN_BOX.copy(), f"shape {box.shape}, expected (4,) x,y,w,h"
    box = box.reshape(4).copy()
    if not np.isfinite(box).all():
        return box, f"not finite {box.tolist()}"
    if not valid_boxes(box)[0]:
        return box, f"size w={box[2]:g}, h={box[3]:g} not > 0"
    return box, None


def count_invalid_frames(boxes: np.ndarray) -> int:
    """Number of rows of [T, 4] xywh result boxes that are not valid boxes (NaN, inf, ``w <= 0`` or ``h <= 0``):
    the invalid frames of the run summary and of the report (both count them on the result file)."""
    return int((~valid_boxes(boxes)).sum())


class _SigintWatch(contextlib.AbstractContextManager):
    """Notes whether this process receives a SIGINT while active, so that a real Ctrl-C can be told from a
    ``KeyboardInterrupt`` raised by a tracker. Only the main thread receives signals; where SIGINT is ignored
    or not turned into KeyboardInterrupt (worker processes, other threads) no real one can arise."""

    def __enter__(self):
        self.received = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):
                def handler(signum, frame):
                    self.received = True
                    previous(signum, frame)

                signal.signal(signal.SIGINT, handler)
                self._previous = previous
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _track(tracker_factory, seq: SequenceInfo) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Boxes [T, 4], seconds [T] and {0-based frame: why its output is invalid} of one sequence."""
    init_box = seq.init_box
    if not valid_boxes(init_box[None])[0]:
        raise ValueError(f"unusable first-frame box {init_box.tolist()} (needs finite x, y and w, h > 0)")
    tracker = tracker_factory()
    n = len(seq)
    boxes = np.empty((n, 4), dtype=np.float64)
    times = np.empty(n, dtype=np.float64)
    invalid: dict[int, str] = {}
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
            boxes[i], why = frame_box(out)
            if why is not None:
                invalid[i] = why
    return boxes, times, invalid


def _remove_results(out_dir: str | os.PathLike, name: str) -> None:
    for p in result_paths(out_dir, name):
        if os.path.exists(p):
            os.remove(p)


def _skipped(seq: SequenceInfo, box_path: str) -> SequenceStatus:
    try:
        invalid = count_invalid_frames(read_boxes(box_path))
    except (OSError, ValueError) as e:
        log.warning("sequence %s: existing result unreadable, skipped anyway (rerun with overwrite): %s",
                    seq.name, e)
        invalid = None
    return SequenceStatus(seq.name, "skipped", frames=len(seq), invalid_frames=invalid)


def run_sequence(tracker_factory, seq: SequenceInfo, out_dir: str | os.PathLike,
                 overwrite: bool = False) -> SequenceStatus:
    """Run one sequence (see the module docstring); returns its status. Never raises for the tracker's errors
    (``SystemExit`` and ``KeyboardInterrupt`` included); re-raises ``KeyboardInterrupt`` after a real SIGINT."""
    box_path, time_path = result_paths(out_dir, seq.name)
    if os.path.exists(box_path) and not overwrite:
        return _skipped(seq, box_path)
    with _SigintWatch() as sigint:
        try:
            boxes, times, invalid = _track(tracker_factory, seq)
            os.makedirs(os.fspath(out_dir), exist_ok=True)
            write_times(time_path, times)
            write_boxes(box_path, boxes)  # last: its presence marks the sequence as finished
            n_invalid = count_invalid_frames(read_boxes(box_path))  # as written (4 decimals), as the report
        except BaseException as e:  # noqa: BLE001 - one bad sequence must not stop the run
            _remove_results(out_dir, seq.name)
            if sigint.received:  # a real Ctrl-C: stop the run, leave no result for this sequence
                if isinstance(e, KeyboardInterrupt):
                    raise
                raise KeyboardInterrupt from e  # the tracker turned it into another error
            log.error("sequence %s failed: %s: %s\n%s", seq.name, type(e).__name__, e, traceback.format_exc())
            return SequenceStatus(seq.name, "failed", error=f"{type(e).__name__}: {e}")
    if sigint.received:
        raise KeyboardInterrupt  # Ctrl-C landed while the tracker was running and the tracker swallowed it
    if n_invalid:
        first = min(invalid, default=None)
        log.warning("sequence %s: %d invalid frame(s) written%s", seq.name, n_invalid,
                    f", first frame {first + 1}: {invalid[first]}" if first is not None else "")
    return SequenceStatus(seq.name, "done", frames=len(seq), seconds=float(times.sum()), invalid_frames=n_invalid)


def _worker_init():
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = "1"  # read by torch when the tracker imports it (a parameter set)


def _run_task(args) -> SequenceStatus:
    factory, seq, out_dir, overwrite = args
    _worker_init()
    return run_sequence(factory, seq, out_dir, overwrite)


def _run_parallel(tracker_factory, sequences: list[SequenceInfo], out_dir: str, workers: int,
                  overwrite: bool) -> Iterable[SequenceStatus]:
    """Statuses of ``sequences`` run in worker processes (module docstring), in completion order."""
    try:
        pickle.dumps(tracker_factory)
        module = getattr(getattr(tracker_factory, "func", tracker_factory), "__module__", None)
        if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
            raise TypeError(f"{tracker_factory!r} is defined in an interactive __main__ (python -c, a notebook), "
                            "which the worker processes cannot import; define it in a module")
    except Exception as e:
        raise TypeError(f"run_dataset(workers={workers}): the tracker factory must be picklable "
                        f"(a module-level class/function or functools.partial of one): {e}") from e

    def on_break(suspects, status):
        log.warning("a worker process died (workers ended: %s) while running %s: rerunning each alone in a "
                    "fresh worker", status or "no exit status", ", ".join(t[1].name for t in suspects))

    tasks = [(tracker_factory, seq, out_dir, overwrite) for seq in sequences]
    with contextlib.closing(run_tasks(_run_task, tasks, workers, on_break=on_break)) as results:
        for (_, seq, _, _), status, err in results:
            if err is not None:
                _remove_results(out_dir, seq.name)  # a worker killed mid-write may leave a _time.txt
                log.error("sequence %s failed: %s: %s", seq.name, type(err).__name__, err)
                status = SequenceStatus(seq.name, "failed", error=f"{type(err).__name__}: {err}")
            yield status


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="seq")


def run_dataset(tracker_factory, sequences: Iterable[SequenceInfo], out_dir: str | os.PathLike,
                workers: int = 1, overwrite: bool = False, progress: bool = True) -> RunSummary:
    """Run every sequence (resumable, failures isolated); ``workers > 1`` runs sequences in parallel
    processes (spawn; the factory must be picklable; dead workers are handled, see the module docstring).
    Returns a :class:`RunSummary` in sequence order. A real Ctrl-C raises KeyboardInterrupt (workers killed)."""
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
        if workers <= 1:
            for seq in sequences:
                report(run_sequence(tracker_factory, seq, out_dir, overwrite))
        else:
            to_run = []
            for seq in sequences:
                box_path = result_paths(out_dir, seq.name)[0]
                if os.path.exists(box_path) and not overwrite:
                    report(_skipped(seq, box_path))
                else:
                    to_run.append(seq)
            if to_run:
                for st in _run_parallel(tracker_factory, to_run, out_dir, workers, overwrite):
                    report(st)
    finally:
        if bar is not None:
            bar.close()
    statuses.sort(key=lambda s: order[s.name])
    summary = RunSummary(statuses)
    if progress:
        print(summary, flush=True)
    return summary


# ----------------------------------------------------------------------------------------------- CLI

def main(argv=None) -> int:
    from tracking.eval.trackers import TRACKERS, ParamSetTracker, make_tracker_factory

    p = argparse.ArgumentParser(prog="python -m tracking.eval.runner",
                                description="OPE run of a parameter-set tracker (configs/trackers), a built-in "
                                            "trivial tracker (smoke tests) or any tracker factory (module:attr).")
    p.add_argument("--dataset", required=True, help=", ".join(BENCHMARK_NAMES))
    p.add_argument("--data-root", default=None,
                   help="dataset root (else TRACKING_<NAME>_ROOT, else the settings file)")
    p.add_argument("--tracker", default="static",
                   help=f"a parameter set (name or .yaml path), {', '.join(sorted(TRACKERS))}, or module:attr of a "
                        "tracker factory (importable)")
    p.add_argument("--weights", default=None, help="network weights of a parameter-set tracker")
    p.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE", help="parameter overrides")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (parameter-set trackers)")
    p.add_argument("--seed", type=int, default=0, help="seed of a parameter-set tracker")
    p.add_argument("--out", required=True, help="results dir (<seq>.txt, <seq>_time.txt)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--sequences", nargs="*", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--pack", choices=("got10k", "trackingnet"), default=None, help="also write <out>.zip")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        factory = make_tracker_factory(args.tracker, args.weights, args.params, args.device, args.seed)
        dataset = load_benchmark(args.dataset, args.data_root, args.sequences)
        if isinstance(factory, ParamSetTracker):
            factory.check(keep_network=args.workers <= 1)
    except (FileNotFoundError, AnnotationError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        summary = run_dataset(factory, list(dataset), args.out, workers=args.workers, overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"interrupted: rerun the same command to resume (finished sequences in {args.out} are kept)",
              file=sys.stderr)
        return 130
    except WorkersKeepDying as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
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
