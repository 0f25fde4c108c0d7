"""Training configs: schema errors name the key and the file, files compose, overrides apply, every shipped
config loads and holds pytracking's settings."""

import os
import subprocess
import sys

import pytest

from tracking.train.config import ConfigError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")
SHIPPED = ["demo", "dimp18", "dimp50", "prdimp18", "prdimp50", "super_dimp", "atom", "examples/my_tracker"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = _write(tmp_path, "bad.yaml", "train:\n  epochz: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert path in str(e.value) and "'train.epochz'" in str(e.value) and "epochs" in str(e.value)


def test_unknown_key_in_a_base_file_names_the_base(tmp_path):
    base = _write(tmp_path, "base.yaml", "data:\n  batchsize: 3\n")
    child = _write(tmp_path, "child.yaml", "_base_: base.yaml\ntrain: {epochs: 2}\n")
    with pytest.raises(ConfigError) as e:
        load_config(child)
    assert base in str(e.value) and "data.batchsize" in str(e.value)


def test_wrong_type_names_the_key_and_the_file(tmp_path):
    path = _write(tmp_path, "bad.yaml", "train:\n  epochs: many\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert path in str(e.value) and "train.epochs" in str(e.value)


@pytest.mark.parametrize("text, key", [("train: {amp: fast}\n", "train.amp"), ("data: {batch_size: 0}\n", "data.batch_size"),
                                       ("optim: {name: lion}\n", "optim.name")])
def test_bad_values_are_named(tmp_path, text, key):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, "bad.yaml", text))
    assert key in str(e.value)


def test_overrides_apply_and_unknown_ones_name_the_command_line():
    cfg = load_config(os.path.join(CONFIGS, "dimp50.yaml"), ["train.epochs=2", "data.loader.workers=0",
                                                             "data.datasets=[{name: synthetic}]"])
    assert cfg.train.epochs == 2 and cfg.data.loader.workers == 0
    assert [d.name for d in cfg.data.datasets] == ["synthetic"]
    with pytest.raises(ConfigError, match="the command line: unknown key 'train.epochz'"):
        load_config(os.path.join(CONFIGS, "dimp50.yaml"), ["train.epochz=2"])
    with pytest.raises(ConfigError, match="the command line.*key=value"):
        load_config(os.path.join(CONFIGS, "dimp50.yaml"), ["train.epochs"])


def test_base_chain_composes_and_cycles_are_reported(tmp_path):
    _write(tmp_path, "a.yaml", "model: {name: dimpnet18}\nactor: {name: dimp}\ntrain: {epochs: 7, seed: 3}\n")
    path = _write(tmp_path, "b.yaml", "_base_: a.yaml\ntrain: {seed: 5}\n")
    cfg = load_config(path)
    assert (cfg.train.epochs, cfg.train.seed, cfg.name) == (7, 5, "b")
    _write(tmp_path, "c.yaml", "_base_: d.yaml\n")
    _write(tmp_path, "d.yaml", "_base_: c.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(str(tmp_path / "c.yaml"))


def test_a_target_replaces_a_base_name(tmp_path):
    path = _write(tmp_path, "t.yaml", "_base_: " + os.path.join(CONFIGS, "demo.yaml") +
                  "\nmodel: {_target_: mypkg.build}\n")
    cfg = load_config(path)
    assert cfg.model.name is None and cfg.model._target_ == "mypkg.build"
    assert load_config(path, ["model.name=dimpnet18"]).model._target_ is None  # the override replaces it
    with pytest.raises(ConfigError, match="exactly one of 'name'"):
        load_config(path, ["model={name: dimpnet18, _target_: mypkg.build}"])


def test_switching_a_component_drops_the_old_callables_kwargs():
    base = os.path.join(CONFIGS, "dimp50.yaml")
    kept = load_config(base, ["model.kwargs.filter_size=2"])
    assert kept.model.kwargs.filter_size == 2 and kept.model.kwargs.num_dist_bins == 100  # same callable: merged
    switched = load_config(base, ["model._target_=mypkg.build", "model.kwargs.width=3", "actor.name=atom"])
    assert dict(switched.model.kwargs) == {"width": 3}
    assert dict(switched.actor.kwargs) == {} and dict(switched.actor.loss_weights) == {}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    cfg = load_config(os.path.join(CONFIGS, f"{name}.yaml"))
    assert cfg.name == os.path.basename(name)


def test_dimp50_holds_pytrackings_settings():
    cfg = load_config(os.path.join(CONFIGS, "dimp50.yaml"))
    assert (cfg.data.batch_size, cfg.data.samples_per_epoch, cfg.train.epochs) == (10, 26000, 50)
    assert [(d.name, d.split, d.weight) for d in cfg.data.datasets] == [
        ("lasot", "train", 0.25), ("got10k", "vottrain", 1.0), ("trackingnet", None, 1.0), ("coco", None, 1.0)]
    assert list(cfg.data.datasets[2].sets) == [0, 1, 2, 3]
    assert dict(cfg.actor.loss_weights) == {"iou": 1, "test_clf": 100, "test_init_clf": 100, "test_iter_clf": 400}
    assert [(list(g.params), g.lr) for g in cfg.optim.groups] == [
        (["classifier.filter_initializer"], 5e-5), (["classifier.filter_optimizer"], 5e-4),
        (["classifier.feature_extractor"], 5e-5), (["bb_regressor"], None), (["feature_extractor"], 2e-5)]
    assert (cfg.optim.lr, cfg.optim.scheduler.step_size, cfg.optim.scheduler.gamma) == (2e-4, 15, 0.2)
    assert cfg.model.kwargs.init_gauss_sigma == pytest.approx(0.25 / 5 * 18)
    assert cfg.data.sampler.kwargs.max_gap == 30
    assert (cfg.data.val.samples_per_epoch, cfg.data.val.every) == (5000, 5)


def test_a_child_naming_the_network_keeps_the_bases_arguments():
    cfg = load_config(os.path.join(CONFIGS, "dimp18.yaml"))
    assert cfg.model.name == "dimpnet18" and cfg.model.kwargs.filter_size == 4
    assert cfg.model.kwargs.backbone_pretrained is True and cfg.model.kwargs.num_dist_bins == 100


def test_super_dimp_and_atom_settings():
    sd = load_config(os.path.join(CONFIGS, "super_dimp.yaml"))
    assert (sd.data.batch_size, sd.data.samples_per_epoch, sd.data.processing.name) == (20, 40000, "super_dimp")
    assert dict(sd.actor.loss_weights) == {"bb_ce": 0.01, "test_clf": 100, "test_init_clf": 100, "test_iter_clf": 400}
    atom = load_config(os.path.join(CONFIGS, "atom.yaml"))
    assert (atom.data.batch_size, atom.data.samples_per_epoch, atom.optim.lr) == (64, 64000, 1e-3)
    assert [list(g.params) for g in atom.optim.groups] == [["bb_regressor"]]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tracking.train", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_cli_print_config_and_one_line_errors(tmp_path):
    out = _cli("--config", "configs/dimp50.yaml", "train.epochs=3", "--print-config")
    assert out.returncode == 0, out.stderr
    assert "epochs: 3" in out.stdout and "dimpnet50" in out.stdout
    bad = _cli("--config", "configs/dimp50.yaml", "train.epochz=3")
    assert bad.returncode == 2 and bad.stderr.startswith("error: the command line: unknown key 'train.epochz'")
    assert "Traceback" not in bad.stderr
    missing = _cli("--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr
