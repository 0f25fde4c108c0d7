"""Tracker factories of the OPE runner and ``python -m tracking.run``: parameter-set trackers, trivial trackers
for smoke tests of the evaluation pipeline (not meant to score well), and any ``module:attr``.

Tracker protocol used by :mod:`tracking.eval.runner`: ``initialize(frame, box)`` with an HxWx3 RGB uint8 frame
and an xywh box, then ``track(frame) -> xywh box`` for every later frame. The trivial classes are module-level,
so the classes themselves are picklable tracker factories (usable with ``run_dataset(..., workers > 1)``).

:class:`ParamSetTracker` is the factory of a parameter set (``configs/trackers/<name>.yaml`` or a .yaml path,
built by :func:`tracking.trackers.build_tracker`): a picklable frozen dataclass, so each worker process builds
its own trackers. A process loads the network once (the first sequence it runs) and gives the same network
to the trackers of its later sequences (trackers keep their per-sequence state outside the network). Devices:
one per process; ``auto`` / ``cuda`` without an index take GPU ``(w - 1) % n`` in the runner's worker process
number ``w`` (1, 2, ... as the pool starts them; a pool restarted after a dead worker goes on counting) with
``n`` visible GPUs, so ``--workers 4`` on 2 GPUs puts two workers on each; the main process (``--workers 1``)
takes GPU 0. ``cuda:N`` pins every worker to GPU N.
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
from typing import Any

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

_NETWORK_CACHE: dict[tuple, Any] = {}
"""This process's network of the last :class:`ParamSetTracker` called: (key, network); one entry at most."""


def worker_index() -> int:
    """0 in the main process, ``w - 1`` in the ``w``-th worker process a pool started (module docstring)."""
    identity = getattr(multiprocessing.current_process(), "_identity", ())
    return identity[0] - 1 if identity else 0


class TrackerSetupError(ValueError):
    """A parameter-set tracker cannot be built (unknown set or parameter, device, weights); the message says why."""


@dataclasses.dataclass(frozen=True)
class ParamSetTracker:
    """Picklable factory of the tracker of parameter set ``name`` (a name of ``configs/trackers`` or a .yaml
    path) with the network of ``weights``, parameter ``overrides`` (``key=value``), ``device`` (auto | cpu |
    cuda[:N], resolved per process: module docstring) and ``seed``. ``tracker_classes``: entries of
    ``tracking.trackers.registry.TRACKER_CLASSES`` registered in the process that made the factory, carried to
    spawned worker processes (which start with the built-in entries only)."""

    name: str
    weights: str | None = None
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    seed: int = 0
    tracker_classes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def create(cls, name: str, weights: str | None = None, overrides: tuple[str, ...] | list[str] = (),
               device: str = "auto", seed: int = 0) -> ParamSetTracker:
        """The factory, with the tracker classes registered in this process (absolute weights path)."""
        from tracking.trackers import registry

        return cls(name, os.path.abspath(weights) if weights else None, tuple(overrides), device, seed,
                   tuple(sorted(registry.TRACKER_CLASSES.items())))

    def _network(self, params: dict[str, Any], device: str) -> Any:
        from tracking.trackers.weights import load_tracker_network

        if not params.get("network"):
            return None  # a tracker without a registered network loads whatever it needs itself
        stat = os.stat(self.weights) if self.weights and os.path.isfile(self.weights) else None
        key = (self.weights, stat and (stat.st_mtime_ns, stat.st_size), params["network"], device)
        if key not in _NETWORK_CACHE:
            _NETWORK_CACHE.clear()  # free the previous network before loading the next
            _NETWORK_CACHE[key] = load_tracker_network(self.weights, params["network"], device)
        return _NETWORK_CACHE[key]

    def __call__(self) -> Any:
        """A new tracker (its class is imported first: its module may register the network)."""
        from tracking.trackers import load_params, registry
        from tracking.trackers.weights import resolve_device

        registry.TRACKER_CLASSES.update(dict(self.tracker_classes))
        params = load_params(self.name, self.overrides)
        if params.get("tracker"):
            registry.tracker_class(params["tracker"])
        device = str(resolve_device(self.device, worker_index()))
        net = self._network(params, device)
        return registry.build_tracker(self.name, weights=self.weights if net is None else None,
                                      overrides=self.overrides, device=device, net=net, seed=self.seed)

    def check(self, keep_network: bool = True) -> Any:
        """Build one tracker now and return it, so that an unknown set, a bad override or device, a missing,
        unreadable or mismatching weights file is one :class:`TrackerSetupError` (a ``ValueError``; its
        message is the cause's) before any sequence runs; ``keep_network=False`` frees the network again
        (when worker processes will load their own)."""
        from tracking.models import UnknownNetworkError
        from tracking.models.checkpoints import CheckpointError

        try:
            tracker = self()
        except (ValueError, FileNotFoundError, CheckpointError, UnknownNetworkError) as e:
            raise TrackerSetupError(str(e)) from e
        except ImportError as e:  # the tracker class's module (a registry entry) does not import
            raise TrackerSetupError(f"parameter set {self.name!r}: its tracker class cannot be imported ({e})") from e
        if not keep_network:
            _NETWORK_CACHE.clear()
        return tracker


def is_param_set(name: str) -> bool:
    """Whether ``name`` is a parameter set: a name of ``configs/trackers`` or a .yaml / .yml path."""
    from tracking.trackers import tracker_names

    return name.endswith((".yaml", ".yml")) or name in tracker_names()


def make_tracker_factory(name: str, weights: str | None = None, overrides: tuple[str, ...] | list[str] = (),
                         device: str = "auto", seed: int = 0):
    """The tracker factory of ``name``: a built-in trivial tracker (``"static"``, ``"template"``); a parameter
    set (:func:`is_param_set`: a :class:`ParamSetTracker` with ``weights``, ``overrides``, ``device``, ``seed``);
    or the attribute ``attr`` of the importable module ``module`` for ``"module:attr"`` (a class or function
    returning a tracker; a module-level one is picklable, as ``run_dataset(..., workers > 1)`` needs).
    ValueError naming ``name`` when it is none of them, or when ``weights`` / ``overrides`` are given for a
    tracker that is not a parameter set."""
    if name not in TRACKERS and ":" not in name and is_param_set(name):
        return ParamSetTracker.create(name, weights, overrides, device, seed)
    if weights or overrides:
        raise ValueError(f"tracker {name!r} is not a parameter set: --weights and --params apply to parameter "
                         "sets only")
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
        from tracking.trackers.params import PARAMS_DIR, tracker_names

        raise ValueError(f"unknown tracker {name!r}; parameter sets: {', '.join(tracker_names()) or 'none'} (in "
                         f"{PARAMS_DIR}, or a .yaml path); trivial trackers: {', '.join(sorted(TRACKERS))}; or "
                         "module:attr") from None
