"""ATOM's online tracker: the least-squares optimisers, the classifier, and short tracking runs with a
randomly initialised atom_resnet18 (small iteration counts, so the whole file runs in well under a minute)."""

import itertools
import os

import numpy as np
import pytest
import torch
from _tracker_helpers import moving_square, run
from conftest import SHARED_SEQUENCES

from tracking.models import build_network
from tracking.trackers import TrackOutput, build_tracker
from tracking.trackers.atom import ATOMTracker
from tracking.trackers.memory import SampleMemory
from tracking.trackers.atom_classifier import (
    ATOMClassifier,
    conv_same,
    gaussian_label,
)
from tracking.trackers.atom_optim import ConjugateGradient, gauss_newton_cg, objective
from tracking.trackers.atom_stages import ScoreUpsampler

FAST = {"init_CG_iter": 6, "init_GN_iter": 2, "num_init_random_boxes": 3, "box_refinement_iter": 2}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("atom_resnet18", backbone_pretrained=False).eval()


# -- optimisers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fletcher_reeves,standard_alpha", [(True, True), (False, True), (False, False)])
def test_cg_solves_regularised_least_squares(fletcher_reeves, standard_alpha):
    g = torch.Generator().manual_seed(1)
    A = torch.randn(40, 10, generator=g, dtype=torch.float64)
    b = torch.randn(40, generator=g, dtype=torch.float64)
    reg = 0.3
    fn = lambda x: (A @ x - b, reg ** 0.5 * x)
    expected = torch.linalg.solve(A.T @ A + reg * torch.eye(10, dtype=torch.float64), A.T @ b)
    x0 = torch.randn(10, generator=g, dtype=torch.float64)
    # a linear problem: one Gauss-Newton step with n = dim CG iterations is the exact solution
    (x,) = gauss_newton_cg(fn, (x0,), 10, 1, fletcher_reeves=fletcher_reeves, standard_alpha=standard_alpha)
    torch.testing.assert_close(x, expected, rtol=1e-8, atol=1e-8)
    # fewer iterations are not (the test can fail), and a preconditioner does not change the solution
    (x3,) = gauss_newton_cg(fn, (x0,), 3, 1)
    assert (x3 - expected).abs().max() > 1e-6
    (xp,) = gauss_newton_cg(fn, (x0,), 10, 1, precond=lambda r: (r[0] / 2.0,))
    torch.testing.assert_close(xp, expected, rtol=1e-8, atol=1e-8)
    (xc,) = ConjugateGradient(fletcher_reeves, standard_alpha).run(fn, (x0,), 10)
    torch.testing.assert_close(xc, expected, rtol=1e-8, atol=1e-8)


def _synthetic_problem(seed=0, n=12, d=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, 10, 10, generator=g)
    y = gaussian_label((10, 10), (1.0, 1.0), torch.randn(n, 2, generator=g), (4, 4))
    return x, y, g


def test_gauss_newton_decreases_the_factorised_objective():
    x, y, g = _synthetic_problem()
    clf = ATOMClassifier(8, (4, 4), 0.1, 1e-4, "none", ["mlu", 0.05], generator=g)
    clf.initialize(x, y, 50, 0.01, 0.25, init_CG_iter=0, init_GN_iter=0, update_projection_matrix=False)
    fn = clf.joint_residuals(x, y, torch.full((x.shape[0],), x.shape[0] ** -0.5))
    var = (clf.filter, clf.projection)
    losses = [float(objective(fn, var))]
    for _ in range(4):
        var = gauss_newton_cg(fn, var, 5, 1, precond=lambda r: (r[0] / 0.1, r[1] / 1e-4))
        losses.append(float(objective(fn, var)))
    assert all(b <= a * 1.01 for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses


def test_classifier_initialize_and_update():
    x, y, g = _synthetic_problem(2)
    clf = ATOMClassifier(8, (4, 4), 0.1, 1e-4, "none", ["mlu", 0.05], generator=g)
    losses = clf.initialize(x, y, 20, 0.1, 0.25, init_CG_iter=12, init_GN_iter=3)
    assert losses[1] < losses[0]
    assert clf.filter.shape == (1, 8, 4, 4) and clf.projection.shape == (8, 32, 1, 1)
    assert clf.scores(clf.project(x)).shape == (12, 10, 10)
    for i in range(15):  # more updates than free slots: replacement kicks in
        clf.memory.update({"samples": clf.project(x[i % 12: i % 12 + 1]), "labels": y[i % 12: i % 12 + 1]})
    w = clf.memory.weights
    assert torch.isclose(w.sum(), torch.tensor(1.0)) and (w >= 0).all()
    assert float(w[:12].sum()) >= 0.25 - 1e-6
    before = clf.memory_objective()
    clf.train(5)
    assert clf.memory_objective() < before


def test_memory_fills_free_slots_first():
    m = SampleMemory({"samples": torch.zeros(2, 1, 3, 3), "labels": torch.zeros(2, 1, 3, 3)}, 5, 0.5, None)
    for k in range(3):
        m.update({"samples": torch.full((1, 1, 3, 3), k + 1.0), "labels": torch.zeros(1, 1, 3, 3)})
    assert m.items["samples"][2:, 0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert m.num_stored == 5 and torch.isclose(m.weights.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("kernel", [(4, 4), (3, 5), (1, 1), (2, 3)])
def test_conv_same_matches_pytracking_same_mode(kernel):
    g = torch.Generator().manual_seed(4)
    z, f = torch.randn(3, 5, 7, 9, generator=g), torch.randn(2, 5, *kernel, generator=g)
    ref = torch.nn.functional.conv2d(z, f, padding=(kernel[0] // 2, kernel[1] // 2))[..., :7, :9]
    torch.testing.assert_close(conv_same(z, f), ref, rtol=1e-5, atol=1e-5)


def test_folded_projection_equals_explicit_projection():
    x, y, g = _synthetic_problem(5)
    clf = ATOMClassifier(8, (4, 4), 0.1, 1e-4, "none", "none", generator=g)
    clf.initialize(x, y, 50, 0.01, 0.25, init_CG_iter=0, init_GN_iter=0, update_projection_matrix=False)
    sw = torch.ones(x.shape[0])
    folded = clf.joint_residuals(x, y, sw)(clf.filter, clf.projection)
    clf.linear_projection = False
    explicit = clf.joint_residuals(x, y, sw)(clf.filter, clf.projection)
    for a, b in zip(folded, explicit):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_conv_same_and_upsampler_conventions():
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 3, 2] = 1
    f = torch.zeros(1, 1, 4, 4)
    f[0, 0, 2, 2] = 1  # tap at offset 0 of the even kernel
    assert conv_same(x, f)[0, 0, 3, 2] == 1
    up = ScoreUpsampler((6, 6), (96, 96), (4, 4))
    s = torch.randn(2, 6, 6)
    out = up(s)
    assert out.shape == (2, 96, 96)
    # even kernel: score index i sits at patch position 16 * i, so the samples are reproduced there
    torch.testing.assert_close(out[:, ::16, ::16], s, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (37.0, -52.0), (-20.0, 15.0)])
def test_label_peak_is_localised_at_the_target_offset(offset):
    # a perfect classifier (scores = its training label) must localise the target where the label put it
    from tracking.trackers.localization import localize

    feat, patch, k = (18, 18), (288, 288), (4, 4)
    cells = torch.tensor([offset]) / 16.0
    label = gaussian_label(feat, (1.0, 1.0), cells, k)[:, 0]
    scores = ScoreUpsampler(feat, patch, k)(label)
    loc = localize(scores.numpy(), {"advanced_localization": False})
    disp = np.asarray(loc.peak) - 144
    assert np.allclose(disp, offset, atol=1.0), disp


# -- tracker ---------------------------------------------------------------------------------------------------
def test_tracker_on_synthetic_target_is_finite_inside_and_deterministic(net):
    frames, boxes = moving_square(6, (160, 200), target=(24, 30), start=(60, 50))
    outs = run(ATOMTracker(dict(FAST), net=net, device="cpu", seed=3), frames, boxes[0])
    h, w = frames[0].shape[:2]
    for o in outs:
        assert isinstance(o, TrackOutput) and o.box.shape == (4,) and np.isfinite(o.box).all()
        x, y, bw, bh = o.box
        assert bw > 0 and bh > 0 and bw <= w and bh <= h
        assert -0.3 * bw <= x + bw / 2 <= w + 0.3 * bw and -0.3 * bh <= y + bh / 2 <= h + 0.3 * bh
        assert o.state in ("normal", "uncertain", "hard_negative", "not_found")
        assert np.isfinite(o.confidence) and o.score_map.shape == (288, 288)
        assert {"sample", "backbone", "classify", "optimize", "iou_refine"} <= set(o.timings)
    again = run(ATOMTracker(dict(FAST), net=net, device="cpu", seed=3), frames, boxes[0])
    assert all(np.array_equal(a.box, b.box) for a, b in zip(outs, again))


def test_unknown_parameter_is_named(net):
    with pytest.raises(ValueError, match="not_a_param"):
        build_tracker("atom", overrides=["not_a_param=3"], net=net, device="cpu")
    with pytest.raises(ValueError, match="wobble"):
        build_tracker("atom", overrides=["augmentation.wobble=1"], net=net, device="cpu")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "Crossing")), reason="no shared Crossing")
def test_crossing_runs(net):
    import cv2

    root = os.path.join(SHARED_SEQUENCES, "Crossing")
    gt = np.loadtxt(os.path.join(root, "groundtruth_rect.txt"), delimiter=None)
    gt[:, :2] -= 1  # 1-based -> 0-based
    frames = [cv2.cvtColor(cv2.imread(os.path.join(root, "img", f"{i:04d}.jpg")), cv2.COLOR_BGR2RGB)
              for i in range(1, 9)]
    tracker = build_tracker("atom", overrides=[f"{k}={v}" for k, v in FAST.items()], net=net, device="cpu")
    outs = run(tracker, frames, gt[0])
    h, w = frames[0].shape[:2]
    for o in outs:
        assert np.isfinite(o.box).all() and o.box[2] > 0 and o.box[3] > 0
        assert o.box[0] < w and o.box[1] < h and o.box[0] + o.box[2] > 0 and o.box[1] + o.box[3] > 0
