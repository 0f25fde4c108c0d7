"""One-pass-evaluation (OPE) metrics of box trackers, vectorised over frames, with a protocol switch.

Boxes are ``[T, 4]`` float arrays ``x, y, w, h`` (top-left corner, size) in the benchmark's pixel coordinates.

Per-frame measures
------------------
* :func:`iou_xywh` -- intersection over union (:func:`tracking.data.geometry.box_iou`, pixel-inclusive as the
  OTB toolkit for ``otb`` / ``lasot``, continuous as the GOT-10k toolkit for ``got10k``), 0 for a box that is
  not valid (:func:`tracking.data.sequence.valid_boxes`: NaN, or ``w <= 0`` or ``h <= 0``).
* :func:`center_error` -- Euclidean distance of the centres, centre = ``x + (w - 1) / 2`` (OTB convention).
* :func:`normalized_center_error` -- the same with each axis divided by the ground-truth ``w`` / ``h``.

Curves and scores (:func:`success_curve`, :func:`precision_curve`, :func:`evaluate_sequence`, :func:`aggregate`)
---------------------------------------------------------------------------------------------------------------
success(t) = fraction of counted frames with IoU > t, t in ``0:0.05:1`` (21 values); AUC = mean of the curve;
OP50 / OP75 = success at 0.5 / 0.75.  precision(t) = fraction with centre error <= t, t = 0..50 px, read at
20 px.  Normalized precision: the same on the normalized error, t = 0:0.01:0.5 (51 values), read at 0.20.
GOT-10k: AO = mean IoU, SR0.5 / SR0.75 = fraction of frames with IoU > 0.5 / 0.75.

Protocols (``protocol=``)
-------------------------
``"otb"`` -- reproduces the official OTB MATLAB toolkit (``calcSeqErrRobust`` + ``calcRectInt`` + the
``perf`` loop of ``OPE_perfmat`` / ``genPerfMat``) to the last bit: every per-sequence success and precision
curve of the 14 trackers x 100 sequences of ``matlab_otb_curves.json`` is reproduced exactly (max abs diff
0.0), see ``tests/test_otb_conformance.py``.  The rules this needed:

 1. Thresholds are MATLAB's ``0:0.05:1`` and ``0:50``.  MATLAB's colon operator computes the first half as
    ``a + k*d`` and the second half as ``b - (n-k)*d``, so its 0.65 is ``1 - 7*0.05 = 0.6499999999999999``
    (``np.linspace`` gives 0.65 and 0.6000000000000001, 0.7000000000000001, ...): :func:`matlab_colon`.
    With ``np.linspace`` thresholds a few per-sequence values differ (an IoU of exactly 0.65 is "> t").
 2. Success counts ``IoU > t`` (strict); precision counts ``error <= t``.
 3. Denominator = number of ground-truth frames (all of them, valid or not: the toolkit divides by
    ``len + eps``, which equals ``len`` in floating point for any len >= 2).
 4. A ground-truth frame is valid iff all four of x, y, w, h are > 0 (so a NaN, a 0 or a negative
    coordinate makes it invalid; e.g. Biker has 7 such frames, Board, Crowds and Twinnings one each).
    (A ``valid`` mask passed in, e.g. absent flags, additionally invalidates frames.)
 5. Invalid ground-truth frames stay in the denominator; their IoU is set to -1 (a failure at every
    overlap threshold, even 0) and their centre error to -1 (a SUCCESS at every error threshold, even 0 px).
    The same rule is used for the normalized centre error (the toolkit has none).
 6. Frame 1: the prediction is replaced by the ground truth -- but only AFTER rule 7 ran, so a bad
    prediction in frame 2 is replaced by the tracker's own (original) frame-1 box, not by the ground truth.
 7. Bad predictions, frames 2..T, in order: the box is replaced by the (already replaced) previous box
    when MATLAB's ``if (isnan(r) | r(3)<=0 | r(4)<=0) & (~isnan(r_anno))`` holds.  ``if`` on a vector is
    true only when ALL elements are true, so this means: (w <= 0 or h <= 0 or all four values NaN) and no
    NaN in that frame's ground truth.  A partly-NaN box (e.g. only x is NaN) is NOT replaced.
 8. IoU (``calcRectInt``): right = x + w - 1, intersection width = max(0, min(rightA, rightB) -
    max(xA, xB) + 1) (same for y), union = wA*hA + wB*hB - intersection, evaluated in that order.  MATLAB's
    ``min``/``max`` ignore NaN (``max(0, NaN) = 0``), so a partly-NaN box can still get a non-zero IoU;
    that is reproduced (``np.fmin``/``np.fmax``); a NaN IoU is a failure.  A NaN centre error is a failure.
 9. Centre error = sqrt(dx^2 + dy^2) with centre = x + (w-1)/2 (``np.hypot`` rounds differently; the -1
    cancels in the difference, so x + w/2 gives the same curves here).
10. Result length: the toolkit indexes the results with the ground-truth mask, which tolerates a result
    that is shorter than the ground truth only when the missing (trailing) frames have invalid ground truth
    (CNN-SVM and MDNet on Board and Twinnings have one line less: the last, invalid, GT frame): those frames
    are scored as invalid-GT frames (rule 5).  A result missing a valid GT frame, or longer than the
    ground truth, makes the toolkit fail: :class:`ResultLengthError`.
11. Frame ranges (David 300-770, BlurCar1 247-988, BlurCar3 3-359, BlurCar4 18-397, Tiger1 6-354,
    Football1 / Freeman3 / Freeman4 truncated): the annotation files as given hold exactly the evaluated
    frames (Tiger1's is cut to frames 6..354 by the toolkit's sequence config, the others are already cut),
    and result line i is annotation line i; nothing else is shifted.
12. Overall (all sequences): the curves are averaged over sequences with equal weight (not over frames),
    and the overall AUC is the mean over sequences of the per-sequence AUC (``OPE_drawplot``:
    ``mean(cellfun(@mean, success_curve), 2)``), which equals the AUC of the mean curve up to rounding.

Ablations on the 1400 curves pairs (number of (tracker, sequence) pairs no longer matching within 1e-9):
``np.linspace`` thresholds 29; invalid-GT centre error as a failure 56; invalid-GT frames removed from the
denominators 56; no frame-1 := GT 477; "+1" pixel areas ((w+1)(h+1)) 1389; precision with ``<`` 1400;
refusing the shorter results of rule 10: 4.

``"lasot"`` -- LaSOT toolkit / pytracking style: frames whose target is absent (``valid`` False, or GT
w <= 0 or h <= 0 or NaN) are removed from numerator AND denominator; frame 1 := ground truth; bad predictions
(any NaN, w <= 0 or h <= 0) on the remaining frames are replaced by the previous frame's box; a result
longer than the ground truth is truncated (LaSOT's monkey-17 rule), a shorter one is a
:class:`ResultLengthError` unless the missing frames are all absent.  Overall = mean over sequences.

``"got10k"`` -- GOT-10k toolkit style: frame 1 (the initialisation) is not evaluated; frames with the target
absent (``valid`` False, or invalid GT) are removed; IoU is computed as the toolkit's ``rect_iou`` does
(continuous boxes; equal to calcRectInt's up to rounding); a NaN or empty prediction has IoU 0 and an
infinite centre error (a failure, never carried forward); any length mismatch is a :class:`ResultLengthError`
(the toolkit asserts equal shapes).  Overall
AO / SR / curves are over all frames of all sequences pooled (frame-weighted), as the GOT-10k toolkit does.
(Clipping boxes to the image, the toolkit's ``bound``, is not done: it needs the image sizes.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tracking.data.geometry import box_iou
from tracking.data.sequence import valid_boxes

PROTOCOLS = ("otb", "lasot", "got10k")


class ResultLengthError(ValueError):
    """A result whose number of frames cannot be matched to the ground truth under the protocol."""


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop`` bit for bit: first half ``start + k*step``, second half ``stop - (n-k)*step``."""
    n = int(np.floor((stop - start) / step + 1e-10))
    k = np.arange(n + 1, dtype=np.float64)
    end = start + n * step
    return np.where(k <= n / 2, start + k * step, end - (n - k) * step) if abs(end - stop) < step * 1e-10 \
        else start + k * step


OVERLAP_THRESHOLDS = matlab_colon(0.0, 0.05, 1.0)        # 21 values, MATLAB's 0:0.05:1
ERROR_THRESHOLDS = np.arange(51, dtype=np.float64)       # 0..50 px
NORM_ERROR_THRESHOLDS = matlab_colon(0.0, 0.01, 0.5)     # 51 values, 0:0.01:0.5
PRECISION_PX = 20                                        # index into ERROR_THRESHOLDS
NORM_PRECISION_INDEX = 20                                # NORM_ERROR_THRESHOLDS[20] == 0.2


def _as_boxes(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] == 4:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(f"{name} must be [T, 4] x,y,w,h boxes, got shape {a.shape}")
    return a


def iou_xywh(pred, gt, pixel_inclusive: bool = True) -> np.ndarray:
    """[T] IoU of xywh boxes, 0 where either box is not valid (NaN, w or h <= 0), clipped to [0, 1].
    ``pixel_inclusive``: the OTB toolkit's calcRectInt (True) or continuous boxes (False), see
    :func:`tracking.data.geometry.box_iou`."""
    pred, gt = _as_boxes(pred, "pred"), _as_boxes(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ")
    ok = valid_boxes(pred) & valid_boxes(gt)
    iou = np.zeros(len(pred))
    iou[ok] = box_iou(pred[ok], gt[ok], pixel_inclusive=pixel_inclusive)
    return np.clip(iou, 0.0, 1.0)


def _centers(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return b[:, 0] + (b[:, 2] - 1) / 2, b[:, 1] + (b[:, 3] - 1) / 2


def center_error(pred, gt) -> np.ndarray:
    """[T] distance between centres ``x + (w-1)/2, y + (h-1)/2`` (NaN if any input is NaN)."""
    pred, gt = _as_boxes(pred, "pred"), _as_boxes(gt, "gt")
    (px, py), (gx, gy) = _centers(pred), _centers(gt)
    dx, dy = px - gx, py - gy
    return np.sqrt(dx * dx + dy * dy)


def normalized_center_error(pred, gt) -> np.ndarray:
    """[T] centre distance with x divided by the GT width and y by the GT height (inf/NaN for empty GT)."""
    pred, gt = _as_boxes(pred, "pred"), _as_boxes(gt, "gt")
    (px, py), (gx, gy) = _centers(pred), _centers(gt)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx, dy = (px - gx) / gt[:, 2], (py - gy) / gt[:, 3]
    return np.sqrt(dx * dx + dy * dy)


def _mask(values: np.ndarray, valid) -> np.ndarray:
    if valid is None:
        return np.ones(len(values), dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != values.shape:
        raise ValueError(f"valid mask {valid.shape} does not match {values.shape}")
    return valid


def success_curve(ious, valid=None, thresholds=OVERLAP_THRESHOLDS) -> np.ndarray:
    """Fraction of the frames in ``valid`` (all if None) with IoU > t, for each t. 0 if no frame counts."""
    ious = np.asarray(ious, dtype=np.float64)
    m = _mask(ious, valid)
    n = int(m.sum())
    hits = (ious[m][:, None] > np.asarray(thresholds)[None, :]).sum(0)
    return hits / n if n else np.zeros(len(thresholds))


def precision_curve(errors, valid=None, thresholds=ERROR_THRESHOLDS) -> np.ndarray:
    """Fraction of the frames in ``valid`` (all if None) with error <= t, for each t. 0 if no frame counts."""
    errors = np.asarray(errors, dtype=np.float64)
    m = _mask(errors, valid)
    n = int(m.sum())
    hits = (errors[m][:, None] <= np.asarray(thresholds)[None, :]).sum(0)
    return hits / n if n else np.zeros(len(thresholds))


def auc(curve) -> float:
    """Area under a success curve as the OTB toolkit computes it: the mean of the curve."""
    return float(np.mean(curve))


@dataclass
class FrameErrors:
    """Per-frame measures after a protocol's rules; ``counted`` = frames in numerators and denominators."""

    iou: np.ndarray
    center_error: np.ndarray
    norm_center_error: np.ndarray
    counted: np.ndarray


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}, expected one of {PROTOCOLS}")


def frame_errors(pred, gt, valid=None, protocol: str = "otb") -> FrameErrors:
    """Apply ``protocol``'s rules (module docstring) to one sequence: ``pred`` [Tp, 4], ``gt`` [T, 4],
    ``valid`` [T] bool (target present; None = all) -> per-frame IoU, centre errors and counted mask."""
    _check_protocol(protocol)
    pred, gt = _as_boxes(pred, "pred").copy(), _as_boxes(gt, "gt")
    n = len(gt)
    if n == 0:
        raise ValueError("empty ground truth")
    present = _mask(gt[:, 0], valid)
    if protocol == "otb":
        gt_valid = (gt > 0).all(1) & present            # rule 4 (NaN > 0 is False)
    else:
        gt_valid = valid_boxes(gt) & present
    first = 1 if protocol == "got10k" else 0

    # Result length (rule 10 and the protocol equivalents).
    if len(pred) > n:
        if protocol == "lasot":
            pred = pred[:n]
        else:
            raise ResultLengthError(f"result has {len(pred)} frames, ground truth {n}: results must cover exactly "
                                    "the annotated frames (sequences with frame ranges: only the range)")
    if len(pred) < n:
        if protocol == "got10k":
            raise ResultLengthError(f"result has {len(pred)} frames, ground truth {n}: the got10k protocol needs "
                                    "one result line per frame")
        missing = np.arange(len(pred), n)
        needed = missing[(missing >= first) & gt_valid[missing]]
        if len(needed):
            raise ResultLengthError(f"result has {len(pred)} frames, ground truth {n}: frame {needed[0] + 1} "
                                    f"(1-based) has a valid ground truth but no result")
        pred = np.vstack([pred, np.full((n - len(pred), 4), np.nan)])

    if protocol == "otb":
        gt_has_nan = np.isnan(gt).any(1)
        bad = ((pred[:, 2] <= 0) | (pred[:, 3] <= 0) | np.isnan(pred).all(1)) & ~gt_has_nan   # rule 7
        _carry_forward(pred, bad)
        pred[0] = gt[0]                                                                        # rule 6
        ious = np.full(n, -1.0)
        ious[gt_valid] = box_iou(pred[gt_valid], gt[gt_valid], pixel_inclusive=True)           # rule 8
        ce = center_error(pred, gt)
        nce = normalized_center_error(pred, gt)
        ce[~gt_valid] = -1.0                                                                   # rule 5
        nce[~gt_valid] = -1.0
        return FrameErrors(ious, ce, nce, np.ones(n, dtype=bool))                              # rule 3

    if protocol == "lasot":
        bad = ~valid_boxes(pred) & gt_valid
        bad[0] = False
        _carry_forward(pred, bad)
        pred[0] = gt[0]
    counted = gt_valid.copy()
    counted[:first] = False
    ious = iou_xywh(pred, gt, pixel_inclusive=protocol == "lasot")
    ok = valid_boxes(pred)
    ce = np.where(ok, center_error(pred, gt), np.inf)
    nce = np.where(ok, normalized_center_error(pred, gt), np.inf)
    return FrameErrors(ious, ce, nce, counted)


def _carry_forward(pred: np.ndarray, bad: np.ndarray) -> None:
    """pred[i] = pred[i-1] for bad i >= 1, in order (so runs of bad frames take the last good box)."""
    for i in np.flatnonzero(bad):
        if i >= 1:
            pred[i] = pred[i - 1]


@dataclass
class SequenceMetrics:
    """Curves and scalar scores of one sequence (or of a set of sequences, from :func:`aggregate`)."""

    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    auc: float
    precision: float          # at 20 px
    norm_precision: float     # at 0.20
    op50: float
    op75: float
    ao: float                 # mean IoU over counted frames (IoU < 0 counted as 0)
    sr50: float
    sr75: float
    num_frames: int           # counted frames
    extra: dict = field(default_factory=dict)

    def scalars(self) -> dict:
        d = asdict(self)
        for k in ("success_curve", "precision_curve", "norm_precision_curve", "extra"):
            d.pop(k)
        return d


def metrics_from_frames(fe: FrameErrors) -> SequenceMetrics:
    """Curves and scalar scores from the per-frame measures of :func:`frame_errors`."""
    m = fe.counted
    succ = success_curve(fe.iou, m)
    prec = precision_curve(fe.center_error, m)
    nprec = precision_curve(fe.norm_center_error, m, NORM_ERROR_THRESHOLDS)
    ious = np.nan_to_num(np.maximum(fe.iou[m], 0.0))
    k = int(m.sum())
    return SequenceMetrics(
        success_curve=succ, precision_curve=prec, norm_precision_curve=nprec, auc=auc(succ),
        precision=float(prec[PRECISION_PX]), norm_precision=float(nprec[NORM_PRECISION_INDEX]),
        op50=float(succ[10]), op75=float(succ[15]),
        ao=float(ious.mean()) if k else 0.0,
        sr50=float((fe.iou[m] > 0.5).mean()) if k else 0.0,
        sr75=float((fe.iou[m] > 0.75).mean()) if k else 0.0,
        num_frames=k)


def evaluate_sequence(pred, gt, valid=None, protocol: str = "otb") -> SequenceMetrics:
    """All metrics of one sequence under ``protocol`` (see the module docstring)."""
    return metrics_from_frames(frame_errors(pred, gt, valid, protocol))


def aggregate(per_sequence: list[SequenceMetrics], protocol: str = "otb",
              frames: list[FrameErrors] | None = None) -> SequenceMetrics:
    """Overall metrics. otb / lasot: curves and scores averaged over sequences with equal weight, AUC = mean of
    per-sequence AUCs (rule 12).  got10k: all counted frames pooled (needs ``frames``, the FrameErrors)."""
    _check_protocol(protocol)
    if not per_sequence:
        raise ValueError("no sequences to aggregate")
    if protocol == "got10k":
        if frames is None:
            raise ValueError("got10k aggregation pools frames: pass frames=[FrameErrors, ...]")
        pooled = FrameErrors(*(np.concatenate([getattr(f, k) for f in frames])
                               for k in ("iou", "center_error", "norm_center_error", "counted")))
        return metrics_from_frames(pooled)
    succ = np.mean([s.success_curve for s in per_sequence], axis=0)
    prec = np.mean([s.precision_curve for s in per_sequence], axis=0)
    nprec = np.mean([s.norm_precision_curve for s in per_sequence], axis=0)
    mean = lambda k: float(np.mean([getattr(s, k) for s in per_sequence]))  # noqa: E731
    return SequenceMetrics(
        success_curve=succ, precision_curve=prec, norm_precision_curve=nprec, auc=mean("auc"),
        precision=float(prec[PRECISION_PX]), norm_precision=float(nprec[NORM_PRECISION_INDEX]),
        op50=float(succ[10]), op75=float(succ[15]), ao=mean("ao"), sr50=mean("sr50"), sr75=mean("sr75"),
        num_frames=int(sum(s.num_frames for s in per_sequence)))
