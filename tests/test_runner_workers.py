"""The OPE runner when a tracker kills its worker, raises SystemExit / KeyboardInterrupt, or the user hits Ctrl-C.

Every run is a subprocess with a timeout, so a hang is a test failure rather than a hung suite; the trackers
are module-level classes of this module, imported by the runner's worker processes (``tests`` is on their
``PYTHONPATH``).
"""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from tracking.data.annotations import read_boxes, read_times
from tracking.eval.trackers import StaticTracker

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
NAMES = ["a", "b", "c", "d", "e"]
WIDE = 12.0  # sequence b's first box is this wide; the others' are 5 px
RUN_TIMEOUT = 120  # a correct run takes a few seconds; a hang shows as a failure after this


def _die(mode: str) -> None:
    if mode == "exit":
        os._exit(1)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "systemexit":
        raise SystemExit(3)
    if mode == "keyboardinterrupt":
        raise KeyboardInterrupt
    raise AssertionError(mode)


class DyingTracker(StaticTracker):
    """The static tracker, except on the sequence with the wide first box (b): dies at its frame 3."""

    mode = ""

    def initialize(self, frame, box):
        super().initialize(frame, box)
        self.n = 0
        self.dies = box[2] == WIDE

    def track(self, frame):
        self.n += 1
        if self.dies and self.n == 2:
            _die(self.mode)
        return super().track(frame)


class ExitTracker(DyingTracker):
    mode = "exit"


class SigkillTracker(DyingTracker):
    mode = "sigkill"


class SystemExitTracker(DyingTracker):
    mode = "systemexit"


class KeyboardInterruptTracker(DyingTracker):
    mode = "keyboardinterrupt"


class SlowTracker(StaticTracker):
    """Writes its pid to $SLOW_PIDS/<pid> on initialize, then sleeps 0.2 s per frame."""

    def initialize(self, frame, box):
        super().initialize(frame, box)
        with open(os.path.join(os.environ["SLOW_PIDS"], str(os.getpid())), "w"):
            pass

    def track(self, frame):
        time.sleep(0.2)
        return super().track(frame)


class DiesInWorkers:
    """A tracker factory that kills any process but the one that made it when it is unpickled there."""

    def __init__(self):
        self.pid = os.getpid()

    def __setstate__(self, state):
        self.__dict__.update(state)
        if os.getpid() != self.pid:
            os._exit(1)

    def __call__(self):
        return StaticTracker()


DIES_IN_WORKERS = DiesInWorkers()


class ExitWhileAnotherRuns(StaticTracker):
    """Every sequence notes its start in $SYNC/<sequence index>-<pid>; b waits until another sequence is running,
    then os._exit(1)s; the others take 0.3 s per frame (so that they are in flight when b's worker dies). The
    first run of a also waits until b has started: otherwise, with one worker still starting up, the other could
    finish a before b begins and a would not be in flight when b's worker dies."""

    def initialize(self, frame, box):
        super().initialize(frame, box)
        self.dies = box[2] == WIDE
        self.index = int(frame[0, 0, 0]) - 90
        open(os.path.join(os.environ["SYNC"], f"{self.index}-{os.getpid()}"), "w").close()

    def track(self, frame):
        sync = os.environ["SYNC"]
        if self.dies:
            _wait_for(lambda: any(not f.startswith("1-") for f in os.listdir(sync)), 30, "a")
            os._exit(1)
        if self.index == 0:
            _wait_for(lambda: any(f.startswith("1-") for f in os.listdir(sync)), 30, "b")
        time.sleep(0.3)
        return super().track(frame)


def _dataset(root, n_frames=6, names=NAMES):
    """A folder dataset: sequences of 20x30 PNGs of value 90 + the sequence's index, box (2, 3, 5, 6), b's
    (2, 3, WIDE, 6)."""
    for index, name in enumerate(names):
        d = root / name
        d.mkdir(parents=True)
        img = np.full((20, 30, 3), 90 + index, np.uint8)
        for i in range(n_frames):
            cv2.imwrite(str(d / f"{i:04d}.png"), img)
        (d / "groundtruth.txt").write_text(f"2,3,{WIDE if name == 'b' else 5.0},6\n")
    return root


# Runs the Python API (present before and after the fix), prints the summary and exits 1 on failures.
SCRIPT = """
import logging, sys
from tracking.eval.benchmarks import load_benchmark
from tracking.eval.runner import run_dataset
import test_runner_workers as t
logging.basicConfig(level=logging.WARNING)
data, out, tracker, workers = sys.argv[1:]
summary = run_dataset(getattr(t, tracker), list(load_benchmark("folder", data)), out, workers=int(workers))
sys.exit(1 if summary.failed else 0)
"""


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, REPO, os.environ.get("PYTHONPATH", "")]), **extra)
    return env


def _popen(args, **extra):
    return subprocess.Popen(args, cwd=REPO, env=_env(**extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _communicate(proc, timeout=RUN_TIMEOUT):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and any worker it left
        out, err = proc.communicate()
        pytest.fail(f"the run hung (killed after {timeout} s)\nstdout:\n{out}\nstderr:\n{err[-3000:]}")
    return proc.returncode, out, err


def _run(data, out, tracker, workers):
    return _communicate(_popen([sys.executable, "-c", SCRIPT, str(data), str(out), tracker, str(workers)]))


def _check_static_result(out, name, n_frames=6):
    boxes = read_boxes(out / f"{name}.txt")
    init_box = [2.0, 3.0, WIDE if name == "b" else 5.0, 6.0]
    np.testing.assert_array_equal(boxes, np.tile(init_box, (n_frames, 1)))
    assert read_times(out / f"{name}_time.txt").shape == (n_frames,)


# In-process (workers=1) a tracker that kills the process ends the run: the test after this one.
@pytest.mark.parametrize("tracker, workers", [
    ("ExitTracker", 2), ("SigkillTracker", 2), ("SystemExitTracker", 2), ("KeyboardInterruptTracker", 2),
    ("SystemExitTracker", 1), ("KeyboardInterruptTracker", 1)])
def test_dying_tracker_fails_its_sequence_only_and_resume_redoes_it(tmp_path, tracker, workers):
    data, out = _dataset(tmp_path / "data"), tmp_path / "out"
    rc, stdout, stderr = _run(data, out, tracker, workers)
    assert rc == 1, stderr[-3000:]
    assert "4 done, 0 skipped, 1 failed" in stdout, stdout
    failed = [line for line in stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].strip().startswith("FAILED b:")
    if tracker in ("ExitTracker", "SigkillTracker"):
        assert "worker process died" in failed[0]
        assert ("exit code 1" if tracker == "ExitTracker" else "killed by SIGKILL") in failed[0]
    else:
        assert ("SystemExit: 3" if tracker == "SystemExitTracker" else "KeyboardInterrupt") in failed[0]
    assert "sequence b failed" in stderr                                    # the log names it
    assert not (out / "b.txt").exists() and not (out / "b_time.txt").exists()
    for name in ("a", "c", "d", "e"):
        _check_static_result(out, name)
    mtimes = {n: os.path.getmtime(out / f"{n}.txt") for n in ("a", "c", "d", "e")}

    rc, stdout, stderr = _run(data, out, "StaticTracker", workers)          # resume: only b is run
    assert rc == 0, stderr[-3000:]
    assert "1 done, 4 skipped, 0 failed" in stdout, stdout
    _check_static_result(out, "b")
    assert {n: os.path.getmtime(out / f"{n}.txt") for n in mtimes} == mtimes


def test_the_sequence_in_flight_beside_a_dying_one_is_rerun_once_alone(tmp_path):
    data, out, sync = _dataset(tmp_path / "data", n_frames=5), tmp_path / "out", tmp_path / "sync"
    sync.mkdir()
    rc, stdout, stderr = _communicate(_popen([sys.executable, "-c", SCRIPT, str(data), str(out),
                                              "ExitWhileAnotherRuns", "2"], SYNC=str(sync)))
    assert rc == 1 and "4 done, 0 skipped, 1 failed" in stdout and "FAILED b:" in stdout, stderr[-3000:]
    warning = next(line for line in stderr.splitlines() if "a worker process died" in line)
    assert sorted(warning.split(" while running ")[1].split(":")[0].split(", ")) == ["a", "b"], warning
    starts = [f.split("-")[0] for f in os.listdir(sync)]
    assert sorted(starts) == ["0", "0", "1", "1", "2", "3", "4"]           # a and b twice, the others once
    for name in ("a", "c", "d", "e"):
        _check_static_result(out, name, n_frames=5)
    assert not (out / "b.txt").exists()


def test_single_worker_process_killed_by_tracker_ends_run_and_resume_works(tmp_path):
    data, out = _dataset(tmp_path / "data"), tmp_path / "out"
    rc, stdout, stderr = _run(data, out, "ExitTracker", 1)
    assert rc == 1 and "done" not in stdout                                 # os._exit(1) of the only process
    _check_static_result(out, "a")
    assert not (out / "b.txt").exists() and not (out / "c.txt").exists()
    rc, stdout, _ = _run(data, out, "StaticTracker", 1)
    assert rc == 0 and "4 done, 1 skipped, 0 failed" in stdout


def test_cli_module_tracker_with_workers(tmp_path):
    data, out = _dataset(tmp_path / "data", names=["a", "b", "c"]), tmp_path / "out"
    rc, stdout, stderr = _communicate(_popen([sys.executable, "-m", "tracking.eval.runner", "--dataset", "folder",
                                              "--data-root", str(data), "--out", str(out), "--workers", "2",
                                              "--tracker", "test_runner_workers:SigkillTracker"]))
    assert rc == 1 and "2 done, 0 skipped, 1 failed" in stdout and "FAILED b:" in stdout, stderr[-3000:]
    assert "a worker process died" in stderr and "rerunning each alone" in stderr
    rc, _, stderr = _communicate(_popen([sys.executable, "-m", "tracking.eval.runner", "--dataset", "folder",
                                         "--data-root", str(data), "--out", str(out), "--tracker", "nope:X"]))
    assert rc == 2 and stderr.count("\n") == 1 and "nope:X" in stderr


def test_workers_that_always_die_stop_the_run_with_a_clear_error(tmp_path):
    data, out = _dataset(tmp_path / "data", names=[f"s{i}" for i in range(8)]), tmp_path / "out"
    rc, stdout, stderr = _communicate(_popen([sys.executable, "-m", "tracking.eval.runner", "--dataset", "folder",
                                              "--data-root", str(data), "--out", str(out), "--workers", "2",
                                              "--tracker", "test_runner_workers:DIES_IN_WORKERS"]))
    assert rc == 1, stderr[-3000:]
    assert "error: the first 3 tasks all killed their worker process" in stderr and "exit code 1" in stderr
    assert stderr.count("sequence s") <= 3                                  # it did not try all 8
    assert not os.listdir(out)


def _wait_for(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"               # a zombie is gone, not yet reaped
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("workers", [2, 1])
def test_ctrl_c_stops_the_run_promptly_without_orphans(tmp_path, workers):
    data, out, pids = _dataset(tmp_path / "data", n_frames=60), tmp_path / "out", tmp_path / "pids"
    pids.mkdir()
    proc = _popen([sys.executable, "-m", "tracking.eval.runner", "--dataset", "folder", "--data-root", str(data),
                   "--out", str(out), "--workers", str(workers), "--tracker", "test_runner_workers:SlowTracker"],
                  SLOW_PIDS=str(pids))
    try:
        _wait_for(lambda: len(os.listdir(pids)) == workers, 60, f"{workers} tracker(s) to start")
        time.sleep(0.5)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)                                    # Ctrl-C, to the runner process only
        rc, _, stderr = _communicate(proc, timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - t0 < 10                                       # a sequence takes 12 s
    assert rc == 130 and "interrupted" in stderr, stderr[-3000:]
    workers_pids = [int(p) for p in os.listdir(pids)]
    _wait_for(lambda: not any(_alive(p) for p in workers_pids), 5, "the tracker processes to end")
    assert not any(f.endswith(".txt") for f in os.listdir(out))             # nothing finished, nothing half-written
