"""benchmarks/tracker_speed.py: a tiny run with the tiny tracker of test_run_cli (always), a smoke run of the
DiMP parameter sets (skipped until configs/trackers/dimp18.yaml exists), and one-line CLI errors."""

import importlib.util
import json
import os

import pytest
from test_run_cli import tiny  # noqa: F401  (the fixture)

from tracking.trackers.params import PARAMS_DIR

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "tracker_speed.py")
HAVE_DIMP = all(os.path.isfile(os.path.join(PARAMS_DIR, f"{n}.yaml")) for n in ("dimp18", "dimp50"))


def load_benchmark():
    spec = importlib.util.spec_from_file_location("tracker_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_tracker_rows_json_and_markdown(tmp_path, tiny, capsys):  # noqa: F811
    params, _ = tiny
    out = tmp_path / "speed.json"
    assert load_benchmark().main(["--trackers", params, "--devices", "cpu", "--frames", "8", "--warmup", "2",
                                  "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "tracker_speed" and "tracker_speed.py" in report["command"]
    assert report["machine"]["cpu"] and report["workload"]["frames"] == 8
    (row,) = report["results"]
    assert row["tracker"] == params and row["network"] == "tiny_test_net" and row["device"] == "cpu"
    assert row["frames"] == 5 and row["fps"] > 0 and row["median_ms"] >= 0
    assert row["stages_ms"] == {"sample": 1.0, "net": 2.0}
    assert row["host_syncs_per_frame"] is None and "not measurable" in row["host_syncs_note"]
    table = (tmp_path / "speed.md").read_text()
    assert "| tracker | device |" in table and "sample 1.0, net 2.0" in table and "n/a (CPU)" in table
    assert "sample 1.0, net 2.0" in capsys.readouterr().out


@pytest.mark.skipif(not HAVE_DIMP, reason="configs/trackers/dimp18.yaml and dimp50.yaml not there yet")
def test_dimp_smoke(tmp_path):
    out = tmp_path / "speed.json"
    assert load_benchmark().main(["--trackers", "dimp18", "--devices", "cpu", "--frames", "5", "--warmup", "1",
                                  "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["tracker"] == "dimp18" and row["frames"] == 3 and row["fps"] > 0


@pytest.mark.parametrize("args, message", [
    (["--trackers", "no_such_set"], "unknown parameter set(s) no_such_set"),
    (["--trackers", "x.yaml", "--frames", "3"], "needs at least --warmup + 2"),
    (["--trackers", "x.yaml", "--devices", "cuda"], "CUDA is not available"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    with pytest.raises(SystemExit) as info:
        load_benchmark().main([*args, "--out", str(tmp_path / "s.json")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
