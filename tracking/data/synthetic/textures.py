"""Procedural textures: multi-octave smooth noise, random palettes, the background, target/distractor/occluder
textures, their mipmap pyramids, and a coarse English name of a colour.

Every function draws from the ``np.random.Generator`` it is given, in a fixed order (changing that order
changes the generated data: bump ``GENERATOR_VERSION`` in ``cache``). Images are BGR, ``[rows, cols, 3]``.
"""

from __future__ import annotations

import math

import numpy as np

#: Side (pixels) of the square textures; mip level 0 of a shape's pyramid.
_TEXTURE_SIZE = 128


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
