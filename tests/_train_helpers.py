"""Shared pieces of the training tests: a shrunk demo config and running the training CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "kwargs: {sequences: 6, frames: 30, width: 160, height: 90}"


def tiny_demo(run_dir, samples: int = 16, epochs: int = 2, val: bool = False) -> list[str]:
    """Overrides that shrink configs/demo.yaml to seconds: a 6-sequence 160x90 synthetic dataset, batch 2,
    64x64 crops, one loader process, every iteration logged."""
    out = [f"data.datasets=[{{name: synthetic, split: train, {TINY}}}]",
           f"data.samples_per_epoch={samples}", "data.batch_size=2", "data.loader.workers=0",
           "data.loader.backend=opencv",
           "data.processing.kwargs={output_size: 64, label_feature_size: 4}", "model.kwargs.init_gauss_sigma=0.2",
           "model.kwargs.out_feature_dim=32", f"train.epochs={epochs}", "train.log_every=1", "train.threads=1",
           f"train.run_dir={run_dir}"]
    if val:
        out += [f"data.val.datasets=[{{name: synthetic, split: val, {TINY}}}]", "data.val.samples_per_epoch=4",
                "data.val.every=1"]
    else:
        out += ["data.val.datasets=[]"]
    return out


def train_env(tmp_path) -> dict:
    """The environment of a training subprocess: the test's settings/cache directories and a shared tiny
    synthetic dataset location."""
    env = dict(os.environ)
    env.setdefault("TRACKING_SETTINGS", str(tmp_path / "no-settings.yaml"))
    env["PYTHONPATH"] = os.pathsep.join([REPO, os.path.join(REPO, "tests")] +
                                        [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_train(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracking.train", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=timeout)


def compiled_path_only():
    """Skip marker for the heavy end-to-end training runs on the reference path (TRACKING_DISABLE_EXTENSION=1,
    CI's first pass): they exercise the trainer, not the operators, whose references the op tests compare; a
    cheap run (the demo, the own-tracker example) still trains on the reference path there."""
    import pytest

    return pytest.mark.skipif(os.environ.get("TRACKING_DISABLE_EXTENSION") == "1",
                              reason="heavy end-to-end training run: checked on the compiled path (CI's second pass)")
