"""benchmarks/gpu_check.sh, the GPU checks for a lent GPU machine, on a machine without a GPU: it must finish in
seconds with every step skipped for the lack of a GPU and a valid JSON; failing and timed-out steps (its
self-test steps) are reported as failed, later steps still run, and the exit status is 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "gpu_check.sh")
STEPS = ["setup", "build", "cuda_tests", "dali_gpu_test", "loader_benchmark", "cuda_kernel_timing", "kernel_benchmark"]

no_gpu = pytest.mark.skipif(shutil.which("nvidia-smi") is not None,
                            reason="nvidia-smi found: on a GPU machine the script runs the real checks (minutes)")


def run_script(tmp_path, **env) -> tuple[subprocess.CompletedProcess, dict]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_") and k != "OUT"}
    clean.update(PYTHON=sys.executable, GPU_CHECK_WORK=str(tmp_path / "work"), **env)
    out = tmp_path / "gc.json"
    run = subprocess.run(["bash", SCRIPT, str(out)], cwd=REPO, env=clean, check=False, capture_output=True,
                         text=True, timeout=60)
    assert out.is_file(), run.stdout + run.stderr
    assert (tmp_path / "gc.log").is_file()
    return run, json.loads(out.read_text())


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", SCRIPT], check=True)
    if shutil.which("shellcheck"):
        run = subprocess.run(["shellcheck", SCRIPT], check=False, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout


@no_gpu
def test_without_a_gpu_every_step_is_skipped(tmp_path):
    run, report = run_script(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    reason = report["gpu"]["reason"]
    assert report["gpu"]["available"] is False and reason.startswith("no NVIDIA GPU (nvidia-smi not found; ")
    assert "torch.cuda.is_available() False" in reason
    assert report["status"] == "skipped" and report["failed_steps"] == []
    assert [s["name"] for s in report["steps"]] == STEPS
    assert all(s["status"] == "skipped" and s["reason"] == reason for s in report["steps"])
    assert report["machine"]["summary"]["cuda_available"] is False
    assert report["machine"]["python"]["torch"]  # what the script found, for the reason
    assert "==== report ====" in run.stdout


@no_gpu
def test_failed_and_timed_out_steps_fail_the_run(tmp_path):
    run, report = run_script(tmp_path, GPU_CHECK_ASSUME_GPU="1", GPU_CHECK_SELFTEST_TIMEOUT_S="1",
                             GPU_CHECK_STEPS="selftest_fail,selftest_sleep,nonexistent")
    assert run.returncode == 1, run.stdout + run.stderr
    assert report["status"] == "failed" and report["gpu"]["assumed"] is True
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["selftest_fail"]["reason"] == "exit code 3" and "failing on purpose" in steps["selftest_fail"]["log_tail"]
    assert steps["selftest_sleep"]["reason"] == "timed out after 1 s" and steps["selftest_sleep"]["duration_s"] < 15
    assert steps["nonexistent"]["status"] == "failed"  # the steps after a failure still ran
    assert report["failed_steps"] == ["selftest_fail", "selftest_sleep", "nonexistent"]
