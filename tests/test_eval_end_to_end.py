"""The OPE runner and the report CLI together: run a tracker, then score and plot its results."""

import json
import os

import pytest
from conftest import SHARED_SEQUENCES

CROSSING = os.path.join(SHARED_SEQUENCES, "Crossing")


@pytest.mark.skipif(not os.path.isdir(CROSSING), reason="../shared not present")
def test_run_then_report_on_a_real_sequence(tmp_path):
    pytest.importorskip("cv2")
    pytest.importorskip("matplotlib")
    from tracking.eval import benchmarks, report, runner, trackers

    sequences = benchmarks.load_benchmark("folder", CROSSING)
    for name in ("static", "template"):
        summary = runner.run_dataset(trackers.make_tracker_factory(name), sequences, tmp_path / "results" / name,
                                     progress=False)
        assert summary.done == ["Crossing"] and not summary.failed
    out = tmp_path / "report"
    assert report.main(["--results", str(tmp_path / "results" / "static"), str(tmp_path / "results" / "template"),
                        "--dataset", "folder", "--data-root", CROSSING, "--out-dir", str(out), "--plot"]) == 0
    scores = json.loads((out / "report.json").read_text())["trackers"]
    assert set(scores) == {"static", "template"}
    for row in scores.values():
        assert 0.0 <= row["auc"] <= 1.0 and row["fps"] > 0 and row["num_frames"] == 120
    # a tracker that follows the target beats one that never moves
    assert scores["template"]["auc"] > scores["static"]["auc"]
    with open(out / "success_plot.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
