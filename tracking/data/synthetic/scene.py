"""One synthetic sequence: ``SyntheticScene`` (the sequence's random streams, its planned layers, its
annotations and a frame renderer), ``generate_sequence`` (a whole sequence in memory) and ``cover_label``.

Ground-truth boxes are ``(x, y, w, h)`` in the continuous pixel coordinates of ``tracking.data.sequence``
(0-based, pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), clipped to the image; the layers' planned boxes are
unclipped corner boxes ``(x0, y0, x1, y1)`` (see ``motion``). Frames are ``[H, W, 3]`` uint8 BGR.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .motion import _bounded_walk, _distractor_track, _plan_events, _plan_target
from .raster import _ELLIPSE, _RECTANGLE, _composite, _roi, _shape_alpha
from .spec import (FINE_TEXTURE_AMPLITUDE, FINE_TEXTURE_BLUR, MIN_VISIBLE_RATIO, SENSOR_NOISE_SIGMA,
                   SyntheticSpec)
from .textures import _colour_name, _make_background, _make_texture, _pyramid

__all__ = ["SyntheticScene", "cover_label", "generate_sequence"]


@dataclass
class _Layer:
    """A textured shape with a box per frame ([T, 4] x0, y0, x1, y1; NaN rows where not drawn)."""

    kind: str
    pyramid: list[np.ndarray]
    boxes: np.ndarray


def _add_fine_texture(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``image`` [H, W, 3] uint8 plus a static fine-grained grey texture (unit Gaussian noise blurred with
    sigma FINE_TEXTURE_BLUR px, times FINE_TEXTURE_AMPLITUDE): the surface detail of real scenes."""
    import cv2

    noise = rng.standard_normal(image.shape[:2], dtype=np.float32)
    grain = cv2.GaussianBlur(noise, (0, 0), FINE_TEXTURE_BLUR) * np.float32(FINE_TEXTURE_AMPLITUDE)
    return np.clip(image.astype(np.float32) + grain[:, :, None] + 0.5, 0, 255).astype(np.uint8)


def _add_sensor_noise(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """``frame`` [H, W, 3] uint8 plus per-pixel, per-channel Gaussian noise of sigma SENSOR_NOISE_SIGMA."""
    noise = rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(SENSOR_NOISE_SIGMA)
    return np.clip(frame.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)


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
        if spec.texture == "textured":  # own streams: the smooth variant's data stays as it was
            self._background = _add_fine_texture(np.random.default_rng((spec.seed, index, 1)), self._background)

        self.shape = _ELLIPSE if rng_tex.random() < 0.5 else _RECTANGLE
        texture, colour = _make_texture(rng_tex, saturated=True, shaded=self.shape == _ELLIPSE)
        self.colour_name = _colour_name(colour)
        self.description = f"{self.colour_name} {self.shape} moving over a textured background"
        occluder_texture, _ = _make_texture(rng_tex, saturated=False, shaded=False)

        target_boxes = _plan_target(rng_motion, T, width, height)
        occluder_boxes = np.full((T, 4), np.nan)
        _plan_events(rng_events, spec, target_boxes, occluder_boxes)
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

    def _plan_distractors(self, rng: np.random.Generator, T: int) -> list[_Layer]:
        """0-2 textured shapes moving independently of the target (drawn behind it)."""
        layers = []
        for _ in range(int(rng.integers(0, 3))):
            kind = _ELLIPSE if rng.random() < 0.5 else _RECTANGLE
            texture, _ = _make_texture(rng, saturated=True, shaded=kind == _ELLIPSE)
            boxes = _distractor_track(rng, T, self.width, self.height)
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
        frame = cv2.LUT(frame, self._luts[t])
        if self.spec.texture == "textured":
            frame = _add_sensor_noise(np.random.default_rng((self.spec.seed, self.index, 2, t)), frame)
        return frame

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
