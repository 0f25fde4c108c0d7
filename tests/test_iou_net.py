"""AtomIoUNet and the conv/linear blocks: pytracking's state_dict layout, init, forward wiring (rois, batch
indices, modulation by the first train frame), gradients to the proposals, BatchNorm modes, argument errors."""

import json
import math
import os

import pytest
import torch
from torch import nn

from tests.conftest import SHARED_DATA
from tracking.models.bbreg.atom_iou_net import AtomIoUNet, xywh_to_rois
from tracking.models.layers.blocks import LinearBlock, conv_block
from tracking.ops import prroi_pool2d

SPECS = os.path.join(os.path.dirname(SHARED_DATA), "specs", "pytracking_state_dict")


def _spec(name):
    path = os.path.join(SPECS, f"keys_{name}.json")
    if not os.path.exists(path):
        pytest.skip(f"{path} not available")
    with open(path) as f:
        return json.load(f)


def _bb_keys(spec):
    prefix = "bb_regressor."
    return [(k[len(prefix):], shape) for k, shape in spec["keys"] if k.startswith(prefix)]


def _layout(module):
    return [(k, list(v.shape)) for k, v in module.state_dict().items()]


def _feats(n, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 128, 16, 16, generator=g, dtype=dtype), torch.randn(n, 256, 8, 8, generator=g, dtype=dtype)]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return AtomIoUNet().eval()


# ------------------------------------------------------------------------------------------------ blocks


def test_conv_block_children_and_keys():
    block = conv_block(3, 5, kernel_size=1, padding=0)
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert list(block.state_dict())[:4] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    plain = conv_block(3, 5, bias=False, batch_norm=False, relu=False)
    assert list(plain.state_dict()) == ["0.weight"] and len(plain) == 1
    c = conv_block(4, 6, kernel_size=3, stride=2, padding=2, dilation=2)[0]
    assert (c.stride, c.padding, c.dilation) == ((2, 2), (2, 2), (2, 2))


def test_linear_block_matches_linear_bn_relu_by_hand():
    torch.manual_seed(1)
    block = LinearBlock(2, 3, 2)
    assert [k for k, _ in _layout(block)] == ["linear.weight", "linear.bias", "bn.weight", "bn.bias",
                                              "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    block.bn.running_mean.uniform_(-1, 1)
    block.bn.running_var.uniform_(0.5, 2)
    block.bn.weight.data.uniform_(-1, 1)
    block.eval()
    x = torch.randn(4, 2, 2, 2)
    lin = x.reshape(4, 8) @ block.linear.weight.t() + block.linear.bias
    bn = (lin - block.bn.running_mean) / torch.sqrt(block.bn.running_var + block.bn.eps) * block.bn.weight + block.bn.bias
    torch.testing.assert_close(block(x), bn.clamp(min=0))
    assert LinearBlock(2, 3, 2, batch_norm=False, relu=False).bn is None
    with pytest.raises(ValueError, match="in_planes"):
        block(torch.randn(4, 3, 2, 2))


# ------------------------------------------------------------------------------------------- layout, init


def test_state_dict_layout_matches_pytracking_atom_and_dimp18():
    layout = _layout(AtomIoUNet())
    assert layout == _bb_keys(_spec("atom"))
    assert layout == _bb_keys(_spec("dimp18"))


def test_state_dict_layout_matches_pytracking_dimp50():
    net = AtomIoUNet(input_dim=(512, 1024))
    assert _layout(net) == _bb_keys(_spec("dimp50"))
    assert sum(p.numel() for p in net.parameters()) == 10_461_569


def test_parameter_count(net):
    assert sum(p.numel() for p in net.parameters()) == 5_595_521


def test_init_as_pytracking(net):
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            if m.weight.numel() >= 2000:  # enough samples for the std
                assert m.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.1), name
            assert (m.bias == 0).all(), name
        elif isinstance(m, nn.BatchNorm2d):
            assert (m.bias == 0).all() and (m.weight >= 0).all() and (m.weight < 1).all(), name
            assert m.weight.std().item() > 0.1, name  # U(0, 1), not torch's default of ones
    assert net.iou_predictor.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.15)


def test_init_is_deterministic_under_manual_seed():
    torch.manual_seed(5)
    a = AtomIoUNet().state_dict()
    torch.manual_seed(5)
    b = AtomIoUNet().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_constructor_dims():
    with pytest.raises(ValueError, match="pred_input_dim"):
        AtomIoUNet(pred_input_dim=(256,))


# ---------------------------------------------------------------------------------------------- semantics


def test_xywh_to_rois():
    boxes = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 1.0, 1.0]]])
    assert xywh_to_rois(boxes).tolist() == [[0, 1, 2, 4, 6], [1, 5, 6, 6, 7]]


def _bn_eval(x, bn):
    return (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias


def test_predict_iou_equals_a_per_proposal_computation(net):
    """predict_iou against an explicit loop: modulate sample b's features by its vectors, pool each proposal's
    roi (b, x, y, x + w, y + h) at 5x5 @1/8 and 3x3 @1/16, then linear + BN (eval) + ReLU and the predictor."""
    feat = net.get_iou_feat(_feats(2, 1))
    mod = (torch.randn(2, 256), torch.randn(2, 256))
    proposals = torch.tensor([[[10.0, 20.0, 40.0, 30.0], [0.0, 0.0, 128.0, 128.0], [60.0, 50.0, 8.0, 70.0]],
                              [[30.0, 30.0, 50.0, 50.0], [5.0, 90.0, 100.0, 20.0], [-10.0, -5.0, 30.0, 30.0]]])
    with torch.no_grad():
        pred = net.predict_iou(mod, feat, proposals)
        expected = torch.zeros(2, 3)
        for b in range(2):
            for p in range(3):
                x, y, w, h = proposals[b, p].tolist()
                roi = torch.tensor([[0.0, x, y, x + w, y + h]])
                parts = []
                for c, m, block, size, scale in ((feat[0], mod[0], net.fc3_rt, 5, 1 / 8),
                                                 (feat[1], mod[1], net.fc4_rt, 3, 1 / 16)):
                    pooled = prroi_pool2d(c[b:b + 1] * m[b].reshape(1, -1, 1, 1), roi, size, size, scale)
                    lin = pooled.reshape(1, -1) @ block.linear.weight.t() + block.linear.bias
                    parts.append(_bn_eval(lin, block.bn).clamp(min=0))
                cat = torch.cat(parts, dim=1)
                expected[b, p] = (cat @ net.iou_predictor.weight.t() + net.iou_predictor.bias).item()
    torch.testing.assert_close(pred, expected, rtol=1e-4, atol=1e-4)
    # a modulation averaged over reference frames ([C], batch 1) is accepted, as the tracker passes it
    one = net.predict_iou((mod[0][0], mod[1][0]), [f[:1] for f in feat], proposals[:1])
    torch.testing.assert_close(one, pred[:1])


def test_get_modulation_pools_the_target_box(net):
    """The modulation depends on the features inside (and around) the box only: features far away do not
    matter. Reference pooling: 3x3 @1/8 then fc3_1r, and 1x1 @1/16, concatenated, then fc34_3r / fc34_4r."""
    feat = _feats(1, 2)
    bb = torch.tensor([[8.0, 8.0, 32.0, 32.0]])  # layer2 cells 1..5, layer3 cells 0.5..2.5
    with torch.no_grad():
        m3, m4 = net.get_modulation(feat, bb)
        far = [f.clone() for f in feat]
        far[0][..., 10:, 10:] += 5.0  # >= 4 cells beyond the box's edge (3x3 convs reach 1 cell)
        far[1][..., 6:, 6:] += 5.0
        m3f, m4f = net.get_modulation(far, bb)
        c3, c4 = net.conv3_1r(feat[0]), net.conv4_1r(feat[1])
        roi = torch.tensor([[0.0, 8.0, 8.0, 40.0, 40.0]])
        r = torch.cat((net.fc3_1r(prroi_pool2d(c3, roi, 3, 3, 1 / 8)), prroi_pool2d(c4, roi, 1, 1, 1 / 16)), 1)
    assert m3.shape == m4.shape == (1, 256)
    torch.testing.assert_close(m3f, m3)
    torch.testing.assert_close(m4f, m4)
    torch.testing.assert_close(m3, net.fc34_3r(r).reshape(1, -1))
    torch.testing.assert_close(m4, net.fc34_4r(r).reshape(1, -1))


def test_forward_uses_only_the_first_train_frame(net):
    num_train, num_test, seqs, num_p = 2, 3, 2, 4
    feat1, feat2 = _feats(num_train * seqs, 3), _feats(num_test * seqs, 4)
    bb1 = torch.tensor([[[10.0, 10.0, 40.0, 40.0], [50.0, 30.0, 30.0, 60.0]],
                        [[20.0, 20.0, 20.0, 20.0], [0.0, 0.0, 64.0, 64.0]]])
    proposals = torch.rand(num_test, seqs, num_p, 4) * 60 + torch.tensor([0.0, 0.0, 10.0, 10.0])
    with torch.no_grad():
        out = net(feat1, feat2, bb1, proposals)
        assert out.shape == (num_test, seqs, num_p)
        # by hand: modulation of train image 0 (rows 0..seqs-1), applied to each test image's rows
        mod = net.get_modulation([f[:seqs] for f in feat1], bb1[0])
        iou_feat = net.get_iou_feat(feat2)
        for i in range(num_test):
            rows = slice(i * seqs, (i + 1) * seqs)
            torch.testing.assert_close(out[i], net.predict_iou(mod, [f[rows] for f in iou_feat], proposals[i]))
        # the second train frame is ignored; the first one matters
        other = [f.clone() for f in feat1]
        for f in other:
            f[seqs:] = torch.randn_like(f[seqs:])
        bb_other = bb1.clone()
        bb_other[1] += 3.0
        torch.testing.assert_close(net(other, feat2, bb_other, proposals), out)
        bb_first = bb1.clone()
        bb_first[0] += 3.0
        assert not torch.allclose(net(feat1, feat2, bb_first, proposals), out)
        # 5-dim [images, sequences, C, H, W] features give the same
        five = [f.reshape(-1, seqs, *f.shape[1:]) for f in feat1], [f.reshape(-1, seqs, *f.shape[1:]) for f in feat2]
        torch.testing.assert_close(net(*five, bb1, proposals), out)


def test_eval_batch_independent_train_mode_uses_batch_statistics():
    torch.manual_seed(0)
    net = AtomIoUNet()
    feat1, feat2 = _feats(2, 5), _feats(2, 6)
    bb1 = torch.tensor([[[10.0, 10.0, 40.0, 40.0], [50.0, 30.0, 30.0, 60.0]]])
    proposals = torch.tensor([[[[12.0, 8.0, 40.0, 44.0]] * 2, [[50.0, 30.0, 30.0, 60.0]] * 2]])
    net.eval()
    with torch.no_grad():
        both = net(feat1, feat2, bb1, proposals)
        single = net([f[1:] for f in feat1], [f[1:] for f in feat2], bb1[:, 1:], proposals[:, 1:])
        torch.testing.assert_close(single, both[:, 1:], rtol=1e-5, atol=1e-5)
        net.train()
        before = net.conv3_1t[1].running_mean.clone()
        both_train = net(feat1, feat2, bb1, proposals)
    assert not torch.equal(net.conv3_1t[1].running_mean, before)  # running statistics updated
    assert not torch.allclose(both_train, both)  # batch statistics, not the running ones


def test_gradients_reach_every_parameter_in_train_mode():
    torch.manual_seed(0)
    net = AtomIoUNet().train()
    feat1, feat2 = _feats(2, 7), _feats(2, 8)
    bb1 = torch.tensor([[[10.0, 10.0, 40.0, 40.0], [50.0, 30.0, 30.0, 60.0]]])
    proposals = torch.rand(1, 2, 3, 4) * 50 + 10
    net(feat1, feat2, bb1, proposals).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gradient_to_proposals_matches_finite_differences():
    torch.manual_seed(0)
    net = AtomIoUNet().double().eval()
    feat = net.get_iou_feat(_feats(1, 9, torch.float64))
    mod = net.get_modulation(_feats(1, 10, torch.float64), torch.tensor([[20.0, 20.0, 50.0, 40.0]], dtype=torch.float64))
    mod = [m.detach() for m in mod]
    feat = [f.detach() for f in feat]
    boxes = torch.tensor([[[22.3, 17.6, 47.1, 41.9], [60.2, 55.7, 30.4, 35.3]]], dtype=torch.float64,
                         requires_grad=True)
    net.predict_iou(mod, feat, boxes).sum().backward()
    assert boxes.grad.abs().min() > 0
    h = 1e-5
    numeric = torch.zeros_like(boxes)
    with torch.no_grad():
        for idx in [(0, p, c) for p in range(2) for c in range(4)]:
            plus, minus = boxes.clone(), boxes.clone()
            plus[idx] += h
            minus[idx] -= h
            numeric[idx] = (net.predict_iou(mod, feat, plus).sum() - net.predict_iou(mod, feat, minus).sum()) / (2 * h)
    torch.testing.assert_close(boxes.grad, numeric, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("change, match", [
    (lambda a: a.update(bb1=a["bb1"][0]), "bb1"),
    (lambda a: a.update(proposals2=a["proposals2"][0]), "proposals2"),
    (lambda a: a.update(feat1=a["feat1"][0]), "feat1"),
    (lambda a: a.update(feat2=[f[:1] for f in a["feat2"]]), "feat2"),
    (lambda a: a.update(bb1=torch.zeros(1, 3, 4)), "bb1"),
])
def test_forward_bad_inputs_are_named(net, change, match):
    args = dict(feat1=_feats(2, 0), feat2=_feats(2, 0), bb1=torch.zeros(1, 2, 4) + 10,
                proposals2=torch.zeros(1, 2, 3, 4) + 10)
    change(args)
    with pytest.raises(ValueError, match=match):
        net(**args)


def test_predict_iou_bad_inputs_are_named(net):
    feat = [torch.zeros(2, 256, 16, 16), torch.zeros(2, 256, 8, 8)]
    mod = (torch.zeros(2, 256), torch.zeros(2, 256))
    with pytest.raises(ValueError, match="proposals"):
        net.predict_iou(mod, feat, torch.zeros(3, 1, 4))
    with pytest.raises(TypeError, match="proposals"):
        net.predict_iou(mod, feat, torch.zeros(2, 1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="modulation"):
        net.predict_iou((torch.zeros(2, 128), mod[1]), feat, torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="bb"):
        net.get_modulation(_feats(2, 0), torch.zeros(3, 4))
