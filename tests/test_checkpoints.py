"""Checkpoints: pytracking's .pth.tar read safely (no code runs), readable load errors, our own network files."""

import contextlib
import json
import os
import subprocess
import sys
import types
import zipfile

import pytest
import torch
from conftest import SHARED_DATA

import tracking.models as models
from tracking.models import registry
from tracking.models.checkpoints import (NETWORK_FORMAT, CheckpointMismatchError, NotACheckpointError,
                                         PytrackingCheckpoint, UnsafeCheckpointError, load_into, load_network,
                                         load_pytracking_checkpoint, load_pytracking_network, save_network)

SMALL_DIMP18 = os.path.join(SHARED_DATA, "checkpoints", "pytracking_dimp18_small.pth.tar")
SPEC_DIMP18 = os.path.join(os.path.dirname(SHARED_DATA), "specs", "pytracking_state_dict", "keys_dimp18.json")
LTR_CLASSES = ("ltr.admin.local.EnvironmentSettings", "ltr.admin.model_constructor.NetConstructor",
               "ltr.admin.settings.Settings", "ltr.admin.stats.AverageMeter", "ltr.admin.stats.StatValue")


@contextlib.contextmanager
def fake_ltr(extra_classes=()):
    """Classes named like pytracking's in fake `ltr.*` modules, for writing files in its format (test only)."""
    added, classes = [], {}
    for full in LTR_CLASSES + tuple(extra_classes):
        module_name, _, cls_name = full.rpartition(".")
        parts = module_name.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name not in sys.modules:
                sys.modules[name] = types.ModuleType(name)
                added.append(name)
        cls = type(cls_name, (), {"__module__": module_name})
        setattr(sys.modules[module_name], cls_name, cls)
        classes[cls_name] = cls
    try:
        yield classes
    finally:
        for name in added:
            del sys.modules[name]


def _obj(cls, **attrs):
    obj = cls()
    obj.__dict__.update(attrs)
    return obj


def write_pytracking_checkpoint(path, net, fun_name="dimpnet18", kwds=None, epoch=7, **more):
    """A checkpoint as pytracking's base_trainer writes one (all nine entries, ltr classes pickled)."""
    with fake_ltr() as ltr:
        state = {
            "epoch": epoch, "actor_type": "DiMPActor", "net_type": "DiMPnet", "net": net, "net_info": None,
            "constructor": _obj(ltr["NetConstructor"], fun_name=fun_name, fun_module="ltr.models.tracking.dimpnet",
                                args=(), kwds=dict(kwds or {})),
            "optimizer": {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]},
            "stats": {"train": {"Loss": _obj(ltr["AverageMeter"], avg=0.5, count=3),
                                "LearningRate": _obj(ltr["StatValue"], val=2e-4, history=[2e-4])}},
            "settings": _obj(ltr["Settings"], env=_obj(ltr["EnvironmentSettings"], workspace_dir="/ws"),
                             batch_size=10), **more}
        torch.save(state, path)


class Payload:
    """Pickles as a call of ``fn(*args)``: what a malicious checkpoint does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


# ---- pytracking's files -------------------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.isfile(SMALL_DIMP18), reason=f"{SMALL_DIMP18} absent")
def test_the_shared_small_dimp18_checkpoint():
    ckpt = load_pytracking_checkpoint(SMALL_DIMP18)
    assert isinstance(ckpt, PytrackingCheckpoint) and ckpt.path == SMALL_DIMP18
    names = {"classifier.filter_optimizer." + n for n in ("log_step_length", "filter_reg",
             "label_map_predictor.weight", "target_mask_predictor.0.weight", "spatial_weight_predictor.weight")}
    names |= {"bb_regressor.iou_predictor.weight", "bb_regressor.iou_predictor.bias"}
    assert set(ckpt.net) == names
    assert ckpt.epoch == 50 and ckpt.net_type == "DiMPnet" and ckpt.actor_type == "DiMPActor"
    assert ckpt.constructor_name == "dimpnet18" and ckpt.constructor_module == "ltr.models.tracking.dimpnet"
    assert ckpt.constructor_args == ()
    assert sorted(ckpt.unknown) == ["optimizer", "settings", "stats"]
    assert all(torch.isfinite(t).all() for t in ckpt.net.values())
    if os.path.isfile(SPEC_DIMP18):  # shapes and kwargs as the spec gives them
        with open(SPEC_DIMP18) as f:
            spec = json.load(f)
        shapes = {k: shape for k, shape in spec["keys"]}
        assert {k: list(v.shape) for k, v in ckpt.net.items()} == {k: shapes[k] for k in names}
        expected = {**spec["kwargs"], "backbone_pretrained": True}  # the train settings pass True
        assert ckpt.constructor_kwargs == expected


def test_a_file_in_pytrackings_format_without_ltr(tmp_path):
    net = {"a.weight": torch.randn(3, 2), "a.bias": torch.zeros(3)}
    write_pytracking_checkpoint(tmp_path / "c.pth.tar", net, kwds={"filter_size": 4, "dims": (256, 256)},
                                epoch=12, future_entry=[1, 2])
    assert not any(m == "ltr" or m.startswith("ltr.") for m in sys.modules)
    ckpt = load_pytracking_checkpoint(tmp_path / "c.pth.tar")
    assert set(ckpt.net) == set(net) and all(torch.equal(ckpt.net[k], net[k]) for k in net)
    assert ckpt.epoch == 12 and ckpt.constructor_name == "dimpnet18"
    assert ckpt.constructor_kwargs == {"filter_size": 4, "dims": (256, 256)}
    assert sorted(ckpt.unknown) == ["future_entry", "optimizer", "settings", "stats"]


MARKER_CALLS = {
    "posix.system": lambda m: Payload(os.system, f"touch {m}"),
    "builtins.eval": lambda m: Payload(eval, f"open({str(m)!r}, 'w').close()"),
    "subprocess.Popen": lambda m: Payload(subprocess.Popen, ["touch", str(m)]),
    "builtins.exec": lambda m: Payload(exec, f"open({str(m)!r}, 'w').close()"),
}


@pytest.mark.parametrize("refused", sorted(MARKER_CALLS))
def test_code_in_the_file_never_runs(refused, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # must not weaken our explicit weights_only
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth.tar"
    write_pytracking_checkpoint(path, {"w": torch.ones(1)}, payload=MARKER_CALLS[refused](marker))
    with pytest.raises(UnsafeCheckpointError) as info:
        load_pytracking_checkpoint(path)
    assert not marker.exists()
    assert refused in str(info.value) and str(path) in str(info.value)
    assert "weights_only=False" not in str(info.value)
    assert isinstance(info.value, __import__("pickle").UnpicklingError)
    if refused == "posix.system":  # the payload is real: an unrestricted load runs it
        with fake_ltr():
            torch.load(path, weights_only=False)
        assert marker.exists()


def test_an_unknown_class_is_refused_by_name(tmp_path):
    path = tmp_path / "unknown.pth.tar"
    with fake_ltr(extra_classes=("ltr.admin.stats.SomethingNew",)) as ltr:
        torch.save({"net": {}, "stats": ltr["SomethingNew"]()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"ltr\.admin\.stats\.SomethingNew.*nothing from the file"):
        load_pytracking_checkpoint(path)


def test_files_that_are_not_checkpoints(tmp_path):
    cases = {}
    cases["random.pth.tar"] = lambda p: p.write_bytes(os.urandom(512))
    cases["empty.pth.tar"] = lambda p: p.write_bytes(b"")
    cases["mark.pth.tar"] = lambda p: p.write_bytes(b"t.")  # TUPLE without MARK: an IndexError in the unpickler
    cases["tensor.pth.tar"] = lambda p: torch.save(torch.ones(3), p)
    cases["state_dict.pth.tar"] = lambda p: torch.save({"conv.weight": torch.ones(3)}, p)

    def other_zip(p):
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("readme.txt", "hello")

    cases["other.zip"] = other_zip
    cases["bad_net.pth.tar"] = lambda p: torch.save({"net": {"w": 3}}, p)
    cases["bad_constructor.pth.tar"] = lambda p: torch.save({"net": {}, "constructor": "dimpnet18"}, p)
    for name, make in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(NotACheckpointError, match=str(path).replace(".", r"\.")):
            load_pytracking_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pth.tar"):
        load_pytracking_checkpoint(tmp_path / "missing.pth.tar")


def test_a_truncated_checkpoint(tmp_path):
    whole = tmp_path / "whole.pth.tar"
    write_pytracking_checkpoint(whole, {"w": torch.randn(100)})
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(NotACheckpointError, match="cut.pth.tar"):
        load_pytracking_checkpoint(cut)


# ---- load_into ----------------------------------------------------------------------------------------------

def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def test_load_into_copies_and_lists_problems():
    torch.manual_seed(0)
    src, dst = _mlp(), _mlp()
    assert load_into(dst, src.state_dict()) == ([], [])
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    sd = dict(src.state_dict())
    sd["0.weight"] = torch.zeros(5, 2)
    del sd["2.bias"]
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as info:
        load_into(dst, sd, source="some/file.pth")
    msg = str(info.value)
    assert "some/file.pth" in msg and "0.weight (file [5, 2], net [3, 2])" in msg
    assert "1 missing key(s): 2.bias" in msg and "1 unexpected key(s): extra.weight" in msg
    with pytest.raises(CheckpointMismatchError, match="shape mismatch"):  # even when not strict
        load_into(dst, sd, strict=False)
    del sd["0.weight"]
    assert load_into(dst, sd, strict=False) == (["0.weight", "2.bias"], ["extra.weight"])


def test_load_into_lists_only_a_few_keys():
    big = torch.nn.Sequential(*[torch.nn.Linear(1, 1) for _ in range(20)])
    with pytest.raises(CheckpointMismatchError) as info:
        load_into(big, {})
    assert "40 missing key(s)" in str(info.value) and "... and 32 more" in str(info.value)
    assert len(str(info.value)) < 400


# ---- our own files, and pytracking files rebuilt through the registry ----------------------------------------

@pytest.fixture
def dummy(monkeypatch):
    monkeypatch.setattr(models, "NETWORK_MODULES", ())
    seen = []

    @registry.register_network("test_ckpt_dummy")
    def build(width: int = 2, depth: int = 1, backbone_pretrained: bool = False) -> torch.nn.Module:
        seen.append(backbone_pretrained)
        return torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(depth)],
                                   torch.nn.BatchNorm1d(width))

    yield seen
    registry.unregister_network("test_ckpt_dummy")


def test_save_and_load_network(tmp_path, dummy):
    torch.manual_seed(0)
    net = models.build_network("test_ckpt_dummy", width=3, depth=2)
    net(torch.randn(4, 3))  # moves the BatchNorm running stats
    path = tmp_path / "net.pt"
    save_network(path, net, "test_ckpt_dummy", {"width": 3, "depth": 2}, extra={"epoch": 5, "lr": [1e-3, 1e-4]})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == NETWORK_FORMAT and raw["network"] == "test_ckpt_dummy"
    assert raw["kwargs"] == {"width": 3, "depth": 2} and raw["extra"] == {"epoch": 5, "lr": [1e-3, 1e-4]}
    loaded, meta = load_network(path)
    assert meta["extra"]["epoch"] == 5 and meta["kwargs"] == {"width": 3, "depth": 2} and meta["torch"]
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert os.listdir(tmp_path) == ["net.pt"]  # no temporary file left


def test_save_network_refuses_what_could_not_be_loaded(tmp_path, dummy):
    net = models.build_network("test_ckpt_dummy")
    with pytest.raises(ValueError, match="not_registered.*known networks.*test_ckpt_dummy"):
        save_network(tmp_path / "x.pt", net, "not_registered", {})
    with pytest.raises(TypeError, match=r"kwargs\['act'\].*ReLU"):
        save_network(tmp_path / "x.pt", net, "test_ckpt_dummy", {"act": torch.nn.ReLU()})
    with pytest.raises(TypeError, match=r"extra\['when'\]\[0\].*Tensor"):
        save_network(tmp_path / "x.pt", net, "test_ckpt_dummy", {}, extra={"when": [torch.ones(1)]})
    assert not os.listdir(tmp_path)


def test_load_network_errors_name_the_file(tmp_path, dummy):
    write_pytracking_checkpoint(tmp_path / "p.pth.tar", {"w": torch.ones(1)})
    with pytest.raises(NotACheckpointError, match="p.pth.tar.*load_pytracking_checkpoint"):
        load_network(tmp_path / "p.pth.tar")
    net = models.build_network("test_ckpt_dummy", width=2)
    save_network(tmp_path / "n.pt", net, "test_ckpt_dummy", {"width": 2})
    data = torch.load(tmp_path / "n.pt", weights_only=True)
    data["kwargs"] = {"width": 4}
    torch.save(data, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointMismatchError, match="wrong.pt.*shape mismatch"):
        load_network(tmp_path / "wrong.pt")
    data["network"] = "gone"
    torch.save(data, tmp_path / "gone.pt")
    with pytest.raises(KeyError, match="unknown network 'gone'"):
        load_network(tmp_path / "gone.pt")


def test_load_pytracking_network_through_the_registry(tmp_path, dummy):
    torch.manual_seed(1)
    source = models.build_network("test_ckpt_dummy", width=3)
    path = tmp_path / "p.pth.tar"
    write_pytracking_checkpoint(path, source.state_dict(), fun_name="test_ckpt_dummy",
                                kwds={"width": 3, "backbone_pretrained": True})
    dummy.clear()
    net, ckpt = load_pytracking_network(path)
    assert dummy == [False]  # the checkpoint holds the backbone: no ImageNet weights wanted
    assert ckpt.constructor_kwargs["backbone_pretrained"] is True
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), net.state_dict().values()))
    with pytest.raises(CheckpointMismatchError, match="p.pth.tar"):
        load_pytracking_network(path, width=4)
