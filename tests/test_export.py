"""``python -m tracking.export`` and ``tracking.models.safetensors_io``: a training checkpoint (written here in the
documented "tracking.train/1" format, no training run) becomes a safetensors file that holds its weights
bit-exactly and rebuilds the same network; ``load_weights`` reads every kind of weights file we know."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import SHARED_DATA

from tracking.export import main
from tracking.models import build_network
from tracking.models.checkpoints import (NETWORK_FORMAT, CheckpointMismatchError, NotACheckpointError,
                                         save_network)
from tracking.models.safetensors_io import (TRAIN_FORMAT, NetworkNotBuildableError, load_safetensors, load_weights,
                                            read_safetensors, save_safetensors)
from tracking.train.checkpoint import FORMAT, atomic_save
from tracking.train.config import load_config, to_container

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_DIMP18 = os.path.join(SHARED_DATA, "checkpoints", "pytracking_dimp18_small.pth.tar")
OVERRIDES = ["model.kwargs.out_feature_dim=32", "model.kwargs.filter_size=4",
             "model.kwargs.iou_input_dim=[32,32]", "model.kwargs.iou_inter_dim=[32,32]"]


def _checkpoint(config: dict, state_dict: dict, network: dict, epoch: int, step: int) -> dict:
    return {"format": FORMAT, "config": config, "network": network, "epoch": epoch, "next_batch": 0,
            "global_step": step, "model": state_dict, "optimizer": {}, "scheduler": {}, "scaler": {}, "rng": {},
            "loader": {}, "metrics": {"history": [], "extra": {"best": {"value": 0.5, "epoch": 1,
                                                                        "metric": "Loss/total"}}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory with step_2.pth, step_4.pth and best.pth (distinct weights each) of a small DiMP-18 whose
    BatchNorm statistics are not the constructor's (so buffers must load too)."""
    config = to_container(load_config(os.path.join(REPO, "configs", "demo.yaml"), OVERRIDES))
    kwargs = config["model"]["kwargs"]
    torch.manual_seed(0)
    net = build_network("dimpnet18", **kwargs)
    with torch.no_grad():
        for name, buffer in net.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buffer.copy_(torch.rand_like(buffer) + 0.5)
    network = {"name": "dimpnet18", "target": None, "kwargs": kwargs}
    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
    run_dir = tmp_path_factory.mktemp("run")
    states = {}
    for step, scale in ((2, 0.5), (4, 2.0)):
        states[step] = {k: v * scale if v.is_floating_point() else v.clone() for k, v in best.items()}
        atomic_save(_checkpoint(config, states[step], network, step // 2, step),
                    str(run_dir / "checkpoints" / f"step_{step}.pth"))
    atomic_save(_checkpoint(config, best, network, 2, 4), str(run_dir / "checkpoints" / "best.pth"))
    return {"dir": run_dir, "net": net.eval(), "best": best, "steps": states, "config": config, "kwargs": kwargs}


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    """The CLI, as users run it, on the run directory."""
    out = tmp_path_factory.mktemp("export") / "model.safetensors"
    result = subprocess.run([sys.executable, "-m", "tracking.export", str(run["dir"]), "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def _assert_same(state: dict, expected: dict) -> None:
    assert sorted(state) == sorted(expected)  # safetensors keeps no order
    for key, value in expected.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key


def _inputs(size: int = 96) -> tuple:
    g = torch.Generator().manual_seed(7)
    train, test = torch.randn(2, 1, 3, size, size, generator=g), torch.randn(1, 1, 3, size, size, generator=g)
    train_bb = torch.tensor([30.0, 32.0, 28.0, 24.0]).repeat(2, 1, 1)
    props = torch.tensor([26.0, 28.0, 36.0, 30.0]).repeat(1, 1, 3, 1) + torch.rand(1, 1, 3, 4, generator=g) * 6
    return train, test, train_bb, props


def test_the_training_format_names_agree():
    assert TRAIN_FORMAT == FORMAT and NETWORK_FORMAT == "tracking.network/1"


def test_the_cli_exports_the_run_directorys_best_checkpoint_bit_exactly(run, exported):
    from safetensors import safe_open
    from safetensors.torch import load_file

    out, stdout = exported
    assert os.path.join("checkpoints", "best.pth") in stdout and "dimpnet18" in stdout
    assert f"{len(run['best'])} tensors" in stdout and str(out) in stdout
    _assert_same(load_file(str(out)), run["best"])
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "tracking.network/1" and meta["network"] == "dimpnet18"
    assert json.loads(meta["kwargs"]) == {**run["kwargs"], "backbone_pretrained": False}
    extra = json.loads(meta["extra"])
    assert (extra["epoch"], extra["global_step"], extra["run"]) == (2, 4, "demo")
    assert extra["best"] == {"value": 0.5, "epoch": 1, "metric": "Loss/total"}
    assert extra["source"].endswith("best.pth")
    # the run's config beside it, as YAML that parses back to the checkpoint's config and loads as a config
    config_path = out.with_suffix(".yaml")
    assert str(config_path) in stdout
    assert yaml.safe_load(config_path.read_text()) == run["config"]
    assert to_container(load_config(str(config_path))) == run["config"]


def test_load_safetensors_rebuilds_a_network_with_the_same_outputs(run, exported):
    net, meta = load_safetensors(exported[0])
    assert meta["network"] == "dimpnet18" and meta["extra"]["global_step"] == 4
    _assert_same(net.state_dict(), run["best"])
    net.eval()
    with torch.no_grad():
        scores, iou = net(*_inputs())
        expected_scores, expected_iou = run["net"](*_inputs())
    assert torch.equal(iou, expected_iou)
    for a, b in zip(scores, expected_scores, strict=True):
        assert torch.equal(a, b)


def test_load_weights_reads_every_kind_of_file(run, exported, tmp_path):
    # our safetensors export
    net, meta = load_weights(exported[0])
    assert meta["format"] == NETWORK_FORMAT
    _assert_same(net.state_dict(), run["best"])
    # our save_network file
    save_network(tmp_path / "net.pth", run["net"], "dimpnet18", run["kwargs"])
    net, meta = load_weights(tmp_path / "net.pth")
    assert meta["format"] == NETWORK_FORMAT and meta["network"] == "dimpnet18"
    _assert_same(net.state_dict(), run["best"])
    # a training checkpoint, whatever its extension (but .safetensors, which torch.load reads as safetensors)
    renamed = tmp_path / "weights.safetensors"
    os.link(run["dir"] / "checkpoints" / "step_2.pth", renamed)
    with pytest.raises(NotACheckpointError, match="weights.safetensors.*not a safetensors file.*rename"):
        load_weights(renamed)
    renamed = renamed.rename(tmp_path / "weights.bin")
    net, meta = load_weights(renamed)
    assert meta["format"] == TRAIN_FORMAT and meta["kwargs"]["backbone_pretrained"] is False
    assert (meta["extra"]["epoch"], meta["extra"]["global_step"]) == (1, 2)
    _assert_same(net.state_dict(), run["steps"][2])


@pytest.mark.skipif(not os.path.isfile(SMALL_DIMP18), reason=f"{SMALL_DIMP18} absent")
def test_load_weights_reads_pytrackings_checkpoints():
    from tracking.models.checkpoints import load_pytracking_checkpoint

    ckpt = load_pytracking_checkpoint(SMALL_DIMP18)
    with pytest.raises(CheckpointMismatchError, match="missing"):
        load_weights(SMALL_DIMP18)  # the small file holds 7 of the 221 entries
    net, meta = load_weights(SMALL_DIMP18, strict=False)
    assert meta["format"] == "pytracking" and meta["network"] == ckpt.constructor_name == "dimpnet18"
    assert meta["kwargs"]["backbone_pretrained"] is False and meta["extra"]["epoch"] == ckpt.epoch
    state = net.state_dict()
    for key, value in ckpt.net.items():
        assert torch.equal(state[key], value), key


def test_a_run_directory_without_best_exports_its_latest_step(run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    for step in (2, 4):
        name = f"step_{step}.pth"
        os.link(run["dir"] / "checkpoints" / name, run_dir / "checkpoints" / name)
    out, config_out = tmp_path / "w.safetensors", tmp_path / "cfg" / "w.yaml"
    assert main([str(run_dir / "checkpoints"), "--out", str(out), "--config-out", str(config_out)]) == 0
    assert "step_4.pth" in capsys.readouterr().out
    _assert_same(read_safetensors(out)[0], run["steps"][4])
    assert yaml.safe_load(config_out.read_text()) == run["config"]


def test_outputs_are_not_overwritten_without_force(run, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"keep me")
    assert main([str(run["dir"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--force" in err and str(out) in err
    assert out.read_bytes() == b"keep me" and not out.with_suffix(".yaml").exists()
    assert main([str(run["dir"]), "--out", str(out), "--force"]) == 0
    _assert_same(read_safetensors(out)[0], run["best"])
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors", "w.yaml"]  # no temporary file left behind


def test_what_is_not_a_training_checkpoint_gives_one_error_line(run, exported, tmp_path, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    torch.save({"format": "something/else"}, tmp_path / "other.pth")
    (tmp_path / "empty_run").mkdir()
    cases = {str(tmp_path / "missing.pth"): "missing.pth", str(junk): "junk.pth",
             str(tmp_path / "other.pth"): "something/else", str(exported[0]): "model.safetensors",
             str(tmp_path / "empty_run"): "no checkpoint"}
    for ckpt, expected in cases.items():
        assert main([ckpt, "--out", str(tmp_path / "w.safetensors")]) == 2, ckpt
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "w.safetensors").exists()
    with pytest.raises(NotACheckpointError, match="junk.pth"):
        load_weights(junk)
    with pytest.raises(NotACheckpointError, match="something/else"):
        load_weights(tmp_path / "other.pth")


def test_a_network_from_a_users_target_is_refused_with_one_line(run, tmp_path):
    ckpt = _checkpoint(run["config"], run["best"], {"name": None, "target": "mypkg.nets.build", "kwargs": {}}, 1, 2)
    atomic_save(ckpt, str(tmp_path / "user.pth"))
    with pytest.raises(NetworkNotBuildableError, match="own builder"):
        load_weights(tmp_path / "user.pth")
    # The process as a user sees it; it also checks that the import of the module does not import safetensors.
    code = ("import sys; import tracking.models.safetensors_io, tracking.export; "
            "assert 'safetensors' not in sys.modules, 'imported safetensors'; "
            "sys.exit(tracking.export.main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "user.pth"), "--out",
                             str(tmp_path / "w.safetensors")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "mypkg.nets.build" in result.stderr and "own builder" in result.stderr
    assert not (tmp_path / "w.safetensors").exists()


def test_load_safetensors_errors_name_the_file(run, tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(NotACheckpointError, match="best.pth.*not a safetensors file"):
        load_safetensors(run["dir"] / "checkpoints" / "best.pth")
    save_safetensors(tmp_path / "anonymous.safetensors", run["best"], None, {})
    with pytest.raises(NetworkNotBuildableError, match="anonymous.safetensors.*names no network.*load_into"):
        load_safetensors(tmp_path / "anonymous.safetensors")
    assert read_safetensors(tmp_path / "anonymous.safetensors")[1]["network"] is None
    save_file({"w": torch.zeros(1)}, str(tmp_path / "unknown.safetensors"),
              metadata={"format": NETWORK_FORMAT, "network": "nonet", "kwargs": "{}", "extra": "{}"})
    with pytest.raises(NetworkNotBuildableError, match="unknown.safetensors.*'nonet'.*not registered.*dimpnet18"):
        load_weights(tmp_path / "unknown.safetensors")
    save_file({"w": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(NotACheckpointError, match="foreign.safetensors.*without our metadata"):
        load_safetensors(tmp_path / "foreign.safetensors")
    bad = dict(run["best"])
    key = "classifier.filter_initializer.filter_conv.weight"
    bad[key] = bad[key].flatten()[:5].clone()
    save_safetensors(tmp_path / "misshaped.safetensors", bad, "dimpnet18", run["kwargs"])
    with pytest.raises(CheckpointMismatchError, match=f"misshaped.safetensors.*shape mismatch.*{key}"):
        load_safetensors(tmp_path / "misshaped.safetensors")


def test_tensors_sharing_storage_are_written_apart(tmp_path):
    from safetensors.torch import load_file

    base = torch.arange(12.0).reshape(3, 4)
    # tied, a non-contiguous view, a contiguous view at an offset, empty
    state = {"a": base, "b": base, "c": base[1:].t(), "d": base[1:], "e": torch.arange(10.0)[3:], "f": torch.zeros(0)}
    save_safetensors(tmp_path / "shared.safetensors", state, None, {}, {"note": "tied"})
    loaded = load_file(str(tmp_path / "shared.safetensors"))
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    assert read_safetensors(tmp_path / "shared.safetensors")[1]["extra"] == {"note": "tied"}
