"""ATOM (Danelljan et al., CVPR 2019) as an online tracker: the online factorised-convolution classifier
(:mod:`.atom_classifier`) localises the target, IoU-Net (``tracking.models`` ``atom_resnet18``) refines the box.

Parameters: ``configs/trackers/atom.yaml`` (pytracking's ``parameter/atom/default.py``, the feature parameters
flattened to the top level); unknown keys are a ``ValueError`` naming them.

Conventions: frames ``H x W x 3`` RGB uint8, boxes xywh in continuous pixels (pixel (i, j) covers
``[j, j+1) x [i, i+1)``). Internally the state is pytracking's: ``pos`` the target centre and ``target_sz`` its
size, both **(y, x)** / **(h, w)** host float64 tensors, in continuous pixels (pytracking's ``pos`` + 0.5).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ..ops import normalize_images
from .atom_classifier import ATOMClassifier, gaussian_label
from .atom_stages import ScoreUpsampler
from .augmentation import (
    AUGMENTATION_KEYS,
    feature_dropout,
    plan_transforms,
    render_transforms,
    transform_boxes,
)
from .base import TrackOutput
from .iou_refine import REFINEMENT_SPACES, refine_box
from .localization import localize
from .sampling import frame_to_tensor, sample_patches
from .weights import load_tracker_network, resolve_device

__all__ = ["DEFAULT_PARAMS", "ATOMTracker"]

DEFAULT_PARAMS: dict[str, Any] = {
    "max_image_sample_size": 288 ** 2, "min_image_sample_size": 288 ** 2, "search_area_scale": 5.0,
    "search_area_shape": "square", "feature_size_odd": False,
    "CG_iter": 5, "init_CG_iter": 60, "init_GN_iter": 6, "post_init_CG_iter": 0, "fletcher_reeves": False,
    "standard_alpha": True, "CG_forgetting_rate": None,
    "learning_rate": 0.01, "init_samples_minimum_weight": 0.25, "output_sigma_factor": 0.25,
    "sample_memory_size": 250, "train_skipping": 10,
    "kernel_size": [4, 4], "compressed_dim": 64, "filter_reg": 0.1, "projection_reg": 1e-4,
    "feature_layer": "layer3", "normalize_power": 2,
    "scale_factors": [1.0], "score_upsample_factor": 1,
    "augmentation": {"fliplr": True, "rotate": [5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60],
                     "blur": [[2, 0.2], [0.2, 2], [3, 1], [1, 3], [2, 2]],
                     "relativeshift": [[0.6, 0.6], [-0.6, 0.6], [0.6, -0.6], [-0.6, -0.6]], "dropout": [7, 0.2]},
    "augmentation_expansion_factor": 2, "random_shift_factor": 1 / 3, "use_augmentation": True,
    "update_projection_matrix": True, "proj_init_method": "randn", "filter_init_method": "randn",
    "projection_activation": "none", "response_activation": ["mlu", 0.05],
    "advanced_localization": True, "target_not_found_threshold": 0.25, "distractor_threshold": 0.8,
    "hard_negative_threshold": 0.5, "target_neighborhood_scale": 2.2, "displacement_scale": 0.8,
    "hard_negative_learning_rate": 0.02, "hard_negative_CG_iter": 5, "update_scale_when_uncertain": True,
    "use_iou_net": True, "iounet_k": 3, "num_init_random_boxes": 9, "box_jitter_pos": 0.1, "box_jitter_sz": 0.5,
    "maximal_aspect_ratio": 6, "box_refinement_iter": 5, "box_refinement_step_length": 1.0,
    "box_refinement_step_decay": 1.0, "box_refinement_space": "default",
}
_META_KEYS = {"name", "tracker", "network", "network_kwargs"}




class ATOMTracker:
    """ATOM: ``initialize(frame, box)``, ``track(frame) -> box``, ``track_info(frame) -> TrackOutput``.

    Args:
        params: the parameter set (``load_params("atom")``); missing keys take :data:`DEFAULT_PARAMS`.
        weights: a weights file for the network (any file ``load_weights`` reads); or
        net: an ``ATOMnet`` already built (used as is, put in eval mode on ``device``).
        device: auto | cpu | cuda[:N].
        seed: seeds the augmentation shifts, dropout, classifier initialisation and IoU-Net's random boxes.
    """

    def __init__(self, params: dict[str, Any], weights: str | None = None, net: Any = None, device: str = "auto",
                 seed: int = 0) -> None:
        unknown = sorted(k for k in params if k not in DEFAULT_PARAMS and k not in _META_KEYS)
        if unknown:
            raise ValueError(f"ATOMTracker: unknown parameter(s) {', '.join(repr(k) for k in unknown)}")
        self.params = {**DEFAULT_PARAMS, **{k: v for k, v in params.items() if k not in _META_KEYS}}
        aug = self.params["augmentation"] or {}
        bad = sorted(set(aug) - set(AUGMENTATION_KEYS)) if isinstance(aug, dict) else ["<not a mapping>"]
        if bad:
            raise ValueError(f"ATOMTracker: unknown augmentation key(s) {bad} (known: {', '.join(AUGMENTATION_KEYS)})")
        self.params["augmentation"] = dict(aug)
        if self.params["box_refinement_space"] not in REFINEMENT_SPACES:
            raise ValueError(f"ATOMTracker: box_refinement_space {self.params['box_refinement_space']!r} unknown "
                             f"(known: {', '.join(REFINEMENT_SPACES)})")
        self.device = resolve_device(device)
        if net is None:  # no silent random init: a missing file is WeightsNotFoundError saying where weights come from
            net = load_tracker_network(weights, params.get("network", "atom_resnet18"), self.device)
        self.net = net.to(self.device).eval()
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _image(self, frame: np.ndarray) -> torch.Tensor:
        """``H x W x 3`` uint8 -> ``[1, 3, H, W]`` float32 (0-255) on the device."""
        return frame_to_tensor(frame, self.device)

    def _features(self, patches: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Patches ``[N, 3, h, w]`` (0-255) -> (normalised classifier features ``[N, D, h', w']``, IoU-Net
        backbone features [layer2, layer3])."""
        layers = list(self.net.bb_regressor_layer)
        cls_layer = self.params["feature_layer"]
        feats = self.net.extract_features(normalize_images(patches), sorted(set(layers + [cls_layer])))
        x = feats[cls_layer]
        p = self.params["normalize_power"]
        if p is not None:
            norm = (x.abs().reshape(x.shape[0], -1) ** p).sum(dim=1) / x[0].numel() + 1e-10
            x = x / norm.pow(1.0 / p).view(-1, 1, 1, 1)
        return x, [feats[n] for n in layers]

    def _sample_pos(self) -> torch.Tensor:
        """The search centre: ``pos`` rounded to a pixel centre (pytracking's ``pos.round()``)."""
        return torch.round(self.pos - 0.5) + 0.5

    def _label(self, offset_px: torch.Tensor) -> torch.Tensor:
        """Labels ``[B, 1, h, w]`` for target offsets ``[B, 2]`` (y, x) from the sample centre in patch pixels."""
        cells = offset_px / self.img_sample_sz * self.feature_sz
        return gaussian_label(self.feature_sz.long().tolist(), self.sigma.tolist(), cells.to(self.device, torch.float32),
                              self.params["kernel_size"])

    def _iou_box(self, pos: torch.Tensor, sz: torch.Tensor, sample_pos: torch.Tensor, scale: float) -> torch.Tensor:
        """Target ``(pos, sz)`` (y, x)/(h, w) image pixels -> xywh ``[4]`` in patch pixels (host float64)."""
        c = (pos - sample_pos) / scale + self.img_sample_sz / 2
        s = sz / scale
        return torch.cat([(c - s / 2).flip(0), s.flip(0)])

    def _bound_pos(self, pos: torch.Tensor) -> torch.Tensor:
        """Keep the centre within the image grown by 0.3 target sizes (pytracking's ``inside_ratio = 0.2``)."""
        margin = 0.3 * self.target_sz
        return torch.maximum(torch.minimum(pos, self.image_sz + margin), -margin)

    # -- protocol ------------------------------------------------------------------------------------------------
    def initialize(self, frame: np.ndarray, box: Any) -> None:
        """First frame and the target's xywh box: builds the classifier and IoU-Net's modulation."""
        p = self.params
        self.generator.manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        x0, y0, w0, h0 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
        if not (w0 > 0 and h0 > 0 and math.isfinite(x0 + y0 + w0 + h0)):
            raise ValueError(f"ATOMTracker.initialize: box must be finite xywh with w, h > 0, got {box!r}")
        self.frame_num = 1
        im = self._image(frame)
        self.image_sz = torch.tensor([float(im.shape[-2]), float(im.shape[-1])], dtype=torch.float64)
        self.pos = torch.tensor([y0 + h0 / 2, x0 + w0 / 2], dtype=torch.float64)
        self.target_sz = torch.tensor([h0, w0], dtype=torch.float64)
        area = float(torch.prod(self.target_sz * p["search_area_scale"]))
        self.target_scale = 1.0
        if area > p["max_image_sample_size"]:
            self.target_scale = math.sqrt(area / p["max_image_sample_size"])
        elif area < p["min_image_sample_size"]:
            self.target_scale = math.sqrt(area / p["min_image_sample_size"])
        self.base_target_sz = self.target_sz / self.target_scale
        stride = 16 if p["feature_layer"] == "layer3" else {"layer2": 8, "layer4": 32}[p["feature_layer"]]
        if p["search_area_shape"] == "square":
            sz = torch.round(torch.sqrt(torch.prod(self.base_target_sz * p["search_area_scale"]))) * torch.ones(2, dtype=torch.float64)
        elif p["search_area_shape"] == "initrect":
            sz = torch.round(self.base_target_sz * p["search_area_scale"])
        else:
            raise ValueError(f"search_area_shape: unknown {p['search_area_shape']!r} (square or initrect)")
        odd = 0 if p["feature_size_odd"] else stride
        self.img_sample_sz = sz + stride - (sz + odd) % (2 * stride)
        self.feature_sz = torch.div(self.img_sample_sz, stride, rounding_mode="floor")
        self.min_scale_factor = float(torch.max(10 / self.base_target_sz))
        self.max_scale_factor = float(torch.min(self.image_sz / self.base_target_sz))
        self.sigma = (self.feature_sz / self.img_sample_sz * self.base_target_sz).prod().sqrt() \
            * p["output_sigma_factor"] * torch.ones(2, dtype=torch.float64)
        ks = [int(k) for k in p["kernel_size"]]
        self.upsampler = ScoreUpsampler(self.feature_sz.long().tolist(), self.img_sample_sz.tolist(), ks,
                                        int(p["score_upsample_factor"]), self.device)
        sample_pos = self._sample_pos()
        sample_sz = self.img_sample_sz.long().tolist()
        with torch.no_grad():
            aug = p["augmentation"] if p["use_augmentation"] else {}
            # shared stages (points (x, y) there): transforms in pytracking's order, rendered from the frame
            transforms = plan_transforms({k: v for k, v in aug.items() if k != "dropout"}, sample_sz[::-1],
                                         p["random_shift_factor"], self.rng)
            patches = render_transforms(im, (float(sample_pos[1]), float(sample_pos[0])), self.target_scale,
                                        sample_sz, transforms)
            box = self._iou_box(self.pos, self.target_sz, sample_pos, self.target_scale)
            boxes = torch.from_numpy(transform_boxes(box.numpy(), transforms, sample_sz))
            offsets = (boxes[:, :2] + boxes[:, 2:] / 2).flip(1) - self.img_sample_sz / 2  # (y, x) patch px
            x, iou_backbone = self._features(patches)
            if p["use_augmentation"] and "dropout" in aug:
                num, prob = int(aug["dropout"][0]), float(aug["dropout"][1])
                x = torch.cat([x, feature_dropout(x[:1], num, prob, self.rng)])
                offsets = torch.cat([offsets, offsets[:1].expand(num, 2)])
            y = self._label(offsets)
            if p["use_iou_net"]:
                mod = self.net.bb_regressor.get_modulation([f[:1] for f in iou_backbone],
                                                           box.view(1, 4).to(self.device, torch.float32))
                self.iou_modulation = [m.detach().mean(0) for m in mod]
        lr = float(p["learning_rate"])
        forget = 0.0 if p["CG_forgetting_rate"] is None or lr >= 1 else (1 - lr) ** float(p["CG_forgetting_rate"])
        self.classifier = ATOMClassifier(p["compressed_dim"], ks, p["filter_reg"], p["projection_reg"],
                                         p["projection_activation"], p["response_activation"], p["fletcher_reeves"],
                                         p["standard_alpha"], forget, self.generator)
        self.init_losses = self.classifier.initialize(
            x, y, p["sample_memory_size"], lr, p["init_samples_minimum_weight"], p["init_CG_iter"], p["init_GN_iter"],
            p["post_init_CG_iter"], p["update_projection_matrix"], p["proj_init_method"], p["filter_init_method"])

    def track(self, frame: np.ndarray) -> np.ndarray:
        """The target's xywh box ``[4]`` (float64) in ``frame``."""
        return self.track_info(frame).box

    def track_info(self, frame: np.ndarray) -> TrackOutput:
        """One tracking step; ``score_map`` is the upsampled score map ``[H', W']`` of the chosen scale."""
        p = self.params
        timings: dict[str, float] = {}
        t = time.perf_counter()
        self.frame_num += 1
        with torch.no_grad():
            im = self._image(frame)
            sample_pos = self._sample_pos()
            scales = [self.target_scale * float(f) for f in p["scale_factors"]]
            half = torch.tensor(scales, dtype=torch.float64).view(-1, 1) * self.img_sample_sz.flip(0) / 2  # (w, h)
            ctr = sample_pos.flip(0).view(1, 2)  # (x, y)
            windows = torch.cat([ctr - half, ctr + half], dim=1).numpy()  # (x1, y1, x2, y2) per scale
            patches = sample_patches(im, windows, self.img_sample_sz.long().tolist())
            t = self._tick(timings, "sample", t)
            x, iou_backbone = self._features(patches)
            t = self._tick(timings, "backbone", t)
            x_proj = self.classifier.project(x)
            scores = self.upsampler(self.classifier.scores(x_proj))
            scores_np = scores.float().cpu().numpy()  # host decision: the localisation state (small map)
            u = float(p["score_upsample_factor"])
            tsz_cells = (self.target_sz / self.target_scale * u).numpy()
            centre = np.array([scores_np.shape[-2] // 2, scores_np.shape[-1] // 2], dtype=np.float64)
            # ATOM measures distractor distances from the sample centre (its previous target position)
            loc = localize(scores_np, p, tsz_cells, centre)
            si, state, max_score = loc.scale_index, loc.state, loc.max_score
            disp = torch.from_numpy(np.asarray(loc.peak, dtype=np.float64) - centre)  # (y, x) grid cells
            translation = disp / u * scales[si]
            t = self._tick(timings, "classify", t)
        if state != "not_found":
            if p["use_iou_net"]:
                self.pos = self._bound_pos(sample_pos + translation)
                self._refine(sample_pos, scales[si], [f[si: si + 1] for f in iou_backbone],
                             p["update_scale_when_uncertain"] or state != "uncertain")
            else:
                self.target_scale = min(max(scales[si], self.min_scale_factor), self.max_scale_factor)
                self.target_sz = self.base_target_sz * self.target_scale
                self.pos = self._bound_pos(sample_pos + translation)
        t = self._tick(timings, "iou_refine", t)
        with torch.no_grad():
            if state not in ("not_found", "uncertain"):
                label = self._label(((self.pos - sample_pos) / scales[si]).view(1, 2))
                lr = p["hard_negative_learning_rate"] if state == "hard_negative" else None
                self.classifier.memory.update({"samples": x_proj[si: si + 1], "labels": label}, lr)
        if state == "hard_negative":
            self.classifier.train(int(p["hard_negative_CG_iter"]))
        elif (self.frame_num - 1) % int(p["train_skipping"]) == 0:
            self.classifier.train(int(p["CG_iter"]))
        self._tick(timings, "optimize", t)
        hw = self.target_sz
        box = np.array([float(self.pos[1] - hw[1] / 2), float(self.pos[0] - hw[0] / 2), float(hw[1]), float(hw[0])])
        return TrackOutput(box=box, confidence=max_score, state=state, score_map=scores_np[si], timings=timings,
                           extra={"scale_index": si, "frame_num": self.frame_num})

    def _tick(self, timings: dict[str, float], name: str, t: float) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        timings[name] = now - t
        return now

    def _refine(self, sample_pos: torch.Tensor, scale: float, backbone: list[torch.Tensor], update_scale: bool) -> None:
        """IoU-Net refinement around the classifier's position (updates ``pos``, ``target_sz``, ``target_scale``)."""
        p = self.params
        init = self._iou_box(self.pos, self.target_sz, sample_pos, scale).to(self.device, torch.float32)
        with torch.no_grad():
            feat = self.net.bb_regressor.get_iou_feat(backbone)
        box, valid = refine_box(lambda b: self.net.bb_regressor.predict_iou(self.iou_modulation, feat, b), init,
                                p, self.rng)
        if not bool(valid):  # host decision: no box of a sane aspect ratio
            return
        box = box.double().cpu()
        new_sz = box[2:].flip(0) * scale
        new_pos = (box[:2] + box[2:] / 2).flip(0) - self.img_sample_sz / 2
        new_pos = new_pos * scale + sample_pos
        new_scale = math.sqrt(float(new_sz.prod() / self.base_target_sz.prod()))
        bounded = min(max(new_scale, self.min_scale_factor), self.max_scale_factor)
        self.target_sz = new_sz * (bounded / new_scale)
        self.pos = self._bound_pos(new_pos)
        if update_scale:
            self.target_scale = bounded
