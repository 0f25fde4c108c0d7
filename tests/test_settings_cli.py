"""``python -m tracking.settings``: the template it writes, what it shows, its errors; the settings keys that
tracking.data.roots reads (types, workspace_dir, pretrained_dir) and the pretrained-weights search."""

import os
import subprocess
import sys
import warnings

import pytest
import torch
import yaml

from tracking.data import roots
from tracking.data.datasets import DATASETS
from tracking.models.backbones import pretrained
from tracking.settings import settings_template

_OVERRIDES = ("TRACKING_WORKSPACE", "TRACKING_PRETRAINED_DIR", "TRACKING_SPECS_DIR",
              *(roots.env_var(key) for key in DATASETS))


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """A settings path in a directory that does not exist yet, and no overriding environment variable."""
    path = tmp_path / "config" / "tracking" / "local.yaml"
    monkeypatch.setenv(roots.SETTINGS_ENV, str(path))
    for var in _OVERRIDES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch hub cache
    return path


def _cli(*args, cwd, **env):
    """Run the CLI in a fresh interpreter with the current environment plus ``env``."""
    return subprocess.run([sys.executable, "-m", "tracking.settings", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=120)


def _line(stdout: str, start: str) -> str:
    return next(line for line in stdout.splitlines() if line.strip().startswith(start))


def test_init_writes_a_parseable_template_and_refuses_to_overwrite(settings, tmp_path):
    shown = _cli(cwd=tmp_path)
    assert shown.returncode == 0 and "not found" in shown.stdout and not settings.exists()  # --show writes nothing

    out = _cli("--init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(settings) in out.stdout and "datasets" in out.stdout and "specs_dir" in out.stdout
    text = settings.read_text()
    assert text == settings_template()
    data = yaml.safe_load(text)
    assert set(data) <= set(roots.SETTINGS_KEYS) and data["workspace_dir"] == "~/tracking-workspace"
    assert not data.get("datasets")  # every dataset line is commented out
    for key in DATASETS:
        assert f"# {key}: " in text
    for part in ("train/ val/ test/", "LaSOTBenchmark", "ltr/data_specs", "got10k_vot_train_split.txt",
                 "# specs_dir:", "# pretrained_dir:", "resnet50-0676ba61.pth"):
        assert part in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert roots.load_settings()["workspace_dir"] == "~/tracking-workspace"
    assert roots.workspace_dir() == os.path.expanduser("~/tracking-workspace")

    settings.write_text("workspace_dir: /mine\n")
    again = _cli("--init", cwd=tmp_path)
    assert again.returncode == 2 and settings.read_text() == "workspace_dir: /mine\n"
    assert len(again.stderr.strip().splitlines()) == 1 and str(settings) in again.stderr and "--force" in again.stderr
    forced = _cli("--init", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and settings.read_text() == settings_template()


def test_show_lists_every_root_and_its_source(settings, tmp_path):
    got10k, otb, specs = tmp_path / "GOT-10k", tmp_path / "OTB100", tmp_path / "specs"
    for d in (got10k, otb, specs):
        d.mkdir()
    settings.parent.mkdir(parents=True)
    settings.write_text(f"workspace_dir: {tmp_path / 'ws'}\ndatasets:\n  got10k: {got10k}\n"
                        f"  lasot: {tmp_path / 'nowhere'}\n  otb: /also/overridden\nspecs_dir: {specs}\n")
    out = _cli("--show", cwd=tmp_path, TRACKING_OTB_ROOT=str(otb))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = out.stdout
    assert f"{settings} (exists)" in _line(lines, "settings file:")
    assert str(tmp_path / "ws") in _line(lines, "workspace:") and "workspace_dir in" in _line(lines, "workspace:")
    assert str(got10k) in _line(lines, "got10k ") and f"datasets.got10k in {settings}" in _line(lines, "got10k ")
    assert str(otb) in _line(lines, "otb ") and "$TRACKING_OTB_ROOT" in _line(lines, "otb ")  # env var wins
    assert "(not a directory)" in _line(lines, "lasot ")
    assert "not set" in _line(lines, "trackingnet ") and "TRACKING_TRACKINGNET_ROOT" in _line(lines, "trackingnet ")
    for key in DATASETS:
        _line(lines, f"{key} ")
    spec_lines = [line for line in lines.splitlines() if str(specs) in line or roots.SPECS_DIR in line]
    assert str(specs) in spec_lines[0] and "specs_dir in" in spec_lines[0] and "built in" in spec_lines[-1]
    assert _cli(cwd=tmp_path, TRACKING_OTB_ROOT=str(otb)).stdout == lines  # --show is the default


def test_the_environment_variable_overrides_the_file(settings, tmp_path, monkeypatch):
    from_file, from_env = tmp_path / "from_file", tmp_path / "from_env"
    from_file.mkdir()
    from_env.mkdir()
    settings.parent.mkdir(parents=True)
    settings.write_text(f"datasets:\n  lasot: {from_file}\n")
    assert roots.resolve_root("lasot") == str(from_file)
    monkeypatch.setenv("TRACKING_LASOT_ROOT", str(from_env))
    assert roots.resolve_root("lasot") == str(from_env)
    assert roots.configured_root("lasot") == (str(from_env), "$TRACKING_LASOT_ROOT")
    line = _line(_cli(cwd=tmp_path).stdout, "lasot ")
    assert str(from_env) in line and "$TRACKING_LASOT_ROOT" in line and str(from_file) not in line


@pytest.mark.parametrize("text, key", [
    ("datasets: [got10k, lasot]\n", "datasets"),
    ("datasets:\n  got10k: 3\n", "datasets.got10k"),
    ("specs_dir: [a, b]\n", "specs_dir"),
    ("workspace_dir: {a: 1}\n", "workspace_dir"),
    ("pretrained_dir: 7\n", "pretrained_dir"),
    ("datasets: {got10k: /x\n  - what\n", "cannot read"),
    ("- just\n- a list\n", "YAML mapping"),
])
def test_a_malformed_file_is_one_line_and_exit_code_2(settings, tmp_path, text, key):
    settings.parent.mkdir(parents=True)
    settings.write_text(text)
    out = _cli(cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: ") and str(settings) in out.stderr and key in out.stderr
    with pytest.raises(ValueError, match=key):
        roots.load_settings()


def test_an_unknown_key_is_a_warning_not_an_error(settings, tmp_path):
    settings.parent.mkdir(parents=True)
    settings.write_text("datset:\n  got10k: /x\nworkspace_dir: /ws\n")
    with pytest.warns(UserWarning, match=r"unknown key 'datset'.*known keys: workspace_dir"):
        assert roots.workspace_dir() == "/ws"
    out = _cli(cwd=tmp_path)
    assert out.returncode == 0 and "warning:" in out.stderr and "'datset'" in out.stderr and str(settings) in out.stderr


def test_workspace_dir_default_file_and_environment(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert roots.workspace_dir() == str(tmp_path / "workspace")  # ./workspace, made absolute
    assert roots.workspace_dir("runs", "a") == str(tmp_path / "workspace" / "runs" / "a")
    settings.parent.mkdir(parents=True)
    settings.write_text("workspace_dir: ~/ws\n")
    assert roots.workspace_source() == (os.path.expanduser("~/ws"), f"workspace_dir in {settings}")
    monkeypatch.setenv("TRACKING_WORKSPACE", "rel")
    assert roots.workspace_dir() == str(tmp_path / "rel")


def test_pretrained_dir_is_searched_after_the_environment_variable(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(pretrained.PretrainedWeightsNotFoundError) as info:
        pretrained.find_imagenet_weights("resnet18")
    assert "pretrained_dir" in str(info.value) and str(settings) in str(info.value)

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "resnet18-f37072fd.pth").write_bytes(b"")  # only its existence matters here
    settings.parent.mkdir(parents=True)
    settings.write_text(f"pretrained_dir: {weights}\n")
    assert pretrained.find_imagenet_weights("resnet18") == str(weights / "resnet18-f37072fd.pth")
    env = tmp_path / "env"
    monkeypatch.setenv(pretrained.ENV_VAR, str(env))
    assert pretrained.search_dirs() == [str(env), str(weights), str(tmp_path / "hub" / "checkpoints")]

    line = _line(_cli(cwd=tmp_path).stdout, str(weights))
    assert "pretrained_dir in" in line and "resnet18-f37072fd.pth" in line
