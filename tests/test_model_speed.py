"""Smoke test of benchmarks/model_speed.py: a tiny run writes rows with positive times and consistent ratios;
its CLI errors are one line with exit status 2."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "model_speed.py")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("model_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_every_row(tmp_path):
    out = tmp_path / "m.json"
    bench = load_benchmark()
    assert bench.main(["--networks", "atom_resnet18", "--batches", "2", "--frames", "1", "--size", "64",
                       "--modes", "float32", "channels_last", "--repeats", "1", "--budget", "1",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "model_speed" and report["machine"]["torch_threads"] >= 1
    rows = report["results"]
    assert {(r["mode"], r["pass"]) for r in rows} == {(m, p) for m in ("float32", "channels_last")
                                                      for p in ("forward", "forward+backward")}
    by = {(r["mode"], r["pass"]): r for r in rows}
    for (mode, p), r in by.items():
        assert r["median_ms"] > 0 and r["runs"] >= 1 and r["batch"] == 2
        assert r["samples_per_s"] == pytest.approx(2 / (r["median_ms"] / 1e3))
        assert r["ratio_vs_float32"] == pytest.approx(by[("float32", p)]["median_ms"] / r["median_ms"])


@pytest.mark.parametrize("args,message", [
    (["--networks", "nonet"], "unknown network(s) nonet"),
    (["--modes", "bf16"], "bf16 is measured on CUDA only"),
    (["--device", "cuda:0"], "CUDA is not available"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    if "cuda" in " ".join(args):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible")
    result = subprocess.run([sys.executable, SCRIPT, *args, "--out", str(tmp_path / "x.json")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.json").exists()
