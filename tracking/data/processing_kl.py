"""The PrDiMP / SuperDiMP parts of processing: label density maps and KL-regression box proposals.

Both work in crop coordinates (xywh, continuous, tracking.data.geometry) on the target boxes of a frame set,
after any horizontal flip (the boxes are those of the crops the network sees).

* Label densities (pytracking's ``KLDiMPProcessing._generate_label_density``): the Gaussian label of
  ``geometry.gaussian_label`` as a density (``density=True``: normal density in feature-cell units), then
  ``(1 - uni_weight) * g + uni_weight / L^2`` (a uniform part), then zeroed where not above ``threshold``,
  then, with ``normalize``, divided by its sum (a map whose sum is not above 0.01 becomes uniform,
  ``1 / L^2``), then multiplied by ``1 - shrink``. PrDiMP normalises; SuperDiMP does not. pytracking's
  ``interp_factor`` (a finer density grid) is not supported: no setting uses it.
* KL proposals (pytracking's ``KLDiMPProcessing._generate_proposals``): ``num_proposals`` boxes per test
  frame drawn from the Gaussian mixture of ``proposal_sigma`` around the target box, with their proposal and
  ground-truth densities: tracking.data.proposals.sample_box_gmm (whose docstring gives the model), called
  by tracking.data.processing.make_record on the test frames' crop boxes.
"""

from __future__ import annotations

import numpy as np

from . import geometry

__all__ = ["label_density"]


def label_density(center_crop_xy, output_size: float, feature_size: int, kernel_size: int, sigma_factor: float,
                  normalize: bool = False, threshold: float = 0.0, uni_weight: float = 0.0,
                  shrink: float = 0.0) -> np.ndarray:
    """PrDiMP's label density maps (module docstring).

    Args:
        center_crop_xy: [..., 2] target centres ``(cx, cy)`` in crop coordinates.
        output_size, feature_size, kernel_size, sigma_factor: as for ``geometry.gaussian_label`` (its grid,
            with ``end_pad_if_even``: L = 19 for DiMP's 18 / 4).
        normalize: divide each map by its sum (uniform where the sum is <= 0.01).
        threshold: values not above it become 0 (>= 0).
        uni_weight: weight of the uniform part, in [0, 1].
        shrink: the maps are scaled by ``1 - shrink``, in [0, 1).

    Returns:
        [..., L, L] float64.
    """
    if not 0.0 <= uni_weight <= 1.0 or not 0.0 <= shrink < 1.0 or not threshold >= 0.0:
        raise ValueError(f"label_density: need 0 <= uni_weight <= 1, 0 <= shrink < 1 and threshold >= 0, got "
                         f"{uni_weight!r}, {shrink!r}, {threshold!r}")
    g = geometry.gaussian_label(center_crop_xy, output_size, feature_size, kernel_size, sigma_factor, density=True)
    cells = g.shape[-1] * g.shape[-2]
    g = (1.0 - uni_weight) * g + uni_weight / cells
    g = np.where(g > threshold, g, 0.0)
    if normalize:
        total = g.sum(axis=(-2, -1), keepdims=True)
        valid = total > 0.01
        g = np.where(valid, g / np.where(valid, total, 1.0), 1.0 / cells)
    return g * (1.0 - shrink)
