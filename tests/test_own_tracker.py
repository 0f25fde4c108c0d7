"""Your own tracker through the training CLI: network, actor, processing and sampler named by import path
(``_target_``), here defined in this very test module, trained for two iterations; and the shipped example
(configs/examples/my_tracker.yaml). Bad import paths are one-line errors."""

import json

import torch
from torch import nn

from _train_helpers import run_train, train_env
from tracking.data.processing import make_processing
from tracking.data.sampler import TrackingSampler
from tracking.train.events import read_metrics

TINY = "kwargs: {sequences: 6, frames: 30, width: 160, height: 90}"
BUILT = []


class CentreRegressor(nn.Module):
    """Predicts the test frame's target centre (crop pixels) from the test image alone: [1, B, 2]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(width, 2))

    def forward(self, test_imgs):
        n, b = test_imgs.shape[:2]
        return self.body(test_imgs.flatten(0, 1)).view(n, b, 2) * 32 + 32


def build_regressor(width: int = 4) -> nn.Module:
    return CentreRegressor(width)


class CentreActor:
    def __init__(self, net, loss_weights=None, scale: float = 1.0):
        self.net, self.loss_weights, self.scale = net, dict(loss_weights or {}), scale

    def __call__(self, batch):
        centre = batch["test_anno"][..., :2] + batch["test_anno"][..., 2:] / 2
        error = nn.functional.smooth_l1_loss(self.net(batch["test_images"]), centre)
        return self.scale * error, {"Loss/total": (self.scale * error).detach(), "Loss/centre": error.detach()}


def build_processing(**overrides):
    return make_processing("atom", output_size=64, num_proposals=0, **overrides)


def build_sampler(datasets, weights, seed, rank, world_size, samples_per_epoch, gap: int = 10):
    return TrackingSampler(datasets, weights, samples_per_epoch=samples_per_epoch, max_gap=gap, num_train_frames=1,
                           num_test_frames=1, frame_sample_mode="interval", seed=seed, rank=rank, world_size=world_size)


def _own(run_dir) -> list[str]:
    return ["model._target_=test_own_tracker.build_regressor", "model.kwargs.width=6",
            "actor._target_=test_own_tracker.CentreActor", "actor.kwargs.scale=2.0",
            "data.processing._target_=test_own_tracker.build_processing", 
            "data.sampler._target_=test_own_tracker.build_sampler", "data.sampler.kwargs.gap=12",
            f"data.datasets=[{{name: synthetic, split: train, {TINY}}}]", "data.val.datasets=[]",
            "data.samples_per_epoch=4", "data.batch_size=2", "data.loader.workers=0", "optim.groups=[]",
            "train.epochs=1", "train.log_every=1", f"train.run_dir={run_dir}"]


def test_a_network_defined_in_a_test_module_trains_two_iterations(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(["--config", "configs/demo.yaml", *_own(run_dir)], train_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    records = read_metrics(str(run_dir), "train")
    assert [r["step"] for r in records] == [1, 2]
    for r in records:  # the actor's own statistics and its scale argument reached the log
        assert r["Loss/total"] == 2.0 * r["Loss/centre"] > 0
    state = torch.load(run_dir / "checkpoints" / "step_00000002.pth", weights_only=True)
    assert state["network"] == {"name": None, "target": "test_own_tracker.build_regressor", "kwargs": {"width": 6}}
    net = build_regressor(6)
    net.load_state_dict(state["model"])
    torch.manual_seed(0)
    assert not torch.equal(build_regressor(6).state_dict()["body.4.weight"], state["model"]["body.4.weight"])
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2


def test_the_shipped_example_trains(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(["--config", "configs/examples/my_tracker.yaml", f"data.datasets=[{{name: synthetic, split: train, {TINY}}}]",
                     "data.samples_per_epoch=8", "data.batch_size=4", "data.loader.workers=0", "train.epochs=1",
                     "data.processing.kwargs={output_size: 64}", f"train.run_dir={run_dir}"], train_env(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2


def test_bad_import_paths_are_one_line_errors(tmp_path):
    env = train_env(tmp_path)
    for override, expected in [("model._target_=no_such_module.build", "cannot import 'no_such_module'"),
                               ("model._target_=test_own_tracker.nothing_here", "has no attribute 'nothing_here'"),
                               ("model.kwargs={colour: 3}", "unexpected keyword argument 'colour'")]:
        args = _own(tmp_path / "r") + [override]
        out = run_train(["--config", "configs/demo.yaml", *args], env)
        assert out.returncode == 2, out.stderr[-2000:]
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and expected in last and "Traceback" not in out.stderr
