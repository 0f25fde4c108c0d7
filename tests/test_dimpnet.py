"""DiMPnet (tracking.models.dimpnet): state_dict layout vs pytracking's (keys_dimp18/50.json), forward shapes and
iterates, gradients and frozen layers, train/eval behaviour, determinism, and the PrDiMP / SuperDiMP variants."""

import json
import math
import os

import pytest
import torch
from torch import nn

from tests.conftest import SHARED_DATA
from tracking.models import build_network, network_names
from tracking.models.classifier.optimizer import DiMPSteepestDescentGN, PrDiMPSteepestDescentNewton
from tracking.models.dimpnet import (SUPER_DIMP_SETTINGS, DiMPnet, dimpnet18, dimpnet50, klcedimpnet18,
                                     klcedimpnet50, super_dimp)

SPECS = os.path.join(os.path.dirname(SHARED_DATA), "specs", "pytracking_state_dict")
needs_specs = pytest.mark.skipif(not os.path.isdir(SPECS), reason=f"pytracking key specs not found at {SPECS}")

# The train settings' constructor arguments (as in the JSON headers; kept here so tests run without them).
DIMP_KW = dict(filter_size=4, optim_iter=5, clf_feat_norm=True, final_conv=True, optim_init_step=0.9,
               optim_init_reg=0.1, init_gauss_sigma=0.9, num_dist_bins=100, bin_displacement=0.1,
               mask_init_factor=3.0, target_mask_act="sigmoid", score_act="relu")
PRDIMP_KW = dict(filter_size=4, optim_iter=5, clf_feat_norm=True, final_conv=True, optim_init_step=1.0,
                 optim_init_reg=0.05, optim_min_reg=0.05, gauss_sigma=0.9, alpha_eps=0.05, normalize_label=True,
                 init_initializer="zero")
PREDICTOR_KEYS = ["classifier.filter_optimizer.label_map_predictor.weight",
                  "classifier.filter_optimizer.target_mask_predictor.0.weight",
                  "classifier.filter_optimizer.spatial_weight_predictor.weight"]


def _spec(name: str) -> dict:
    with open(os.path.join(SPECS, f"keys_{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def _layout(net: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in net.state_dict().items()]


def _inputs(num_train: int = 3, num_test: int = 3, batch: int = 2, size: int = 128, proposals: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    train = torch.randn(num_train, batch, 3, size, size, generator=g)
    test = torch.randn(num_test, batch, 3, size, size, generator=g)
    train_bb = torch.tensor([size * 0.3, size * 0.35, size * 0.3, size * 0.25]).repeat(num_train, batch, 1)
    train_bb = train_bb + torch.rand(num_train, batch, 4, generator=g) * 4
    props = torch.tensor([size * 0.25, size * 0.3, size * 0.4, size * 0.3]).repeat(num_test, batch, proposals, 1)
    props = props + torch.rand(num_test, batch, proposals, 4, generator=g) * 8
    return train, test, train_bb, props


@pytest.fixture(scope="module")
def net18() -> DiMPnet:
    torch.manual_seed(0)
    return dimpnet18(backbone_pretrained=False, **DIMP_KW)


@pytest.fixture(scope="module")
def net50() -> DiMPnet:
    torch.manual_seed(0)
    return dimpnet50(backbone_pretrained=False, clf_feat_blocks=0, out_feature_dim=512, **DIMP_KW)


# --- layout ---------------------------------------------------------------------------------------------------

@needs_specs
@pytest.mark.parametrize("name", ["dimp18", "dimp50"])
def test_state_dict_equals_pytracking(name, net18, net50):
    spec = _spec(name)
    net = net18 if name == "dimp18" else net50
    kwargs = dict(spec["kwargs"])
    assert kwargs.pop("backbone_pretrained") is False
    expected_kw = dict(DIMP_KW, **({"clf_feat_blocks": 0, "out_feature_dim": 512} if name == "dimp50" else {}))
    assert kwargs == expected_kw                     # the fixtures are built with the header's arguments
    assert _layout(net) == [(k, tuple(s)) for k, s in spec["keys"]]
    assert len(net.state_dict()) == spec["num_keys"]
    assert sum(p.numel() for p in net.parameters()) == spec["num_params"]
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == spec["num_trainable_params"]
    assert sum(b.numel() for b in net.buffers()) == spec["num_buffer_elems"]


def test_parameter_counts_from_the_spec_readme(net18, net50):
    """The counts stated in the spec README (also checked without the JSON files)."""
    assert sum(p.numel() for p in net18.parameters()) == 19_645_911
    assert sum(p.numel() for p in net50.parameters()) == 43_097_303
    assert sum(p.numel() for p in net50.classifier.feature_extractor.parameters()) == 4_718_592
    assert sum(p.numel() for p in net50.classifier.filter_optimizer.parameters()) == 302
    assert sum(p.numel() for p in net50.bb_regressor.parameters()) == 10_461_569


def test_prdimp_keys_are_dimp_keys_without_the_loss_predictors(net18):
    """PrDiMP's Newton optimiser learns only step length and regularisation: its state_dict is DiMP's minus
    the three distance-bin predictors, in the same order."""
    torch.manual_seed(0)
    pr18 = klcedimpnet18(backbone_pretrained=False, **PRDIMP_KW)
    dimp = _layout(net18)
    assert _layout(pr18) == [(k, s) for k, s in dimp if k not in PREDICTOR_KEYS]
    assert isinstance(pr18.classifier.filter_optimizer, PrDiMPSteepestDescentNewton)
    # init_initializer='zero': the initial filter conv is zero
    assert float(pr18.classifier.filter_initializer.filter_conv.weight.detach().abs().max()) == 0.0


@needs_specs
def test_prdimp50_and_super_dimp_keys():
    spec = [(k, tuple(s)) for k, s in _spec("dimp50")["keys"]]
    pr50 = klcedimpnet50(backbone_pretrained=False, clf_feat_blocks=0, out_feature_dim=512, **PRDIMP_KW)
    assert _layout(pr50) == [(k, s) for k, s in spec if k not in PREDICTOR_KEYS]
    del pr50
    sd = super_dimp(backbone_pretrained=False)
    assert _layout(sd) == spec
    # frozen conv1/bn1, layer1, layer2 (43,097,303 - 9,536 - 215,808 - 1,219,584 trainable)
    assert sum(p.numel() for p in sd.parameters() if p.requires_grad) == 41_652_375
    opt = sd.classifier.filter_optimizer
    assert isinstance(opt, DiMPSteepestDescentGN) and opt.num_iter == 5
    assert SUPER_DIMP_SETTINGS["init_gauss_sigma"] == pytest.approx(0.25 / 6 * 22)


def test_distinctive_inits(net18):
    fe = net18.classifier.feature_extractor
    assert torch.all(fe[0].bn1.weight == 1) and torch.all(fe[0].bn1.bias == 0)
    assert float(fe[1].weight.detach().std()) == pytest.approx(math.sqrt(2 / (9 * 256)), rel=0.05)
    assert float(net18.classifier.filter_initializer.filter_conv.bias.detach().abs().max()) == 0.0
    assert fe[2].scale == pytest.approx(1 / 64)                  # sqrt(1 / (256 * 4 * 4))
    opt = net18.classifier.filter_optimizer
    assert float(opt.log_step_length.detach()) == pytest.approx(math.log(0.9))
    assert float(opt.filter_reg.detach()) == pytest.approx(0.1)
    d = torch.arange(100) * 0.1
    torch.testing.assert_close(opt.target_mask_predictor[0].weight.detach().flatten(), 3 * torch.tanh(2 - d))


# --- forward --------------------------------------------------------------------------------------------------

def test_dimp18_forward_shapes_iterates_and_features(net18):
    net18.eval()
    train, test, train_bb, props = _inputs()
    with torch.no_grad():
        scores, iou = net18(train, test, train_bb, props)
        assert len(scores) == 6                                   # initial filter + 5 iterates
        assert all(s.shape == (3, 2, 9, 9) for s in scores)      # 128 / 16 = 8, + (4 + 1) % 2
        assert iou.shape == (3, 2, 4)
        assert len(net18(train, test, train_bb, props, num_iter=2)[0]) == 3
        feats = net18.extract_features(test[0])
        assert list(feats) == ["layer2", "layer3", "classification"]
        assert feats["layer2"].shape == (2, 128, 16, 16) and feats["classification"].shape == (2, 256, 8, 8)
        torch.testing.assert_close(feats["classification"],
                                   net18.classifier.extract_classification_feat(feats["layer3"]))
        backbone = net18.extract_backbone_features(test[0])
        assert list(backbone) == ["layer2", "layer3"]
        # the last score map is the final filter applied to the test frames' classification features
        test_feat = net18.extract_classification_feat(net18.extract_backbone_features(test.reshape(-1, 3, 128, 128)))
        train_layer3 = net18.extract_backbone_features(train.reshape(-1, 3, 128, 128), ["layer3"])["layer3"]
        final, _ = net18.classifier.train_classifier(train_layer3.reshape(3, 2, 256, 8, 8), train_bb)
        torch.testing.assert_close(net18.classifier.classify(final, test_feat.reshape(3, 2, 256, 8, 8)), scores[-1])
    with pytest.raises(ValueError, match="train_imgs"):
        net18(train[0], test, train_bb, props)


def test_dimp50_forward_once(net50):
    net50.eval()
    train, test, train_bb, props = _inputs(batch=1, size=64, proposals=3)
    with torch.no_grad():
        scores, iou = net50(train, test, train_bb, props)
    assert len(scores) == 6 and all(s.shape == (3, 1, 5, 5) for s in scores)
    assert iou.shape == (3, 1, 3)
    assert all(torch.isfinite(s).all() for s in scores) and torch.isfinite(iou).all()


def test_eval_mode_transpose_paths_agree(net18):
    """pytracking uses the v2 transpose in eval mode and v3 in train mode: same scores either way."""
    net18.eval()
    train, test, train_bb, props = _inputs(batch=1, size=96)
    with torch.no_grad():
        eval_scores, _ = net18(train, test, train_bb, props)
        net18.classifier.filter_optimizer.train()
        train_scores, _ = net18(train, test, train_bb, props)
    net18.eval()
    for a, b in zip(eval_scores, train_scores):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# --- training behaviour ---------------------------------------------------------------------------------------

def test_gradients_reach_trainable_parameters_and_not_frozen_ones():
    torch.manual_seed(1)
    net = dimpnet18(backbone_pretrained=False, frozen_backbone_layers=("conv1", "bn1", "layer1"), **DIMP_KW)
    net.train()
    train, test, train_bb, props = _inputs(batch=2, size=96, seed=1)
    scores, iou = net(train, test, train_bb, props)
    loss = sum((s ** 2).mean() for s in scores) + iou.sum()
    loss.backward()
    frozen = ("feature_extractor.conv1.", "feature_extractor.bn1.", "feature_extractor.layer1.")
    unused = ("feature_extractor.layer4.", "feature_extractor.fc.")   # in the state_dict, never computed
    for name, p in net.named_parameters():
        if name.startswith(frozen):
            assert not p.requires_grad and p.grad is None, name
        elif name.startswith(unused):
            assert p.requires_grad and p.grad is None, name
        else:
            assert p.requires_grad and p.grad is not None, name
            assert torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


def test_train_mode_keeps_frozen_batchnorm_in_eval():
    torch.manual_seed(2)
    net = dimpnet18(backbone_pretrained=False, frozen_backbone_layers=("conv1", "bn1", "layer1"), **DIMP_KW)
    net.train()
    assert not net.feature_extractor.bn1.training and not net.feature_extractor.layer1[0].bn1.training
    assert net.feature_extractor.layer2[0].bn1.training and net.classifier.feature_extractor[0].bn1.training
    before = {k: v.clone() for k, v in net.state_dict().items() if "running_mean" in k}
    train, test, train_bb, props = _inputs(num_train=1, num_test=1, batch=2, size=64, proposals=2)
    with torch.no_grad():
        net(train, test, train_bb, props)
    after = net.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        frozen = key.startswith(("feature_extractor.bn1.", "feature_extractor.layer1."))
        unused = key.startswith("feature_extractor.layer4.")
        assert changed == (not frozen and not unused), key
    net.eval()
    assert not any(m.training for m in net.modules())
    only_bn1 = dimpnet18(backbone_pretrained=False, frozen_backbone_layers=("bn1",), **DIMP_KW)
    frozen = {n for n, p in only_bn1.named_parameters() if not p.requires_grad}
    assert frozen == {"feature_extractor.bn1.weight", "feature_extractor.bn1.bias"}


def test_deterministic_for_a_fixed_seed():
    train, test, train_bb, props = _inputs(num_train=2, num_test=1, batch=1, size=64, proposals=2)
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = dimpnet18(backbone_pretrained=False, **DIMP_KW).eval()
        with torch.no_grad():
            outputs.append((net.state_dict(), net(train, test, train_bb, props)))
    (sd0, (s0, i0)), (sd1, (s1, i1)) = outputs
    assert all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert all(torch.equal(a, b) for a, b in zip(s0, s1)) and torch.equal(i0, i1)


def test_prdimp18_forward():
    torch.manual_seed(3)
    net = klcedimpnet18(backbone_pretrained=False, **PRDIMP_KW).eval()
    train, test, train_bb, props = _inputs(batch=1, size=64, proposals=2)
    with torch.no_grad():
        scores, iou = net(train, test, train_bb, props)
    assert len(scores) == 6 and all(s.shape == (3, 1, 5, 5) for s in scores)
    assert float(scores[0].abs().max()) == 0.0          # zero-initialised filter conv -> zero initial filter
    assert float(scores[-1].abs().max()) > 0.0
    assert iou.shape == (3, 1, 2)


def test_prdimp18_gradients_reach_every_trainable_parameter():
    """PrDiMP in train mode: every trainable parameter (the Newton optimiser's log_step_length and filter_reg
    included) gets a finite, non-zero gradient; the backbone parts the net never computes get none."""
    torch.manual_seed(4)
    net = klcedimpnet18(backbone_pretrained=False, **PRDIMP_KW).train()
    train, test, train_bb, props = _inputs(batch=2, size=96, seed=4)
    scores, iou = net(train, test, train_bb, props)
    loss = sum((s ** 2).mean() for s in scores[1:]) + iou.sum()  # the initial filter is zero: skip its map
    loss.backward()
    unused = ("feature_extractor.layer4.", "feature_extractor.fc.")
    for name, p in net.named_parameters():
        if name.startswith(unused):
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


def test_registry_builds_the_nets():
    names = network_names()
    for name in ("dimpnet18", "dimpnet50", "klcedimpnet18", "klcedimpnet50", "super_dimp"):
        assert name in names
    torch.manual_seed(0)
    net = build_network("dimpnet18", backbone_pretrained=False, filter_size=4)
    assert isinstance(net, DiMPnet) and net.classifier.filter_size == 4
