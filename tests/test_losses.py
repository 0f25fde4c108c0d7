"""LBHinge, KLRegression and KLRegressionGrid against values computed by hand on tiny inputs."""

import math

import pytest
import torch
from torch import nn

from tracking.models.loss import KLRegression, KLRegressionGrid, LBHinge


def test_lbhinge_hinges_negatives_only():
    pred = torch.tensor([2.0, -1.0, 0.5, 0.4])
    label = torch.tensor([1.0, 0.01, 0.5, 0.01])
    # threshold 0.05: items 1 and 3 are negatives -> targets 0, predictions relu'd: errors 1, 0, 0, 0.4
    assert LBHinge(threshold=0.05)(pred, label).item() == pytest.approx((1.0 + 0.16) / 4)
    # no threshold: plain MSE against the labels
    plain = (1.0 + 1.01 ** 2 + 0.0 + 0.39 ** 2) / 4
    assert LBHinge()(pred, label).item() == pytest.approx(plain)
    assert LBHinge(error_metric=nn.MSELoss())(pred, label).item() == pytest.approx(plain)


def test_lbhinge_clip_and_metric():
    pred = torch.tensor([3.0, 0.0])
    label = torch.tensor([0.0, 0.0])
    assert LBHinge(clip=0.5)(pred, label).item() == pytest.approx(0.5)
    assert LBHinge(clip=10.0)(pred, label).item() == pytest.approx(4.5)
    l1 = LBHinge(error_metric=nn.L1Loss(reduction="sum"), threshold=0.5)
    assert l1(torch.tensor([-2.0, 3.0]), torch.tensor([0.1, 1.0])).item() == pytest.approx(0.0 + 2.0)


def test_lbhinge_no_gradient_for_negatives_below_zero():
    pred = torch.tensor([-0.5, 0.3, -0.2], requires_grad=True)
    label = torch.tensor([0.0, 0.0, 1.0])
    LBHinge(threshold=0.05)(pred, label).backward()
    # d/dp mean((p' - t)^2) = 2 (p - t) / 3 where not hinged
    assert pred.grad.tolist() == pytest.approx([0.0, 2 * 0.3 / 3, 2 * (-1.2) / 3])


def test_kl_regression_hand_value():
    scores = torch.tensor([[0.0, math.log(2.0)]])
    q = torch.tensor([[0.5, 0.25]])
    p = torch.tensor([[1.0, 2.0]])
    # logsumexp(s - log q) = log(0/0.5 -> 2 + 2/0.25 -> 8) = log 10; - log 2 -> log 5
    # mean(s p / q) = (0 + log2 * 8) / 2 = 4 log 2
    expected = math.log(5.0) - 4 * math.log(2.0)
    assert KLRegression()(scores, q, p).item() == pytest.approx(expected)
    # mc_dim picks the sample axis; the result is the mean over the other axes
    two = torch.cat([scores, torch.zeros(1, 2)])
    q2, p2 = torch.cat([q, torch.ones(1, 2)]), torch.cat([p, torch.ones(1, 2)])
    second = math.log(2.0) - math.log(2.0) - 0.0  # log(1 + 1) - log 2 - mean(0)
    assert KLRegression()(two, q2, p2).item() == pytest.approx((expected + second) / 2)
    assert KLRegression()(two.t(), q2.t(), p2.t(), mc_dim=0).item() == pytest.approx((expected + second) / 2)


def test_kl_regression_eps():
    scores, q, p = torch.tensor([0.0]), torch.tensor([0.5]), torch.tensor([1.0])
    # K = 1: log(exp(0) / (q + eps)) - s p / (q + eps) = -log(q + eps)
    assert KLRegression(eps=0.5)(scores, q, p).item() == pytest.approx(0.0, abs=1e-7)
    assert KLRegression()(scores, q, p).item() == pytest.approx(math.log(2.0))


def test_kl_regression_shape_mismatch_names_arguments():
    with pytest.raises(ValueError, match="sample_density"):
        KLRegression()(torch.zeros(2, 3), torch.ones(2, 4), torch.ones(2, 3))


def test_kl_regression_grid_hand_value():
    scores = torch.tensor([[0.0, math.log(3.0)]])
    gt = torch.tensor([[0.25, 0.75]])
    assert KLRegressionGrid()(scores, gt).item() == pytest.approx(math.log(4.0) - 0.75 * math.log(3.0))
    # 2x2 grid, cell area 0.5, gt density 0.5 per cell (integrates to 1)
    s = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    g = torch.full((1, 2, 2), 0.5)
    expected = math.log(math.e + 3) + math.log(0.5) - 0.5 * 0.5 * 1.0
    assert KLRegressionGrid()(s, g, grid_dim=(-2, -1), grid_scale=0.5).item() == pytest.approx(expected)


def test_kl_regression_grid_minimum_at_log_gt_density():
    gt = torch.tensor([0.1, 0.2, 0.3, 0.4]) / 0.5  # density with cell area 0.5
    scores = torch.log(gt).requires_grad_()
    loss = KLRegressionGrid()(scores, gt, grid_scale=0.5)
    loss.backward()
    # d/ds = softmax(s) - A p_gt = 0 when exp(s) is proportional to the gt density (A sum p_gt = 1); the loss
    # is then log(A sum p_gt) - A sum p_gt log p_gt = the (discretised) entropy of the gt density.
    assert scores.grad.abs().max().item() < 1e-6
    entropy = -(0.5 * gt * torch.log(gt)).sum().item()
    assert loss.item() == pytest.approx(entropy, abs=1e-6)


def test_kl_regression_grid_bad_scale():
    with pytest.raises(ValueError, match="grid_scale"):
        KLRegressionGrid()(torch.zeros(3), torch.zeros(3), grid_scale=0.0)
