"""benchmarks/train_speed.py runs (smoke: one demo iteration at batch 2) and writes its JSON and table."""

import json
import os
import subprocess
import sys

from _train_helpers import compiled_path_only, REPO, train_env


@compiled_path_only()
def test_train_speed_quick(tmp_path):
    out_json = tmp_path / "train_speed.json"
    out = subprocess.run([sys.executable, "benchmarks/train_speed.py", "--quick", "--iterations", "1", "--warmup", "0",
                          "--batch", "2", "--workers", "0", "--out", str(out_json)], cwd=REPO, capture_output=True,
                         text=True, env=train_env(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out_json.read_text())
    assert report["benchmark"] == "train_speed" and "train_speed.py" in report["command"]
    (row,) = report["rows"]
    assert (row["workload"], row["backend"], row["batch"], row["iterations"]) == ("demo", "opencv", 2, 1)
    assert row["it_per_s"] > 0 and 0 <= row["loader_bound"] <= 1 and row["samples_per_s"] == 2 * row["it_per_s"]
    assert "| demo | opencv | 2 |" in out.stdout
    assert os.path.basename(str(out_json)) in out.stdout
