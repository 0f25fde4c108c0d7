"""The OPE runner (``python -m tracking.eval.runner``) with a parameter-set tracker: the tiny tracker of
``test_run_cli`` (kind ``tiny``, registered for the test; its registration travels to the spawned workers
with the factory), one and two worker processes, resume, one network per process, and the setup errors
(missing or mismatching weights, unknown parameter) as one line before any sequence runs."""

import os
import pickle

import cv2
import numpy as np
import pytest
from test_run_cli import TinyNet, one_error_line, tiny  # noqa: F401  (tiny: the fixture)

from tracking.data.annotations import read_boxes, read_times
from tracking.eval.runner import main
from tracking.eval.trackers import ParamSetTracker, StaticTracker, TrackerSetupError, make_tracker_factory
from tracking.models.safetensors_io import save_safetensors

NAMES = ["a", "b", "c"]


def folder_dataset(root, n_frames=5):
    """Sequences a, b, c of 20x30 PNGs, first box (2, 3, 5, 6)."""
    for name in NAMES:
        d = root / name
        d.mkdir(parents=True)
        for i in range(n_frames):
            cv2.imwrite(str(d / f"{i:04d}.png"), np.full((20, 30, 3), 90, np.uint8))
        (d / "groundtruth.txt").write_text("2,3,5,6\n")
    return root


def run(data, out, params, weights, *extra):
    args = ["--dataset", "folder", "--data-root", str(data), "--tracker", params, "--out", str(out), "--device",
            "cpu", *map(str, extra)]
    if weights is not None:
        args += ["--weights", str(weights)]
    return main(args)


def check_results(out, step, n_frames=5):
    for name in NAMES:
        boxes = read_boxes(out / f"{name}.txt")
        np.testing.assert_allclose(boxes, [[2 + step * i, 3, 5, 6] for i in range(n_frames)])
        assert read_times(out / f"{name}_time.txt").shape == (n_frames,)


@pytest.mark.parametrize("workers", [1, 2])
def test_param_set_tracker_runs_and_resumes(tmp_path, tiny, capsys, workers):  # noqa: F811
    params, weights = tiny
    data, out, log = folder_dataset(tmp_path / "data"), tmp_path / "out", tmp_path / "built.log"
    assert run(data, out, params, weights, "--workers", workers, "--params", "step=2", f"log={log}") == 0
    check_results(out, 2.0)
    assert "3 done, 0 skipped, 0 failed" in capsys.readouterr().out
    built = [line.split() for line in log.read_text().splitlines()]
    assert len(built) == 1 + len(NAMES)  # the check before the run, then one tracker per sequence
    nets = {}
    for pid, net, _ in built:
        nets.setdefault(pid, set()).add(net)
    assert all(len(ids) == 1 for ids in nets.values())  # one network per process
    if workers > 1:  # one torch thread per worker process (the first line is the check in this process)
        assert all(threads == "1" for pid, _, threads in built[1:]) and built[0][0] == str(os.getpid())
    assert len(nets) <= (1 if workers == 1 else 1 + workers)  # the check's process and the workers

    os.remove(out / "b.txt")
    assert run(data, out, params, weights, "--workers", workers, "--params", "step=2") == 0
    assert "1 done, 2 skipped, 0 failed" in capsys.readouterr().out
    check_results(out, 2.0)


def test_setup_errors_are_one_line_before_any_sequence(tmp_path, tiny, capsys):  # noqa: F811
    params, weights = tiny
    data, out = folder_dataset(tmp_path / "data"), tmp_path / "out"
    other = tmp_path / "other.safetensors"
    save_safetensors(other, TinyNet(3), "tiny_test_net_other")
    cases = [((params, tmp_path / "missing.pth"), "does not download"),
             ((params, None), "no weights file given"),
             ((params, other), "expects 'tiny_test_net'"),
             ((params, weights, "--params", "bogus=1"), "unknown parameter(s) bogus"),
             ((params, weights, "--workers", "2", "--params", "bogus=1"), "unknown parameter(s) bogus"),
             (("static", weights), "not a parameter set"),
             (("no_such_set", None), "unknown tracker 'no_such_set'"),
             ((str(tmp_path / "nope.yaml"), weights), "no such parameter file")]
    for args, message in cases:
        assert run(data, out, *args) == 2, args
        assert message in one_error_line(capsys.readouterr().err)
        assert not out.exists() or not any(out.glob("*.txt"))


def test_factory_is_picklable_and_carries_registrations(tiny):  # noqa: F811
    params, weights = tiny
    factory = make_tracker_factory(params, weights, ["step=3"], "cpu", 5)
    assert isinstance(factory, ParamSetTracker)
    assert pickle.loads(pickle.dumps(factory)) == factory
    assert ("tiny", "test_run_cli:TinyTracker") in factory.tracker_classes
    assert factory.overrides == ("step=3",) and factory.seed == 5 and os.path.isabs(factory.weights)
    tracker = factory.check()
    assert tracker.step == 3.0 and factory().net is tracker.net  # the process's network is reused
    assert make_tracker_factory("static") is StaticTracker
    with pytest.raises(TrackerSetupError, match="device 'cuda:7'"):
        make_tracker_factory(params, weights, device="cuda:7").check()
