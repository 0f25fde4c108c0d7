"""End-to-end training runs through ``python -m tracking.train`` (subprocesses, the demo config shrunk):
outputs, weights_only checkpoints, exact resume after SIGKILL, the run-directory rules, dataset and weight
messages, and the own-tracker path."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from _train_helpers import compiled_path_only, REPO, tiny_demo, train_env, run_train
from tracking.train.events import read_metrics


def _losses(run_dir: str) -> dict[int, float]:
    """step -> the last logged total loss of that step (a resumed run logs replayed steps again)."""
    out = {}
    for record in read_metrics(run_dir, "train"):
        out[record["step"]] = record["Loss/total"]
    return out


def test_demo_run_writes_logs_checkpoints_and_a_summary(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(["--config", "configs/demo.yaml", *tiny_demo(run_dir, samples=8, val=True), "data.val.every=2"],
                    train_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loader-bound" in out.stderr and "run summary" in out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] == 8
    assert 0.0 <= summary["loader_bound"] <= 1.0 and summary["samples_per_s"] > 0
    records = read_metrics(str(run_dir))
    kinds = [r["kind"] for r in records]
    assert kinds.count("train") == 8 and kinds.count("epoch") == 2 and kinds.count("val") == 1  # every 2 epochs
    # best.pth is chosen among validated epochs only (epoch 1's training loss is never compared with a val loss)
    (val,) = [r for r in records if r["kind"] == "val"]
    assert summary["best"] == {"value": val["Loss/total"], "epoch": 1, "metric": "Loss/total", "source": "val"}
    for r in records:
        if r["kind"] == "train":
            assert {"Loss/total", "time/data", "time/compute", "loader_bound", "lr"} <= set(r)
    assert glob.glob(str(run_dir / "tensorboard" / "events.out.tfevents.*"))
    assert (run_dir / "config.yaml").exists()
    assert "data.datasets[0]: synthetic" in (run_dir / "train.log").read_text()  # held records from before the run dir
    ckpts = sorted(glob.glob(str(run_dir / "checkpoints" / "step_*.pth")))
    assert [os.path.basename(p) for p in ckpts] == ["step_00000004.pth", "step_00000008.pth"]
    assert (run_dir / "checkpoints" / "best.pth").exists()
    # plain torch.load with the safe unpickler: tensors, numbers, strings, lists and dicts only
    state = torch.load(ckpts[-1], weights_only=True)
    assert state["format"] == "tracking.train/1" and state["epoch"] == 2 and state["next_batch"] == 0
    assert state["network"]["name"] == "dimpnet18" and state["config"]["name"] == "demo"
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "loader", "metrics"} <= set(state)
    from tracking.models import build_network

    net = build_network("dimpnet18", **state["network"]["kwargs"])
    net.load_state_dict(state["model"])  # the weights rebuild the network from the recorded kwargs


def test_fresh_run_refuses_a_run_dir_with_checkpoints_and_resume_needs_one(tmp_path):
    run_dir = tmp_path / "run"
    env = train_env(tmp_path)
    args = ["--config", "configs/demo.yaml", *tiny_demo(run_dir, samples=4, epochs=1)]
    assert run_train(args, env).returncode == 0
    again = run_train(args, env)
    assert again.returncode == 2 and "already holds checkpoints" in again.stderr and "--resume" in again.stderr
    other = run_train(["--config", "configs/demo.yaml", *tiny_demo(tmp_path / "empty", samples=4), "--resume"], env)
    assert other.returncode == 2 and "no checkpoint" in other.stderr
    finished = run_train(args + ["--resume"], env)  # resuming a finished run trains nothing more
    assert finished.returncode == 0, finished.stderr[-2000:]


@compiled_path_only()
def test_exact_resume_after_sigkill(tmp_path):
    env = train_env(tmp_path)
    common = ["--config", "configs/demo.yaml", "train.deterministic=true", "train.checkpoint.every_iters=2"]
    straight = tmp_path / "straight"
    out = run_train(common + tiny_demo(straight, samples=16, epochs=2), env)
    assert out.returncode == 0, out.stderr[-3000:]
    reference = _losses(str(straight))
    assert sorted(reference) == list(range(1, 17))

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "tracking.train", *common, *tiny_demo(killed, samples=16, epochs=2)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:  # kill mid-epoch 1, after the step-4 checkpoint and before step 8
            if (killed / "metrics.jsonl").exists() and max(_losses(str(killed)) or [0]) >= 5:
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    logged_before = max(_losses(str(killed)))
    assert logged_before < 16, "the run finished before the kill"
    for path in glob.glob(str(killed / "checkpoints" / "*.pth")):  # every file there is whole
        torch.load(path, weights_only=True)
    resumed = run_train(common + tiny_demo(killed, samples=16, epochs=2) + ["--resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr
    after = _losses(str(killed))
    assert sorted(after) == list(range(1, 17))
    assert after == reference  # bit-exact: the same batches, weights, optimizer state and algorithms


def test_missing_dataset_roots_fail_before_training(tmp_path):
    out = run_train(["--config", "configs/dimp50.yaml", "train.epochs=1", "data.samples_per_epoch=20",
                     "data.batch_size=2", f"train.run_dir={tmp_path / 'run'}"], train_env(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    for name in ("lasot", "got10k", "trackingnet", "coco", "data.datasets[0]", "configs/dimp50.yaml",
                 "TRACKING_GOT10K_ROOT", "tracking.settings --init", "data.val.datasets[0]: got10k (split votval)",
                 "'data.datasets=[{name: synthetic, split: train}]' 'data.val.datasets=[{name: synthetic, split: val}]'"):
        assert name in out.stderr, name
    assert not (tmp_path / "run").exists()  # no run directory (nor train.log) for a run that never started


@compiled_path_only()
def test_dimp50_on_synthetic_data_trains_from_random_init_with_the_weights_message(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(["--config", "configs/dimp50.yaml", "train.epochs=1", "data.samples_per_epoch=4",
                     "data.batch_size=2", "data.loader.workers=0", "data.val.datasets=[]",
                     "data.datasets=[{name: synthetic, split: train, kwargs: {sequences: 6, frames: 30, width: 160, height: 90}}]",
                     f"train.run_dir={run_dir}"], {**train_env(tmp_path), "TRACKING_PRETRAINED_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resnet50" in out.stderr and "randomly initialised backbone" in out.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["pretrained"] == "missing"
    required = run_train(["--config", "configs/dimp50.yaml", "model.require_pretrained=true", "data.val.datasets=[]",
                          "data.datasets=[{name: synthetic}]", f"train.run_dir={tmp_path / 'run2'}"],
                         {**train_env(tmp_path), "TRACKING_PRETRAINED_DIR": str(tmp_path)})
    assert required.returncode == 2 and "resnet50" in required.stderr and "Traceback" not in required.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision (bf16 / fp16 autocast) runs on GPUs only; "
                    "this machine has no CUDA device")
def test_amp_run_on_gpu(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(["--config", "configs/demo.yaml", "train.device=cuda", "train.amp=auto",
                     *tiny_demo(run_dir, samples=8, epochs=1)], train_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "autocast" in out.stderr
    assert all(torch.isfinite(torch.tensor(v)) for v in _losses(str(run_dir)).values())


def test_amp_on_the_cpu_is_refused_clearly(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = run_train(["--config", "configs/demo.yaml", "train.amp=bf16", *tiny_demo(tmp_path / "r", samples=4)],
                    train_env(tmp_path))
    assert out.returncode == 2 and "needs a CUDA device" in out.stderr
