"""First-frame augmentation of the DiMP-family trackers (pytracking's ``generate_init_samples``).

The first frame gives several training samples: the plain patch (always first), shifted patches, a mirrored
one, blurred ones, rotated ones (each of the last three with a random shift), then, on the classification
features, copies of the plain sample with channel dropout.

Coordinates: patch coordinates are continuous (patch pixel ``(r, q)`` covers ``[q, q+1) x [r, r+1)``), points
``(x, y)``, shifts ``(dx, dy)`` in patch pixels: a shift moves the *content* of the patch, so the target box in
the patch moves by ``+shift``. Every sample is rendered straight from the frame (no intermediate expanded patch
as in pytracking): output pixel ``p`` shows the frame at ``center + scale * A(p - out/2 - shift)`` with ``A`` the
identity, the mirror ``x -> -x`` or the inverse of a rotation. Blur is a separable Gaussian (half size
``ceil(2 sigma)``, as pytracking) applied to a patch rendered with a margin, so the kept pixels never see
padding. Outside the frame the border is replicated.

Randomness: a ``numpy.random.Generator`` (the random shifts, the dropout masks), so a seeded tracker is
deterministic on any device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "AUGMENTATION_KEYS",
    "AugTransform",
    "feature_dropout",
    "plan_transforms",
    "render_transforms",
    "transform_boxes",
]

#: the keys of the ``augmentation`` parameter
AUGMENTATION_KEYS = ("shift", "relativeshift", "fliplr", "blur", "rotate", "dropout")


@dataclass(frozen=True)
class AugTransform:
    """One augmented sample: ``kind`` is identity | shift | fliplr | blur | rotate; ``shift`` ``(dx, dy)`` in patch
    pixels; ``sigma`` ``(sx, sy)`` for blur; ``angle`` in degrees for rotate (counter-clockwise as displayed)."""

    kind: str
    shift: tuple[float, float] = (0.0, 0.0)
    sigma: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0


def _pair(value: float | Sequence[float], what: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if len(value) != 2:
        raise ValueError(f"augmentation {what}: expected a number or a pair, got {value!r}")
    return float(value[0]), float(value[1])


def plan_transforms(augmentation: Mapping[str, object], sample_size: Sequence[float], random_shift_factor: float,
                    rng: np.random.Generator) -> list[AugTransform]:
    """The transforms, in pytracking's order: identity, shift, relativeshift, fliplr, blur, rotate.

    Args:
        augmentation: the ``augmentation`` parameter: ``shift`` (list of (dx, dy) pixels), ``relativeshift``
            (list of (dx, dy) in units of half the sample size), ``fliplr`` (bool), ``blur`` (list of sigmas,
            each a number or (sx, sy)), ``rotate`` (list of degrees), ``dropout`` ((num, prob): used by
            :func:`feature_dropout`, not here). Pairs are (x, y) (pytracking writes (y, x); its defaults are
            symmetric).
        sample_size: ``(w, h)`` of the patch in pixels.
        random_shift_factor: fliplr/blur/rotate samples get a shift uniform in ``+-factor/2 * sample_size``.
        rng: draws the random shifts.
    """
    unknown = sorted(set(augmentation) - set(AUGMENTATION_KEYS))
    if unknown:
        raise ValueError(f"augmentation: unknown key(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(AUGMENTATION_KEYS)}")
    size = np.asarray(sample_size, dtype=np.float64)

    def rand_shift() -> tuple[float, float]:
        if random_shift_factor <= 0:
            return 0.0, 0.0
        s = (rng.random(2) - 0.5) * size * random_shift_factor
        return float(s[0]), float(s[1])

    out = [AugTransform("identity")]
    out += [AugTransform("shift", shift=_pair(s, "shift")) for s in augmentation.get("shift", []) or []]
    for s in augmentation.get("relativeshift", []) or []:
        rel = np.asarray(_pair(s, "relativeshift")) * size / 2
        out.append(AugTransform("shift", shift=(float(rel[0]), float(rel[1]))))
    if augmentation.get("fliplr", False):
        out.append(AugTransform("fliplr", shift=rand_shift()))
    for sigma in augmentation.get("blur", []) or []:
        out.append(AugTransform("blur", shift=rand_shift(), sigma=_pair(sigma, "blur")))
    for angle in augmentation.get("rotate", []) or []:
        out.append(AugTransform("rotate", shift=rand_shift(), angle=float(angle)))
    return out


def _blur_half_size(sigma: float) -> int:
    return math.ceil(2 * sigma)


def _gauss_kernel(sigma: float, device: torch.device, dtype: torch.dtype) -> Tensor:
    r = _blur_half_size(sigma)
    if r == 0:
        return torch.ones(1, device=device, dtype=dtype)
    x = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def render_transforms(image: Tensor, center: Sequence[float], scale: float, out_size: Sequence[int],
                      transforms: Sequence[AugTransform]) -> Tensor:
    """The augmented patches ``[T, 3, h, w]`` of ``image`` ``[1, 3, H, W]``.

    Args:
        center: ``(x, y)`` frame point at the centre of the plain patch (continuous frame coordinates).
        scale: frame pixels per patch pixel.
        out_size: ``(h, w)``.
    """
    h, w = int(out_size[0]), int(out_size[1])
    margin = max([_blur_half_size(max(t.sigma)) for t in transforms if t.kind == "blur"], default=0)
    hh, ww = h + 2 * margin, w + 2 * margin
    dev, dt = image.device, image.dtype
    # centred patch coordinates of the pixel centres of the (margin-extended) output, [hh, ww, 2] (x, y)
    ys = torch.arange(hh, device=dev, dtype=dt) + 0.5 - margin - h / 2
    xs = torch.arange(ww, device=dev, dtype=dt) + 0.5 - margin - w / 2
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)

    mats = np.zeros((len(transforms), 2, 3))
    for i, t in enumerate(transforms):
        a = np.eye(2)
        if t.kind == "fliplr":
            a = np.diag([-1.0, 1.0])
        elif t.kind == "rotate":
            th = math.radians(t.angle)
            # content rotated counter-clockwise on screen (y down): sample at the inverse rotation
            a = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        # frame = center + scale * a @ (p - shift)
        mats[i, :, :2] = scale * a
        mats[i, :, 2] = np.asarray(center) - scale * a @ np.asarray(t.shift)
    m = torch.as_tensor(mats, device=dev, dtype=dt)
    pts = torch.einsum("tij,hwj->thwi", m[:, :, :2], grid) + m[:, None, None, :, 2]
    size = torch.tensor([image.shape[-1], image.shape[-2]], device=dev, dtype=dt)
    norm = pts * (2.0 / size) - 1.0  # grid_sample, align_corners=False: continuous x -> 2x/W - 1
    patches = F.grid_sample(image.expand(len(transforms), -1, -1, -1), norm, mode="bilinear",
                            padding_mode="border", align_corners=False)
    out = []
    for i, t in enumerate(transforms):
        p = patches[i:i + 1]
        if t.kind == "blur":
            ky = _gauss_kernel(t.sigma[1], dev, dt)
            kx = _gauss_kernel(t.sigma[0], dev, dt)
            c = p.shape[1]
            p = F.conv2d(p, ky.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(ky.numel() // 2, 0), groups=c)
            p = F.conv2d(p, kx.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, kx.numel() // 2), groups=c)
        out.append(p[..., margin:margin + h, margin:margin + w])
    return torch.cat(out, dim=0)


def transform_boxes(box: Sequence[float], transforms: Sequence[AugTransform], out_size: Sequence[int]) -> np.ndarray:
    """Target boxes ``[T, 4]`` xywh in each augmented patch, given the target ``box`` (xywh) in the plain patch.

    Shifts move the box; the mirror mirrors it about the patch centre; rotation and blur keep it (as pytracking,
    which keeps the axis-aligned box of a rotated sample)."""
    b = np.asarray(box, dtype=np.float64)
    w = float(out_size[1])
    out = np.repeat(b[None], len(transforms), axis=0)
    for i, t in enumerate(transforms):
        if t.kind == "fliplr":
            out[i, 0] = w - b[0] - b[2]
        out[i, :2] += t.shift
    return out


def feature_dropout(feat: Tensor, num: int, prob: float, rng: np.random.Generator) -> Tensor:
    """``num`` copies of ``feat`` ``[1, C, H, W]`` with channel dropout (``F.dropout2d`` in training mode: a
    channel is zeroed with probability ``prob``, the others scaled by ``1 / (1 - prob)``); ``[num, C, H, W]``.
    The masks come from ``rng``."""
    if num <= 0:
        return feat[:0]
    if not 0 <= prob < 1:
        raise ValueError(f"augmentation dropout: probability must be in [0, 1), got {prob}")
    keep = (rng.random((num, feat.shape[1])) >= prob).astype(np.float32) / (1.0 - prob)
    mask = torch.as_tensor(keep, device=feat.device, dtype=feat.dtype).reshape(num, -1, 1, 1)
    return feat * mask
