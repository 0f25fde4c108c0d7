"""Stages of the DiMP-family tracker on small inputs: search windows and patches, first-frame augmentation,
score-map localisation, IoU-Net box refinement, the sample memory."""

import math

import numpy as np
import pytest
import torch

from tracking.trackers.augmentation import (
    AugTransform,
    feature_dropout,
    plan_transforms,
    render_transforms,
    transform_boxes,
)
from tracking.trackers.iou_refine import (
    optimize_boxes,
    random_init_boxes,
    refine_box,
    select_box,
)
from tracking.trackers.localization import (
    cell_to_patch,
    find_peak,
    localize,
    patch_to_cell,
)
from tracking.trackers.memory import SampleMemory
from tracking.trackers.sampling import (
    image_to_patch,
    patch_to_image,
    sample_patches,
    search_windows,
    window_scales,
)


def coordinate_image(h: int = 60, w: int = 80) -> torch.Tensor:
    """[1, 3, h, w]: channel 0 = column index, 1 = row index, 2 = 0 (index = continuous coordinate - 0.5)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.stack((xs, ys, torch.zeros_like(xs)))[None]


# ---------------------------------------------------------------- sampling
def test_search_windows_replicate():
    win = search_windows((40.0, 30.0), (16, 12), [1.0, 2.0], (80, 60))
    np.testing.assert_allclose(win, [[32, 24, 48, 36], [24, 18, 56, 42]])
    np.testing.assert_allclose(window_scales(win, (12, 16)), [1.0, 2.0])


@pytest.mark.parametrize("mode", ["inside", "inside_major"])
def test_search_windows_inside(mode):
    im = (100, 50)
    # a small window near the corner is moved inside, not shrunk
    win = search_windows((5.0, 5.0), (20, 20), [1.0], im, mode)[0]
    np.testing.assert_allclose(win, [0, 0, 20, 20])
    # larger than the image: shrunk by at most max_scale_change, centred where still too large
    win = search_windows((10.0, 10.0), (20, 20), [6.0], im, mode, max_scale_change=1.5)[0]
    size = win[2:] - win[:2]
    ratio = np.array([120, 120]) / im
    shrink = min(max(ratio.max() if mode == "inside" else ratio.min(), 1), 1.5)
    np.testing.assert_allclose(size, 120 / shrink)
    assert size[0] <= im[0] or np.isclose(win[0] + win[2], im[0])
    np.testing.assert_allclose((win[1] + win[3]) / 2, im[1] / 2)  # too tall: centred vertically


def test_patch_coordinates_follow_crop_and_resize_convention():
    img = coordinate_image()
    win = search_windows((30.3, 25.7), (10, 8), [1.7], (80, 60))
    patch = sample_patches(img, win, (8, 10))[0]
    rows, cols = np.meshgrid(np.arange(8) + 0.5, np.arange(10) + 0.5, indexing="ij")
    xy = patch_to_image(np.stack((cols, rows), -1), win[0], (8, 10))
    np.testing.assert_allclose(patch[0].numpy(), xy[..., 0] - 0.5, atol=1e-4)
    np.testing.assert_allclose(patch[1].numpy(), xy[..., 1] - 0.5, atol=1e-4)
    np.testing.assert_allclose(image_to_patch(xy, win[0], (8, 10)), np.stack((cols, rows), -1))


def test_patch_border_is_replicated():
    img = coordinate_image()
    patch = sample_patches(img, np.array([[-20.0, -20.0, 10.0, 10.0]]), (6, 6))[0]
    # the border pixel (0, 0) everywhere left of / above the image (the reference path rounds to ~1e-15)
    assert abs(float(patch[0].min())) < 1e-9 and abs(float(patch[1].min())) < 1e-9
    # beyond the bottom-right corner: the last column / row (79, 59), which zero padding would not give
    far = sample_patches(img, np.array([[90.0, 70.0, 100.0, 80.0]]), (4, 4))[0]
    torch.testing.assert_close(far[0], torch.full((4, 4), 79.0, dtype=far.dtype), atol=1e-9, rtol=0)
    torch.testing.assert_close(far[1], torch.full((4, 4), 59.0, dtype=far.dtype), atol=1e-9, rtol=0)


# ---------------------------------------------------------------- augmentation
AUG = {"fliplr": True, "rotate": [10, -45], "blur": [[3, 1], 2], "relativeshift": [[0.6, -0.6]], "shift": [[3, 4]]}


def test_plan_is_seeded_and_ordered():
    a = plan_transforms(AUG, (32, 32), 1 / 3, np.random.default_rng(1))
    b = plan_transforms(AUG, (32, 32), 1 / 3, np.random.default_rng(1))
    assert a == b
    assert [t.kind for t in a] == ["identity", "shift", "shift", "fliplr", "blur", "blur", "rotate", "rotate"]
    assert a[1].shift == (3.0, 4.0) and a[2].shift == pytest.approx((0.6 * 16, -0.6 * 16))
    for t in a[3:]:
        assert all(abs(s) <= 32 / 6 for s in t.shift)
    with pytest.raises(ValueError, match="scale"):
        plan_transforms({"scale": [1.1]}, (32, 32), 0, np.random.default_rng(0))


def test_augmentation_boxes():
    ts = [AugTransform("identity"), AugTransform("shift", shift=(3, -2)), AugTransform("fliplr", shift=(1, 1)),
          AugTransform("rotate", shift=(0, 2), angle=45), AugTransform("blur", sigma=(1, 1))]
    boxes = transform_boxes([10, 12, 6, 8], ts, (40, 32))
    np.testing.assert_allclose(boxes, [[10, 12, 6, 8], [13, 10, 6, 8], [32 - 16 + 1, 13, 6, 8], [10, 14, 6, 8],
                                       [10, 12, 6, 8]])


def test_render_maps_output_to_frame():
    img = coordinate_image()
    center, scale, out = (40.0, 30.0), 1.5, (12, 16)
    ts = [AugTransform("identity"), AugTransform("shift", shift=(2, -3)), AugTransform("fliplr", shift=(1, 0)),
          AugTransform("rotate", angle=90)]
    patches = render_transforms(img, center, scale, out, ts)
    ys, xs = np.meshgrid(np.arange(12) + 0.5 - 6, np.arange(16) + 0.5 - 8, indexing="ij")
    for t, p in zip(ts, patches):
        px, py = xs - t.shift[0], ys - t.shift[1]
        if t.kind == "fliplr":
            px = -px
        if t.kind == "rotate":  # content turned 90 deg counter-clockwise: output (x, y) shows frame (-y, x)
            px, py = -py, px
        np.testing.assert_allclose(p[0].numpy(), center[0] + scale * px - 0.5, atol=1e-4)
        np.testing.assert_allclose(p[1].numpy(), center[1] + scale * py - 0.5, atol=1e-4)


def test_blur_keeps_a_ramp_and_smooths_an_impulse():
    img = coordinate_image()
    p = render_transforms(img, (40.0, 30.0), 1.0, (10, 10), [AugTransform("blur", sigma=(2, 2))])[0]
    np.testing.assert_allclose(p[0].numpy(), np.tile(np.arange(10) + 35.0, (10, 1)), atol=1e-4)  # linear: kept
    spike = torch.zeros(1, 3, 21, 21, dtype=torch.float64)
    spike[..., 10, 10] = 1
    q = render_transforms(spike, (10.5, 10.5), 1.0, (21, 21), [AugTransform("blur", sigma=(1, 1))])[0, 0]
    assert q.sum().item() == pytest.approx(1.0) and 0 < q[10, 10].item() < 0.2


def test_feature_dropout():
    feat = torch.ones(1, 200, 2, 2)
    a = feature_dropout(feat, 3, 0.25, np.random.default_rng(0))
    b = feature_dropout(feat, 3, 0.25, np.random.default_rng(0))
    assert torch.equal(a, b) and a.shape == (3, 200, 2, 2)
    assert torch.all((a == 0) | torch.isclose(a, torch.tensor(1 / 0.75)))
    assert 0.1 < (a == 0).float().mean().item() < 0.4


# ---------------------------------------------------------------- localisation
def test_cell_to_patch_half_cell_offset():
    np.testing.assert_allclose(cell_to_patch(np.array([9.0, 9.0]), 16, 4), [144, 144])  # even: cell corners
    np.testing.assert_allclose(cell_to_patch(np.array([2.0, 3.0]), 16, 1), [56, 40])    # odd: cell centres
    np.testing.assert_allclose(patch_to_cell(cell_to_patch(np.array([2.5, 7.0]), 16, 3), 16, 3), [2.5, 7.0])


ADV = {"advanced_localization": True, "target_not_found_threshold": 0.25, "distractor_threshold": 0.8,
       "hard_negative_threshold": 0.5, "target_neighborhood_scale": 2.2, "displacement_scale": 0.8}


def scores_with(peaks, shape=(2, 19, 19)):
    s = np.zeros(shape, dtype=np.float32)
    for (k, r, c), v in peaks.items():
        s[k, r, c] = v
    return s


def test_find_peak_and_plain_localisation():
    s = scores_with({(1, 4, 7): 0.9, (0, 10, 10): 0.5})
    assert find_peak(s) == (1, 4, 7, pytest.approx(0.9))
    loc = localize(s, {"advanced_localization": False})
    assert (loc.scale_index, loc.peak, loc.state) == (1, (4.0, 7.0), "normal")


def test_advanced_localisation_states():
    size, prev = np.array([3.0, 3.0]), np.array([9.0, 9.0])
    assert localize(scores_with({(0, 9, 9): 0.2}), ADV, size, prev).state == "not_found"
    assert localize(scores_with({(0, 9, 9): 0.9}), ADV, size, prev).state == "normal"
    # a weaker second peak (> 0.5 x) outside the neighbourhood: hard negative, first peak kept
    loc = localize(scores_with({(0, 9, 9): 0.9, (0, 2, 2): 0.6}), ADV, size, prev)
    assert (loc.state, loc.peak) == ("hard_negative", (9.0, 9.0))
    # a distractor (> 0.8 x) far away while the strongest peak is far too: the one near the last position wins
    loc = localize(scores_with({(0, 1, 1): 1.0, (0, 9, 10): 0.9}), ADV, size, prev)
    assert (loc.state, loc.peak) == ("hard_negative", (9.0, 10.0))
    # both far: uncertain
    loc = localize(scores_with({(0, 1, 1): 1.0, (0, 17, 17): 0.9}), ADV, size, prev)
    assert loc.state == "uncertain"
    # the second maximum inside the target neighbourhood is ignored
    assert localize(scores_with({(0, 9, 9): 0.9, (0, 10, 10): 0.85}), ADV, size, prev).state == "normal"


# ---------------------------------------------------------------- IoU refinement
GT = torch.tensor([20.0, 30.0, 16.0, 24.0])


def iou_predictor(boxes: torch.Tensor) -> torch.Tensor:
    """Exact IoU of xywh boxes [1, P, 4] with GT (piecewise smooth, differentiable almost everywhere)."""
    b = boxes[0]
    x1 = torch.maximum(b[:, 0], GT[0])
    y1 = torch.maximum(b[:, 1], GT[1])
    x2 = torch.minimum(b[:, 0] + b[:, 2], GT[0] + GT[2])
    y2 = torch.minimum(b[:, 1] + b[:, 3], GT[1] + GT[3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    return (inter / (b[:, 2] * b[:, 3] + GT[2] * GT[3] - inter))[None]


@pytest.mark.parametrize("space,step", [("default", 0.5), ("relative", 0.1)])
def test_refinement_increases_predicted_iou(space, step):
    start = torch.tensor([[24.0, 27.0, 12.0, 30.0], [17.0, 33.0, 20.0, 20.0]])
    before = iou_predictor(start[None])[0]
    boxes, _ = optimize_boxes(iou_predictor, start, 20, step, 0.9, space)
    after = iou_predictor(boxes[None])[0]
    assert torch.all(after > before + 0.05), (before, after)


def test_random_init_boxes_and_selection():
    rng = np.random.default_rng(0)
    init = random_init_boxes(GT, 9, 0.1, 0.5, rng)
    assert init.shape == (10, 4) and torch.equal(init[0], GT)
    side = math.sqrt(16 * 24)
    centers = init[1:, :2] + init[1:, 2:] / 2
    assert torch.all((centers - (GT[:2] + GT[2:] / 2)).abs() <= 0.05 * side + 1e-5)
    assert torch.all(init[1:, 2:] >= 16 / 3 - 1e-5)
    boxes = torch.tensor([[0, 0, 10, 10], [2, 2, 10, 10], [0, 0, 100, 5], [4, 4, 10, 10.0]])
    box, ok = select_box(boxes, torch.tensor([0.5, 0.7, 0.99, 0.1]), 6, 2)  # the 20:1 box is excluded
    assert ok and torch.allclose(box, torch.tensor([1, 1, 10, 10.0]))
    _, ok = select_box(boxes[2:3], torch.tensor([0.9]), 6, 3)
    assert not ok


def test_refine_box_gets_closer():
    params = {"num_init_random_boxes": 9, "box_jitter_pos": 0.1, "box_jitter_sz": 0.5, "box_refinement_iter": 10,
              "box_refinement_step_length": 0.5, "box_refinement_step_decay": 1.0,
              "box_refinement_space": "default", "maximal_aspect_ratio": 6, "iounet_k": 3}
    start = torch.tensor([23.0, 27.0, 14.0, 28.0])
    box, ok = refine_box(iou_predictor, start, params, np.random.default_rng(0))
    assert ok and iou_predictor(box[None, None])[0, 0] > iou_predictor(start[None, None])[0, 0]


# ---------------------------------------------------------------- memory
def test_memory_weights_follow_pytracking():
    feats = torch.zeros(4, 2, 3, 3)
    mem = SampleMemory({"features": feats, "boxes": torch.zeros(4, 4)}, capacity=6, learning_rate=0.1,
                       init_samples_minimum_weight=None)
    np.testing.assert_allclose(mem.weights[:4], 0.25)
    assert int(mem.update({"features": torch.ones(1, 2, 3, 3), "boxes": torch.tensor([1.0, 2, 3, 4])})) == 4
    w = np.array([0.25 / 0.9] * 4 + [0.1])
    np.testing.assert_allclose(mem.weights[:5], w / w.sum(), rtol=1e-6)
    assert int(mem.update({"features": torch.ones(1, 2, 3, 3) * 2, "boxes": torch.ones(4)})) == 5
    assert mem.num_stored == 6
    stored, wt = mem.training_set()
    assert stored["features"].shape == (6, 2, 3, 3) and torch.equal(stored["boxes"][4], torch.tensor([1.0, 2, 3, 4]))
    assert wt.sum().item() == pytest.approx(1.0) and (wt[5] / wt[4]).item() == pytest.approx(1 / 0.9)
    # full: the slot of lowest weight is replaced
    lowest = int(np.argmin(wt.numpy()))
    assert int(mem.update({"features": torch.ones(1, 2, 3, 3) * 3, "boxes": torch.ones(4)})) == lowest
    with pytest.raises(ValueError, match="differ"):
        mem.update({"features": torch.ones(1, 2, 3, 3)})


def test_memory_floor_on_initial_samples():
    mem = SampleMemory({"f": torch.zeros(2, 1, 1, 1), "b": torch.zeros(2, 4)}, capacity=4, learning_rate=0.9,
                       init_samples_minimum_weight=0.4)
    item = {"f": torch.ones(1, 1, 1, 1), "b": torch.zeros(4)}
    assert [int(mem.update(item)) for _ in range(2)] == [2, 3]
    assert mem.weights[:2].sum() > 0.4  # no floor needed yet
    # full: replaces among the non-initial samples only (slot 2 is lighter than 3); the initial ones then fall
    # below the floor and are set to it
    assert int(mem.update(item)) == 2
    np.testing.assert_allclose(mem.weights[:2], 0.2, rtol=1e-6)
