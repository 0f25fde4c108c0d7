"""PrDiMP's box proposals: samples from a Gaussian mixture around a box, with the densities that the
KL-divergence loss (``tracking.models.loss.KLRegression``) needs.

Box parametrisation (pytracking's ``rect_to_rel`` relative to the mean box, then centred on it). For a mean box
``(x0, y0, w0, h0)`` (xywh) with centre ``(cx0, cy0) = (x0 + w0/2, y0 + h0/2)``, a box ``(x, y, w, h)`` with
centre ``(cx, cy)`` has the offset

    d = ((cx - cx0) / w0,  (cy - cy0) / h0,  log(w / w0),  log(h / h0))

i.e. the centre shift in units of the mean box's size and the log size ratio. The mean box is ``d = 0``.
All densities below are densities of ``d`` on R^4 (not of pixel coordinates), so they integrate to 1 over d.

The proposal distribution is an equal-weight mixture of K zero-mean Gaussians with diagonal covariance,
component k having standard deviations ``(c_k, c_k, s_k, s_k)`` for ``proposal_sigma[k] = (c_k, s_k)``;
the ground-truth density is one such Gaussian with ``gt_sigma = (c, s)``. PrDiMP-50's settings:
``proposal_sigma=[(0.05, 0.05), (0.5, 0.5)]``, ``gt_sigma=(0.05, 0.05)``, 128 boxes per frame.

Randomness comes only from the ``numpy.random.Generator`` the caller passes (seeded per sample by the
training pipeline). Arrays are float64 numpy arrays; boxes may have any leading dimensions ``[...]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .geometry import _as_boxes, _check_valid_boxes, box_center

__all__ = ["gauss_density_centered", "gmm_density_centered", "box_to_offsets", "offsets_to_box", "sample_box_gmm"]


def gauss_density_centered(x, std) -> np.ndarray:
    """Elementwise density of N(0, std^2) at x (x and std broadcast): ``exp(-x^2 / (2 std^2)) / (sqrt(2 pi) std)``."""
    x = np.asarray(x, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    return np.exp(-0.5 * (x / std) ** 2) / (math.sqrt(2.0 * math.pi) * std)


def gmm_density_centered(x, std) -> np.ndarray:
    """Density of an equal-weight mixture of zero-mean diagonal Gaussians.

    Args:
        x: ``[..., D]`` points.
        std: ``[D, K]`` standard deviations, column k those of component k.

    Returns:
        ``[...]``: ``mean_k prod_d N(x_d; 0, std[d, k]^2)``.
    """
    x = np.asarray(x, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if std.ndim != 2 or x.ndim == 0 or x.shape[-1] != std.shape[0]:
        raise ValueError(f"gmm_density_centered: `x` must be [..., D] and `std` [D, K], got {x.shape} and {std.shape}")
    return gauss_density_centered(x[..., None], std).prod(axis=-2).mean(axis=-1)


def box_to_offsets(boxes, mean_box) -> np.ndarray:
    """xywh ``boxes [..., 4]`` -> offsets ``d [..., 4]`` relative to ``mean_box`` (broadcast), see the module
    docstring. Boxes need positive sizes."""
    b, m = _as_boxes("boxes", boxes), _as_boxes("mean_box", mean_box)
    _check_valid_boxes("box_to_offsets", "boxes", b)
    _check_valid_boxes("box_to_offsets", "mean_box", m)
    return np.concatenate([(box_center(b) - box_center(m)) / m[..., 2:], np.log(b[..., 2:] / m[..., 2:])], axis=-1)


def offsets_to_box(offsets, mean_box) -> np.ndarray:
    """Inverse of :func:`box_to_offsets`: offsets ``d [..., 4]`` -> xywh boxes ``[..., 4]``."""
    d, m = _as_boxes("offsets", offsets), _as_boxes("mean_box", mean_box)
    size = m[..., 2:] * np.exp(d[..., 2:])
    center = box_center(m) + d[..., :2] * m[..., 2:]
    return np.concatenate([center - 0.5 * size, size], axis=-1)


def _check_sigma_pairs(name: str, sigma, allow_zero: bool) -> np.ndarray:
    arr = np.asarray(sigma, dtype=np.float64)
    if arr.ndim == 1 and name == "gt_sigma":
        arr = arr[None]
    ok = arr.ndim == 2 and arr.shape[0] >= 1 and arr.shape[1] == 2 and np.isfinite(arr).all()
    ok = ok and bool((arr >= 0).all() if allow_zero else (arr > 0).all())
    if not ok:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"sample_box_gmm: `{name}` must be {'a pair' if name == 'gt_sigma' else 'a list of pairs'} "
                         f"(center std, size std) of finite {kind} numbers, got {sigma!r}")
    return arr


def sample_box_gmm(mean_box, proposal_sigma: Sequence[Sequence[float]], gt_sigma: Sequence[float] | None = None,
                   num_samples: int = 1, add_mean_box: bool = False, *,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample boxes around ``mean_box`` from the Gaussian mixture of the module docstring.

    Args:
        mean_box: ``[..., 4]`` xywh, finite with positive size (else ValueError); one mixture per box.
        proposal_sigma: K pairs ``(center std, size std)``, positive.
        gt_sigma: ``(center std, size std)`` of the ground-truth density; None or (0, 0) gives gt density 0.
        num_samples: N >= 0 sampled boxes per mean box.
        add_mean_box: prepend the mean box itself, with proposal density -1 and gt density 1 (the marker of
            pytracking's ML-regression loss), so N + 1 boxes are returned.
        rng: the only source of randomness: first ``rng.integers(K, size=[..., N])`` (the components), then
            ``rng.standard_normal([..., N, 4])``.

    Returns:
        ``(proposals [..., N', 4] xywh, proposal_density [..., N'], gt_density [..., N'])``, N' = N (+ 1): the
        mixture's and the ground truth's densities of each sample's offset d.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"sample_box_gmm: `rng` must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
        raise ValueError(f"sample_box_gmm: `num_samples` must be an int >= 0, got {num_samples!r}")
    mean = _as_boxes("mean_box", mean_box)
    _check_valid_boxes("sample_box_gmm", "mean_box", mean)
    sig = _check_sigma_pairs("proposal_sigma", proposal_sigma, allow_zero=False)  # [K, 2]
    std = np.stack([sig[:, 0], sig[:, 0], sig[:, 1], sig[:, 1]])  # [4, K]
    lead = mean.shape[:-1]
    k = rng.integers(std.shape[1], size=lead + (num_samples,))
    offsets = std.T[k] * rng.standard_normal(lead + (num_samples, 4))  # [..., N, 4]
    proposals = offsets_to_box(offsets, mean[..., None, :])
    proposal_density = gmm_density_centered(offsets, std)
    if gt_sigma is None:
        gt_density = np.zeros(lead + (num_samples,))
    else:
        g = _check_sigma_pairs("gt_sigma", gt_sigma, allow_zero=True)
        if g.shape[0] != 1:
            raise ValueError(f"sample_box_gmm: `gt_sigma` must be one pair (center std, size std), got {gt_sigma!r}")
        c, s = g[0]
        if c == 0 and s == 0:
            gt_density = np.zeros(lead + (num_samples,))
        elif c == 0 or s == 0:
            raise ValueError(f"sample_box_gmm: `gt_sigma` must be both zero (no gt density) or both positive, "
                             f"got {gt_sigma!r}")
        else:
            gt_density = gauss_density_centered(offsets, np.array([c, c, s, s])).prod(axis=-1)
    if add_mean_box:
        proposals = np.concatenate([mean[..., None, :], proposals], axis=-2)
        proposal_density = np.concatenate([np.full(lead + (1,), -1.0), proposal_density], axis=-1)
        gt_density = np.concatenate([np.ones(lead + (1,)), gt_density], axis=-1)
    return proposals, proposal_density, gt_density
