"""The OPE runner and the report CLI together: run a tracker, then score and plot its results."""

import json
import os

import numpy as np
import pytest
from conftest import SHARED_SEQUENCES

from tracking.eval.trackers import TemplateTracker

CROSSING = os.path.join(SHARED_SEQUENCES, "Crossing")


class GlitchyTracker(TemplateTracker):
    """The template tracker, but every 10th track() call returns NaNs, a 2x2 array or a negative width."""

    glitches = 0

    def track(self, frame):
        box = super().track(frame)
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls % 10:
            return box
        GlitchyTracker.glitches += 1
        return [np.full(4, np.nan), box.reshape(2, 2), box * [1, 1, -1, 1]][self.calls // 10 % 3]


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


@pytest.mark.skipif(not os.path.isdir(CROSSING), reason="../shared not present")
def test_invalid_frames_runner_summary_and_report_agree(tmp_path):
    pytest.importorskip("cv2")
    from tracking.eval import benchmarks, report, runner

    sequences = benchmarks.load_benchmark("folder", CROSSING)
    GlitchyTracker.glitches = 0
    results = tmp_path / "results" / "glitchy"
    summary = runner.run_dataset(GlitchyTracker, sequences, results, progress=False)
    assert summary.done == ["Crossing"] and GlitchyTracker.glitches == 11              # 119 track() calls
    assert summary.invalid_frames == {"Crossing": 11}
    resumed = runner.run_dataset(GlitchyTracker, sequences, results, progress=False)
    assert resumed.skipped == ["Crossing"] and resumed.invalid_frames == {"Crossing": 11}
    out = tmp_path / "report"
    assert report.main(["--results", str(results), "--dataset", "folder", "--data-root", CROSSING,
                        "--out-dir", str(out)]) == 0
    row = json.loads((out / "report.json").read_text())["trackers"]["glitchy"]
    assert row["invalid_frames"] == 11 and row["per_sequence"]["Crossing"]["invalid_frames"] == 11
    assert row["num_frames"] == 120 and 0.0 < row["auc"] <= 1.0
