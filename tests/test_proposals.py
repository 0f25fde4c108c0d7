"""PrDiMP's Gaussian-mixture box proposals: densities, sample statistics, parametrisation, determinism."""

import math

import numpy as np
import pytest

from tracking.data.proposals import (box_to_offsets, gauss_density_centered, gmm_density_centered, offsets_to_box,
                                     sample_box_gmm)

PRDIMP_SIGMA = [(0.05, 0.05), (0.5, 0.5)]
BOX = np.array([40.0, 60.0, 80.0, 20.0])


def test_gauss_density_integrates_to_one_on_a_grid():
    x = np.linspace(-2.0, 2.0, 40001)
    for std in (0.05, 0.3):
        assert np.trapezoid(gauss_density_centered(x, std), x) == pytest.approx(1.0, abs=1e-6)
    assert gauss_density_centered(0.0, 0.5) == pytest.approx(1 / (math.sqrt(2 * math.pi) * 0.5))


def test_gmm_density_integrates_to_one_on_a_2d_grid():
    std = np.array([[0.1, 0.4], [0.2, 0.3]])  # [D=2, K=2]
    g = np.linspace(-3.0, 3.0, 1201)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    dens = gmm_density_centered(np.stack([xx, yy], axis=-1), std)
    assert np.trapezoid(np.trapezoid(dens, g, axis=1), g) == pytest.approx(1.0, abs=1e-5)
    # value at one point by hand: mean of the two products of 1-D Gaussians
    pt = np.array([0.1, -0.2])
    comp = [math.exp(-0.5 * (0.1 / a) ** 2 - 0.5 * (0.2 / b) ** 2) / (2 * math.pi * a * b) for a, b in
            [(0.1, 0.2), (0.4, 0.3)]]
    assert gmm_density_centered(pt, std) == pytest.approx(sum(comp) / 2)


def test_proposal_density_integrates_to_one_by_importance_sampling():
    # E_{x ~ N(0, I)}[q(x) / phi(x)] = integral of q = 1, with the sampler's own density q
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400000, 4))
    std = np.array([[0.05, 0.5]] * 2 + [[0.05, 0.5]] * 2)
    phi = gauss_density_centered(x, 1.0).prod(-1)
    ratio = gmm_density_centered(x, std) / phi
    assert ratio.mean() == pytest.approx(1.0, abs=4 * ratio.std() / math.sqrt(x.shape[0]))


def test_gt_over_proposal_density_has_mean_one():
    # What KLRegression relies on: mean_k p_gt(y_k) / q(y_k) estimates the integral of p_gt = 1.
    props, q, p = sample_box_gmm(BOX, PRDIMP_SIGMA, (0.05, 0.05), num_samples=200000, rng=np.random.default_rng(2))
    ratio = p / q
    assert ratio.mean() == pytest.approx(1.0, abs=4 * ratio.std() / math.sqrt(ratio.size))


def test_densities_are_those_of_the_offsets():
    props, q, p = sample_box_gmm(BOX, PRDIMP_SIGMA, (0.05, 0.1), num_samples=50, rng=np.random.default_rng(3))
    d = box_to_offsets(props, BOX)
    # recomputed independently: mixture of two diagonal Gaussians, and the gt Gaussian (0.05, 0.05, 0.1, 0.1)
    def normal(x, s):
        return np.exp(-0.5 * (x / s) ** 2) / (math.sqrt(2 * math.pi) * s)
    q_ref = 0.5 * (normal(d, 0.05).prod(-1) + normal(d, 0.5).prod(-1))
    p_ref = normal(d[:, :2], 0.05).prod(-1) * normal(d[:, 2:], 0.1).prod(-1)
    np.testing.assert_allclose(q, q_ref, rtol=1e-9)
    np.testing.assert_allclose(p, p_ref, rtol=1e-9)


def test_offsets_parametrisation():
    mean = np.array([10.0, 20.0, 30.0, 40.0])  # centre (25, 40)
    box = np.array([16.0, 20.0, 60.0, 20.0])  # centre (46, 30), twice as wide, half as high
    np.testing.assert_allclose(box_to_offsets(box, mean), [21 / 30, -10 / 40, math.log(2), math.log(0.5)])
    np.testing.assert_allclose(offsets_to_box(box_to_offsets(box, mean), mean), box)
    np.testing.assert_allclose(offsets_to_box(np.zeros(4), mean), mean)


def test_sample_mean_and_covariance_match_the_mixture():
    props, _, _ = sample_box_gmm(BOX, PRDIMP_SIGMA, num_samples=200000, rng=np.random.default_rng(4))
    d = box_to_offsets(props, BOX)
    var = (0.05 ** 2 + 0.5 ** 2) / 2
    np.testing.assert_allclose(d.mean(0), 0.0, atol=4 * math.sqrt(var / d.shape[0]))
    cov = np.cov(d.T)
    np.testing.assert_allclose(np.diag(cov), var, rtol=0.02)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.02 * var
    # centre and size offsets share one component per sample: E[d0^2 d2^2] = mean_k c_k^2 s_k^2, not var^2
    assert (d[:, 0] ** 2 * d[:, 2] ** 2).mean() == pytest.approx((0.05 ** 4 + 0.5 ** 4) / 2, rel=0.05)
    # in pixels: the centre moves with std c_k times the mean box's width / height
    centre = props[:, :2] + props[:, 2:] / 2
    np.testing.assert_allclose((centre - (BOX[:2] + BOX[2:] / 2)).std(0), math.sqrt(var) * BOX[2:], rtol=0.02)


def test_single_component_statistics():
    props, q, _ = sample_box_gmm(BOX, [(0.1, 0.2)], num_samples=100000, rng=np.random.default_rng(5))
    d = box_to_offsets(props, BOX)
    np.testing.assert_allclose(d.std(0), [0.1, 0.1, 0.2, 0.2], rtol=0.02)


def test_add_mean_box_and_no_gt_sigma():
    props, q, p = sample_box_gmm(BOX, PRDIMP_SIGMA, None, num_samples=3, add_mean_box=True,
                                 rng=np.random.default_rng(6))
    assert props.shape == (4, 4) and q.shape == p.shape == (4,)
    np.testing.assert_array_equal(props[0], BOX)
    assert q[0] == -1 and p[0] == 1 and (p[1:] == 0).all() and (q[1:] > 0).all()
    _, _, p0 = sample_box_gmm(BOX, PRDIMP_SIGMA, (0, 0), num_samples=3, rng=np.random.default_rng(6))
    assert (p0 == 0).all()


def test_batched_mean_boxes():
    boxes = np.stack([BOX, BOX * 2, BOX + 5]).reshape(3, 1, 4).repeat(2, axis=1)
    props, q, p = sample_box_gmm(boxes, PRDIMP_SIGMA, (0.05, 0.05), num_samples=7, rng=np.random.default_rng(7))
    assert props.shape == (3, 2, 7, 4) and q.shape == p.shape == (3, 2, 7)
    d = box_to_offsets(props, boxes[:, :, None, :])
    np.testing.assert_allclose(q, gmm_density_centered(d, np.array([[0.05, 0.5]] * 4)), rtol=1e-9)


def test_deterministic_given_the_generator_and_no_global_state():
    state = np.random.get_state()[1].copy()
    a = sample_box_gmm(BOX, PRDIMP_SIGMA, (0.05, 0.05), num_samples=16, rng=np.random.default_rng(123))
    b = sample_box_gmm(BOX, PRDIMP_SIGMA, (0.05, 0.05), num_samples=16, rng=np.random.default_rng(123))
    c = sample_box_gmm(BOX, PRDIMP_SIGMA, (0.05, 0.05), num_samples=16, rng=np.random.default_rng(124))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mean_box=[0, 0, 0, 5]), "mean_box"),
    (dict(mean_box=[0, 0, np.nan, 5]), "mean_box"),
    (dict(proposal_sigma=[]), "proposal_sigma"),
    (dict(proposal_sigma=[(0.1, -0.1)]), "proposal_sigma"),
    (dict(gt_sigma=(0.1,)), "gt_sigma"),
    (dict(gt_sigma=(0.1, 0.0)), "gt_sigma"),
    (dict(num_samples=-1), "num_samples"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = dict(mean_box=BOX, proposal_sigma=PRDIMP_SIGMA, gt_sigma=(0.05, 0.05), num_samples=2,
                rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample_box_gmm(**args)


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng"):
        sample_box_gmm(BOX, PRDIMP_SIGMA, rng=np.random.RandomState(0))
