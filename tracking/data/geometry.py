"""The numpy geometry of DiMP/ATOM training-sample processing: boxes, jitter, crop windows, labels, proposals.

Conventions (the same as ``tracking.data.sequence``):

* Boxes are float64 ``(x, y, w, h)`` ("xywh") in continuous pixel coordinates: pixel (i, j) covers
  ``[j, j+1) x [i, i+1)``, so its centre is ``(j + 0.5, i + 0.5)``, and ``(x, y)`` is the box's top-left
  corner. "xyxy" is ``(x1, y1, x2, y2) = (x, y, x + w, y + h)`` in the same coordinates.
* A crop window is an xyxy rectangle in these coordinates (square for the windows ``crop_window`` makes);
  it may extend beyond the image. Cropping window ``(x1, y1, x2, y2)`` to an ``S x S`` output maps the
  output continuous coordinate ``(u, v)`` to the source coordinate::

      x = x1 + u * (x2 - x1) / S,    y = y1 + v * (y2 - y1) / S

  so output pixel q, whose centre is ``u = q + 0.5``, samples the source at index coordinate ``x - 0.5``
  (index coordinate j is the centre of column j): the half-pixel convention of cv2.warpAffine,
  grid_sample(align_corners=False) and ``tracking.ops.crop_and_resize``, whose boxes are exactly such
  windows.
* Unlike pytracking, which rounds crop windows to whole pixels, windows here stay continuous: the crop
  is then exactly the documented window, and the box mapping into the crop (``box_to_crop``) is exact
  rather than off by up to half a pixel of rounding.
* A *mirrored* window has ``x1 > x2``: the same formula then maps output column u = 0 to the window's right
  edge, i.e. the crop is the horizontal mirror image (``np.fliplr``) of the crop of the window with x1 and
  x2 swapped (as ``tracking.ops.crop_and_resize`` treats ``x2 < x1``). Processing marks horizontally
  flipped frames this way (``mirror_windows``). Functions accept mirrored windows only when called with
  ``allow_mirrored=True``; otherwise (and always for ``y2 <= y1`` or ``x2 == x1``) such a window is an error.

Every function takes arrays with arbitrary leading dimensions ``[...]`` where that is natural and works
on them without Python loops per box. Randomness only comes from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "xywh_to_xyxy", "xyxy_to_xywh", "box_center", "box_iou", "jitter_box", "crop_window",
    "window_to_affine", "affine_to_cv2", "box_to_crop", "box_from_crop", "mirror_windows", "window_is_mirrored",
    "unmirror_windows", "label_size", "gaussian_label", "sample_proposals",
]


def _as_boxes(name: str, box) -> np.ndarray:
    arr = np.asarray(box, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"`{name}` must have shape [..., 4], got {arr.shape}")
    return arr


def _check_valid_boxes(fn: str, name: str, box: np.ndarray) -> None:
    """Raise ValueError unless every xywh box is finite with positive width and height."""
    finite = np.isfinite(box).all(axis=-1)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(f"{fn}: `{name}` has a non-finite box {box[tuple(bad)].tolist()} at index "
                         f"{bad.tolist()}; filter invalid boxes before calling")
    positive = (box[..., 2] > 0) & (box[..., 3] > 0)
    if not positive.all():
        bad = np.argwhere(~positive)[0]
        raise ValueError(f"{fn}: `{name}` has a box with non-positive width or height "
                         f"{box[tuple(bad)].tolist()} at index {bad.tolist()}; filter invalid boxes before calling")


def _check_valid_windows(fn: str, window: np.ndarray, allow_mirrored: bool = False) -> None:
    """Raise ValueError unless every xyxy window is finite with y2 > y1 and x2 > x1 (or, with
    ``allow_mirrored``, x2 != x1: a mirrored window has x2 < x1)."""
    if allow_mirrored:
        window = unmirror_windows(window)[0]
    _check_valid_boxes(fn, "window", xyxy_to_xywh(window))


def _check_output_size(fn: str, output_size) -> float:
    if not np.isscalar(output_size) or not np.isfinite(output_size) or output_size <= 0:
        raise ValueError(f"{fn}: `output_size` must be a positive number, got {output_size!r}")
    return float(output_size)


# ----------------------------------------------------------------------------------------------- boxes


def xywh_to_xyxy(box) -> np.ndarray:
    """[..., 4] xywh -> [..., 4] xyxy ``(x, y, x + w, y + h)``."""
    b = _as_boxes("box", box)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(box) -> np.ndarray:
    """[..., 4] xyxy -> [..., 4] xywh ``(x1, y1, x2 - x1, y2 - y1)``."""
    b = _as_boxes("box", box)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def box_center(box) -> np.ndarray:
    """[..., 4] xywh -> [..., 2] centre ``(x + w/2, y + h/2)``."""
    b = _as_boxes("box", box)
    return b[..., :2] + 0.5 * b[..., 2:]


def box_iou(a, b, pixel_inclusive: bool = False) -> np.ndarray:
    """Intersection over union of xywh boxes, elementwise over broadcast leading dimensions: the one IoU of
    the project (training proposals and evaluation metrics).

    Args:
        a, b: [..., 4] xywh boxes; the leading dimensions broadcast against each other.
        pixel_inclusive: False (default): continuous coordinates (a box covers ``[x, x + w) x [y, y + h)``),
            as pytracking and the GOT-10k toolkit compute it. True: the OTB MATLAB toolkit's ``calcRectInt``
            bit for bit, for its integer-pixel boxes covering pixels ``x .. x + w - 1``: intersection width
            ``max(0, min(xa + wa - 1, xb + wb - 1) - max(xa, xb) + 1)``, union ``wa*ha + wb*hb - inter``,
            evaluated in that order with MATLAB's NaN-ignoring min / max (``np.fmin`` / ``np.fmax``), no
            clamping and no validity handling (the caller masks invalid boxes, as the toolkit does). The -1
            and +1 cancel, so for valid boxes both give the same IoU up to rounding; the inclusive form
            exists to reproduce the toolkit's threshold decisions to the last bit.

    Returns:
        [...] float64 IoU. Continuous: in [0, 1]; boxes with non-positive width or height have area 0; the IoU
        is 0 whenever the union is 0 or a coordinate is NaN, so the result is never NaN; areas come from the
        xyxy corners, so a box's IoU with itself is exactly 1. Inclusive: the toolkit's raw ratio.
    """
    if pixel_inclusive:
        a, b = _as_boxes("a", a), _as_boxes("b", b)
        iw = np.fmax(0.0, np.fmin(a[..., 0] + a[..., 2] - 1, b[..., 0] + b[..., 2] - 1)
                     - np.fmax(a[..., 0], b[..., 0]) + 1)
        ih = np.fmax(0.0, np.fmin(a[..., 1] + a[..., 3] - 1, b[..., 1] + b[..., 3] - 1)
                     - np.fmax(a[..., 1], b[..., 1]) + 1)
        inter = iw * ih
        with np.errstate(invalid="ignore", divide="ignore"):
            return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)
    a = xywh_to_xyxy(a)
    b = xywh_to_xyxy(b)
    wa = np.maximum(a[..., 2] - a[..., 0], 0.0)
    ha = np.maximum(a[..., 3] - a[..., 1], 0.0)
    wb = np.maximum(b[..., 2] - b[..., 0], 0.0)
    hb = np.maximum(b[..., 3] - b[..., 1], 0.0)
    iw = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0)
    ih = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0)
    # iw <= min(wa, wb) also in floating point, so a degenerate box intersects nothing.
    inter = iw * ih
    union = wa * ha + wb * hb - inter
    with np.errstate(invalid="ignore"):
        return np.divide(inter, union, out=np.zeros(np.shape(union)), where=union > 0)


def jitter_box(box, center_jitter_factor: float, scale_jitter_factor: float,
               rng: np.random.Generator) -> np.ndarray:
    """Randomly move and rescale boxes, as DiMP/ATOM do to the search-frame box before cropping.

    Args:
        box: [..., 4] xywh.
        center_jitter_factor, scale_jitter_factor: >= 0.
        rng: the source of randomness (draws standard normals [..., 2], then uniforms [..., 2]).

    Returns:
        [..., 4] xywh: ``size' = size * exp(N(0, 1)[2] * scale_jitter_factor)``,
        ``max_offset = sqrt(w' * h') * center_jitter_factor``,
        ``centre' = centre + max_offset * (U[0, 1)[2] - 0.5)``, the box of size size' around centre'.
    """
    b = _as_boxes("box", box)
    lead = b.shape[:-1]
    size = b[..., 2:] * np.exp(rng.standard_normal(lead + (2,)) * scale_jitter_factor)
    max_offset = np.sqrt(size[..., 0] * size[..., 1]) * center_jitter_factor
    center = box_center(b) + max_offset[..., None] * (rng.random(lead + (2,)) - 0.5)
    return np.concatenate([center - 0.5 * size, size], axis=-1)


# -------------------------------------------------------------------------------------- crop windows


def crop_window(box, search_area_factor: float) -> np.ndarray:
    """The square search window around boxes.

    Args:
        box: [..., 4] xywh, finite with positive width and height (else ValueError: callers filter).
        search_area_factor: > 0.

    Returns:
        [..., 4] xyxy window of side ``sqrt(w * h) * search_area_factor`` centred at the box centre
        (continuous: not rounded to whole pixels; may extend beyond the image).
    """
    b = _as_boxes("box", box)
    _check_valid_boxes("crop_window", "box", b)
    if not np.isfinite(search_area_factor) or search_area_factor <= 0:
        raise ValueError(f"crop_window: `search_area_factor` must be positive, got {search_area_factor!r}")
    half = 0.5 * np.sqrt(b[..., 2] * b[..., 3]) * search_area_factor
    center = box_center(b)
    return np.concatenate([center - half[..., None], center + half[..., None]], axis=-1)


def window_to_affine(window, output_size: float, allow_mirrored: bool = False) -> np.ndarray:
    """The output->source affine map of cropping ``window`` to an ``S x S`` output.

    Args:
        window: [..., 4] xyxy, finite with x2 > x1 and y2 > y1 (else ValueError); with ``allow_mirrored``
            also x2 < x1 (a mirrored window, module docstring: then ``sx < 0``).
        output_size: S > 0.

    Returns:
        [..., 2, 3] float64 M with ``(x, y) = M @ (u, v, 1)`` in continuous coordinates, i.e.
        ``[[sx, 0, x1], [0, sy, y1]]`` with ``sx = (x2 - x1) / S``, ``sy = (y2 - y1) / S``.
    """
    w = _as_boxes("window", window)
    _check_valid_windows("window_to_affine", w, allow_mirrored)
    size = _check_output_size("window_to_affine", output_size)
    m = np.zeros(w.shape[:-1] + (2, 3))
    m[..., 0, 0] = (w[..., 2] - w[..., 0]) / size
    m[..., 1, 1] = (w[..., 3] - w[..., 1]) / size
    m[..., 0, 2] = w[..., 0]
    m[..., 1, 2] = w[..., 1]
    return m


def affine_to_cv2(matrix) -> np.ndarray:
    """Convert a continuous-coordinate output->source affine map to cv2's pixel-centre convention.

    Args:
        matrix: [..., 2, 3] M as returned by ``window_to_affine`` (any affine map works).

    Returns:
        [..., 2, 3] matrix for ``cv2.warpAffine(src, M_cv2, (S, S), flags=INTER_LINEAR | WARP_INVERSE_MAP)``,
        where cv2 pixel centres are at integer coordinates: output pixel q is continuous ``q + 0.5`` and
        source index coordinate ``x - 0.5``, so the translation becomes ``t + 0.5 * (row sum of the
        linear part) - 0.5``; for ``window_to_affine`` output ``[[s, 0, x1 + s/2 - 0.5], [0, s, y1 + s/2 - 0.5]]``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (2, 3):
        raise ValueError(f"affine_to_cv2: `matrix` must have shape [..., 2, 3], got {m.shape}")
    out = m.copy()
    out[..., 2] = m[..., 2] + 0.5 * (m[..., 0] + m[..., 1]) - 0.5
    return out


def box_to_crop(box, window, output_size: float, allow_mirrored: bool = False) -> np.ndarray:
    """Map xywh boxes from source coordinates into the coordinates of their ``S x S`` crop.

    Args:
        box: [..., 4] xywh, finite with positive size (else ValueError).
        window: [..., 4] xyxy crop window (broadcasts with ``box``), finite with positive size; with
            ``allow_mirrored`` it may be mirrored (x2 < x1, module docstring).
        output_size: S > 0.

    Returns:
        [..., 4] xywh in crop coordinates: ``x' = (x - x1) * S / (x2 - x1)``, ``w' = w * S / (x2 - x1)``
        (likewise for y, h). The window itself maps to ``(0, 0, S, S)``. For a mirrored window (x1 > x2) the
        box's right edge maps to the crop box's left edge: ``x' = (x1 - x - w) * S / (x1 - x2)``,
        ``w' = w * S / (x1 - x2)`` (positive).
    """
    b = _as_boxes("box", box)
    w = _as_boxes("window", window)
    _check_valid_boxes("box_to_crop", "box", b)
    _check_valid_windows("box_to_crop", w, allow_mirrored)
    size = _check_output_size("box_to_crop", output_size)
    scale = size / (w[..., 2:] - w[..., :2])  # negative sx for a mirrored window
    # the corner mapped to the crop box's top-left: (x, y) normally, (x + w, y) through a mirrored window
    corner = b[..., :2] + np.where(scale < 0, b[..., 2:], 0.0)
    return np.concatenate([(corner - w[..., :2]) * scale, b[..., 2:] * np.abs(scale)], axis=-1)


def box_from_crop(box, window, output_size: float, allow_mirrored: bool = False) -> np.ndarray:
    """Inverse of ``box_to_crop``: map xywh boxes in crop coordinates back to source coordinates.

    Args:
        box: [..., 4] xywh in crop coordinates (not validated: predictions pass through as they are).
        window: [..., 4] xyxy crop window (broadcasts with ``box``), finite with positive size; with
            ``allow_mirrored`` it may be mirrored (x2 < x1).
        output_size: S > 0.

    Returns:
        [..., 4] xywh: ``x = x1 + x' * (x2 - x1) / S``, ``w = w' * (x2 - x1) / S`` (likewise for y, h); for
        a mirrored window ``x = x1 - (x' + w') * (x1 - x2) / S`` and ``w = w' * (x1 - x2) / S``.
    """
    b = _as_boxes("box", box)
    w = _as_boxes("window", window)
    _check_valid_windows("box_from_crop", w, allow_mirrored)
    size = _check_output_size("box_from_crop", output_size)
    scale = (w[..., 2:] - w[..., :2]) / size
    corner = b[..., :2] + np.where(scale < 0, b[..., 2:], 0.0)
    return np.concatenate([w[..., :2] + corner * scale, b[..., 2:] * np.abs(scale)], axis=-1)


def window_is_mirrored(window) -> np.ndarray:
    """[...] bool for [..., 4] xyxy windows: True where the window is mirrored (x2 < x1)."""
    w = _as_boxes("window", window)
    return w[..., 2] < w[..., 0]


def mirror_windows(window, flip) -> np.ndarray:
    """[..., 4] xyxy windows with x1 and x2 swapped where ``flip`` ([...] bool, broadcasts) is True: the
    window of the horizontally mirrored crop (module docstring). Mirroring twice gives the window back."""
    w = _as_boxes("window", window)
    f = np.asarray(flip, dtype=bool)
    x1, x2 = np.where(f, w[..., 2], w[..., 0]), np.where(f, w[..., 0], w[..., 2])
    y1, y2 = np.broadcast_arrays(w[..., 1], w[..., 3], x1)[:2]
    return np.stack([x1, y1, x2, y2], axis=-1)


def unmirror_windows(window) -> tuple[np.ndarray, np.ndarray]:
    """``(windows [..., 4] with x1 <= x2, mirrored [...] bool)`` for [..., 4] xyxy windows, possibly mirrored:
    ``mirror_windows(*unmirror_windows(w))`` is ``w``."""
    w = _as_boxes("window", window)
    mirrored = window_is_mirrored(w)
    return mirror_windows(w, mirrored), mirrored


# ----------------------------------------------------------------------------------------------- labels


def label_size(feature_size: int, kernel_size: int, end_pad_if_even: bool = True) -> int:
    """Side L of the label map: ``feature_size + (kernel_size + 1) % 2`` if ``end_pad_if_even``, else
    ``feature_size`` (an even filter kernel makes the correlation output one cell larger, e.g. 18 + 1 = 19)."""
    return int(feature_size) + ((int(kernel_size) + 1) % 2 if end_pad_if_even else 0)


def gaussian_label(center_crop_xy, output_size: float, feature_size: int, kernel_size: int,
                   sigma_factor: float, end_pad_if_even: bool = True, density: bool = False) -> np.ndarray:
    """DiMP's Gaussian classification label on the filter's output grid (or, with ``density``, PrDiMP's
    Gaussian label density on it).

    Args:
        center_crop_xy: [..., 2] target centre ``(cx, cy)`` in crop coordinates (continuous, 0..S).
        output_size: S, the crop side in pixels (e.g. 288).
        feature_size: side of the feature map (e.g. 18), so the stride is ``S / feature_size`` (16).
        kernel_size: side of the filter kernel (e.g. 4).
        sigma_factor: Gaussian std as a fraction of S (DiMP: ``1/4 / search_area_factor``, e.g. 0.05);
            ``sigma_factor * feature_size`` feature cells.
        end_pad_if_even: see ``label_size``.
        density: False: the peak is 1 (DiMP's label). True: the normal density in feature-cell units, i.e.
            the label divided by ``2 pi sigma_c^2`` with ``sigma_c = sigma_factor * feature_size`` cells, so it
            sums to ~1 over a grid that holds the Gaussian (pytracking's ``density=True``).

    Returns:
        [..., L, L] float64, L = ``label_size(feature_size, kernel_size, end_pad_if_even)``, indexed
        [row (y), column (x)]. Cell k (0..L-1) has the crop coordinate
        ``x_k = (k - (L - 1) / 2) * stride + S / 2`` (the grid is centred on the crop centre), and
        ``label[..., i, j] = exp(-0.5 * ((x_j - cx)^2 + (x_i - cy)^2) / (sigma_factor * S)^2)``.

    Grid convention against pytracking's ``gaussian_label_function`` (its cell k sits at the crop coordinate
    where its formula peaks): with an odd kernel, or an even one and ``end_pad_if_even`` (every DiMP / PrDiMP /
    SuperDiMP setting: 19x19 or 23x23 maps, cell k at ``k * stride``), the grids are the same, and so are sigma
    and the density's scale. They differ for an even kernel with ``end_pad_if_even=False``: pytracking keeps its
    half-cell shift for even kernels there, so its cell k sits at ``k * stride``, while this grid stays centred
    on the crop (cell k at ``(k + 0.5) * stride``): half a stride apart. The target centre differs too where
    pytracking's crop boxes do: its windows are rounded to whole pixels, and DiMPProcessing's crop boxes put the
    jittered box's centre at ``(S - 1) / 2`` rather than ``S / 2``.
    """
    c = np.asarray(center_crop_xy, dtype=np.float64)
    if c.ndim == 0 or c.shape[-1] != 2:
        raise ValueError(f"gaussian_label: `center_crop_xy` must have shape [..., 2], got {c.shape}")
    size = _check_output_size("gaussian_label", output_size)
    if feature_size <= 0 or kernel_size <= 0:
        raise ValueError(f"gaussian_label: `feature_size` and `kernel_size` must be positive, got "
                         f"{feature_size} and {kernel_size}")
    if not np.isfinite(sigma_factor) or sigma_factor <= 0:
        raise ValueError(f"gaussian_label: `sigma_factor` must be positive, got {sigma_factor!r}")
    n = label_size(feature_size, kernel_size, end_pad_if_even)
    stride = size / feature_size
    grid = (np.arange(n) - (n - 1) / 2) * stride + size / 2
    sigma = sigma_factor * size
    gx = np.exp(-0.5 * ((grid - c[..., 0, None]) / sigma) ** 2)  # [..., L]
    gy = np.exp(-0.5 * ((grid - c[..., 1, None]) / sigma) ** 2)
    if density:
        gx = gx / (np.sqrt(2.0 * np.pi) * sigma_factor * feature_size)
        gy = gy / (np.sqrt(2.0 * np.pi) * sigma_factor * feature_size)
    return gy[..., :, None] * gx[..., None, :]


# -------------------------------------------------------------------------------------------- proposals


def sample_proposals(box, num_proposals: int, sigma_factors: Sequence[float], min_iou: float,
                     rng: np.random.Generator, candidates_per_round: int = 16,
                     max_rounds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """IoU-Net training proposals: random perturbations of ``box`` with IoU >= ``min_iou``.

    Perturbation model: each proposal picks a sigma factor s uniformly from ``sigma_factors``; a
    candidate for it is, with r = sqrt(w * h) of the box and independent N(0, 1) draws,
    ``centre' = centre + N(0, 1)[2] * s * r`` and ``size' = size * exp(N(0, 1)[2] * s)``.

    Acceptance: in each round every proposal still missing draws ``candidates_per_round`` candidates at
    once and takes the first with ``box_iou(candidate, box) >= min_iou``; those with none get
    ``s *= 0.9`` and are redrawn in the next round. After ``max_rounds`` rounds the still-missing
    proposals fall back to the box itself (IoU 1). So the work is bounded by
    ``num_proposals * candidates_per_round * max_rounds`` candidates, in ``max_rounds`` vectorised steps.

    Args:
        box: [..., 4] xywh, finite with positive size (else ValueError).
        num_proposals: P >= 0 proposals per box.
        sigma_factors: non-empty list of positive sigma factors (e.g. ATOM's 0.01, 0.05, 0.1, 0.2, 0.3).
        min_iou: minimum IoU with the box.
        rng: the source of randomness.
        candidates_per_round, max_rounds: >= 1, see above.

    Returns:
        (proposals [..., P, 4] xywh, ious [..., P]) with ``ious == box_iou(proposals, box[..., None, :])``
        exactly (recomputed from the returned proposals).
    """
    b = _as_boxes("box", box)
    _check_valid_boxes("sample_proposals", "box", b)
    sigmas = np.asarray(sigma_factors, dtype=np.float64)
    if sigmas.ndim != 1 or sigmas.size == 0 or not (np.isfinite(sigmas) & (sigmas > 0)).all():
        raise ValueError(f"sample_proposals: `sigma_factors` must be a non-empty list of positive numbers, "
                         f"got {sigma_factors!r}")
    if num_proposals < 0 or candidates_per_round < 1 or max_rounds < 1:
        raise ValueError(f"sample_proposals: need num_proposals >= 0, candidates_per_round >= 1 and "
                         f"max_rounds >= 1, got {num_proposals}, {candidates_per_round}, {max_rounds}")
    lead = b.shape[:-1]
    flat = np.broadcast_to(b[..., None, :], lead + (num_proposals, 4)).reshape(-1, 4)  # one target box each
    n = flat.shape[0]
    sigma = sigmas[rng.integers(sigmas.size, size=n)]
    proposals = flat.copy()  # the fallback
    missing = np.arange(n)
    for _ in range(max_rounds):
        if missing.size == 0:
            break
        target = flat[missing]  # [M, 4]
        s = sigma[missing, None, None]  # [M, 1, 1]
        r = np.sqrt(target[:, 2] * target[:, 3])[:, None, None]
        noise = rng.standard_normal((missing.size, candidates_per_round, 4))
        center = box_center(target)[:, None, :] + noise[..., :2] * s * r
        size = target[:, None, 2:] * np.exp(noise[..., 2:] * s)
        candidates = np.concatenate([center - 0.5 * size, size], axis=-1)  # [M, C, 4]
        ok = box_iou(candidates, target[:, None, :]) >= min_iou  # [M, C]
        found = ok.any(axis=1)
        first = ok.argmax(axis=1)
        proposals[missing[found]] = candidates[found, first[found]]
        sigma[missing[~found]] *= 0.9
        missing = missing[~found]
    proposals = proposals.reshape(lead + (num_proposals, 4))
    return proposals, box_iou(proposals, b[..., None, :])
