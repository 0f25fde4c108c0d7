"""Every shipped pytracking config trains: one iteration and one validation batch of its real network, actor,
sampler and processing (ImageNet weights absent: random init) on a tiny synthetic dataset instead of the
datasets it names. dimp50 and demo are run by test_train_run.py."""

import json

import pytest

from _train_helpers import compiled_path_only, run_train, train_env

TINY = "kwargs: {sequences: 6, frames: 30, width: 160, height: 90}"


@compiled_path_only()
@pytest.mark.parametrize("config", ["dimp18", "prdimp18", "super_dimp", "atom"])
def test_config_trains_one_iteration(tmp_path, config):
    run_dir = tmp_path / "run"
    out = run_train([
        "--config", f"configs/{config}.yaml", "train.epochs=1", "data.samples_per_epoch=2", "data.batch_size=2",
        "data.loader.workers=0", f"data.datasets=[{{name: synthetic, split: train, {TINY}}}]",
        f"data.val.datasets=[{{name: synthetic, split: val, {TINY}}}]", "data.val.samples_per_epoch=2",
        "data.val.every=1", f"train.run_dir={run_dir}"], {**train_env(tmp_path), "TRACKING_PRETRAINED_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["pretrained"] == "missing"
    loss = summary["last_epoch_loss"]
    assert loss == loss and loss > 0  # finite and positive
    val = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "val" and r["Loss/total"] > 0 for r in val)
