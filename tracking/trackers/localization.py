"""Target localisation on DiMP score maps (pytracking's ``localize_target`` / ``localize_advanced``), on the host.

Score-map geometry. The classifier's filter of size ``k`` on features of stride ``stride`` gives maps of
``H' = H + (k + 1) % 2`` cells; cell ``(r, c)`` (row, col) sits at the patch point
``(x, y) = ((c + (k % 2) / 2) * stride, (r + (k % 2) / 2) * stride)`` in continuous patch coordinates (the
network's own label convention, ``tracking.models.classifier.optimizer``): for an even kernel the cells are on
the feature-cell *corners*, for an odd one on their centres (the "half-cell offset"). Points here are ``(x, y)``,
peaks ``(row, col)`` as numpy indexes them.

The decision (not found / uncertain / hard negative / normal) is a host decision, so the (small) score maps are
brought to the host once per frame and everything here is numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["LOCALIZATION_STATES", "Localization", "cell_to_patch", "find_peak", "localize", "patch_to_cell"]

LOCALIZATION_STATES = ("normal", "uncertain", "hard_negative", "not_found")


@dataclass
class Localization:
    """Result: ``scale_index`` of the chosen search patch, ``peak`` (row, col) in its score map, ``max_score``
    (the chosen map's maximum) and ``state`` (one of :data:`LOCALIZATION_STATES`)."""

    scale_index: int
    peak: tuple[float, float]
    max_score: float
    state: str


def cell_to_patch(cells: np.ndarray, stride: float, filter_size: int) -> np.ndarray:
    """Score-map positions ``[..., 2]`` (row, col) -> patch points ``[..., 2]`` (x, y)."""
    rc = np.asarray(cells, dtype=np.float64)
    return (rc[..., ::-1] + (filter_size % 2) / 2.0) * stride


def patch_to_cell(points: np.ndarray, stride: float, filter_size: int) -> np.ndarray:
    """Inverse of :func:`cell_to_patch`: patch points (x, y) -> (row, col)."""
    xy = np.asarray(points, dtype=np.float64)
    return (xy / stride - (filter_size % 2) / 2.0)[..., ::-1]


def find_peak(scores: np.ndarray) -> tuple[int, int, int, float]:
    """``(scale_index, row, col, value)`` of the maximum of ``scores`` ``[S, H, W]`` (first in C order on ties)."""
    flat = int(np.argmax(scores))
    s, r, c = np.unravel_index(flat, scores.shape)
    return int(s), int(r), int(c), float(scores[s, r, c])


def localize(scores: np.ndarray, params: Mapping[str, object], target_size_cells: np.ndarray | None = None,
             prev_target_cell: np.ndarray | None = None) -> Localization:
    """Choose the scale and the peak, and classify the situation.

    Args:
        scores: ``[S, H, W]`` (already pre-processed, e.g. soft-maxed for PrDiMP).
        params: ``advanced_localization`` (bool) and, for it, ``target_not_found_threshold``,
            ``uncertain_threshold``, ``hard_sample_threshold`` (None = off), ``distractor_threshold``,
            ``hard_negative_threshold``, ``target_neighborhood_scale``, ``displacement_scale``.
        target_size_cells: ``(h, w)`` of the target in score cells at the chosen scale (advanced only; pytracking
            uses the chosen scale, so callers with several scales pass a function of it: here the sizes per scale
            ``[S, 2]`` are also accepted).
        prev_target_cell: ``(row, col)`` of the previous target position in the score map (per scale ``[S, 2]``
            accepted).

    Without advanced localisation the state is always "normal" (pytracking returns no flag there).
    Advanced (as pytracking): below ``target_not_found_threshold`` -> not_found; below the optional uncertain /
    hard-sample thresholds -> uncertain / hard_negative; else the neighbourhood of the peak (``scale`` times the
    target size, +1 cell) is masked to 0 and a second peak searched: when it is above ``distractor_threshold``
    times the first, the peak nearer the previous position (within ``displacement_scale * sqrt(H W) / 2`` cells)
    wins with state hard_negative, and if neither or both are near, the first peak with state uncertain; a second
    peak above ``hard_negative_threshold`` times the first (and above the not-found threshold) -> hard_negative.
    """
    s, r, c, m1 = find_peak(scores)
    if not params.get("advanced_localization", False):
        return Localization(s, (float(r), float(c)), m1, "normal")
    if m1 < params["target_not_found_threshold"]:
        return Localization(s, (float(r), float(c)), m1, "not_found")
    unc = params.get("uncertain_threshold")
    if unc is not None and m1 < unc:
        return Localization(s, (float(r), float(c)), m1, "uncertain")
    hs = params.get("hard_sample_threshold")
    if hs is not None and m1 < hs:
        return Localization(s, (float(r), float(c)), m1, "hard_negative")

    height, width = scores.shape[-2:]
    tsz = np.asarray(target_size_cells, dtype=np.float64)
    tsz = tsz[s] if tsz.ndim == 2 else tsz
    neigh = params["target_neighborhood_scale"] * tsz
    top = max(round(r - neigh[0] / 2), 0)
    bottom = min(round(r + neigh[0] / 2 + 1), height)
    left = max(round(c - neigh[1] / 2), 0)
    right = min(round(c + neigh[1] / 2 + 1), width)
    masked = scores[s].copy()
    masked[top:bottom, left:right] = 0
    flat = int(np.argmax(masked))
    r2, c2 = divmod(flat, width)
    m2 = float(masked[r2, c2])

    if m2 > params["distractor_threshold"] * m1:
        prev = np.asarray(prev_target_cell, dtype=np.float64)
        prev = prev[s] if prev.ndim == 2 else prev
        d1 = math.hypot(r - prev[0], c - prev[1])
        d2 = math.hypot(r2 - prev[0], c2 - prev[1])
        thr = params["displacement_scale"] * math.sqrt(height * width) / 2
        if d2 > thr and d1 < thr:
            return Localization(s, (float(r), float(c)), m1, "hard_negative")
        if d2 < thr and d1 > thr:
            return Localization(s, (float(r2), float(c2)), m1, "hard_negative")
        return Localization(s, (float(r), float(c)), m1, "uncertain")
    if m2 > params["hard_negative_threshold"] * m1 and m2 > params["target_not_found_threshold"]:
        return Localization(s, (float(r), float(c)), m1, "hard_negative")
    return Localization(s, (float(r), float(c)), m1, "normal")
