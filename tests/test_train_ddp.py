"""DistributedDataParallel on the CPU: 2 gloo processes started by torchrun train a few iterations; the ranks'
parameters stay identical, and the result equals the single-process run with the same global batch.

The network is the own-tracker example's (configs/examples/my_tracker.py: convolutions, no BatchNorm, whose
per-rank batch statistics would legitimately differ from the single process's). Rank r of 2 takes global
samples 2i + r, so the two ranks' batches of 2 are exactly the single process's batch of 4, and DDP's
averaged gradient equals the single process's gradient up to float summation order. Tolerance: 2e-5 absolute
on every parameter after 6 Adam steps (observed: 1.5e-8).
"""

import os
import subprocess
import sys

import torch

from _train_helpers import compiled_path_only, REPO, train_env, run_train

TINY = "kwargs: {sequences: 6, frames: 30, width: 160, height: 90}"


def _args(run_dir, batch: int) -> list[str]:
    return ["--config", "configs/examples/my_tracker.yaml", f"data.datasets=[{{name: synthetic, split: train, {TINY}}}]",
            "data.samples_per_epoch=24", f"data.batch_size={batch}", "data.loader.workers=0", "data.loader.backend=opencv",
            "data.processing.kwargs={output_size: 64}", "train.epochs=1", "train.log_every=1", "train.threads=1",
            "train.deterministic=true", "train.device=cpu", f"train.run_dir={run_dir}"]


def _final_params(run_dir) -> dict:
    path = sorted((run_dir / "checkpoints").glob("step_*.pth"))[-1]
    return torch.load(path, weights_only=True)["model"]


@compiled_path_only()
def test_two_gloo_ranks_match_one_process(tmp_path):
    env = train_env(tmp_path)
    single = tmp_path / "single"
    out = run_train(_args(single, 4), env)
    assert out.returncode == 0, out.stderr[-3000:]
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "tracking.train", *_args(ddp, 2)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    import json

    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["replicas_identical"] is True
    assert summary["steps"] == 6  # 24 samples / (2 ranks x batch 2)
    a, b = _final_params(single), _final_params(ddp)
    print('max difference', max(float((a[k] - b[k]).abs().max()) for k in a))
    assert a.keys() == b.keys()
    for key in a:
        assert not torch.equal(a[key], _initial(key)) or key == "scale"
        torch.testing.assert_close(b[key], a[key], atol=2e-5, rtol=0, msg=key)
    assert not (tmp_path / "ddp" / "checkpoints" / "rank1").exists()


def _initial(key):
    import importlib.util

    spec = importlib.util.spec_from_file_location("my_tracker", os.path.join(REPO, "configs", "examples", "my_tracker.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.build_network(16).state_dict()[key]
