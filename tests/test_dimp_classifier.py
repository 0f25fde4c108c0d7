"""DiMP's classifier (tracking.models.classifier): feature blocks, FilterPool / FilterInitializerLinear, the DiMP
(Gauss-Newton) and PrDiMP (Newton) filter optimisers and LinearFilter, checked against independent small
computations (a direct PrRoIPool call, autograd of the losses, explicit Jacobian/Hessian products)."""

import math

import pytest
import torch
from torch import nn

from tracking.models.classifier.features import residual_basic_block, residual_bottleneck
from tracking.models.classifier.initializer import FilterInitializerLinear, FilterPool
from tracking.models.classifier.linear_filter import LinearFilter
from tracking.models.classifier.optimizer import DiMPSteepestDescentGN, PrDiMPSteepestDescentNewton
from tracking.models.layers.distance import DistanceMap
from tracking.models.layers.filter import apply_filter
from tracking.models.layers.normalization import InstanceL2Norm
from tracking.ops import prroi_pool2d


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- feature blocks ------------------------------------------------------------------------------------------

def test_residual_basic_block_layout_as_dimp18():
    block = residual_basic_block(num_blocks=1, l2norm=True, final_conv=True, norm_scale=1 / 64, out_dim=256)
    keys = list(block.state_dict())
    assert keys[:2] == ["0.conv1.weight", "0.bn1.weight"] and keys[-1] == "1.weight"
    assert {k: tuple(v.shape) for k, v in block.state_dict().items()}["1.weight"] == (256, 256, 3, 3)
    assert isinstance(block[2], InstanceL2Norm) and block[2].scale == 1 / 64
    assert sum(p.numel() for p in block.parameters()) == 1_770_496   # the spec's count for DiMP-18
    assert block(torch.randn(2, 256, 5, 5)).shape == (2, 256, 5, 5)


def test_residual_bottleneck_layout_as_dimp50():
    block = residual_bottleneck(feature_dim=256, num_blocks=0, final_conv=True, out_dim=512,
                                norm_scale=math.sqrt(1 / (512 * 16)))
    assert [(k, tuple(v.shape)) for k, v in block.state_dict().items()] == [("0.weight", (512, 1024, 3, 3))]
    with_block = residual_bottleneck(feature_dim=64, num_blocks=1, final_conv=True, out_dim=32)
    assert with_block(torch.randn(1, 256, 4, 4)).shape == (1, 32, 4, 4)
    assert "0.conv3.weight" in with_block.state_dict() and "1.weight" in with_block.state_dict()


def test_linear_filter_reinitialises_its_feature_extractor():
    torch.manual_seed(0)
    block = residual_basic_block(feature_dim=64, num_blocks=1, final_conv=True, out_dim=64)
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 0.3)
    LinearFilter(4, FilterInitializerLinear(4, feature_dim=64), feature_extractor=block)
    conv = block[1]
    assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.05)
    assert float(conv.weight.detach().mean()) == pytest.approx(0.0, abs=0.002)
    assert torch.all(block[0].bn1.weight == 1) and torch.all(block[0].bn1.bias == 0)


# --- FilterPool and FilterInitializerLinear ------------------------------------------------------------------

def test_filter_pool_equals_prroi_pool_on_the_expected_rois():
    feat = torch.randn(3, 4, 9, 9, generator=_rng(0))
    bb = torch.tensor([[10.0, 20.0, 40.0, 30.0], [0.0, 0.0, 64.0, 64.0], [33.0, 5.0, 12.0, 50.0]])
    out = FilterPool(filter_size=4, feature_stride=16)(feat, bb)
    rois = torch.tensor([[0, 10, 20, 50, 50], [1, 0, 0, 64, 64], [2, 33, 5, 45, 55]], dtype=torch.float32)
    torch.testing.assert_close(out, prroi_pool2d(feat, rois, 4, 4, 1 / 16))
    # pool_square: the square of the box's area around its centre
    sq = FilterPool(filter_size=2, feature_stride=8, pool_square=True)(feat[:1], bb[:1])
    side = math.sqrt(40 * 30)
    cx, cy = 30.0, 35.0
    roi = torch.tensor([[0, cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]])
    torch.testing.assert_close(sq, prroi_pool2d(feat[:1], roi, 2, 2, 1 / 8))
    with pytest.raises(ValueError, match="bb"):
        FilterPool(4)(feat, bb[:2])


def test_filter_initializer_linear_is_mean_of_pooled_conv():
    torch.manual_seed(1)
    init = FilterInitializerLinear(filter_size=2, feature_dim=8, feature_stride=16, filter_norm=False)
    assert float(init.filter_conv.bias.detach().abs().max()) == 0.0
    assert float(init.filter_conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / (9 * 8)), rel=0.15)
    feat = torch.randn(3, 2, 8, 6, 6, generator=_rng(2))               # 3 images, 2 sequences
    bb = torch.rand(3, 2, 4, generator=_rng(3)) * 40 + torch.tensor([0, 0, 10, 10])
    weights = init(feat, bb)
    assert weights.shape == (2, 8, 2, 2)
    conv = init.filter_conv(feat.reshape(6, 8, 6, 6))
    flat = bb.reshape(6, 4)
    rois = torch.cat((torch.arange(6.0)[:, None], flat[:, :2], flat[:, :2] + flat[:, 2:]), dim=1)
    expected = prroi_pool2d(conv, rois, 2, 2, 1 / 16).reshape(3, 2, 8, 2, 2).mean(0)
    torch.testing.assert_close(weights, expected)
    init.filter_norm = True
    torch.testing.assert_close(init(feat, bb), expected / (8 * 2 * 2))
    zero = FilterInitializerLinear(filter_size=2, feature_dim=8, init_weights="zero")
    assert float(zero(feat, bb).detach().abs().max()) == 0.0
    with pytest.raises(ValueError, match="init_weights"):
        FilterInitializerLinear(init_weights="ones")


# --- DiMPSteepestDescentGN -----------------------------------------------------------------------------------

def test_dimp_optimizer_initial_predictors_from_distance_bins():
    opt = DiMPSteepestDescentGN(num_iter=5, init_step_length=0.9, init_filter_reg=0.1, init_gauss_sigma=0.9,
                                num_dist_bins=100, bin_displacement=0.1, mask_init_factor=3.0)
    d = [0.1 * k for k in range(100)]
    gauss = [math.exp(-0.5 * (x / 0.9) ** 2) for x in d]
    label = opt.label_map_predictor.weight.flatten().tolist()
    assert label == pytest.approx([g - min(gauss) for g in gauss], abs=1e-6)
    mask = opt.target_mask_predictor[0].weight.flatten().tolist()
    assert mask == pytest.approx([3.0 * math.tanh(2.0 - x) for x in d], abs=1e-6)
    assert isinstance(opt.target_mask_predictor[1], nn.Sigmoid)
    assert opt.spatial_weight_predictor.weight.flatten().tolist() == [1.0] * 100
    assert float(opt.log_step_length.detach()) == pytest.approx(math.log(0.9))
    assert float(opt.filter_reg.detach()) == pytest.approx(0.1)
    assert [k for k, _ in opt.named_parameters()] == [
        "log_step_length", "filter_reg", "label_map_predictor.weight", "target_mask_predictor.0.weight",
        "spatial_weight_predictor.weight"]
    linear = DiMPSteepestDescentGN(num_dist_bins=4, mask_act="linear", init_gauss_sigma=0)
    assert linear.target_mask_predictor[0].weight.flatten().tolist() == pytest.approx(
        [4.0 * math.tanh(2.0 - k) + 0.5 for k in range(4)])
    assert linear.label_map_predictor.weight.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="mask_act"):
        DiMPSteepestDescentGN(mask_act="tanh")
    with pytest.raises(ValueError, match="score_act"):
        DiMPSteepestDescentGN(score_act="elu")


def _tiny_problem(seed: int, images: int = 2, seqs: int = 2, channels: int = 3, size: int = 5, fsz: int = 2):
    g = _rng(seed)
    feat = torch.randn(images, seqs, channels, size, size, generator=g, dtype=torch.float64)
    weights = 0.3 * torch.randn(seqs, channels, fsz, fsz, generator=g, dtype=torch.float64)
    bb = torch.cat((torch.rand(images, seqs, 2, generator=g, dtype=torch.float64) * 40,
                    10 + torch.rand(images, seqs, 2, generator=g, dtype=torch.float64) * 20), dim=-1)
    return feat, weights, bb


def _dimp_residuals(opt: DiMPSteepestDescentGN, feat, bb, fsz, sample_weight=None):
    """Independent residual function r(f) (stacked with sqrt(reg) f) of DiMP's loss, from the predictors."""
    images, seqs, _, h, w = feat.shape
    out_sz = (h + (fsz + 1) % 2, w + (fsz + 1) % 2)
    centers = ((bb[..., :2] + bb[..., 2:] / 2) / opt.feat_stride).flip(-1) - (fsz % 2) / 2
    dist = DistanceMap(opt.distance_map.num_bins, opt.distance_map.bin_displacement)(centers.reshape(-1, 2), out_sz)
    y = opt.label_map_predictor(dist).reshape(images, seqs, *out_sz)
    m = torch.sigmoid(opt.target_mask_predictor[0](dist)).reshape(images, seqs, *out_sz)
    v = opt.spatial_weight_predictor(dist).reshape(images, seqs, *out_sz)
    sw = v * (math.sqrt(1 / images) if sample_weight is None else sample_weight.sqrt()[..., None, None])
    reg = max(float(opt.filter_reg.detach()) ** 2, opt.min_filter_reg ** 2)

    def residuals(f):
        s = apply_filter(feat, f)
        act = torch.where(s >= 0, s, m * s)       # LeakyReluPar written out
        return sw * (act - y)
    return residuals, reg


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("fsz", [1, 2, 3])
def test_one_gauss_newton_step_by_hand(training, fsz):
    feat, w0, bb = _tiny_problem(10 + fsz, fsz=fsz)
    opt = DiMPSteepestDescentGN(num_iter=1, init_step_length=0.8, init_filter_reg=0.3, num_dist_bins=8,
                                bin_displacement=0.5, init_gauss_sigma=1.2).double().train(training)
    with torch.no_grad():   # make the learnt predictors non-trivial
        opt.spatial_weight_predictor.weight.copy_(torch.linspace(0.5, 1.5, 8).reshape(1, 8, 1, 1))
    w1, iterates, losses = opt(w0, feat=feat, bb=bb)
    residuals, reg = _dimp_residuals(opt, feat, bb, fsz)

    f = w0.clone().requires_grad_(True)
    loss = (residuals(f) ** 2).sum() + reg * (f ** 2).sum()
    grad, = torch.autograd.grad(loss, f)
    g = grad / 2                                                       # J^T r + reg f
    _, jg = torch.autograd.functional.jvp(residuals, (w0,), (g,))
    alpha = (g ** 2).sum(dim=(1, 2, 3)) / ((jg ** 2).sum(dim=(0, 2, 3)) + reg * (g ** 2).sum(dim=(1, 2, 3)))
    expected = w0 - 0.8 * alpha.reshape(-1, 1, 1, 1) * g
    torch.testing.assert_close(w1, expected)
    assert len(iterates) == 2 and iterates[0] is w0 and iterates[1] is w1
    assert len(losses) == 2
    assert float(losses[0].detach()) == pytest.approx(float(loss.detach()) / 2)          # divided by the number of sequences
    w1_ = w1.detach()
    after = ((residuals(w1_) ** 2).sum() + reg * (w1_ ** 2).sum()) / 2
    assert float(losses[1].detach()) == pytest.approx(float(after.detach()))


def test_dimp_optimizer_sample_weights_and_iterations():
    feat, w0, bb = _tiny_problem(20)
    opt = DiMPSteepestDescentGN(num_iter=3, num_dist_bins=6).double()
    sw = torch.tensor([[0.7, 0.2], [0.3, 0.8]], dtype=torch.float64)
    w, iterates, losses = opt(w0, feat, bb, sample_weight=sw)
    assert len(iterates) == 4 and len(losses) == 4
    residuals, reg = _dimp_residuals(opt, feat, bb, 2, sample_weight=sw)
    f = w0.clone().requires_grad_(True)
    g = torch.autograd.grad((residuals(f) ** 2).sum() + reg * (f ** 2).sum(), f)[0] / 2
    _, jg = torch.autograd.functional.jvp(residuals, (w0,), (g,))
    alpha = (g ** 2).sum(dim=(1, 2, 3)) / ((jg ** 2).sum(dim=(0, 2, 3)) + reg * (g ** 2).sum(dim=(1, 2, 3)))
    torch.testing.assert_close(iterates[1], w0 - alpha.reshape(-1, 1, 1, 1) * g)
    assert float(losses[-1].detach()) < float(losses[0].detach())
    _, it2, l2 = opt(w0, feat, bb, num_iter=2, compute_losses=False)
    assert len(it2) == 3 and l2 == []


def test_dimp_optimizer_train_and_eval_agree_and_backprop():
    feat, w0, bb = _tiny_problem(21, fsz=4, size=6)
    opt = DiMPSteepestDescentGN(num_iter=2, num_dist_bins=6).double()
    w_eval = opt.eval()(w0, feat, bb)[0]
    w_train = opt.train()(w0, feat, bb)[0]
    torch.testing.assert_close(w_eval, w_train)
    w0r = w0.clone().requires_grad_(True)
    opt(w0r, feat, bb)[0].sum().backward()
    for name, p in opt.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    assert w0r.grad is not None


def test_dimp_optimizer_detach_length_zero_cuts_the_graph():
    feat, w0, bb = _tiny_problem(22)
    opt = DiMPSteepestDescentGN(num_iter=1, num_dist_bins=6, detach_length=0).double()
    w0r = w0.clone().requires_grad_(True)
    w1 = opt(w0r, feat, bb, compute_losses=False)[0]
    w1.sum().backward()
    assert w0r.grad is None


# --- PrDiMPSteepestDescentNewton ------------------------------------------------------------------------------

def test_prdimp_label_density():
    opt = PrDiMPSteepestDescentNewton(gauss_sigma=0.9, normalize_label=True)
    center = torch.tensor([[[4.0, 6.0]], [[1.5, 2.0]]])
    dens = opt.get_label_density(center, (9, 11))
    assert dens.shape == (2, 1, 9, 11)
    torch.testing.assert_close(dens.sum(dim=(-2, -1)), torch.ones(2, 1))
    rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(11.0), indexing="ij")
    g = torch.exp(-((rows - 4) ** 2 + (cols - 6) ** 2) / (2 * 0.81))
    torch.testing.assert_close(dens[0, 0], g / g.sum(), rtol=1e-5, atol=1e-7)
    raw = PrDiMPSteepestDescentNewton(gauss_sigma=0.9, init_uni_weight=0.2)
    torch.testing.assert_close(raw.get_label_density(center[:1], (9, 11))[0, 0],
                               0.8 * g / (2 * math.pi * 0.81) + 0.2 / 99, rtol=1e-5, atol=1e-7)
    one_hot = PrDiMPSteepestDescentNewton(gauss_sigma=0).get_label_density(center[:1], (9, 11))
    assert float(one_hot.sum()) == 1.0 and float(one_hot[0, 0, 4, 6]) == 1.0


@pytest.mark.parametrize("training", [False, True])
def test_one_newton_step_by_hand(training):
    feat, w0, bb = _tiny_problem(30, fsz=4, size=6)
    opt = PrDiMPSteepestDescentNewton(num_iter=1, init_step_length=0.7, init_filter_reg=0.05, min_filter_reg=0.05,
                                      gauss_sigma=1.1, alpha_eps=0.05, normalize_label=True).double()
    opt.train(training)
    w1, iterates, losses = opt(w0, feat, bb)
    images, seqs = feat.shape[:2]
    centers = ((bb[..., :2] + bb[..., 2:] / 2) / 16).flip(-1)
    label = opt.get_label_density(centers, (7, 7))
    reg = 0.05 ** 2

    def data_loss(f):   # sum over images and sequences of (1/I) * cross-entropy(softmax(scores), label)
        s = apply_filter(feat, f).reshape(images, seqs, -1)
        return (1 / images) * (torch.logsumexp(s, dim=-1) - (label.reshape(images, seqs, -1) * s).sum(-1)).sum()

    f = w0.clone().requires_grad_(True)
    g = torch.autograd.grad(data_loss(f), f)[0] + reg * w0
    _, hg = torch.autograd.functional.hvp(data_loss, w0, g)
    ghg = (g * hg).sum(dim=(1, 2, 3))
    gg = (g * g).sum(dim=(1, 2, 3))
    alpha = gg / (ghg + (reg + 0.05) * gg)
    torch.testing.assert_close(w1, w0 - 0.7 * alpha.reshape(-1, 1, 1, 1) * g)
    assert len(iterates) == 2 and len(losses) == 2
    assert float(losses[0].detach()) == pytest.approx((float(data_loss(w0)) + reg * float((w0 ** 2).sum())) / seqs)


def test_prdimp_train_eval_agree():
    feat, w0, bb = _tiny_problem(31, fsz=4, size=6)
    opt = PrDiMPSteepestDescentNewton(num_iter=3, gauss_sigma=1.0, normalize_label=True).double()
    torch.testing.assert_close(opt.eval()(w0, feat, bb)[0], opt.train()(w0, feat, bb)[0])


# --- LinearFilter --------------------------------------------------------------------------------------------

def test_linear_filter_forward_iterates_and_shapes():
    torch.manual_seed(3)
    clf = LinearFilter(4, FilterInitializerLinear(4, feature_dim=16, filter_norm=False),
                       DiMPSteepestDescentGN(num_iter=3, num_dist_bins=10, bin_displacement=0.5),
                       residual_basic_block(feature_dim=16, num_blocks=1, final_conv=True, norm_scale=1 / 16))
    train = torch.randn(3 * 2, 16, 8, 8)
    test = torch.randn(3, 2, 16, 8, 8)
    bb = torch.tensor([30.0, 30.0, 50.0, 40.0]).expand(3, 2, 4)
    scores = clf(train, test, bb)
    assert len(scores) == 4 and all(s.shape == (3, 2, 9, 9) for s in scores)
    two = clf(train, test, bb, num_iter=1)
    assert len(two) == 2
    torch.testing.assert_close(two[0], scores[0])
    final, losses = clf.train_classifier(train.reshape(3, 2, 16, 8, 8), bb)
    torch.testing.assert_close(final, clf.get_filter(clf.extract_classification_feat(train, 2), bb)[0])
    assert len(losses) == 4
    torch.testing.assert_close(clf.track_frame(final, test), scores[-1])
    no_opt = LinearFilter(4, clf.filter_initializer)
    w, its, l = no_opt.get_filter(torch.randn(3, 2, 16, 8, 8), bb)
    assert its == [w] and l is None
    with pytest.raises(ValueError, match="train_bb"):
        clf(train, test, bb[0])


@pytest.mark.parametrize("opt_cls", [DiMPSteepestDescentGN, PrDiMPSteepestDescentNewton])
def test_optimizers_on_tracker_layout(opt_cls):
    """The tracker passes 4-D features [I, C, H, W], boxes [I, 4] and 1-D sample weights [I] (one sequence):
    same result as the 5-D layout with S = 1."""
    feat, w0, bb = _tiny_problem(40, seqs=1, images=3, fsz=4, size=6)
    opt = opt_cls(num_iter=2).double().eval()
    sw = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    w4, _, l4 = opt(w0, feat=feat[:, 0], bb=bb[:, 0], sample_weight=sw)
    w5, _, l5 = opt(w0, feat=feat, bb=bb, sample_weight=sw.reshape(3, 1))
    torch.testing.assert_close(w4, w5)
    torch.testing.assert_close(torch.stack(l4), torch.stack(l5))
    with pytest.raises(ValueError, match="bb"):
        opt(w0, feat=feat, bb=bb[:2])
