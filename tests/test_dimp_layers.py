"""DiMP's layers (tracking.models.layers): InstanceL2Norm, parametric activations, DistanceMap, filtering and its
transpose, each against an independent computation (loops, autograd)."""

import math

import pytest
import torch
import torch.nn.functional as F

from tracking.models.layers.activation import (BentIdentPar, BentIdentParDeriv, LeakyReluPar, LeakyReluParDeriv,
                                               softmax_reg)
from tracking.models.layers.distance import DistanceMap
from tracking.models.layers.filter import apply_feat_transpose, apply_filter, feat_transpose_v2, feat_transpose_v3
from tracking.models.layers.normalization import InstanceL2Norm


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- InstanceL2Norm ------------------------------------------------------------------------------------------

def test_instance_l2_norm_formula():
    x = torch.randn(3, 4, 5, 6, generator=_rng(), dtype=torch.float64)
    y = InstanceL2Norm(scale=0.25)(x)
    for i in range(3):
        expected = x[i] * 0.25 * math.sqrt(4 * 5 * 6 / (float((x[i] ** 2).sum()) + 1e-5))
        torch.testing.assert_close(y[i], expected)
        # root-mean-square of each sample is the scale
        assert float(y[i].pow(2).mean().sqrt()) == pytest.approx(0.25, rel=1e-6)


def test_instance_l2_norm_without_size_average():
    x = torch.randn(2, 3, 4, 4, generator=_rng(1), dtype=torch.float64)
    y = InstanceL2Norm(size_average=False, scale=2.0, eps=0.0)(x)
    assert torch.linalg.vector_norm(y.reshape(2, -1), dim=1).tolist() == pytest.approx([2.0, 2.0])


def test_instance_l2_norm_rejects_non_4d():
    with pytest.raises(ValueError, match="InstanceL2Norm"):
        InstanceL2Norm()(torch.zeros(3, 4, 5))


# --- activations ---------------------------------------------------------------------------------------------

def test_leaky_relu_par_limits_and_derivative():
    x = torch.tensor([-2.0, -0.5, 0.3, 1.5], dtype=torch.float64, requires_grad=True)
    act = LeakyReluPar()
    torch.testing.assert_close(act(x, torch.ones_like(x)), x)                 # a = 1: identity
    torch.testing.assert_close(act(x, torch.zeros_like(x)), torch.relu(x))    # a = 0: ReLU
    a = torch.tensor([0.2, 0.7, 0.1, 0.9], dtype=torch.float64)
    torch.testing.assert_close(act(x, a), torch.where(x >= 0, x, a * x))
    grad, = torch.autograd.grad(act(x, a).sum(), x)
    torch.testing.assert_close(LeakyReluParDeriv()(x, a), grad)


def test_bent_ident_par_derivative_matches_autograd():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    a = torch.rand(13, generator=_rng(2), dtype=torch.float64)
    act = BentIdentPar(0.5)
    grad, = torch.autograd.grad(act(x, a).sum(), x)
    torch.testing.assert_close(BentIdentParDeriv(0.5)(x, a), grad)
    torch.testing.assert_close(act(x, torch.ones_like(a)), x)
    with pytest.raises(ValueError, match="act_param"):
        BentIdentPar(None)


def test_softmax_reg():
    x = torch.randn(2, 7, 3, generator=_rng(3), dtype=torch.float64)
    torch.testing.assert_close(softmax_reg(x, 1), torch.softmax(x, 1))
    expected = x.exp() / (x.exp().sum(dim=1, keepdim=True) + math.exp(-1.5))
    torch.testing.assert_close(softmax_reg(x, dim=-2, reg=-1.5), expected)


# --- DistanceMap ---------------------------------------------------------------------------------------------

def test_distance_map_against_a_loop():
    num_bins, disp = 6, 0.7
    centers = torch.tensor([[2.3, 1.1], [0.0, 4.5]])
    out = DistanceMap(num_bins, disp)(centers, (5, 7))
    assert out.shape == (2, num_bins, 5, 7)
    for b in range(2):
        for r in range(5):
            for c in range(7):
                dist = math.hypot(r - float(centers[b, 0]), c - float(centers[b, 1])) / disp
                for k in range(num_bins):
                    if k < num_bins - 1:
                        want = max(0.0, 1.0 - abs(dist - k))
                    else:
                        want = min(1.0, max(0.0, 1.0 + dist - k))
                    assert float(out[b, k, r, c]) == pytest.approx(want, abs=1e-5)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 5, 7))


def test_distance_map_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_bins"):
        DistanceMap(0)
    with pytest.raises(ValueError, match="center"):
        DistanceMap(3)(torch.zeros(3), (4, 4))


# --- apply_filter and its transpose --------------------------------------------------------------------------

def _brute_force_filter(feat: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Explicit sums: scores[i, s, y, x] = sum_{c,u,v} featpad[i, s, c, y+u, x+v] * filt[s, c, u, v]."""
    fh, fw = filt.shape[-2:]
    padded = F.pad(feat, (fw // 2, fw // 2, fh // 2, fh // 2))
    oh, ow = padded.shape[-2] - fh + 1, padded.shape[-1] - fw + 1
    out = feat.new_zeros(feat.shape[0], feat.shape[1], oh, ow)
    for y in range(oh):
        for x in range(ow):
            out[:, :, y, x] = (padded[:, :, :, y:y + fh, x:x + fw] * filt[None]).sum(dim=(2, 3, 4))
    return out


@pytest.mark.parametrize("ksz", [1, 3, 4, (2, 3)])
def test_apply_filter_against_explicit_sums(ksz):
    kh, kw = (ksz, ksz) if isinstance(ksz, int) else ksz
    feat = torch.randn(3, 2, 4, 6, 5, generator=_rng(4), dtype=torch.float64)
    filt = torch.randn(2, 4, kh, kw, generator=_rng(5), dtype=torch.float64)
    scores = apply_filter(feat, filt)
    assert scores.shape == (3, 2, 6 + (kh + 1) % 2, 5 + (kw + 1) % 2)
    torch.testing.assert_close(scores, _brute_force_filter(feat, filt))


def test_apply_filter_on_4d_features_is_one_sequence():
    feat = torch.randn(3, 4, 6, 6, generator=_rng(6))
    filt = torch.randn(1, 4, 4, 4, generator=_rng(7))
    torch.testing.assert_close(apply_filter(feat, filt), apply_filter(feat[:, None], filt))


@pytest.mark.parametrize("num_images", [1, 3])
@pytest.mark.parametrize("ksz", [1, 3, 4, (2, 3)])
def test_feat_transpose_v2_v3_and_autograd_agree(num_images, ksz):
    kh, kw = (ksz, ksz) if isinstance(ksz, int) else ksz
    feat = torch.randn(num_images, 2, 3, 7, 6, generator=_rng(8), dtype=torch.float64)
    filt = torch.randn(2, 3, kh, kw, generator=_rng(9), dtype=torch.float64, requires_grad=True)
    scores = apply_filter(feat, filt)
    residual = torch.randn(scores.shape, generator=_rng(10), dtype=torch.float64)
    reference, = torch.autograd.grad((scores * residual).sum(), filt)
    v2 = feat_transpose_v2(feat, residual, (kh, kw))
    v3 = feat_transpose_v3(feat, residual, (kh, kw))
    torch.testing.assert_close(v2, reference)
    torch.testing.assert_close(v3, reference)
    torch.testing.assert_close(apply_feat_transpose(feat, residual, (kh, kw), training=False), reference)
    torch.testing.assert_close(apply_feat_transpose(feat, residual, (kh, kw), training=True), reference)


def test_feat_transpose_paths_have_the_same_gradients():
    """Both implementations are differentiable and give the same derivatives w.r.t. features and input."""
    feat = torch.randn(2, 2, 3, 5, 5, generator=_rng(11), dtype=torch.float64, requires_grad=True)
    residual = torch.randn(2, 2, 6, 6, generator=_rng(12), dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 3, 4, 4, generator=_rng(13), dtype=torch.float64)
    grads = [torch.autograd.grad((fn(feat, residual, 4) * weight).sum(), (feat, residual))
             for fn in (feat_transpose_v2, feat_transpose_v3)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_filter_shape_errors_name_the_argument():
    feat = torch.zeros(2, 3, 4, 5, 5)
    with pytest.raises(ValueError, match="filter"):
        apply_filter(feat, torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="feat"):
        apply_filter(torch.zeros(4, 5, 5), torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match="input"):
        apply_feat_transpose(feat, torch.zeros(2, 3, 5, 5), 4)
