"""Trivial trackers for smoke tests of the evaluation pipeline (not meant to score well).

Tracker protocol used by :mod:`tracking.eval.runner`: ``initialize(frame, box)`` with an HxWx3 RGB uint8 frame
and an xywh box, then ``track(frame) -> xywh box`` for every later frame. The classes are module-level, so the
classes themselves are picklable tracker factories (usable with ``run_dataset(..., workers > 1)``).
"""

from __future__ import annotations

import importlib

import cv2
import numpy as np


class StaticTracker:
    """Returns the initial box forever."""

    def initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        self.box = np.asarray(box, dtype=np.float64).reshape(4).copy()

    def track(self, frame: np.ndarray) -> np.ndarray:
        return self.box.copy()


class TemplateTracker:
    """Normalized cross-correlation template matching (``cv2.matchTemplate``) in a search region around the
    previous position, fixed size. The template is the first-frame box (clipped to the image) on grayscale;
    after each frame it is blended with the matched patch (``update_rate``). Deterministic."""

    def __init__(self, search_scale: float = 2.5, update_rate: float = 0.05, max_template: int = 64):
        self.search_scale = float(search_scale)
        self.update_rate = float(update_rate)
        self.max_template = int(max_template)

    @staticmethod
    def _gray(frame: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame

    def initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        box = np.asarray(box, dtype=np.float64).reshape(4)
        self.box = box.copy()
        gray = self._gray(frame).astype(np.float32)
        h, w = gray.shape
        # Downscale factor so that the template's long side is at most max_template pixels.
        self.scale = min(1.0, self.max_template / max(box[2], box[3], 1.0))
        x0, y0 = int(round(max(box[0], 0))), int(round(max(box[1], 0)))
        x1, y1 = int(round(min(box[0] + box[2], w))), int(round(min(box[1] + box[3], h)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            self.template = None  # box (almost) outside the image: behave as the static tracker
            return
        self.offset = np.array([x0 - box[0], y0 - box[1]])  # template origin relative to the box origin
        self.template = self._resize(gray[y0:y1, x0:x1])

    def _resize(self, patch: np.ndarray) -> np.ndarray:
        if self.scale >= 1.0:
            return patch.copy()
        size = (max(2, int(round(patch.shape[1] * self.scale))), max(2, int(round(patch.shape[0] * self.scale))))
        return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)

    def track(self, frame: np.ndarray) -> np.ndarray:
        if self.template is None:
            return self.box.copy()
        gray = self._gray(frame).astype(np.float32)
        h, w = gray.shape
        cx, cy = self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2
        sw, sh = self.box[2] * self.search_scale, self.box[3] * self.search_scale
        x0, y0 = int(round(max(cx - sw / 2, 0))), int(round(max(cy - sh / 2, 0)))
        x1, y1 = int(round(min(cx + sw / 2, w))), int(round(min(cy + sh / 2, h)))
        region = self._resize(gray[y0:y1, x0:x1]) if x1 > x0 and y1 > y0 else None
        th, tw = self.template.shape
        if region is None or region.shape[0] < th or region.shape[1] < tw:
            return self.box.copy()
        score = cv2.matchTemplate(region, self.template, cv2.TM_CCOEFF_NORMED)
        _, _, _, (bx, by) = cv2.minMaxLoc(score)
        s = self.scale
        fx, fy = x0 + bx / s, y0 + by / s  # template origin in frame pixels
        self.box[:2] = np.array([fx, fy]) - self.offset
        if self.update_rate > 0:
            patch = region[by:by + th, bx:bx + tw]
            self.template = (1 - self.update_rate) * self.template + self.update_rate * patch
        return self.box.copy()


TRACKERS = {"static": StaticTracker, "template": TemplateTracker}


def make_tracker_factory(name: str):
    """The factory of a built-in trivial tracker (``"static"``, ``"template"``), or the attribute ``attr`` of
    the importable module ``module`` for ``"module:attr"`` (a class or function returning a tracker; a
    module-level one is picklable, as ``run_dataset(..., workers > 1)`` needs). ValueError naming ``name``
    when it is neither."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"tracker {name!r}: cannot load {attr!r} from module {module!r}: {e}") from None
        if not callable(factory):
            raise ValueError(f"tracker {name!r}: {type(factory).__name__} is not callable")
        return factory
    try:
        return TRACKERS[name]
    except KeyError:
        raise ValueError(f"unknown trivial tracker {name!r}; known: {sorted(TRACKERS)}, "
                         "or module:attr") from None
