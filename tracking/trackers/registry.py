"""Tracker names -> classes, and building a tracker from a parameter set and a weights file.

A parameter set names its tracker class in ``tracker:`` (``dimp`` or ``atom``); :func:`build_tracker` loads the
parameters (``configs/trackers/<name>.yaml``), the network weights and constructs the tracker. Tracker classes
register themselves here lazily (their modules are imported on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

from .params import ParamsError, load_params

__all__ = ["TRACKER_CLASSES", "build_tracker"]

#: tracker kind -> "module:Class" (imported when used)
TRACKER_CLASSES: dict[str, str] = {
    "dimp": "tracking.trackers.dimp:DiMPTracker",
    "atom": "tracking.trackers.atom:ATOMTracker",
}


def tracker_class(kind: str) -> Any:
    if kind not in TRACKER_CLASSES:
        raise ParamsError(f"tracker kind {kind!r} unknown; known: {', '.join(sorted(TRACKER_CLASSES))}")
    module, _, attr = TRACKER_CLASSES[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_tracker(name: str, weights: str | None = None, overrides: list[str] | tuple[str, ...] = (),
                  device: str = "auto", net: Any = None, seed: int = 0) -> Any:
    """The tracker of parameter set ``name`` with the network from ``weights`` (any file
    ``tracking.models.safetensors_io.load_weights`` reads: our export, checkpoints, network files, pytracking's
    .pth.tar) or an already built ``net``; ``device`` auto | cpu | cuda[:N]; ``seed`` seeds its augmentation."""
    params = load_params(name, overrides)
    kind = params.get("tracker")
    if kind is None:
        raise ParamsError(f"parameter set {name!r} does not name its tracker class ('tracker: dimp' or 'atom')")
    return tracker_class(kind)(params, weights=weights, net=net, device=device, seed=seed)
