"""Online trackers behind one protocol (:class:`tracking.trackers.base.Tracker`): DiMP, PrDiMP, SuperDiMP, ATOM.

    from tracking.trackers import build_tracker
    tracker = build_tracker("dimp50", weights="dimp50.pth")     # parameters: configs/trackers/dimp50.yaml
    tracker.initialize(frame_rgb_uint8, (x, y, w, h))
    box = tracker.track(next_frame)                              # xywh, or TrackOutput via track_info()

Modules: base (protocol, TrackOutput), params (YAML parameter sets), registry (names -> tracker classes).
"""

from .base import Tracker, TrackOutput
from .params import load_params, tracker_names
from .registry import build_tracker

__all__ = ["TrackOutput", "Tracker", "build_tracker", "load_params", "tracker_names"]
