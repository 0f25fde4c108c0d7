"""The DiMP-family online tracker (DiMP-18/50, PrDiMP-18/50, SuperDiMP): pytracking's ``tracker/dimp/dimp.py``
re-done with continuous coordinates and one small module per stage.

Per frame: multi-scale search patches around the previous position (:mod:`.sampling`), backbone and
classification features, the target filter's score maps, the peak and the situation (:mod:`.localization`),
IoU-Net refinement of the box (:mod:`.iou_refine`), then the classifier update from the sample memory
(:mod:`.memory`) with the network's own filter optimiser. The first frame is augmented (:mod:`.augmentation`)
and gives the initial filter (``net.classifier.get_filter``) and the IoU-Net's modulation vectors.

Coordinates: frame boxes are ``(x, y, w, h)`` in continuous 0-based pixel coordinates; the state is the target
centre ``pos`` ``(x, y)`` and size ``target_sz`` ``(w, h)`` (host numpy float64; pytracking keeps ``(y, x)``).
Patch boxes are xywh in the search patch's continuous coordinates.

Host synchronisations per frame: the score maps (small) come to the host for the localisation decision, and
the refined box for the output; nothing else leaves the device. Everything runs under ``torch.no_grad`` except
the IoU-Net box ascent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tracking.ops import normalize_images

from .augmentation import (
    AUGMENTATION_KEYS,
    feature_dropout,
    plan_transforms,
    render_transforms,
    transform_boxes,
)
from .base import TrackOutput
from .iou_refine import REFINEMENT_SPACES, refine_box
from .localization import cell_to_patch, localize, patch_to_cell
from .memory import SampleMemory
from .sampling import (
    BORDER_MODES,
    frame_to_tensor,
    image_to_patch,
    patch_to_image,
    sample_patches,
    search_windows,
    window_scales,
)
from .weights import load_tracker_network, resolve_device

__all__ = ["PARAM_DEFAULTS", "DiMPTracker"]

_REQUIRED = object()

#: every parameter the tracker reads, with its default (``_REQUIRED``: must be given)
PARAM_DEFAULTS: dict[str, Any] = {
    "tracker": "dimp", "name": None, "network": _REQUIRED,
    # sampling
    "image_sample_size": _REQUIRED, "search_area_scale": _REQUIRED, "border_mode": "replicate",
    "patch_max_scale_change": None, "scale_factors": [1.0], "target_inside_ratio": 0.2,
    # first frame
    "use_augmentation": True, "augmentation": {}, "augmentation_expansion_factor": None, "random_shift_factor": 0.0,
    "net_opt_iter": None,
    # memory and online optimisation
    "update_classifier": True, "sample_memory_size": 50, "learning_rate": 0.01, "init_samples_minimum_weight": None,
    "train_skipping": 1, "train_sample_interval": 1, "net_opt_update_iter": None, "net_opt_hn_iter": None,
    "net_opt_low_iter": None, "low_score_opt_threshold": None, "hard_negative_learning_rate": None,
    # localisation
    "use_classifier": True, "score_preprocess": "none", "score_filter_ksz": 1, "advanced_localization": False,
    "target_not_found_threshold": 0.0, "uncertain_threshold": None, "hard_sample_threshold": None,
    "distractor_threshold": 0.8, "hard_negative_threshold": 0.5, "target_neighborhood_scale": 2.2,
    "displacement_scale": 0.8, "update_scale_when_uncertain": True, "output_not_found_box": False,
    # IoU-Net
    "use_iou_net": True, "iounet_augmentation": False, "iounet_k": 5, "num_init_random_boxes": 0,
    "box_jitter_pos": 0.1, "box_jitter_sz": 0.5, "maximal_aspect_ratio": 6.0, "box_refinement_iter": 5,
    "box_refinement_step_length": 1.0, "box_refinement_step_decay": 1.0, "box_refinement_space": "default",
    "use_iounet_pos_for_learning": True,
    # timing
    "synchronize_timings": False,
}

_STAGES = ("sample", "backbone", "classify", "optimize", "iou_refine")


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` completed with the defaults; an unknown or missing key, or a bad value, is a ``ValueError``."""
    unknown = sorted(set(params) - set(PARAM_DEFAULTS))
    if unknown:
        raise ValueError(f"DiMPTracker: unknown parameter(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(sorted(PARAM_DEFAULTS))}")
    out = {k: params.get(k, v) for k, v in PARAM_DEFAULTS.items()}
    missing = [k for k, v in out.items() if v is _REQUIRED]
    if missing:
        raise ValueError(f"DiMPTracker: missing parameter(s) {', '.join(missing)}")
    aug = out["augmentation"] or {}
    if not isinstance(aug, Mapping) or set(aug) - set(AUGMENTATION_KEYS):
        raise ValueError(f"DiMPTracker: augmentation must be a mapping with keys among {', '.join(AUGMENTATION_KEYS)}, "
                         f"got {aug!r}")
    choices = {"border_mode": BORDER_MODES, "box_refinement_space": REFINEMENT_SPACES,
               "score_preprocess": ("none", "exp", "softmax")}
    for key, allowed in choices.items():
        if out[key] not in allowed:
            raise ValueError(f"DiMPTracker: {key} must be one of {', '.join(allowed)}, got {out[key]!r}")
    if out["score_filter_ksz"] % 2 != 1:
        raise ValueError(f"DiMPTracker: score_filter_ksz must be odd, got {out['score_filter_ksz']}")
    numeric = [k for k, v in PARAM_DEFAULTS.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    numeric += ["patch_max_scale_change", "init_samples_minimum_weight", "net_opt_iter", "net_opt_update_iter",
                "net_opt_hn_iter", "net_opt_low_iter", "low_score_opt_threshold", "hard_negative_learning_rate",
                "uncertain_threshold", "hard_sample_threshold"]
    for key in numeric:
        value = out[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"DiMPTracker: {key} must be a number, got {value!r}")
    size = out["image_sample_size"]
    out["image_sample_size"] = [int(size), int(size)] if isinstance(size, (int, float)) else [int(s) for s in size]
    return out


def _load_net(params: Mapping[str, Any], weights: str | None, device: torch.device) -> torch.nn.Module:
    if weights is None:
        raise ValueError("DiMPTracker: give the network (net=...) or a weights file (weights=...)")
    return load_tracker_network(weights, params["network"], device)


class DiMPTracker:
    """DiMP / PrDiMP / SuperDiMP online tracker (see the module docstring).

    Args:
        params: the parameter set (``configs/trackers/<name>.yaml`` as a dict); see :data:`PARAM_DEFAULTS`.
        weights: weights file (any ``tracking.models.safetensors_io.load_weights`` reads), when ``net`` is None.
        net: a built DiMP network (``tracking.models.dimpnet``); put in eval mode and moved to ``device``.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``.
        seed: seeds the first-frame augmentation and the IoU-Net's random boxes (re-seeded by ``initialize``).
    """

    def __init__(self, params: Mapping[str, Any], weights: str | None = None, net: torch.nn.Module | None = None,
                 device: str | torch.device = "auto", seed: int = 0) -> None:
        self.params = validate_params(params)
        self.device = resolve_device(device)
        self.net = (net if net is not None else _load_net(self.params, weights, self.device)).to(self.device).eval()
        self.seed = seed
        self.sample_size = np.array(self.params["image_sample_size"], dtype=np.float64)  # (w, h)
        self.out_hw = (int(self.sample_size[1]), int(self.sample_size[0]))
        self.filter_size = int(self.net.classifier.filter_size)
        self.initialized = False

    # ------------------------------------------------------------------ helpers
    def _tick(self, timings: dict[str, float], stage: str, start: float) -> float:
        if self.params["synchronize_timings"] and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - start
        return now

    def _features(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net.extract_backbone_features(normalize_images(patches))

    def _patch_box(self, pos: np.ndarray, size: np.ndarray, window: np.ndarray) -> np.ndarray:
        """xywh of the box centred at ``pos`` with ``size`` in the patch of ``window``."""
        scale = (window[2:] - window[:2]) / self.sample_size
        return np.concatenate((image_to_patch(pos - size / 2, window, self.out_hw), size / scale))

    def _clamp_state(self, pos: np.ndarray, size: np.ndarray) -> np.ndarray:
        offset = (self.params["target_inside_ratio"] - 0.5) * size
        return np.maximum(np.minimum(pos, self.image_size - offset), offset)

    # ------------------------------------------------------------------ first frame
    @torch.no_grad()
    def initialize(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Start on ``frame`` (``H x W x 3`` uint8 RGB) with the target ``box`` (xywh, continuous pixels)."""
        p = self.params
        box = np.asarray(box, dtype=np.float64).reshape(4)
        if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"DiMPTracker.initialize: box must be finite with w, h > 0, got {box.tolist()}")
        self.rng = np.random.default_rng(self.seed)
        self.frame_num = 1
        image = frame_to_tensor(frame, self.device)
        self.image_size = np.array([frame.shape[1], frame.shape[0]], dtype=np.float64)  # (W, H)
        self.pos = box[:2] + box[2:] / 2
        self.target_sz = box[2:].copy()
        self.target_scale = math.sqrt(np.prod(self.target_sz * p["search_area_scale"]) / np.prod(self.sample_size))
        self.base_target_sz = self.target_sz / self.target_scale
        self.scale_factors = np.asarray(p["scale_factors"], dtype=np.float64).reshape(-1)
        self.min_scale_factor = float(np.max(10.0 / self.base_target_sz))
        self.max_scale_factor = float(np.min(self.image_size / self.base_target_sz))

        # pytracking shrinks/shifts the first sample inside the image only in 'inside' mode (not 'inside_major')
        mode = "inside" if p["border_mode"] == "inside" else "replicate"
        window = search_windows(self.pos, self.sample_size, [self.target_scale], self.image_size, mode,
                                p["patch_max_scale_change"])[0]
        center = (window[:2] + window[2:]) / 2
        init_scale = float(window_scales(window[None], self.out_hw)[0])
        augs = p["augmentation"] if p["use_augmentation"] else {}
        transforms = plan_transforms(augs, self.sample_size, p["random_shift_factor"], self.rng)
        patches = render_transforms(image, center, init_scale, self.out_hw, transforms)
        backbone = self._features(patches)
        x = self.net.extract_classification_feat(backbone)
        box0 = self._patch_box(self.pos, self.target_sz, window)
        boxes = transform_boxes(box0, transforms, self.out_hw)
        if "dropout" in augs:
            num, prob = augs["dropout"]
            x = torch.cat((x, feature_dropout(x[:1], int(num), float(prob), self.rng)))
            boxes = np.concatenate((boxes, np.repeat(boxes[:1], int(num), axis=0)))
        boxes_t = torch.as_tensor(boxes, dtype=x.dtype, device=self.device)

        self.feature_sz = np.array([x.shape[-1], x.shape[-2]], dtype=np.float64)  # (w, h)
        self.stride = float(self.sample_size[0] / self.feature_sz[0])
        self.target_filter, _, _ = self.net.classifier.get_filter(x, boxes_t, num_iter=p["net_opt_iter"],
                                                                  compute_losses=False)
        self.memory = None
        if p["update_classifier"]:
            self.memory = SampleMemory({"features": x, "boxes": boxes_t}, p["sample_memory_size"],
                                       p["learning_rate"], p["init_samples_minimum_weight"])
        if p["use_iou_net"]:
            n = 1
            if p["iounet_augmentation"]:
                while n < len(transforms) and transforms[n].kind in ("identity", "shift", "fliplr", "blur"):
                    n += 1
            feats = [f[:n] for f in self.net.get_backbone_bbreg_feat(backbone)]
            modulation = self.net.bb_regressor.get_modulation(feats, boxes_t[:n])
            self.iou_modulation = tuple(m.mean(0) for m in modulation)
        self.initialized = True

    # ------------------------------------------------------------------ later frames
    def track(self, frame: np.ndarray) -> np.ndarray:
        """The target box (xywh) in ``frame``."""
        return self.track_info(frame).box

    @torch.no_grad()
    def track_info(self, frame: np.ndarray) -> TrackOutput:
        """One frame; a :class:`TrackOutput` with the box, the score maximum, the state, the chosen score map and
        the seconds spent per stage (sample, backbone, classify, optimize, iou_refine)."""
        if not self.initialized:
            raise RuntimeError("DiMPTracker.track: call initialize(frame, box) first")
        p = self.params
        timings = dict.fromkeys(_STAGES, 0.0)
        t = time.perf_counter()
        self.frame_num += 1
        image = frame_to_tensor(frame, self.device)
        if frame.shape[1] != self.image_size[0] or frame.shape[0] != self.image_size[1]:
            raise ValueError(f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's")

        # centre the search so that the target falls on a score cell (odd filter on even features etc.)
        offset = ((self.feature_sz + self.filter_size) % 2) * self.target_scale * self.stride / 2
        windows = search_windows(self.pos + offset, self.sample_size, self.target_scale * self.scale_factors,
                                 self.image_size, p["border_mode"], p["patch_max_scale_change"])
        sample_scales = window_scales(windows, self.out_hw)
        patches = sample_patches(image, windows, self.out_hw)
        t = self._tick(timings, "sample", t)
        backbone = self._features(patches)
        t = self._tick(timings, "backbone", t)
        test_x = self.net.extract_classification_feat(backbone)
        scores = self.net.classifier.classify(self.target_filter, test_x)[:, 0]  # [S, H', W']
        scores = self._preprocess_scores(scores)
        scores_np = scores.float().cpu().numpy()  # host decision: the localisation state
        t = self._tick(timings, "classify", t)

        loc = self._localize(scores_np, windows, sample_scales)
        s = loc.scale_index
        new_pos = patch_to_image(cell_to_patch(np.array(loc.peak), self.stride, self.filter_size), windows[s],
                                 self.out_hw)
        pos_iounet = None
        if loc.state != "not_found":
            if p["use_iou_net"]:
                if p["use_classifier"]:
                    self.pos = self._clamp_state(new_pos, self.target_sz)
                update_scale = p["update_scale_when_uncertain"] or loc.state != "uncertain"
                pos_iounet = self._refine(backbone, windows[s], s, update_scale)
                t = self._tick(timings, "iou_refine", t)
            elif p["use_classifier"]:
                self._update_scale(sample_scales[s])
                self.pos = self._clamp_state(new_pos, self.target_sz)

        if loc.state not in ("not_found", "uncertain") and self.memory is not None:
            # as pytracking: a hard negative is learnt as such only when it has its own learning rate
            lr = p["hard_negative_learning_rate"] if loc.state == "hard_negative" else None
            box = self._patch_box(self.pos, self.target_sz, windows[s])
            self._update_classifier(test_x[s:s + 1], torch.as_tensor(box, dtype=test_x.dtype, device=self.device),
                                    lr, lr is not None, loc.max_score)
            t = self._tick(timings, "optimize", t)
        if pos_iounet is not None:
            self.pos = pos_iounet

        if p["output_not_found_box"] and loc.state == "not_found":
            out_box = np.full(4, -1.0)
        else:
            out_box = np.concatenate((self.pos - self.target_sz / 2, self.target_sz))
        return TrackOutput(box=out_box, confidence=loc.max_score, state=loc.state, score_map=scores_np[s],
                           timings=timings, extra={"search_window": windows[s], "scale_index": s})

    def _preprocess_scores(self, scores: torch.Tensor) -> torch.Tensor:
        p = self.params
        if p["score_preprocess"] == "exp":
            scores = scores.exp()
        elif p["score_preprocess"] == "softmax":
            from tracking.models.layers.activation import softmax_reg

            reg = getattr(self.net.classifier.filter_optimizer, "softmax_reg", None)
            scores = softmax_reg(scores.reshape(scores.shape[0], -1), dim=-1, reg=reg).reshape(scores.shape)
        k = p["score_filter_ksz"]
        if k > 1:
            kernel = scores.new_ones(1, 1, k, k)
            scores = F.conv2d(scores.unsqueeze(1), kernel, padding=k // 2).squeeze(1)
        return scores

    def _localize(self, scores: np.ndarray, windows: np.ndarray, sample_scales: np.ndarray):
        # per scale: target size (h, w) in score cells and the previous position (row, col) on the score map
        size_cells = (self.target_sz[None, :] / sample_scales[:, None] / self.stride)[:, ::-1]
        prev = np.stack([patch_to_cell(image_to_patch(self.pos, w, self.out_hw), self.stride, self.filter_size)
                         for w in windows])
        return localize(scores, self.params, size_cells, prev)

    def _update_scale(self, new_scale: float) -> None:
        self.target_scale = float(np.clip(new_scale, self.min_scale_factor, self.max_scale_factor))
        self.target_sz = self.base_target_sz * self.target_scale

    def _refine(self, backbone: dict[str, torch.Tensor], window: np.ndarray, s: int,
                update_scale: bool) -> np.ndarray | None:
        """IoU-Net refinement in the patch of ``window`` (scale ``s``); updates the size (and scale); returns the
        refined position, or None when no box qualified."""
        p = self.params
        iou_feat = self.net.bb_regressor.get_iou_feat(self.net.get_backbone_bbreg_feat(backbone))
        iou_feat = [f[s:s + 1] for f in iou_feat]
        init_box = torch.as_tensor(self._patch_box(self.pos, self.target_sz, window), dtype=iou_feat[0].dtype,
                                   device=self.device)

        def predict(boxes: torch.Tensor) -> torch.Tensor:
            return self.net.bb_regressor.predict_iou(self.iou_modulation, iou_feat, boxes)

        box, valid = refine_box(predict, init_box, p, self.rng)
        box_np = torch.cat((box, valid.to(box.dtype).reshape(1))).double().cpu().numpy()  # the output needs it
        if box_np[4] == 0 or not np.all(np.isfinite(box_np[:4])):
            return None
        scale = (window[2:] - window[:2]) / self.sample_size
        new_pos = patch_to_image(box_np[:2] + box_np[2:4] / 2, window, self.out_hw)
        new_sz = box_np[2:4] * scale
        # bounded (pytracking leaves the IoU-Net's size unbounded): scale within [min, max] scale factor
        new_scale = math.sqrt(np.prod(new_sz) / np.prod(self.base_target_sz))
        bounded = float(np.clip(new_scale, self.min_scale_factor, self.max_scale_factor))
        new_sz = new_sz * (bounded / new_scale)
        self.target_sz = new_sz
        if update_scale:
            self.target_scale = bounded
        new_pos = self._clamp_state(new_pos, new_sz)
        if p["use_iounet_pos_for_learning"]:
            self.pos = new_pos.copy()
        return new_pos

    def _update_classifier(self, train_x: torch.Tensor, box: torch.Tensor, lr: float | None, hard: bool,
                           max_score: float) -> None:
        p = self.params
        if hard or self.frame_num % p["train_sample_interval"] == 0:
            self.memory.update({"features": train_x, "boxes": box}, lr)
        num_iter = 0
        low = p["low_score_opt_threshold"]
        if hard:
            num_iter = p["net_opt_hn_iter"] or 0
        elif low is not None and max_score < low:
            num_iter = p["net_opt_low_iter"] or 0
        elif (self.frame_num - 1) % p["train_skipping"] == 0:
            num_iter = p["net_opt_update_iter"] or 0
        if num_iter > 0:
            stored, weights = self.memory.training_set()
            self.target_filter, _, _ = self.net.classifier.filter_optimizer(
                self.target_filter, feat=stored["features"], bb=stored["boxes"], sample_weight=weights,
                num_iter=num_iter,
                compute_losses=False)
