"""Procedural synthetic tracking videos, written as real JPEG sequences in the layouts of GOT-10k and LaSOT.

Tests, benchmarks and demo configs train on these instead of the real datasets. Everything is a pure
function of ``(SyntheticSpec, sequence index)``: sequence ``i`` draws all its randomness from
``np.random.default_rng((spec.seed, i))``, so the same spec gives byte-identical annotation files and
identical frames (and, with the same OpenCV build, identical JPEG files).

Content of one sequence (``T = spec.num_frames`` frames of ``spec.height x spec.width`` BGR pixels):

- a textured background (multi-octave smooth noise with a random palette, a colour gradient, blended
  rectangles, circles and lines), larger than the frame and seen through a slowly panning camera;
- one target: an axis-aligned ellipse or rectangle with its own texture (noise, stripes, checker or spots in
  a saturated colour; ellipses are shaded), moving with a damped random-walk velocity and changing scale and
  aspect ratio smoothly. It may be truncated by up to ~35 % at the image border;
- 0-2 distractors (other textured shapes) moving behind the target;
- with probability ``occlusion_prob``: an occluder rectangle that sweeps across the target for a few frames,
  in front of it, hiding at most ~60 % of it;
- with probability ``out_of_view_prob``: the target leaves the frame across the nearest border, stays fully
  out of view for a few frames, and comes back;
- a smooth global illumination change (gain and bias).

The first frame always shows the whole target, unoccluded.

Ground truth (``boxes``) is the target's exact axis-aligned extent ``(x, y, w, h)`` in the continuous pixel
coordinates of ``tracking.data.sequence`` (0-based, pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``),
clipped to the image. Occluders do not change the box. A frame is *absent* when less than
``MIN_VISIBLE_RATIO`` of the target's area is visible (unoccluded and inside the image) or the clipped box
is thinner than one pixel; ``generate_sequence`` gives NaN boxes there. The visible ratio is also binned
into a GOT-10k style ``cover`` label: 0 for absent frames, 8 for a fully visible target, otherwise
``clip(ceil(8 * ratio), 1, 7)``.

Shapes are drawn anti-aliased: pixel ``(i, j)`` gets coverage ``clip(d + 0.5, 0, 1)`` where ``d`` is the
signed distance (in pixels) of its centre ``(j + 0.5, i + 0.5)`` to the shape boundary, evaluated only on the
pixels that intersect the continuous box, so the target never changes a pixel outside
``[floor(x), ceil(x + w)) x [floor(y), ceil(y + h))``.

On-disk layouts (see ``write_got10k`` and ``write_lasot`` for the exact formats) and ``ensure_dataset``, a
cache that regenerates only when the spec changes. Command line::

    python -m tracking.data.synthetic --out DIR --layout got10k --sequences 8 --frames 60 --size 640x360 --seed 0

OpenCV (``cv2``) is imported by the functions that need it, never at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_LASOT_CLASSES", "GENERATOR_VERSION", "MARKER_NAME", "MIN_VISIBLE_RATIO", "SyntheticScene",
    "SyntheticSpec", "cover_label", "ensure_dataset", "generate_sequence", "got10k_sequence_name",
    "lasot_sequence_name", "main", "write_got10k", "write_lasot",
]

#: Bumped whenever the generated content changes, so ``ensure_dataset`` caches are regenerated.
GENERATOR_VERSION = 1
#: The marker ``ensure_dataset`` writes last into a complete dataset.
MARKER_NAME = "synthetic_spec.json"
_PARTIAL_NAME = ".synthetic_partial.json"
_LOCK_NAME = ".synthetic.lock"
#: Frames where less than this fraction of the target's area is visible are absent.
MIN_VISIBLE_RATIO = 0.02
DEFAULT_LASOT_CLASSES = ("synthcar", "synthball")
_TEXTURE_SIZE = 128
_ELLIPSE, _RECTANGLE = "ellipse", "rectangle"

Layout = Literal["got10k", "lasot"]
#: ``progress(done, total, sequence_name)``, called after each written sequence.
ProgressFn = Callable[[int, int, str], None]


@dataclass
class SyntheticSpec:
    """What to generate. Two equal specs generate identical data.

    Attributes:
        num_sequences: number of sequences.
        num_frames: frames per sequence (T).
        width, height: frame size in pixels.
        seed: sequence ``i`` uses ``np.random.default_rng((seed, i))``; a non-negative int.
        jpeg_quality: JPEG quality (0-100) of the written frames.
        out_of_view_prob: probability that a sequence has an out-of-view episode (needs T >= 8).
        occlusion_prob: probability that a sequence has a partial-occlusion episode (needs T >= 6).
    """

    num_sequences: int = 8
    num_frames: int = 60
    width: int = 640
    height: int = 360
    seed: int = 0
    jpeg_quality: int = 90
    out_of_view_prob: float = 0.3
    occlusion_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("num_sequences", "num_frames", "width", "height", "seed", "jpeg_quality"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"SyntheticSpec.{name} must be an int, got {value!r}")
        if self.num_sequences < 0 or self.num_frames < 1 or self.seed < 0:
            raise ValueError(f"invalid SyntheticSpec: need num_sequences >= 0, num_frames >= 1, seed >= 0: {self}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"SyntheticSpec frame size must be at least 16x16, got {self.width}x{self.height}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"SyntheticSpec.jpeg_quality must be in [0, 100], got {self.jpeg_quality}")
        for name in ("out_of_view_prob", "occlusion_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticSpec.{name} must be in [0, 1], got {getattr(self, name)}")


# --------------------------------------------------------------------------------------------- textures


def _fractal_noise(rng: np.random.Generator, h: int, w: int, channels: int, cells: float, octaves: int,
                   persistence: float) -> np.ndarray:
    """[h, w, channels] float32 smooth noise in [0, 1]: bicubically upsampled random grids, summed over octaves
    (octave ``o`` has about ``cells * 2**o`` cells along the longer side)."""
    import cv2

    out = np.zeros((h, w, channels), np.float32)
    amplitude = 1.0
    longer = max(h, w)
    for octave in range(octaves):
        n = cells * 2 ** octave
        gh, gw = max(2, round(n * h / longer) + 1), max(2, round(n * w / longer) + 1)
        grid = rng.random((gh, gw, channels), dtype=np.float32)
        out += amplitude * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
        amplitude *= persistence
    lo, hi = out.min(axis=(0, 1)), out.max(axis=(0, 1))
    return (out - lo) / np.maximum(hi - lo, 1e-6)


def _hsv_to_bgr(h: float, s: float, v: float) -> np.ndarray:
    """One OpenCV HSV colour (h in [0, 180), s, v in [0, 255]) as a float32 BGR triple."""
    import cv2

    hsv = np.array([[[h % 180, s, v]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _make_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """[h, w, 3] uint8 BGR background: palette-mapped smooth noise, a gradient, rectangles, circles, lines."""
    import cv2

    noise = _fractal_noise(rng, h, w, 3, cells=rng.uniform(2.0, 6.0), octaves=4,
                           persistence=rng.uniform(0.4, 0.7))
    lo = rng.uniform(0, 150, 3).astype(np.float32)
    hi = np.minimum(lo + rng.uniform(50, 150, 3).astype(np.float32), 255)
    img = lo + (hi - lo) * noise
    theta, strength = rng.uniform(0, 2 * math.pi), rng.uniform(-70, 70)
    ramp = (math.cos(theta) * np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
            + math.sin(theta) * np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None])
    img += (strength * ramp)[:, :, None] * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    for _ in range(int(rng.integers(4, 16))):
        rw, rh = int(w * rng.uniform(0.03, 0.3)) + 1, int(h * rng.uniform(0.03, 0.3)) + 1
        x, y = int(rng.integers(-rw // 2, w)), int(rng.integers(-rh // 2, h))
        colour, a = rng.uniform(0, 255, 3).astype(np.float32), np.float32(rng.uniform(0.2, 0.7))
        patch = img[max(y, 0):y + rh, max(x, 0):x + rw]
        patch *= 1 - a
        patch += a * colour
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 7))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        radius = int(rng.uniform(0.02, 0.12) * min(h, w)) + 1
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.circle(out, centre, radius, colour, -1 if rng.random() < 0.6 else 2, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 6))):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.line(out, p0, p1, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return out


def _make_texture(rng: np.random.Generator, saturated: bool, shaded: bool) -> tuple[np.ndarray, np.ndarray]:
    """A square [S, S, 3] uint8 texture (S = 128) and its base BGR colour.

    Saturated textures (targets, distractors) use two contrasting vivid colours; unsaturated ones (occluders)
    greyish colours. ``shaded`` darkens the texture towards the rim of the inscribed ellipse (a ball look).
    """
    s = _TEXTURE_SIZE
    hue = rng.uniform(0, 180)
    if saturated:
        base = _hsv_to_bgr(hue, rng.uniform(150, 255), rng.uniform(140, 255))
        second = _hsv_to_bgr(hue + rng.uniform(40, 140), rng.uniform(100, 255), rng.uniform(60, 255))
    else:
        base = _hsv_to_bgr(hue, rng.uniform(0, 80), rng.uniform(40, 220))
        second = _hsv_to_bgr(hue, rng.uniform(0, 80), rng.uniform(40, 220))
    coords = (np.arange(s, dtype=np.float32) + 0.5) / s
    xs, ys = coords[None, :], coords[:, None]
    kind = int(rng.integers(0, 4))
    if kind == 0:  # smooth noise
        pattern = _fractal_noise(rng, s, s, 1, cells=rng.uniform(2.0, 5.0), octaves=3, persistence=0.5)[:, :, 0]
    elif kind == 1:  # stripes
        angle, freq = rng.uniform(0, math.pi), rng.uniform(2.0, 6.0)
        pattern = 0.5 + 0.5 * np.sin(2 * math.pi * freq * (math.cos(angle) * xs + math.sin(angle) * ys))
    elif kind == 2:  # checker
        n = int(rng.integers(2, 6))
        pattern = ((np.floor(xs * n) + np.floor(ys * n)) % 2).astype(np.float32)
    else:  # spots
        pattern = np.zeros((s, s), np.float32)
        for _ in range(int(rng.integers(3, 9))):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.06, 0.2)
            pattern = np.maximum(pattern, np.clip((r - np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)) * s, 0, 1))
    mix = np.float32(rng.uniform(0.5, 1.0))
    pattern = (mix * pattern)[:, :, None].astype(np.float32)
    tex = base * (1 - pattern) + second * pattern
    tex += rng.normal(0, 6, (s, s, 3)).astype(np.float32)
    if shaded:
        lx, ly = rng.uniform(0.3, 0.5), rng.uniform(0.3, 0.5)
        r2 = (2 * xs - 1) ** 2 + (2 * ys - 1) ** 2
        light = np.sqrt(np.maximum(0, 1 - r2)) * 0.3 + 0.7 + 0.25 * np.exp(-((xs - lx) ** 2 + (ys - ly) ** 2) / 0.02)
        tex *= light[:, :, None]
    return np.clip(tex + 0.5, 0, 255).astype(np.uint8), base


def _pyramid(texture: np.ndarray) -> list[np.ndarray]:
    """Mipmap levels of a texture (down to 8 pixels), so small shapes sample without aliasing."""
    import cv2

    levels = [texture]
    while levels[-1].shape[0] >= 16:
        levels.append(cv2.pyrDown(levels[-1]))
    return levels


def _colour_name(bgr: np.ndarray) -> str:
    """A coarse English name of a colour, for LaSOT's nlp.txt."""
    import cv2

    h, s, v = (int(c) for c in cv2.cvtColor(np.clip(bgr, 0, 255).astype(np.uint8)[None, None], cv2.COLOR_BGR2HSV)[0, 0])
    if v < 50:
        return "black"
    if s < 60:
        return "white" if v > 200 else "grey"
    names = ((5, "red"), (19, "orange"), (34, "yellow"), (80, "green"), (100, "cyan"), (130, "blue"),
             (150, "purple"), (170, "pink"), (180, "red"))
    return next(name for bound, name in names if h < bound)


# --------------------------------------------------------------------------------------------- drawing


def _roi(box: np.ndarray, height: int, width: int, clip: bool = True) -> tuple[int, int, int, int]:
    """Integer pixel range ``(r0, r1, c0, c1)`` of the pixels intersecting ``box = (x0, y0, x1, y1)``."""
    c0, r0, c1, r1 = math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])
    if clip:
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, width), min(r1, height)
    return r0, r1, c0, c1


def _shape_alpha(kind: str, box: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """[r1 - r0, c1 - c0] float32 anti-aliased coverage of an axis-aligned ellipse/rectangle ``(x0, y0, x1, y1)``.

    Coverage = ``clip(d + 0.5, 0, 1)`` with ``d`` the signed distance (pixels, positive inside) of each pixel
    centre to the boundary; for the ellipse ``d`` is the first-order estimate ``-f / |grad f|``.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    xs = np.arange(c0, c1, dtype=np.float32) + np.float32(0.5)
    ys = np.arange(r0, r1, dtype=np.float32) + np.float32(0.5)
    if kind == _RECTANGLE:
        dx = np.minimum(xs - x0, x1 - xs)
        dy = np.minimum(ys - y0, y1 - ys)
        d = np.minimum(dy[:, None], dx[None, :])
    else:
        a, b = (x1 - x0) / 2, (y1 - y0) / 2
        u, v = (xs - (x0 + a)) / a, (ys - (y0 + b)) / b
        uu, vv = u * u, v * v
        f = vv[:, None] + uu[None, :] - 1
        grad = 2 * np.sqrt(vv[:, None] / (b * b) + uu[None, :] / (a * a))
        d = -f / np.maximum(grad, np.float32(1e-6))
    return np.clip(d + np.float32(0.5), 0, 1).astype(np.float32, copy=False)


def _composite(frame: np.ndarray, pyramid: list[np.ndarray], kind: str, box: np.ndarray) -> None:
    """Draw a textured shape filling ``box = (x0, y0, x1, y1)`` (continuous coordinates) onto ``frame`` in place."""
    import cv2

    height, width = frame.shape[:2]
    r0, r1, c0, c1 = _roi(box, height, width)
    if r0 >= r1 or c0 >= c1:
        return
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    level = min(len(pyramid) - 1, max(0, int(math.floor(math.log2(_TEXTURE_SIZE / max(bw, bh, 1.0))))))
    texture = pyramid[level]
    size = texture.shape[0]
    sx, sy = size / bw, size / bh
    # dst pixel (j, i) has centre x = c0 + j + 0.5; texture coordinate u = (x - x0) * sx; texel index u - 0.5.
    matrix = np.array([[sx, 0.0, (c0 + 0.5 - box[0]) * sx - 0.5],
                       [0.0, sy, (r0 + 0.5 - box[1]) * sy - 0.5]])
    patch = cv2.warpAffine(texture, matrix, (c1 - c0, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT)
    alpha = _shape_alpha(kind, box, r0, r1, c0, c1)[:, :, None]
    roi = frame[r0:r1, c0:c1]
    base = roi.astype(np.float32)
    roi[...] = (base + alpha * (patch.astype(np.float32) - base) + np.float32(0.5)).astype(np.uint8)


# --------------------------------------------------------------------------------------------- motion


def _reflect(value: float, velocity: float, lo: float, hi: float) -> tuple[float, float]:
    if value < lo:
        return min(2 * lo - value, hi), abs(velocity)
    if value > hi:
        return max(2 * hi - value, lo), -abs(velocity)
    return value, velocity


def _bounded_walk(rng: np.random.Generator, n: int, sigma: float, damping: float, bound: float) -> np.ndarray:
    """[n] smooth random walk starting at 0: damped random-walk velocity, reflected at +-bound."""
    out = np.zeros(n)
    value = velocity = 0.0
    noise = rng.normal(0.0, sigma, n)
    for t in range(1, n):
        velocity = damping * velocity + noise[t]
        value, velocity = _reflect(value + velocity, velocity, -bound, bound)
        out[t] = value
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class _Layer:
    """A textured shape with a box per frame ([T, 4] x0, y0, x1, y1; NaN rows where not drawn)."""

    kind: str
    pyramid: list[np.ndarray]
    boxes: np.ndarray


def cover_label(visible_ratio: np.ndarray, absent: np.ndarray) -> np.ndarray:
    """[T] uint8 GOT-10k style cover bins: 0 absent, 8 fully visible, else ``clip(ceil(8 * ratio), 1, 7)``."""
    ratio = np.asarray(visible_ratio, np.float64)
    cover = np.clip(np.ceil(8 * ratio - 1e-9), 1, 7).astype(np.uint8)
    cover[ratio >= 1 - 1e-6] = 8
    cover[np.asarray(absent, bool)] = 0
    return cover


class SyntheticScene:
    """Sequence ``index`` of ``spec``: its planned motion, annotations and a frame renderer.

    Construction draws everything from ``np.random.default_rng((spec.seed, index))`` and computes the
    annotations (cheap: only the target's region is rasterised); frames are rendered on demand by ``render``.

    Attributes (T = spec.num_frames):
        boxes: [T, 4] float64 xywh ground truth, 0-based continuous coordinates, clipped to the image; NaN rows
            on absent frames.
        absent: [T] bool, target absent (out of view, or hidden: see ``MIN_VISIBLE_RATIO``).
        out_of_view: [T] bool, absent because (almost) nothing of the target is inside the image.
        full_occlusion: [T] bool, absent although inside the image (hidden by the occluder); rare.
        visible_ratio: [T] float64, visible (in-image, unoccluded) fraction of the target's area.
        in_image_ratio: [T] float64, fraction of the target's area inside the image.
        cover: [T] uint8, ``cover_label(visible_ratio, absent)``.
        cut_by_image: [T] bool, the target is truncated by the image border (and not absent).
        shape: "ellipse" or "rectangle".
        colour_name: coarse name of the target's colour (e.g. "red").
        description: one sentence describing the target (LaSOT's nlp.txt).
    """

    def __init__(self, spec: SyntheticSpec, index: int) -> None:
        if not 0 <= index < max(spec.num_sequences, 1):
            raise IndexError(f"sequence index {index} out of range for {spec.num_sequences} sequences")
        self.spec = spec
        self.index = index
        rng = np.random.default_rng((spec.seed, index))
        # Independent streams, so e.g. the event probabilities do not change the background or the textures.
        rng_bg, rng_tex, rng_motion, rng_events, rng_distract, rng_camera = (
            np.random.default_rng(s) for s in rng.integers(0, 2 ** 63, 6))
        height, width, T = spec.height, spec.width, spec.num_frames
        self.height, self.width, self.num_frames = height, width, T

        self._pad = max(2, round(0.06 * min(height, width)))
        self._background = _make_background(rng_bg, height + 2 * self._pad, width + 2 * self._pad)

        self.shape = _ELLIPSE if rng_tex.random() < 0.5 else _RECTANGLE
        texture, colour = _make_texture(rng_tex, saturated=True, shaded=self.shape == _ELLIPSE)
        self.colour_name = _colour_name(colour)
        self.description = f"{self.colour_name} {self.shape} moving over a textured background"
        occluder_texture, _ = _make_texture(rng_tex, saturated=False, shaded=False)

        target_boxes = self._plan_target(rng_motion, T)
        occluder_boxes = np.full((T, 4), np.nan)
        self._plan_events(rng_events, target_boxes, occluder_boxes)
        self._target = _Layer(self.shape, _pyramid(texture), target_boxes)
        self._occluder = _Layer(_RECTANGLE, _pyramid(occluder_texture), occluder_boxes)
        self._distractors = self._plan_distractors(rng_distract, T)

        cam = np.stack([_bounded_walk(rng_camera, T, 0.15, 0.9, self._pad - 0.5) for _ in range(2)], axis=1)
        self._camera = (np.rint(cam) + self._pad).astype(np.int64)  # [T, 2] (row, col) offset into the background
        gain = np.exp(_bounded_walk(rng_camera, T, 0.006, 0.9, 0.12))
        bias = _bounded_walk(rng_camera, T, 0.4, 0.9, 10.0)
        levels = np.arange(256, dtype=np.float64)
        self._luts = np.clip(np.rint(gain[:, None] * levels + bias[:, None]), 0, 255).astype(np.uint8)  # [T, 256]

        self._annotate()

    # ---- planning

    def _plan_target(self, rng: np.random.Generator, T: int) -> np.ndarray:
        height, width = self.height, self.width
        area = math.exp(rng.uniform(math.log(0.01), math.log(0.06))) * width * height
        aspect = math.exp(rng.uniform(-0.7, 0.7))
        w0 = float(np.clip(math.sqrt(area * aspect), 6.0, 0.4 * width))
        h0 = float(np.clip(math.sqrt(area / aspect), 6.0, 0.4 * height))
        log_scale = _bounded_walk(rng, T, 0.012, 0.85, 0.4)
        log_aspect = _bounded_walk(rng, T, 0.006, 0.85, 0.15)
        w = w0 * np.exp(log_scale + log_aspect)
        h = h0 * np.exp(log_scale - log_aspect)
        sigma = rng.uniform(0.002, 0.01) * min(width, height)
        centre = np.zeros((T, 2))
        pos = np.array([rng.uniform(w[0] / 2, width - w[0] / 2), rng.uniform(h[0] / 2, height - h[0] / 2)])
        vel = rng.normal(0.0, 3 * sigma, 2)
        noise = rng.normal(0.0, sigma, (T, 2))
        centre[0] = pos
        for t in range(1, T):  # the centre may leave the image by up to 15 % of the box (35 % truncation)
            vel = 0.92 * vel + noise[t]
            pos = pos + vel
            pos[0], vel[0] = _reflect(pos[0], vel[0], 0.35 * w[t], width - 0.35 * w[t])
            pos[1], vel[1] = _reflect(pos[1], vel[1], 0.35 * h[t], height - 0.35 * h[t])
            centre[t] = pos
        return np.stack([centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2], 1)

    def _plan_events(self, rng: np.random.Generator, target: np.ndarray, occluder: np.ndarray) -> None:
        """Insert the out-of-view and occlusion episodes (in place), in disjoint frame windows after frame 0."""
        T = self.num_frames
        out_of_view = T >= 8 and rng.random() < self.spec.out_of_view_prob
        occlusion = T >= 6 and rng.random() < self.spec.occlusion_prob
        first_half = bool(rng.random() < 0.5)
        if out_of_view and occlusion:
            segments = [(1, T // 2), (T // 2, T)] if first_half else [(T // 2, T), (1, T // 2)]
        else:
            segments = [(1, T), (1, T)]
        if out_of_view:
            self._plan_out_of_view(rng, target, *segments[0])
        if occlusion:
            self._plan_occlusion(rng, target, occluder, *segments[1])

    def _plan_out_of_view(self, rng: np.random.Generator, target: np.ndarray, lo: int, hi: int) -> None:
        """Blend the target towards a position just beyond the nearest border: ``ramp`` frames out, ``hold``
        frames fully out of view, ``ramp`` frames back."""
        T = self.num_frames
        ramp = max(1, min(6, T // 10))
        hold = int(rng.integers(2, max(3, min(9, T // 5) + 1)))
        hold = min(hold, hi - lo - 2 * ramp)
        if hold < 1:
            return
        start = int(rng.integers(lo, hi - (2 * ramp + hold) + 1))
        mid = start + ramp
        cx, cy = (target[mid, 0] + target[mid, 2]) / 2, (target[mid, 1] + target[mid, 3]) / 2
        side = int(np.argmin([cx, self.width - cx, cy, self.height - cy]))  # left, right, top, bottom
        k = np.arange(2 * ramp + hold)
        weight = np.ones(len(k))
        weight[:ramp] = _smoothstep((k[:ramp] + 1) / (ramp + 1))
        weight[ramp + hold:] = _smoothstep((2 * ramp + hold - k[ramp + hold:]) / (ramp + 1))
        for j, t in enumerate(range(start, start + len(k))):
            x0, y0, x1, y1 = target[t]
            w, h = x1 - x0, y1 - y0
            if side < 2:
                away = -w / 2 - 1.0 if side == 0 else self.width + w / 2 + 1.0
                c = (1 - weight[j]) * (x0 + x1) / 2 + weight[j] * away
                target[t, 0], target[t, 2] = c - w / 2, c + w / 2
            else:
                away = -h / 2 - 1.0 if side == 2 else self.height + h / 2 + 1.0
                c = (1 - weight[j]) * (y0 + y1) / 2 + weight[j] * away
                target[t, 1], target[t, 3] = c - h / 2, c + h / 2

    def _plan_occlusion(self, rng: np.random.Generator, target: np.ndarray, occluder: np.ndarray, lo: int,
                        hi: int) -> None:
        """An occluder rectangle sweeping across the target, 30-60 % of its size along the sweep axis and
        110-150 % across it."""
        T = self.num_frames
        length = int(rng.integers(max(3, T // 8), max(4, T // 4) + 1))
        length = min(length, hi - lo)
        if length < 2:
            return
        start = int(rng.integers(lo, hi - length + 1))
        vertical = bool(rng.random() < 0.5)
        along, across = rng.uniform(0.3, 0.6), rng.uniform(1.1, 1.5)
        offset, direction = rng.uniform(-0.2, 0.2), (1.0 if rng.random() < 0.5 else -1.0)
        for j, t in enumerate(range(start, start + length)):
            phase = (j + 0.5) / length
            x0, y0, x1, y1 = target[t]
            size = np.array([x1 - x0, y1 - y0])
            centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
            a, c = (1, 0) if vertical else (0, 1)  # a: sweep axis, c: the other one
            occ_size = np.empty(2)
            occ_size[a], occ_size[c] = along * size[a], across * size[c]
            occ_centre = centre.copy()
            travel = size[a] + occ_size[a]
            occ_centre[a] += direction * (-travel / 2 + phase * travel)
            occ_centre[c] += offset * size[c]
            occluder[t] = np.concatenate([occ_centre - occ_size / 2, occ_centre + occ_size / 2])

    def _plan_distractors(self, rng: np.random.Generator, T: int) -> list[_Layer]:
        layers = []
        for _ in range(int(rng.integers(0, 3))):
            kind = _ELLIPSE if rng.random() < 0.5 else _RECTANGLE
            texture, _ = _make_texture(rng, saturated=True, shaded=kind == _ELLIPSE)
            side = math.sqrt(rng.uniform(0.005, 0.04) * self.width * self.height)
            aspect = math.exp(rng.uniform(-0.6, 0.6))
            w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
            sigma = rng.uniform(0.002, 0.01) * min(self.width, self.height)
            pos = np.array([rng.uniform(0, self.width), rng.uniform(0, self.height)])
            vel = rng.normal(0.0, 3 * sigma, 2)
            noise = rng.normal(0.0, sigma, (T, 2))
            boxes = np.empty((T, 4))
            for t in range(T):
                if t:
                    vel = 0.92 * vel + noise[t]
                    pos = pos + vel
                    pos[0], vel[0] = _reflect(pos[0], vel[0], 0.0, self.width)
                    pos[1], vel[1] = _reflect(pos[1], vel[1], 0.0, self.height)
                boxes[t] = (pos[0] - w / 2, pos[1] - h / 2, pos[0] + w / 2, pos[1] + h / 2)
            layers.append(_Layer(kind, _pyramid(texture), boxes))
        return layers

    # ---- annotations

    def _coverage(self, t: int) -> tuple[tuple[int, int, int, int], np.ndarray, float, float]:
        """The target's in-image roi, its visible coverage there, its full (unclipped) area and in-image area."""
        box = self._target.boxes[t]
        ur0, ur1, uc0, uc1 = _roi(box, self.height, self.width, clip=False)
        alpha = _shape_alpha(self.shape, box, ur0, ur1, uc0, uc1)
        total = float(alpha.sum(dtype=np.float64))
        r0, r1, c0, c1 = max(ur0, 0), min(ur1, self.height), max(uc0, 0), min(uc1, self.width)
        if r0 >= r1 or c0 >= c1:
            return (r0, r0, c0, c0), np.zeros((0, 0), np.float32), total, 0.0
        visible = alpha[r0 - ur0:r1 - ur0, c0 - uc0:c1 - uc0]
        in_image = float(visible.sum(dtype=np.float64))
        occ = self._occluder.boxes[t]
        if np.isfinite(occ).all():
            visible = visible * (1 - _shape_alpha(_RECTANGLE, occ, r0, r1, c0, c1))
        return (r0, r1, c0, c1), visible, total, in_image

    def _annotate(self) -> None:
        T, width, height = self.num_frames, self.width, self.height
        self.visible_ratio = np.zeros(T)
        self.in_image_ratio = np.zeros(T)
        for t in range(T):
            _, visible, total, in_image = self._coverage(t)
            self.visible_ratio[t] = float(visible.sum(dtype=np.float64)) / total
            self.in_image_ratio[t] = in_image / total
        x0 = np.clip(self._target.boxes[:, 0], 0, width)
        y0 = np.clip(self._target.boxes[:, 1], 0, height)
        x1 = np.clip(self._target.boxes[:, 2], 0, width)
        y1 = np.clip(self._target.boxes[:, 3], 0, height)
        boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        thin = (boxes[:, 2] < 1.0) | (boxes[:, 3] < 1.0)
        self.out_of_view = thin | (self.in_image_ratio < MIN_VISIBLE_RATIO)
        self.absent = self.out_of_view | (self.visible_ratio < MIN_VISIBLE_RATIO)
        self.full_occlusion = self.absent & ~self.out_of_view
        boxes[self.absent] = np.nan
        self.boxes = boxes
        self.cover = cover_label(self.visible_ratio, self.absent)
        self.cut_by_image = (self.in_image_ratio < 1 - 1e-6) & ~self.absent

    # ---- rendering

    def render(self, t: int, *, draw_target: bool = True) -> np.ndarray:
        """Frame ``t``: [H, W, 3] uint8 BGR. ``draw_target=False`` renders the same frame without the target."""
        import cv2

        if not 0 <= t < self.num_frames:
            raise IndexError(f"frame {t} out of range for {self.num_frames} frames")
        row, col = self._camera[t]
        frame = self._background[row:row + self.height, col:col + self.width].copy()
        for layer in self._distractors:
            _composite(frame, layer.pyramid, layer.kind, layer.boxes[t])
        if draw_target:
            _composite(frame, self._target.pyramid, self._target.kind, self._target.boxes[t])
        if np.isfinite(self._occluder.boxes[t]).all():
            _composite(frame, self._occluder.pyramid, _RECTANGLE, self._occluder.boxes[t])
        return cv2.LUT(frame, self._luts[t])

    def frames(self) -> Iterator[np.ndarray]:
        """The T frames in order, rendered lazily."""
        return (self.render(t) for t in range(self.num_frames))

    def target_mask(self, t: int) -> np.ndarray:
        """[H, W] float32 visible coverage of the target in frame ``t`` (0..1; occluded and off-image parts 0)."""
        mask = np.zeros((self.height, self.width), np.float32)
        (r0, r1, c0, c1), visible, _, _ = self._coverage(t)
        mask[r0:r1, c0:c1] = visible
        return mask


def generate_sequence(spec: SyntheticSpec, index: int
                      ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Render sequence ``index`` of ``spec`` in memory.

    Returns ``(frames, boxes, absent, cover)``:
        frames: T arrays [H, W, 3] uint8 BGR (as ``cv2.imread`` would give).
        boxes: [T, 4] float64 ``(x, y, w, h)``, 0-based continuous pixel coordinates (top-left corner), the
            target's exact axis-aligned box clipped to the image; NaN rows on absent frames.
        absent: [T] bool, True where the target is out of view (or, rarely, hidden).
        cover: [T] uint8 in 0..8, GOT-10k style visible-ratio bins (0 absent, 8 fully visible).

    Deterministic: all randomness comes from ``np.random.default_rng((spec.seed, index))``. ``SyntheticScene``
    gives more annotations (visible ratio, out-of-view flags, target masks) and background-only renders.
    """
    scene = SyntheticScene(spec, index)
    return list(scene.frames()), scene.boxes.copy(), scene.absent.copy(), scene.cover.copy()


# --------------------------------------------------------------------------------------------- writers


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _write_frames(scene: SyntheticScene, directory: str, quality: int) -> None:
    import cv2

    os.makedirs(directory, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for t, frame in enumerate(scene.frames()):
        ok, data = cv2.imencode(".jpg", frame, params)
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {t} of {directory}")
        with open(os.path.join(directory, f"{t + 1:08d}.jpg"), "wb") as f:
            f.write(data.tobytes())


def got10k_sequence_name(split: str, index: int) -> str:
    """GOT-10k's name of sequence ``index`` (0-based) of a split, e.g. ``GOT-10k_Train_000001``."""
    return f"GOT-10k_{split.capitalize()}_{index + 1:06d}"


def lasot_sequence_name(classes: Sequence[str], index: int) -> tuple[str, str]:
    """``(class, "<class>-<n>")`` of sequence ``index``: classes are assigned round-robin, n counts from 1."""
    cls = classes[index % len(classes)]
    return cls, f"{cls}-{index // len(classes) + 1}"


def write_got10k(root: str | os.PathLike, spec: SyntheticSpec, split: str = "train", *,
                 progress: ProgressFn | None = None) -> list[str]:
    """Write ``spec`` in GOT-10k's layout under ``root/<split>/``; returns the sequence names.

    Layout (as the real GOT-10k train/val splits)::

        root/<split>/list.txt                          sequence names, one per line
        root/<split>/GOT-10k_Train_000001/00000001.jpg ... (T frames, 1-based 8-digit names, JPEG)
            groundtruth.txt    T lines "x,y,w,h", 0-based continuous coordinates, 4 decimals
                               ("347.0000,443.0000,429.0000,272.0000"); absent frames repeat the last
                               present frame's box (GOT-10k keeps a box on every line; frame 0 is never absent)
            absence.label      T lines "0"/"1" (1 = absent)
            cover.label        T lines 0..8 (see ``cover_label``)
            cut_by_image.label T lines "0"/"1" (1 = truncated by the image border)
            meta_info.ini      [METAINFO] with url, begin_time, end_time, anno_fps, object_class
                               (synthetic_ellipse / synthetic_rectangle), motion_class, major_class,
                               root_class, motion_adverb, resolution "(W, H)", in GOT-10k's line order (ltr
                               reads object_class..motion_adverb from lines 6-10 by position)

    The sequence directory names use ``split.capitalize()`` (``GOT-10k_Val_000001`` for "val"). Existing
    files are overwritten, other files are left alone (``ensure_dataset`` manages a clean cache).
    """
    split_dir = os.path.join(os.fspath(root), split)
    os.makedirs(split_dir, exist_ok=True)
    names = []
    for i in range(spec.num_sequences):
        name = got10k_sequence_name(split, i)
        seq_dir = os.path.join(split_dir, name)
        scene = SyntheticScene(spec, i)
        _write_frames(scene, seq_dir, spec.jpeg_quality)
        lines, last = [], None
        for t in range(spec.num_frames):
            if not scene.absent[t]:
                last = ",".join(f"{v:.4f}" for v in scene.boxes[t])
            lines.append(last)
        _write_text(os.path.join(seq_dir, "groundtruth.txt"), "\n".join(lines) + "\n")
        _write_text(os.path.join(seq_dir, "absence.label"), "".join(f"{int(a)}\n" for a in scene.absent))
        _write_text(os.path.join(seq_dir, "cover.label"), "".join(f"{int(c)}\n" for c in scene.cover))
        _write_text(os.path.join(seq_dir, "cut_by_image.label"),
                    "".join(f"{int(c)}\n" for c in scene.cut_by_image))
        _write_text(os.path.join(seq_dir, "meta_info.ini"), (
            "[METAINFO]\n"
            f"url: synthetic://seed={spec.seed}/index={i}\n"
            "begin_time: 0\n"
            f"end_time: {spec.num_frames}\n"
            "anno_fps: 10Hz\n"
            f"object_class: synthetic_{scene.shape}\n"
            "motion_class: synthetic_motion\n"
            "major_class: synthetic\n"
            "root_class: object\n"
            "motion_adverb: smoothly\n"
            f"resolution: ({spec.width}, {spec.height})\n"))
        names.append(name)
        if progress is not None:
            progress(i + 1, spec.num_sequences, name)
    _write_text(os.path.join(split_dir, "list.txt"), "".join(f"{n}\n" for n in names))
    return names


def write_lasot(root: str | os.PathLike, spec: SyntheticSpec, classes: Sequence[str] = DEFAULT_LASOT_CLASSES, *,
                progress: ProgressFn | None = None) -> list[str]:
    """Write ``spec`` in LaSOT's layout under ``root/<class>/<class>-<n>/``; returns the names ``<class>-<n>``.

    Sequence ``i`` goes to class ``classes[i % len(classes)]`` with ``n = i // len(classes) + 1`` (the class is
    a name only: it does not choose the shape). Layout (as the real LaSOT)::

        root/<class>/<class>-<n>/img/00000001.jpg ...  (T frames, 1-based 8-digit names, JPEG)
            groundtruth.txt    T lines "x,y,w,h" of ints, 1-BASED like the original LaSOT: x and y are the
                               0-based box's rounded corner + 1 (a reader subtracts 1); absent frames are
                               "0,0,0,0" (an invalid box)
            full_occlusion.txt ONE line of T comma-separated 0/1 flags
            out_of_view.txt    ONE line of T comma-separated 0/1 flags (absent frames are out of view, or
                               fully occluded in the rare case the occluder hides the target)
            nlp.txt            one sentence describing the target

    No split list is written (LaSOT's train/test split lists are a separate spec in this package).
    """
    if not classes:
        raise ValueError("write_lasot needs at least one class")
    root = os.fspath(root)
    names = []
    for i in range(spec.num_sequences):
        cls, name = lasot_sequence_name(classes, i)
        seq_dir = os.path.join(root, cls, name)
        scene = SyntheticScene(spec, i)
        _write_frames(scene, os.path.join(seq_dir, "img"), spec.jpeg_quality)
        lines = []
        for t in range(spec.num_frames):
            if scene.absent[t]:
                lines.append("0,0,0,0")
                continue
            x, y, w, h = scene.boxes[t]
            # Round the corners, not the size, so the box stays inside the image: 0 <= l < r <= W.
            left, right = int(np.floor(x + 0.5)), int(np.floor(x + w + 0.5))
            top, bottom = int(np.floor(y + 0.5)), int(np.floor(y + h + 0.5))
            left, top = min(left, spec.width - 1), min(top, spec.height - 1)
            right, bottom = max(right, left + 1), max(bottom, top + 1)
            lines.append(f"{left + 1},{top + 1},{right - left},{bottom - top}")
        _write_text(os.path.join(seq_dir, "groundtruth.txt"), "\n".join(lines) + "\n")
        _write_text(os.path.join(seq_dir, "full_occlusion.txt"),
                    ",".join(str(int(v)) for v in scene.full_occlusion) + "\n")
        _write_text(os.path.join(seq_dir, "out_of_view.txt"), ",".join(str(int(v)) for v in scene.out_of_view) + "\n")
        _write_text(os.path.join(seq_dir, "nlp.txt"), scene.description + "\n")
        names.append(name)
        if progress is not None:
            progress(i + 1, spec.num_sequences, name)
    return names


# --------------------------------------------------------------------------------------------- cache


@contextlib.contextmanager
def _locked(root: str) -> Iterator[None]:
    """An exclusive advisory lock on ``root`` (POSIX), so concurrent ``ensure_dataset`` calls do not race."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(os.path.join(root, _LOCK_NAME), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def _write_json(path: str, value: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def ensure_dataset(root: str | os.PathLike, layout: Layout, spec: SyntheticSpec, *, split: str = "train",
                   classes: Sequence[str] = DEFAULT_LASOT_CLASSES, force: bool = False,
                   progress: ProgressFn | None = None) -> str:
    """Make ``root`` hold the complete ``layout`` dataset ("got10k" or "lasot") of ``spec``; returns ``root``.

    Reuses ``root`` (touching nothing) when its marker ``synthetic_spec.json`` records this exact spec,
    layout, split/classes and ``GENERATOR_VERSION`` and the dataset's top-level entries exist. Otherwise: the
    ``.synthetic_partial.json`` file records what is about to be written, the marker is removed, the entries
    of a previous synthetic dataset (listed by the old marker or partial file) are deleted, the dataset is
    written, and the marker is written last (atomically). An interrupted run therefore leaves no marker and
    is cleaned up and regenerated by the next call. Entries of ``root`` that no synthetic dataset wrote are
    left alone, and if one of them is in the way (e.g. a real ``train/``) a ``FileExistsError`` is raised.
    ``force=True`` regenerates even when the marker matches. Concurrent calls on one root are serialised with
    a file lock (POSIX).
    """
    if layout not in ("got10k", "lasot"):
        raise ValueError(f"layout must be 'got10k' or 'lasot', got {layout!r}")
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    if layout == "got10k":
        config = {"layout": layout, "split": split}
        entries = [split]
    else:
        if not classes:
            raise ValueError("ensure_dataset needs at least one LaSOT class")
        config = {"layout": layout, "classes": list(classes)}
        used = {lasot_sequence_name(classes, i)[0] for i in range(spec.num_sequences)}
        entries = [c for c in dict.fromkeys(classes) if c in used]
    record = {"generator_version": GENERATOR_VERSION, "spec": asdict(spec), **config, "entries": entries}
    record = json.loads(json.dumps(record))  # normalise (tuples -> lists, numpy ints -> ints) for comparison
    marker_path, partial_path = os.path.join(root, MARKER_NAME), os.path.join(root, _PARTIAL_NAME)
    with _locked(root):
        marker = _read_json(marker_path)
        if (not force and marker == record
                and all(os.path.exists(os.path.join(root, e)) for e in entries)):
            return root
        owned: set[str] = set()
        for previous in (marker, _read_json(partial_path)):
            if previous and isinstance(previous.get("entries"), list):
                owned.update(str(e) for e in previous["entries"])
        foreign = [e for e in entries if e not in owned and os.path.lexists(os.path.join(root, e))]
        if foreign:
            raise FileExistsError(f"ensure_dataset: {root} already has {foreign}, which no synthetic dataset "
                                  f"wrote there; refusing to overwrite (use an empty or dedicated cache dir)")
        # The partial record goes first, the marker second: at every moment one of them names what is ours.
        _write_json(partial_path, {**record, "entries": sorted(owned | set(entries))})
        with contextlib.suppress(FileNotFoundError):
            os.remove(marker_path)
        for entry in sorted(owned):
            path = os.path.join(root, entry)
            if os.path.basename(entry) != entry or entry in ("", ".", ".."):
                continue  # never follow a path out of root
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
        if layout == "got10k":
            write_got10k(root, spec, split, progress=progress)
        else:
            write_lasot(root, spec, classes, progress=progress)
        _write_json(marker_path, record)
        os.remove(partial_path)
    return root


# --------------------------------------------------------------------------------------------- CLI


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 640x360, got {text!r}") from None
    return width, height


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tracking.data.synthetic``: generate (or reuse) a synthetic dataset; prints one line per
    sequence (a tqdm bar when tqdm is installed)."""
    parser = argparse.ArgumentParser(prog="python -m tracking.data.synthetic", description=(
        "Generate a procedural synthetic tracking dataset in the GOT-10k or LaSOT layout (reused when DIR "
        "already holds it for the same settings)."))
    parser.add_argument("--out", required=True, help="output directory (a dedicated cache dir)")
    parser.add_argument("--layout", choices=("got10k", "lasot"), default="got10k")
    parser.add_argument("--sequences", type=int, default=SyntheticSpec.num_sequences)
    parser.add_argument("--frames", type=int, default=SyntheticSpec.num_frames)
    parser.add_argument("--size", type=_parse_size, default=(SyntheticSpec.width, SyntheticSpec.height),
                        help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--seed", type=int, default=SyntheticSpec.seed)
    parser.add_argument("--jpeg-quality", type=int, default=SyntheticSpec.jpeg_quality)
    parser.add_argument("--out-of-view-prob", type=float, default=SyntheticSpec.out_of_view_prob)
    parser.add_argument("--occlusion-prob", type=float, default=SyntheticSpec.occlusion_prob)
    parser.add_argument("--split", default="train", help="GOT-10k split directory (default train)")
    parser.add_argument("--classes", default=",".join(DEFAULT_LASOT_CLASSES),
                        help="comma-separated LaSOT classes (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="regenerate even if DIR holds this dataset")
    args = parser.parse_args(argv)
    try:
        spec = SyntheticSpec(num_sequences=args.sequences, num_frames=args.frames, width=args.size[0],
                             height=args.size[1], seed=args.seed, jpeg_quality=args.jpeg_quality,
                             out_of_view_prob=args.out_of_view_prob, occlusion_prob=args.occlusion_prob)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    classes = tuple(c for c in args.classes.split(",") if c)

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    bar = tqdm(total=spec.num_sequences, unit="seq", desc="synthetic") if tqdm is not None else None
    generated = []

    def progress(done: int, total: int, name: str) -> None:
        generated.append(name)
        if bar is not None:
            bar.set_postfix_str(name)
            bar.update(1)
        else:
            print(f"[{done}/{total}] {name}: {spec.num_frames} frames {spec.width}x{spec.height}", flush=True)

    try:
        ensure_dataset(args.out, args.layout, spec, split=args.split, classes=classes, force=args.force,
                       progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if generated:
        print(f"wrote {len(generated)} {args.layout} sequences to {args.out}")
    else:
        print(f"{args.out} already holds this {args.layout} dataset ({MARKER_NAME} matches); nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
