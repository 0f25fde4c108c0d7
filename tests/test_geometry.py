"""Tests of tracking.data.geometry: box conversions and IoU against brute force, jitter statistics, crop
windows and their affine maps (incl. cv2.warpAffine's convention), Gaussian labels, IoU-Net proposals."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from tracking.data import geometry as g


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.concatenate([rng.uniform(-20, 100, (n, 2)), rng.uniform(0.5, 60, (n, 2))], axis=1)


# ----------------------------------------------------------------------------------------------- boxes


def test_conversions_round_trip_and_center():
    rng = np.random.default_rng(0)
    boxes = random_boxes(rng, 50).reshape(5, 10, 4)
    xyxy = g.xywh_to_xyxy(boxes)
    assert xyxy.shape == boxes.shape and xyxy.dtype == np.float64
    np.testing.assert_allclose(xyxy[..., 2:], boxes[..., :2] + boxes[..., 2:])
    np.testing.assert_allclose(g.xyxy_to_xywh(xyxy), boxes, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g.box_center(boxes), boxes[..., :2] + boxes[..., 2:] / 2)
    assert g.box_center([1, 2, 4, 6]).tolist() == [3.0, 5.0]
    with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
        g.xywh_to_xyxy(np.zeros((3, 5)))


def brute_force_iou(a, b) -> float:
    """IoU by the definition, with scalar Python arithmetic."""
    ax1, ay1, aw, ah = a
    bx1, by1, bw, bh = b
    if aw <= 0 or ah <= 0 or bw <= 0 or bh <= 0:
        return 0.0
    iw = max(0.0, min(ax1 + aw, bx1 + bw) - max(ax1, bx1))
    ih = max(0.0, min(ay1 + ah, by1 + bh) - max(ay1, by1))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def test_box_iou_against_brute_force():
    rng = np.random.default_rng(1)
    a = random_boxes(rng, 300)
    b = random_boxes(rng, 300)
    special_a = np.array([
        [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [2, 2, 3, 3], [0, 0, 10, 10],
        [0, 0, 0, 10], [0, 0, -5, 10], [0, 0, 0, 0], [5, 5, 0, 0], [0, 0, 10, 10],
    ], dtype=np.float64)
    special_b = np.array([
        [0, 0, 10, 10],   # identical
        [20, 20, 5, 5],   # disjoint
        [10, 0, 10, 10],  # touching edges
        [0, 0, 10, 10],   # nested
        [2, 2, 3, 3],     # nested, other order
        [0, 0, 10, 10],   # zero width
        [-5, 0, 10, 10],  # negative width
        [0, 0, 0, 0],     # both degenerate: union 0
        [0, 0, 10, 10],   # point inside
        [5, 0, 10, 10],   # half overlap
    ], dtype=np.float64)
    a = np.concatenate([a, special_a])
    b = np.concatenate([b, special_b])
    iou = g.box_iou(a, b)
    assert iou.shape == (len(a),)
    expected = np.array([brute_force_iou(x, y) for x, y in zip(a.tolist(), b.tolist())])
    np.testing.assert_allclose(iou, expected, rtol=1e-12, atol=1e-12)
    assert not np.isnan(iou).any() and (iou >= 0).all() and (iou <= 1).all()
    assert (expected[:300] > 0).sum() > 20 and (expected[:300] == 0).sum() > 20  # both cases exercised
    np.testing.assert_array_equal(iou[-10:], [1, 0, 0, 9 / 100, 9 / 100, 0, 0, 0, 0, 50 / 150])
    # A box's IoU with itself is exactly 1, also for non-representable sums.
    odd = np.array([[0.1, 0.7, 0.2, 0.3], [1e3 + 0.1, -3.3, 1e-3, 7.1]])
    assert (g.box_iou(odd, odd) == 1).all()


def test_box_iou_broadcasts():
    rng = np.random.default_rng(2)
    a = random_boxes(rng, 6)
    b = random_boxes(rng, 4)
    iou = g.box_iou(a[:, None, :], b[None, :, :])
    assert iou.shape == (6, 4)
    for i in range(6):
        for j in range(4):
            assert iou[i, j] == pytest.approx(brute_force_iou(a[i], b[j]), abs=1e-12)


# ---------------------------------------------------------------------------------------------- jitter


def test_jitter_box_statistics():
    rng = np.random.default_rng(3)
    box = np.array([40.0, 30.0, 20.0, 45.0])
    boxes = np.broadcast_to(box, (20000, 4))
    cjf, sjf = 3.0, 0.25
    out = g.jitter_box(boxes, cjf, sjf, rng)
    assert out.shape == boxes.shape
    log_ratio = np.log(out[:, 2:] / box[2:])
    np.testing.assert_allclose(log_ratio.mean(axis=0), 0, atol=0.01)
    np.testing.assert_allclose(log_ratio.std(axis=0), sjf, rtol=0.03)
    offset = g.box_center(out) - g.box_center(box)
    bound = np.sqrt(out[:, 2] * out[:, 3]) * cjf / 2
    assert (np.abs(offset) <= bound[:, None] + 1e-9).all()
    # Uniform offsets: |offset| / bound ~ U[0, 1), mean 1/2.
    np.testing.assert_allclose((np.abs(offset) / bound[:, None]).mean(axis=0), 0.5, atol=0.01)
    # Determinism and no jitter with zero factors.
    np.testing.assert_array_equal(g.jitter_box(box, cjf, sjf, np.random.default_rng(7)),
                                  g.jitter_box(box, cjf, sjf, np.random.default_rng(7)))
    np.testing.assert_allclose(g.jitter_box(box, 0.0, 0.0, rng), box)


# -------------------------------------------------------------------------------------- crop windows


def test_crop_window_known_box():
    window = g.crop_window([10.0, 20.0, 8.0, 18.0], 5.0)  # sqrt(8 * 18) = 12, side 60, centre (14, 29)
    np.testing.assert_allclose(window, [-16.0, -1.0, 44.0, 59.0])
    many = g.crop_window(np.array([[10.0, 20.0, 8.0, 18.0]] * 3).reshape(3, 1, 4), 5.0)
    assert many.shape == (3, 1, 4)
    np.testing.assert_allclose(many[2, 0], window)


@pytest.mark.parametrize("bad", [[0, 0, np.nan, 5], [np.inf, 0, 5, 5], [0, 0, 0, 5], [0, 0, 5, -1]])
def test_bad_boxes_raise(bad):
    boxes = np.array([[0.0, 0.0, 5.0, 5.0], bad])
    with pytest.raises(ValueError, match="crop_window: `box`"):
        g.crop_window(boxes, 4.0)
    with pytest.raises(ValueError, match="box_to_crop: `box`"):
        g.box_to_crop(boxes, [0.0, 0.0, 10.0, 10.0], 16)
    with pytest.raises(ValueError, match="sample_proposals: `box`"):
        g.sample_proposals(boxes, 4, [0.1], 0.5, np.random.default_rng(0))


def test_bad_windows_and_sizes_raise():
    with pytest.raises(ValueError, match="box_to_crop: `window`"):
        g.box_to_crop([1.0, 1.0, 2.0, 2.0], [5.0, 0.0, 5.0, 10.0], 16)
    with pytest.raises(ValueError, match="box_from_crop: `window`"):
        g.box_from_crop([1.0, 1.0, 2.0, 2.0], [0.0, np.nan, 5.0, 10.0], 16)
    with pytest.raises(ValueError, match="window_to_affine: `window`"):
        g.window_to_affine([0.0, 0.0, -1.0, 10.0], 16)
    with pytest.raises(ValueError, match="output_size"):
        g.window_to_affine([0.0, 0.0, 10.0, 10.0], 0)
    with pytest.raises(ValueError, match="search_area_factor"):
        g.crop_window([0.0, 0.0, 10.0, 10.0], 0.0)


def test_box_to_crop_analytic_and_round_trip():
    rng = np.random.default_rng(4)
    boxes = random_boxes(rng, 100)
    windows = g.crop_window(g.jitter_box(boxes, 3.0, 0.25, rng), 5.0)
    size = 288
    # The window corners map to (0, 0) and (S, S).
    np.testing.assert_allclose(g.box_to_crop(g.xyxy_to_xywh(windows), windows, size),
                               np.broadcast_to([0.0, 0.0, size, size], (100, 4)), atol=1e-9)
    crop = g.box_to_crop(boxes, windows, size)
    side = windows[:, 2:] - windows[:, :2]
    expected = np.concatenate([(boxes[:, :2] - windows[:, :2]) / side * size, boxes[:, 2:] / side * size], 1)
    np.testing.assert_allclose(crop, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(g.box_from_crop(crop, windows, size), boxes, rtol=0, atol=1e-9)
    # Known case: the box is centred in its own window, at S/2 +- S/(2 * factor) for a square box.
    window = g.crop_window([10.0, 10.0, 20.0, 20.0], 4.0)
    np.testing.assert_allclose(g.box_to_crop([10.0, 10.0, 20.0, 20.0], window, 288), [108, 108, 72, 72])


def test_window_to_affine_consistent_with_box_to_crop():
    rng = np.random.default_rng(5)
    boxes = random_boxes(rng, 50)
    windows = g.crop_window(boxes, 4.5)
    size = 128
    m = g.window_to_affine(windows, size)
    assert m.shape == (50, 2, 3)
    crop = g.xywh_to_xyxy(g.box_to_crop(boxes, windows, size))
    source = g.xywh_to_xyxy(boxes)
    for corner, expected in ((crop[:, :2], source[:, :2]), (crop[:, 2:], source[:, 2:])):
        homogeneous = np.concatenate([corner, np.ones((50, 1))], axis=1)
        src = np.einsum("nij,nj->ni", m, homogeneous)
        np.testing.assert_allclose(src, expected, rtol=0, atol=1e-9)
    # The documented cv2 form.
    s = (windows[0, 2] - windows[0, 0]) / size
    np.testing.assert_allclose(g.affine_to_cv2(m[0]), [[s, 0, windows[0, 0] + s / 2 - 0.5],
                                                       [0, s, windows[0, 1] + s / 2 - 0.5]])


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample image [H, W] at index coordinates (column j centred at j) on the grid x (columns) by y (rows)."""
    xx, yy = np.meshgrid(x, y)
    x0, y0 = np.floor(xx).astype(int), np.floor(yy).astype(int)
    fx, fy = xx - x0, yy - y0
    im = image.astype(np.float64)
    return (im[y0, x0] * (1 - fx) * (1 - fy) + im[y0, x0 + 1] * fx * (1 - fy)
            + im[y0 + 1, x0] * (1 - fx) * fy + im[y0 + 1, x0 + 1] * fx * fy)


@pytest.mark.parametrize("window", [[5.3, 7.1, 25.7, 27.5], [10.0, 2.25, 40.0, 32.25], [12.6, 15.2, 14.1, 16.7]])
def test_affine_to_cv2_matches_warp_affine(window):
    rng = np.random.default_rng(6)
    image = rng.random((40, 50)).astype(np.float32)
    size = 16
    window = np.asarray(window)
    m = g.affine_to_cv2(g.window_to_affine(window, size))
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    # The documented convention: output pixel q (centre q + 0.5) samples index coordinate x - 0.5.
    u = np.arange(size) + 0.5
    x = window[0] + u * (window[2] - window[0]) / size - 0.5
    y = window[1] + u * (window[3] - window[1]) / size - 0.5
    # cv2 rounds source coordinates to 1/32 pixel (INTER_TAB_SIZE); with that it agrees to float32 precision.
    np.testing.assert_allclose(out, bilinear(image, np.round(x * 32) / 32, np.round(y * 32) / 32), atol=1e-5)
    np.testing.assert_allclose(out, bilinear(image, x, y), atol=0.03)
    # A half-pixel shift would be far off.
    assert np.abs(out - bilinear(image, x + 0.5, y + 0.5)).max() > 0.1


# ----------------------------------------------------------------------------------------------- labels


def test_gaussian_label_dimp_shape_and_centre():
    # DiMP: 288 crop, 18x18 features (stride 16), 4x4 kernel -> 19x19 labels, sigma_factor 1/4 / 5.
    assert g.label_size(18, 4) == 19 and g.label_size(18, 5) == 18 and g.label_size(18, 4, False) == 18
    label = g.gaussian_label([144.0, 144.0], 288, 18, 4, 0.05)
    assert label.shape == (19, 19) and label.dtype == np.float64
    assert label[9, 9] == 1.0 and label.max() == 1.0
    np.testing.assert_allclose(label, label[::-1, :], atol=1e-15)
    np.testing.assert_allclose(label, label[:, ::-1], atol=1e-15)
    np.testing.assert_allclose(label, label.T, atol=1e-15)
    # Separable Gaussian with sigma = 0.05 * 288 = 14.4 px = 0.9 cells: neighbour value exp(-0.5 (16/14.4)^2).
    assert label[9, 10] == pytest.approx(np.exp(-0.5 * (16 / 14.4) ** 2))
    assert label.sum() == pytest.approx(np.sum(np.exp(-0.5 * ((np.arange(19) - 9) * 16 / 14.4) ** 2)) ** 2)


def test_gaussian_label_peak_follows_target():
    rng = np.random.default_rng(8)
    centres = rng.uniform(20, 268, (30, 2))
    labels = g.gaussian_label(centres.reshape(3, 10, 2), 288, 18, 4, 0.05).reshape(30, 19, 19)
    assert ((labels > 0) & (labels <= 1)).all()
    # Cell k is at crop coordinate (k - 9) * 16 + 144, so the nearest cell is round((c - 144) / 16 + 9).
    nearest = np.clip(np.round((centres - 144) / 16 + 9), 0, 18).astype(int)
    peaks = np.array(np.unravel_index(labels.reshape(30, -1).argmax(axis=1), (19, 19))).T  # (row, col)
    np.testing.assert_array_equal(peaks, nearest[:, ::-1])
    # Odd kernel: L = 18, the grid is still centred, so a centred target peaks symmetrically at 8 and 9.
    label = g.gaussian_label([144.0, 144.0], 288, 18, 5, 0.05)
    assert label.shape == (18, 18)
    assert label[8, 8] == label[9, 9] == label.max() < 1


# -------------------------------------------------------------------------------------------- proposals


SIGMAS = (0.01, 0.05, 0.1, 0.2, 0.3)


def test_sample_proposals_shapes_ious_and_determinism():
    box = np.array([50.0, 40.0, 30.0, 60.0])
    props, ious = g.sample_proposals(box, 64, SIGMAS, 0.1, np.random.default_rng(9))
    assert props.shape == (64, 4) and ious.shape == (64,)
    np.testing.assert_array_equal(ious, g.box_iou(props, box))
    assert (ious >= 0.1).all() and (ious < 1).any()
    assert len(np.unique(ious)) > 50  # proposals differ
    again, again_ious = g.sample_proposals(box, 64, SIGMAS, 0.1, np.random.default_rng(9))
    np.testing.assert_array_equal(again, props)
    np.testing.assert_array_equal(again_ious, ious)
    # Leading dimensions: one set of proposals per box.
    boxes = random_boxes(np.random.default_rng(10), 6).reshape(2, 3, 4)
    props, ious = g.sample_proposals(boxes, 8, SIGMAS, 0.5, np.random.default_rng(11))
    assert props.shape == (2, 3, 8, 4) and ious.shape == (2, 3, 8)
    np.testing.assert_array_equal(ious, g.box_iou(props, boxes[..., None, :]))
    assert (ious >= 0.5).all()
    empty, empty_ious = g.sample_proposals(box, 0, SIGMAS, 0.5, np.random.default_rng(0))
    assert empty.shape == (0, 4) and empty_ious.shape == (0,)


def test_sample_proposals_spread_depends_on_sigma():
    box = np.array([0.0, 0.0, 40.0, 40.0])
    small, small_ious = g.sample_proposals(box, 500, [0.02], 0.0, np.random.default_rng(12))
    large, large_ious = g.sample_proposals(box, 500, [0.2], 0.0, np.random.default_rng(12))
    # With min_iou 0 every first candidate is accepted: centre std = sigma * sqrt(w h).
    np.testing.assert_allclose((g.box_center(small) - 20).std(axis=0), 0.02 * 40, rtol=0.15)
    np.testing.assert_allclose((g.box_center(large) - 20).std(axis=0), 0.2 * 40, rtol=0.15)
    np.testing.assert_allclose(np.log(large[:, 2:] / 40).std(axis=0), 0.2, rtol=0.15)
    assert small_ious.mean() > large_ious.mean()


def test_sample_proposals_fallback_is_bounded():
    box = np.array([10.0, 10.0, 30.0, 20.0])
    start = time.perf_counter()
    props, ious = g.sample_proposals(box, 200, [2.0, 5.0], 0.999, np.random.default_rng(13), max_rounds=5)
    assert time.perf_counter() - start < 1.0
    np.testing.assert_array_equal(ious, g.box_iou(props, box))
    fallback = ious == 1
    assert fallback.all()  # 0.999 is out of reach with these sigmas in 5 rounds
    np.testing.assert_array_equal(props[fallback], np.broadcast_to(box, (int(fallback.sum()), 4)))
    # A hard but reachable threshold: shrinking sigma lets some proposals through, the rest fall back.
    props, ious = g.sample_proposals(box, 200, [0.3], 0.97, np.random.default_rng(14), max_rounds=20)
    assert (ious >= 0.97).all() and (ious < 1).any()


def test_sample_proposals_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="sigma_factors"):
        g.sample_proposals([0.0, 0.0, 5.0, 5.0], 4, [], 0.5, rng)
    with pytest.raises(ValueError, match="sigma_factors"):
        g.sample_proposals([0.0, 0.0, 5.0, 5.0], 4, [0.1, -0.1], 0.5, rng)
    with pytest.raises(ValueError, match="max_rounds"):
        g.sample_proposals([0.0, 0.0, 5.0, 5.0], 4, [0.1], 0.5, rng, max_rounds=0)
