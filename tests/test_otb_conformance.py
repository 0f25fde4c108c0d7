"""The metrics: the `otb` protocol against the official MATLAB OTB toolkit's curves (14 trackers x 100
sequences, real data, skipped when absent), and every metric / protocol rule on tiny hand-made cases."""

import json
import os

import numpy as np
import pytest
from conftest import SHARED_DATA

from tracking.eval import metrics as M
from tracking.data.annotations import AnnotationError, read_boxes

OTB = os.path.join(SHARED_DATA, "otb100")
CURVES = os.path.join(OTB, "matlab_otb_curves.json")
requires_otb = pytest.mark.skipif(not os.path.isfile(CURVES), reason=f"{CURVES} not present")


@pytest.fixture(scope="module")
def matlab():
    with open(CURVES) as f:
        return json.load(f)


@requires_otb
def test_otb_protocol_reproduces_matlab_curves_and_aucs(matlab):
    assert len(matlab["trackers"]) == 14 and len(matlab["sequences"]) == 100
    gts = {s: read_boxes(os.path.join(OTB, "anno", s + ".txt")) for s in matlab["sequences"]}
    worst = 0.0
    for t in matlab["trackers"]:
        per_seq = []
        for s in matlab["sequences"]:
            m = M.evaluate_sequence(read_boxes(os.path.join(OTB, "results", t, s + ".txt")), gts[s], None, "otb")
            ms, mp = np.array(matlab["success_curve"][t][s]), np.array(matlab["precision_curve"][t][s])
            assert m.success_curve.shape == (21,) and m.precision_curve.shape == (51,)
            diff = max(np.abs(m.success_curve - ms).max(), np.abs(m.precision_curve - mp).max())
            assert diff <= 1e-9, (t, s, diff)
            worst = max(worst, diff)
            per_seq.append(m)
        overall = M.aggregate(per_seq, "otb")
        # The toolkit's overall AUC: mean over sequences of each sequence's mean success (OPE_drawplot).
        matlab_auc = np.mean([np.mean(matlab["success_curve"][t][s]) for s in matlab["sequences"]])
        assert abs(overall.auc - matlab_auc) <= 1e-12, t
        assert abs(M.auc(overall.success_curve) - matlab_auc) <= 1e-12, t
    assert worst <= 1e-9


def test_matlab_colon_thresholds():
    t = M.OVERLAP_THRESHOLDS
    assert len(t) == 21 and t[0] == 0 and t[-1] == 1 and t[10] == 0.5 and t[15] == 0.75
    assert t[13] == 0.6499999999999999 and t[12] == 0.6          # MATLAB's values, not linspace's
    assert np.linspace(0, 1, 21)[13] == 0.65
    assert len(M.NORM_ERROR_THRESHOLDS) == 51 and M.NORM_ERROR_THRESHOLDS[20] == 0.2
    np.testing.assert_array_equal(M.ERROR_THRESHOLDS, np.arange(51))


def test_iou_center_error_and_degenerate_boxes():
    gt = np.array([[0, 0, 10, 10]] * 5, float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 0, 10], [np.nan, 0, 10, 10]])
    np.testing.assert_allclose(M.iou_xywh(pred, gt), [1, 50 / 150, 0, 0, 0])
    ce = M.center_error(pred, gt)
    np.testing.assert_allclose(ce[:3], [0, 5, np.hypot(22 - 4.5, 22 - 4.5)])
    assert ce[3] == 5 and np.isnan(ce[4])                          # centre x + (w-1)/2: -0.5 vs 4.5
    np.testing.assert_allclose(M.normalized_center_error([[5, 5, 10, 10]], [[0, 0, 10, 20]]), [0.5])
    with pytest.raises(ValueError):
        M.iou_xywh(np.zeros((2, 4)), np.zeros((3, 4)))


def test_curves_thresholds_and_masks():
    ious = np.array([0.0, 0.5, 0.75, 1.0])
    c = M.success_curve(ious)
    assert c[0] == 0.75 and c[10] == 0.5 and c[15] == 0.25 and c[20] == 0     # strictly greater
    assert M.success_curve(ious, [False, True, True, True])[0] == 1.0
    p = M.precision_curve(np.array([0.0, 20.0, 20.5, np.nan]))
    assert p[0] == 0.25 and p[20] == 0.5 and p[21] == 0.75 and p[50] == 0.75  # <=, NaN fails
    assert M.success_curve(ious, np.zeros(4, bool)).sum() == 0
    assert M.auc(c) == pytest.approx(np.mean(c))


def _case():
    gt = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [0, 0, 0, 0], [14, 10, 20, 20]], float)
    pred = np.array([[0, 0, 5, 5], [12, 10, 20, 20], [100, 100, 20, 20], [14, 10, 20, 20]], float)
    return pred, gt


def test_otb_invalid_gt_and_frame1():
    pred, gt = _case()
    fe = M.frame_errors(pred, gt, protocol="otb")
    np.testing.assert_array_equal(fe.counted, True)                 # denominator = all GT frames
    assert fe.iou[0] == 1 and fe.center_error[0] == 0               # frame 1 := GT
    assert fe.iou[2] == -1 and fe.center_error[2] == -1             # invalid GT: overlap fails, error succeeds
    m = M.evaluate_sequence(pred, gt, protocol="otb")
    assert m.success_curve[0] == 0.75 and m.precision_curve[0] == 1.0
    # An absent flag invalidates a frame the same way.
    m2 = M.evaluate_sequence(pred, gt, valid=[True, True, True, False], protocol="otb")
    assert m2.success_curve[0] == 0.5 and m2.precision_curve[0] == 1.0


def test_lasot_and_got10k_drop_absent_frames():
    pred, gt = _case()
    la = M.evaluate_sequence(pred, gt, protocol="lasot")
    assert la.num_frames == 3 and la.success_curve[0] == 1.0 and la.precision_curve[0] == 1.0
    got = M.evaluate_sequence(pred, gt, protocol="got10k")      # frame 1 not evaluated either
    assert got.num_frames == 2 and got.ao == 1.0 and got.sr50 == 1.0
    la2 = M.evaluate_sequence(pred, gt, valid=[True, False, True, True], protocol="lasot")
    assert la2.num_frames == 2


def test_bad_predictions_per_protocol():
    gt = np.array([[10, 10, 20, 20]] * 4, float)
    pred = np.array([[10, 10, 20, 20], [10, 10, 20, 20], [np.nan] * 4, [10, 10, 0, 20]])
    for protocol in ("otb", "lasot"):                              # carried forward from the previous box
        fe = M.frame_errors(pred, gt, protocol=protocol)
        np.testing.assert_array_equal(fe.iou, 1.0)
    fe = M.frame_errors(pred, gt, protocol="got10k")               # a failure, not carried forward
    assert fe.iou[2] == 0 and fe.iou[3] == 0 and np.isinf(fe.center_error[2])
    # otb: MATLAB's vector-`if` replaces a box only if w<=0, h<=0 or ALL values are NaN; a partly-NaN box
    # stays, and MATLAB's NaN-ignoring min/max still give it an overlap while its centre error is NaN.
    part = pred.copy()
    part[2] = [np.nan, 10, 20, 20]
    fe = M.frame_errors(part, gt, protocol="otb")
    assert fe.iou[2] == 1.0 and np.isnan(fe.center_error[2])
    # otb: the carry-forward runs before frame 1 := GT, so frame 2 takes the tracker's own frame-1 box.
    p2 = np.array([[30, 30, 20, 20], [0, 0, -1, 5], [10, 10, 20, 20], [10, 10, 20, 20]], float)
    fe = M.frame_errors(p2, gt, protocol="otb")
    assert fe.iou[0] == 1.0 and fe.center_error[1] == pytest.approx(np.hypot(20, 20))


def test_result_length_rules():
    gt = np.array([[10, 10, 20, 20]] * 3 + [[0, 0, 0, 0]], float)
    short = gt[:3].copy()
    for protocol in ("otb", "lasot"):                              # missing frame has no valid GT: accepted
        fe = M.frame_errors(short, gt, protocol=protocol)
        assert len(fe.iou) == 4
    with pytest.raises(M.ResultLengthError, match="3 frames, ground truth 4"):  # got10k: any mismatch
        M.frame_errors(short, gt, protocol="got10k")
    assert M.evaluate_sequence(short, gt, protocol="otb").precision_curve[0] == 1.0
    for protocol in ("otb", "lasot"):                              # missing a valid GT frame: error
        with pytest.raises(M.ResultLengthError, match="frame 3"):
            M.frame_errors(short[:2], gt, protocol=protocol)
    longer = np.vstack([gt, gt])
    for protocol in ("otb", "got10k"):
        with pytest.raises(M.ResultLengthError, match="8 frames, ground truth 4"):
            M.frame_errors(longer, gt, protocol=protocol)
    assert len(M.frame_errors(longer, gt, protocol="lasot").iou) == 4   # LaSOT truncates
    assert issubclass(M.ResultLengthError, ValueError)


def test_empty_file_and_bad_protocol(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(AnnotationError, match="empty file"):
        read_boxes(tmp_path / "empty.txt", allow_empty=False)
    with pytest.raises(ValueError, match="unknown protocol"):
        M.frame_errors(np.ones((1, 4)), np.ones((1, 4)), protocol="vot")
    with pytest.raises(ValueError, match="empty ground truth"):
        M.frame_errors(np.ones((1, 4)), np.zeros((0, 4)))


def test_aggregate_otb_mean_over_sequences_and_got10k_pooled():
    gt = np.array([[10, 10, 20, 20]] * 5, float)
    good = gt.copy()
    bad = gt + [[0, 0, 0, 0]] + np.array([[0, 0, 0, 0]] + [[100, 100, 0, 0]] * 4)
    a = M.evaluate_sequence(good, gt)
    b = M.evaluate_sequence(bad[:2], gt[:2])
    o = M.aggregate([a, b], "otb")
    assert o.auc == pytest.approx((a.auc + b.auc) / 2) and o.num_frames == 7
    fa, fb = M.frame_errors(good, gt, protocol="got10k"), M.frame_errors(bad[:2], gt[:2], protocol="got10k")
    g = M.aggregate([M.metrics_from_frames(fa), M.metrics_from_frames(fb)], "got10k", [fa, fb])
    assert g.num_frames == 5 and g.ao == pytest.approx(4 / 5)         # pooled frames, not per sequence
