"""ResNet backbones: pytracking/torchvision layout, forward semantics, freezing, init, and ImageNet weights."""

import json
import os

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA

from tracking.models.backbones import (PretrainedWeightsError, PretrainedWeightsNotFoundError, ResNet, resnet18,
                                       resnet50)
from tracking.models.backbones import pretrained as pretrained_mod
from tracking.models.checkpoints import CheckpointMismatchError

SPECS = os.path.join(os.path.dirname(SHARED_DATA), "specs", "pytracking_state_dict")


@pytest.fixture(scope="module")
def r50() -> ResNet:
    torch.manual_seed(0)
    return resnet50(output_layers=("layer2", "layer3")).eval()


def _spec_keys(name: str, prefix: str = "feature_extractor.") -> list[tuple[str, list[int]]]:
    path = os.path.join(SPECS, f"keys_{name}.json")
    if not os.path.isfile(path):
        pytest.skip(f"{path} absent")
    with open(path) as f:
        keys = json.load(f)["keys"]
    return [(k[len(prefix):], shape) for k, shape in keys if k.startswith(prefix)]


def _num_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("spec,builder", [("dimp18", "resnet18"), ("dimp50", "resnet50"), ("atom", "resnet18")])
def test_state_dict_keys_order_and_shapes_match_pytracking(spec, builder, r50):
    net = r50 if builder == "resnet50" else resnet18()
    ours = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert ours == _spec_keys(spec)


def test_parameter_counts():
    assert _num_params(resnet18()) == 11_689_512
    torch.manual_seed(0)
    net = resnet50()
    assert _num_params(net) == 25_557_032
    counts = {name: _num_params(getattr(net, name)) for name in ("layer1", "layer2", "layer3", "layer4", "fc")}
    assert counts == {"layer1": 215_808, "layer2": 1_219_584, "layer3": 7_098_368, "layer4": 14_964_736,
                      "fc": 2_049_000}


def _functional_resnet(sd: dict, x: torch.Tensor, blocks: list[int], bottleneck: bool) -> dict:
    """Independent eval-mode ResNet forward from the state_dict, with the torchvision stride rules."""
    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"])

    out = {}
    x = F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1"))
    out["conv1"] = x
    x = F.max_pool2d(x, 3, 2, 1)
    for li, n in enumerate(blocks, start=1):
        for bi in range(n):
            p = f"layer{li}.{bi}."
            stride = 2 if (li > 1 and bi == 0) else 1
            identity = x
            if p + "downsample.0.weight" in sd:
                identity = bn(F.conv2d(x, sd[p + "downsample.0.weight"], stride=stride), p + "downsample.1")
            if bottleneck:
                y = F.relu(bn(F.conv2d(x, sd[p + "conv1.weight"]), p + "bn1"))
                y = F.relu(bn(F.conv2d(y, sd[p + "conv2.weight"], stride=stride, padding=1), p + "bn2"))
                y = bn(F.conv2d(y, sd[p + "conv3.weight"]), p + "bn3")
            else:
                y = F.relu(bn(F.conv2d(x, sd[p + "conv1.weight"], stride=stride, padding=1), p + "bn1"))
                y = bn(F.conv2d(y, sd[p + "conv2.weight"], padding=1), p + "bn2")
            x = F.relu(y + identity)
        out[f"layer{li}"] = x
    out["fc"] = F.linear(x.mean((2, 3)), sd["fc.weight"], sd["fc.bias"])
    return out


def _randomise_bn_stats(net: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_forward_matches_an_independent_functional_resnet(arch, r50):
    torch.manual_seed(0)
    net = r50 if arch == "resnet50" else resnet18().eval()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    _randomise_bn_stats(net)
    sd = net.state_dict()
    x = torch.randn(2, 3, 64, 80)
    layers = ("conv1", "layer1", "layer2", "layer3", "layer4", "fc")
    with torch.no_grad():
        ours = net(x, output_layers=layers)
        ref = _functional_resnet(sd, x, [2, 2, 2, 2] if arch == "resnet18" else [3, 4, 6, 3], arch == "resnet50")
    assert list(ours) == list(layers)
    for name in layers:
        torch.testing.assert_close(ours[name], ref[name], rtol=1e-4, atol=1e-4)
        if name != "fc":
            assert ours[name].shape[1] == net.layer_channels[name]
            assert ours[name].shape[-1] == -(-80 // net.layer_strides[name])  # ceil: the padded convs
            assert ours[name].shape[-2] == -(-64 // net.layer_strides[name])
    assert ours["fc"].shape == (2, 1000)


def test_layer_channels_and_strides(r50):
    net = resnet18()
    assert net.layer_channels["layer2"] == 128 and net.layer_channels["layer3"] == 256
    assert r50.layer_channels["layer2"] == 512 and r50.layer_channels["layer3"] == 1024
    assert r50.layer_channels["layer4"] == 2048
    assert net.layer_strides == {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def test_forward_returns_the_default_layers_and_stops_after_the_deepest():
    net = resnet18(output_layers=("layer3", "layer2")).eval()
    called = []
    for name in ("layer1", "layer2", "layer3", "layer4", "fc"):
        getattr(net, name).register_forward_hook(lambda m, i, o, name=name: called.append(name))
    x = torch.randn(1, 3, 64, 64)
    out = net(x)
    assert list(out) == ["layer2", "layer3"] and called == ["layer1", "layer2", "layer3"]
    called.clear()
    out = net(x, output_layers=["conv1"])
    assert list(out) == ["conv1"] and called == []
    assert out["conv1"].shape == (1, 64, 32, 32)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="output_layers.*layer5"):
        resnet18(output_layers=("layer5",))
    with pytest.raises(ValueError, match="empty"):
        resnet18(output_layers=())
    with pytest.raises(ValueError, match="frozen_layers.*bn2"):
        resnet18(frozen_layers=("bn2",))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\].*\[1, 1, 32, 32\]"):
        resnet18()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="output_layers.*default"):
        resnet18()(torch.zeros(1, 3, 32, 32), output_layers=("default",))
    with pytest.raises(ValueError, match="weights_path"):
        resnet18(weights_path="/some/file.pth")


def test_init_follows_pytracking():
    torch.manual_seed(0)
    net = resnet18()
    w = net.layer4[0].conv2.weight  # 512 x 512 x 3 x 3
    expected_std = (2.0 / (3 * 3 * 512)) ** 0.5  # normal(0, sqrt(2 / (k*k*out_channels)))
    assert abs(w.std().item() / expected_std - 1) < 0.02 and abs(w.mean().item()) < 1e-3
    w = net.conv1.weight
    assert abs(w.std().item() / (2.0 / (49 * 64)) ** 0.5 - 1) < 0.05
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    bound = 1 / 512 ** 0.5  # torch's default Linear init for fc
    assert net.fc.weight.abs().max() <= bound and net.fc.weight.abs().max() > 0.9 * bound


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = resnet18().state_dict()
    torch.manual_seed(3)
    b = resnet18().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_layers_get_no_gradient_and_keep_bn_statistics():
    torch.manual_seed(0)
    net = resnet18(output_layers=("layer2",), frozen_layers=("conv1", "layer1")).train()
    assert not net.bn1.training and not net.layer1[0].bn1.training and net.layer2[0].bn1.training
    net.eval().train()  # train() again keeps them in eval mode
    assert not net.layer1.training and net.layer2.training and net.training
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net(torch.randn(2, 3, 64, 64))["layer2"].square().mean().backward()
    after = net.state_dict()
    for key in before:
        frozen = key.startswith(("conv1.", "bn1.", "layer1."))
        computed = key.startswith(("conv1.", "bn1.", "layer1.", "layer2."))
        if computed and ("running_mean" in key or "num_batches_tracked" in key):
            assert torch.equal(before[key], after[key]) == frozen, key
    for name, p in net.named_parameters():
        frozen = name.startswith(("conv1.", "bn1.", "layer1."))
        assert p.requires_grad != frozen, name
        if name.startswith(("layer2.",)):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        elif frozen:
            assert p.grad is None, name


def test_frozen_all_and_parent_train_call():
    net = resnet18(frozen_layers="all")
    assert not any(p.requires_grad for p in net.parameters())
    parent = torch.nn.Sequential(net)
    parent.train()
    assert not any(m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(p.requires_grad for p in resnet18(frozen_layers="none").parameters())


def test_channels_last_gives_the_same_output():
    torch.manual_seed(0)
    net = resnet18(output_layers=("layer2", "layer3")).eval()
    _randomise_bn_stats(net)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        net_cl = net.to(memory_format=torch.channels_last)
        out = net_cl(x.to(memory_format=torch.channels_last))
    for name in ref:
        assert out[name].is_contiguous(memory_format=torch.channels_last)  # the channels_last kernels ran
        torch.testing.assert_close(out[name], ref[name], rtol=1e-4, atol=1e-4)


# ---- ImageNet weights -------------------------------------------------------------------------------------

@pytest.fixture
def no_weight_dirs(tmp_path, monkeypatch):
    """No $TRACKING_PRETRAINED_DIR, and a hub dir that is empty."""
    monkeypatch.delenv(pretrained_mod.ENV_VAR, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def _saved_resnet18(path) -> dict:
    torch.manual_seed(7)
    sd = resnet18().state_dict()
    _randomise = {k: v + 0.5 if v.is_floating_point() else v for k, v in sd.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_randomise, path)
    return _randomise


def _assert_loaded(net, sd):
    own = net.state_dict()
    assert all(torch.equal(own[k], sd[k]) for k in sd)


@pytest.mark.parametrize("file_name", ["resnet18-f37072fd.pth", "resnet18-5c106cde.pth"])
def test_pretrained_from_env_dir(file_name, tmp_path, monkeypatch, no_weight_dirs):
    sd = _saved_resnet18(tmp_path / "weights" / file_name)
    monkeypatch.setenv(pretrained_mod.ENV_VAR, str(tmp_path / "weights"))
    _assert_loaded(resnet18(pretrained=True), sd)


def test_pretrained_from_weights_path_and_hub_dir(tmp_path, no_weight_dirs):
    sd = _saved_resnet18(tmp_path / "any_name.pth")
    _assert_loaded(resnet18(pretrained=True, weights_path=str(tmp_path / "any_name.pth")), sd)
    sd = _saved_resnet18(tmp_path / "dir" / "resnet18-5c106cde.pth")  # a directory as weights_path
    _assert_loaded(resnet18(pretrained=True, weights_path=str(tmp_path / "dir")), sd)
    sd = _saved_resnet18(no_weight_dirs / "checkpoints" / "resnet18-f37072fd.pth")
    _assert_loaded(resnet18(pretrained=True), sd)


def test_pretrained_absent_raises_a_clear_error(tmp_path, monkeypatch, no_weight_dirs):
    monkeypatch.setenv(pretrained_mod.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(PretrainedWeightsNotFoundError) as info:
        resnet50(pretrained=True)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for part in ("resnet50-0676ba61.pth", "resnet50-19c8e357.pth", str(tmp_path / "empty"),
                 str(no_weight_dirs / "checkpoints"), "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                 "weights_path=", pretrained_mod.ENV_VAR):
        assert part in msg
    with pytest.raises(PretrainedWeightsNotFoundError, match="nope.pth"):
        resnet18(pretrained=True, weights_path=str(tmp_path / "nope.pth"))


def test_pretrained_wrong_or_corrupt_file_names_the_file(tmp_path, no_weight_dirs):
    wrong = tmp_path / "r50_as_18.pth"
    _saved_resnet18(wrong)
    with pytest.raises(CheckpointMismatchError, match="r50_as_18.pth.*shape mismatch"):
        resnet50(pretrained=True, weights_path=str(wrong))
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(os.urandom(100))
    with pytest.raises(PretrainedWeightsError, match="garbage.pth"):
        resnet18(pretrained=True, weights_path=str(bad))
