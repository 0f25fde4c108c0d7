"""ATOMnet / atom_resnet18 / atom_resnet50: pytracking's state_dict layout and parameter counts, the forward
wiring (backbone layers -> IoU-Net, frame reshapes), frozen backbone, BatchNorm modes, registry, weight errors."""

import json
import os

import pytest
import torch
from torch import nn

from tests.conftest import SHARED_DATA
from tracking.models.backbones import PretrainedWeightsNotFoundError
from tracking.models.bbreg import ATOMnet, AtomIoUNet
from tracking.models.bbreg.atom import atom_resnet18, atom_resnet50
from tracking.models.registry import lookup

SPEC = os.path.join(os.path.dirname(SHARED_DATA), "specs", "pytracking_state_dict", "keys_atom.json")
SIZE = 128  # layer2 16x16, layer3 8x8


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return atom_resnet18(backbone_pretrained=False).eval()


def _boxes(num_images, seqs, num_p=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (num_images, seqs, num_p, 4) if num_p else (num_images, seqs, 4)
    return torch.rand(shape, generator=g) * torch.tensor([60.0, 60.0, 40.0, 40.0]) + torch.tensor([5.0, 5, 20, 20])


def test_state_dict_matches_pytracking(net):
    if not os.path.exists(SPEC):
        pytest.skip(f"{SPEC} not available")
    with open(SPEC) as f:
        spec = json.load(f)
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == [tuple(e) for e in spec["keys"]]
    assert sum(p.numel() for p in net.parameters()) == spec["num_params"]
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == spec["num_trainable_params"]
    assert sum(b.numel() for b in net.buffers()) == spec["num_buffer_elems"]


def test_parameter_counts_without_the_spec(net):
    assert sum(p.numel() for p in net.parameters()) == 17_285_033
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 5_595_521
    assert all(not p.requires_grad for p in net.feature_extractor.parameters())
    assert all(p.requires_grad for p in net.bb_regressor.parameters())
    assert isinstance(net, ATOMnet) and isinstance(net.bb_regressor, AtomIoUNet)


def test_forward_is_the_iou_net_on_backbone_layers(net):
    seqs, num_p = 2, 3
    g = torch.Generator().manual_seed(1)
    train = torch.randn(1, seqs, 3, SIZE, SIZE, generator=g)
    test = torch.randn(1, seqs, 3, SIZE, SIZE, generator=g)
    bb, proposals = _boxes(1, seqs), _boxes(1, seqs, num_p, 1)
    with torch.no_grad():
        out = net(train, test, bb, proposals)
        assert out.shape == (1, seqs, num_p)
        f1 = net.extract_backbone_features(train[0])
        f2 = net.extract_backbone_features(test[0])
        assert list(f1) == ["layer2", "layer3"]
        assert f1["layer2"].shape == (seqs, 128, 16, 16) and f1["layer3"].shape == (seqs, 256, 8, 8)
        ref = net.bb_regressor([f1["layer2"], f1["layer3"]], [f2["layer2"], f2["layer3"]], bb, proposals)
        torch.testing.assert_close(out, ref)
        # 4-dim images are one image per sequence
        torch.testing.assert_close(net(train[0], test[0], bb[0], proposals[0]), out)
        assert list(net.extract_features(train[0], ["layer1"])) == ["layer1"]


def test_two_frames_first_train_frame_modulates(net):
    seqs, num_p = 1, 2
    g = torch.Generator().manual_seed(2)
    train = torch.randn(2, seqs, 3, SIZE, SIZE, generator=g)
    test = torch.randn(2, seqs, 3, SIZE, SIZE, generator=g)
    bb, proposals = _boxes(2, seqs, seed=3), _boxes(2, seqs, num_p, 4)
    with torch.no_grad():
        out = net(train, test, bb, proposals)
        assert out.shape == (2, seqs, num_p)
        # each test frame as if alone, with train frame 0
        for i in range(2):
            torch.testing.assert_close(net(train[:1], test[i:i + 1], bb[:1], proposals[i:i + 1]), out[i:i + 1])
        # unequal frame counts (pytracking needs equal ones): 2 train frames, 1 test frame
        torch.testing.assert_close(net(train, test[1:], bb, proposals[1:]), out[1:])


def test_gradients_reach_the_regressor_only():
    torch.manual_seed(0)
    net = atom_resnet18(backbone_pretrained=False).train()
    g = torch.Generator().manual_seed(5)
    train = torch.randn(1, 2, 3, SIZE, SIZE, generator=g)
    test = torch.randn(1, 2, 3, SIZE, SIZE, generator=g)
    loss = net(train, test, _boxes(1, 2), _boxes(1, 2, 4, 6)).square().mean()
    loss.backward()
    for name, p in net.bb_regressor.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in net.feature_extractor.parameters())


def test_train_mode_as_pytracking():
    """extractor_grad=False only stops gradients: as in pytracking, net.train() also puts the backbone's
    BatchNorms in training mode (its ResNet has no frozen layers), updating their running statistics."""
    torch.manual_seed(0)
    net = atom_resnet18(backbone_pretrained=False)
    net.train()
    assert net.feature_extractor.training and net.feature_extractor.bn1.training and net.bb_regressor.training
    before = net.feature_extractor.bn1.running_mean.clone()
    with torch.no_grad():
        net.extract_backbone_features(torch.randn(2, 3, 64, 64))
    assert not torch.equal(before, net.feature_extractor.bn1.running_mean)
    net.eval()
    assert not any(m.training for m in net.modules())


def test_atom_resnet50_regressor_dims():
    torch.manual_seed(0)
    net = atom_resnet50(backbone_pretrained=False)
    assert net.bb_regressor.conv3_1r[0].in_channels == 512 and net.bb_regressor.conv4_1r[0].in_channels == 1024
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 10_461_569  # as DiMP-50's bb_regressor


def test_registered_names():
    assert lookup("atom_resnet18") is atom_resnet18
    assert lookup("atom_resnet50") is atom_resnet50


def test_iou_dims_are_passed_through():
    net = atom_resnet18(iou_input_dim=(64, 32), iou_inter_dim=(16, 8), backbone_pretrained=False)
    assert net.bb_regressor.fc3_rt.linear.weight.shape == (16, 64 * 25)
    assert net.bb_regressor.iou_predictor.weight.shape == (1, 24)


def test_pretrained_without_weights_raises_the_backbone_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKING_PRETRAINED_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(PretrainedWeightsNotFoundError, match="resnet18"):
        atom_resnet18(backbone_pretrained=True)
    missing = tmp_path / "none.pth"
    with pytest.raises(PretrainedWeightsNotFoundError, match="none.pth"):
        atom_resnet18(backbone_weights_path=str(missing))


def test_bad_inputs_are_named(net):
    img = torch.zeros(1, 2, 3, 64, 64)
    with pytest.raises(ValueError, match="train_imgs"):
        net(torch.zeros(2, 64, 64), img, _boxes(1, 2), _boxes(1, 2, 3))
    with pytest.raises(ValueError, match="test_imgs"):
        net(img, torch.zeros(1, 3, 3, 64, 64), _boxes(1, 2), _boxes(1, 2, 3))
    with pytest.raises(ValueError, match="train_bb"):
        net(img, img, _boxes(2, 2), _boxes(1, 2, 3))
    with pytest.raises(ValueError, match="test_proposals"):
        net(img, img, _boxes(1, 2), torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="bb_regressor_layer"):
        ATOMnet(nn.Identity(), nn.Identity(), bb_regressor_layer=("layer3",))
