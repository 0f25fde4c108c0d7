"""Motion and event planning: the target's trajectory (damped random-walk velocity, smooth scale and aspect
changes), the out-of-view and partial-occlusion episodes, the distractors' trajectories, and the bounded
random walks the camera and the illumination use.

All boxes are ``[T, 4]`` float64 corner boxes ``(x0, y0, x1, y1)`` per frame, in the continuous pixel
coordinates of ``tracking.data.sequence`` (0-based, pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), unclipped:
a box may extend past the image. Every function draws from the ``np.random.Generator`` it is given, in a
fixed order (changing it changes the generated data: bump ``GENERATOR_VERSION`` in ``cache``).
"""

from __future__ import annotations

import math

import numpy as np

from .spec import SyntheticSpec


def _reflect(value: float, velocity: float, lo: float, hi: float) -> tuple[float, float]:
    """``(value, velocity)`` reflected back into ``[lo, hi]`` (the velocity then points inwards)."""
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
    """``3x^2 - 2x^3`` of ``x`` clipped to [0, 1], elementwise."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _plan_target(rng: np.random.Generator, T: int, width: int, height: int) -> np.ndarray:
    """[T, 4] corner boxes of the target in a ``width x height`` image: a random initial size (1-6 % of the
    image area) and position, a damped random-walk velocity (the centre is reflected 0.35 box sizes inside the
    border, so at most 15 % of the box's width and height leaves the image), and smoothly varying scale and
    aspect ratio."""
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


def _plan_events(rng: np.random.Generator, spec: SyntheticSpec, target: np.ndarray, occluder: np.ndarray) -> None:
    """Insert the out-of-view and occlusion episodes (in place), in disjoint frame windows after frame 0.

    ``target`` and ``occluder`` are the ``[T, 4]`` corner boxes (``T = spec.num_frames``); the occluder's rows
    stay NaN outside its episode.
    """
    T = spec.num_frames
    out_of_view = T >= 8 and rng.random() < spec.out_of_view_prob
    occlusion = T >= 6 and rng.random() < spec.occlusion_prob
    first_half = bool(rng.random() < 0.5)
    if out_of_view and occlusion:
        segments = [(1, T // 2), (T // 2, T)] if first_half else [(T // 2, T), (1, T // 2)]
    else:
        segments = [(1, T), (1, T)]
    if out_of_view:
        _plan_out_of_view(rng, target, *segments[0], spec.width, spec.height)
    if occlusion:
        _plan_occlusion(rng, target, occluder, *segments[1])


def _plan_out_of_view(rng: np.random.Generator, target: np.ndarray, lo: int, hi: int, width: int,
                      height: int) -> None:
    """Blend the target towards a position just beyond the nearest border: ``ramp`` frames out, ``hold``
    frames fully out of view, ``ramp`` frames back, within frames ``[lo, hi)``. ``target``: [T, 4] corner boxes
    in a ``width x height`` image, changed in place."""
    T = len(target)
    ramp = max(1, min(6, T // 10))
    hold = int(rng.integers(2, max(3, min(9, T // 5) + 1)))
    hold = min(hold, hi - lo - 2 * ramp)
    if hold < 1:
        return
    start = int(rng.integers(lo, hi - (2 * ramp + hold) + 1))
    mid = start + ramp
    cx, cy = (target[mid, 0] + target[mid, 2]) / 2, (target[mid, 1] + target[mid, 3]) / 2
    side = int(np.argmin([cx, width - cx, cy, height - cy]))  # left, right, top, bottom
    k = np.arange(2 * ramp + hold)
    weight = np.ones(len(k))
    weight[:ramp] = _smoothstep((k[:ramp] + 1) / (ramp + 1))
    weight[ramp + hold:] = _smoothstep((2 * ramp + hold - k[ramp + hold:]) / (ramp + 1))
    for j, t in enumerate(range(start, start + len(k))):
        x0, y0, x1, y1 = target[t]
        w, h = x1 - x0, y1 - y0
        if side < 2:
            away = -w / 2 - 1.0 if side == 0 else width + w / 2 + 1.0
            c = (1 - weight[j]) * (x0 + x1) / 2 + weight[j] * away
            target[t, 0], target[t, 2] = c - w / 2, c + w / 2
        else:
            away = -h / 2 - 1.0 if side == 2 else height + h / 2 + 1.0
            c = (1 - weight[j]) * (y0 + y1) / 2 + weight[j] * away
            target[t, 1], target[t, 3] = c - h / 2, c + h / 2


def _plan_occlusion(rng: np.random.Generator, target: np.ndarray, occluder: np.ndarray, lo: int, hi: int) -> None:
    """An occluder rectangle sweeping across the target, 30-60 % of its size along the sweep axis and
    110-150 % across it, within frames ``[lo, hi)``. ``target``, ``occluder``: [T, 4] corner boxes; the
    occluder's rows of the episode are written in place."""
    T = len(target)
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


def _distractor_track(rng: np.random.Generator, T: int, width: int, height: int) -> np.ndarray:
    """[T, 4] corner boxes of a distractor in a ``width x height`` image: a random size (0.5-4 % of the image
    area) and aspect ratio, fixed over the sequence, and a damped random-walk velocity whose centre is reflected
    at the image border."""
    side = math.sqrt(rng.uniform(0.005, 0.04) * width * height)
    aspect = math.exp(rng.uniform(-0.6, 0.6))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    sigma = rng.uniform(0.002, 0.01) * min(width, height)
    pos = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    vel = rng.normal(0.0, 3 * sigma, 2)
    noise = rng.normal(0.0, sigma, (T, 2))
    boxes = np.empty((T, 4))
    for t in range(T):
        if t:
            vel = 0.92 * vel + noise[t]
            pos = pos + vel
            pos[0], vel[0] = _reflect(pos[0], vel[0], 0.0, width)
            pos[1], vel[1] = _reflect(pos[1], vel[1], 0.0, height)
        boxes[t] = (pos[0] - w / 2, pos[1] - h / 2, pos[0] + w / 2, pos[1] + h / 2)
    return boxes
