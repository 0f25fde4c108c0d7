"""A pytracking-style DiMP sample loader, the baseline of benchmarks/loader_speed.py.

Written from a description of what pytracking's ltr does per DiMP sample (not its code): cv2.imread,
integer-rounded crop + copyMakeBorder(REPLICATE) + cv2.resize, per-frame torch float conversion/brightness/
normalisation, a Python perturbation loop per IoU proposal, torch Gaussian labels, stack along dim 1, in a torch
DataLoader. Everything per frame and per proposal in Python, torch ops on small tensors, a padded crop at the
integer crop size then a resize. Only for comparison; the geometry is not our loader's. Sample i uses the
frames the shared sampler picks for i, so it decodes the same frames as our loaders. cv2 and torch are imported
where used.
"""

from __future__ import annotations

import math
import random

import numpy as np


class NoTimer:
    """The stage timer of an untimed sample: lap() does nothing (see profile.StageTimer)."""

    def lap(self, name: str) -> None:
        pass


def _pt_jitter(box, center_factor: float, scale_factor: float, gen):
    import torch

    size = box[2:4] * torch.exp(torch.randn(2, generator=gen) * scale_factor)
    max_offset = torch.sqrt(size.prod()) * center_factor
    centre = box[0:2] + 0.5 * box[2:4] + max_offset * (torch.rand(2, generator=gen) - 0.5)
    return torch.cat((centre - 0.5 * size, size))


def _pt_crop(image: np.ndarray, jittered, box, factor: float, output: int, timer) -> tuple[np.ndarray, object]:
    """Square crop of side ceil(sqrt(w*h) * factor) around the jittered box, integer-rounded corner, the
    out-of-image part replicated with copyMakeBorder, resized to output x output; box in crop coordinates."""
    import cv2
    import torch

    x, y, w, h = jittered.tolist()
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError("box too small to crop")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    H, W = image.shape[:2]
    if x2 <= 0 or y2 <= 0 or x1 >= W or y1 >= H:  # window entirely outside: replicate the nearest pixel
        xs, ys = min(max(x1, 0), W - 1), min(max(y1, 0), H - 1)
        patch, pads = image[ys:ys + 1, xs:xs + 1], (0, side - 1, 0, side - 1)
    else:
        patch = image[max(y1, 0):min(y2, H), max(x1, 0):min(x2, W)]
        pads = (max(0, -y1), max(0, y2 - H), max(0, -x1), max(0, x2 - W))
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    crop = cv2.resize(patch, (output, output))
    timer.lap("crop")
    scale = output / side
    centre = (box[0:2] + 0.5 * box[2:4] - torch.tensor([x1 + side * 0.5, y1 + side * 0.5])) * scale + output * 0.5
    size = box[2:4] * scale
    return crop, torch.cat((centre - 0.5 * size, size))


def _pt_iou(a, b):
    import torch

    tl = torch.max(a[:2], b[:2])
    br = torch.min(a[:2] + a[2:], b[:2] + b[2:])
    inter = (br - tl).clamp(min=0).prod()
    return inter / (a[2:].prod() + b[2:].prod() - inter)


def _pt_proposal(box, sigma_factor: float, min_iou: float, rng: random.Random):
    """Perturb `box` (xywh tensor) until the IoU exceeds min_iou, shrinking the noise 10% after each miss."""
    import torch

    cx, cy = float(box[0] + 0.5 * box[2]), float(box[1] + 0.5 * box[3])
    w, h = float(box[2]), float(box[3])
    sigma = sigma_factor * math.sqrt(w * h)
    candidate, iou = box, torch.tensor(1.0)
    for _ in range(100):
        pw = rng.gauss(w, sigma)
        ph = rng.gauss(h, sigma)
        if pw <= 1:
            pw = w * rng.uniform(0.15, 0.5)
        if ph <= 1:
            ph = h * rng.uniform(0.15, 0.5)
        pcx, pcy = rng.gauss(cx, sigma), rng.gauss(cy, sigma)
        candidate = torch.tensor([pcx - 0.5 * pw, pcy - 0.5 * ph, pw, ph])
        iou = _pt_iou(box, candidate)
        if iou > min_iou:
            break
        sigma *= 0.9
    return candidate, iou


def _pt_labels(boxes, output: int, feature: int, kernel: int, sigma_factor: float):
    """[n, L, L] Gaussian labels of n crop-coordinate boxes on the filter grid (torch, separable)."""
    import torch

    stride = output / feature
    size = feature + (kernel + 1) % 2
    grid = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * stride + output / 2
    centres = boxes[:, 0:2] + 0.5 * boxes[:, 2:4]
    sigma = sigma_factor * output
    gx = torch.exp(-0.5 * ((grid[None, :] - centres[:, 0:1]) / sigma) ** 2)
    gy = torch.exp(-0.5 * ((grid[None, :] - centres[:, 1:2]) / sigma) ** 2)
    return gy[:, :, None] * gx[:, None, :]


class PytrackingStyleSamples:
    """Map-style dataset: sample i uses the frames the shared sampler picks for i; the rest is pytracking-style."""

    def __init__(self, sampler, processing, seed: int = 0) -> None:
        self.sampler, self.processing, self.seed = sampler, processing, seed

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index, NoTimer())

    def sample(self, index: int, timer) -> dict:
        """Sample `index`; timer.lap(stage) after each stage (record, decode, crop, normalise, proposals, labels)."""
        import cv2
        import torch

        cfg = self.processing
        spec = self.sampler.sample(index, 0)
        seq = self.sampler.sequence(spec)
        rng = random.Random(self.seed * 1_000_003 + index)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
        std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
        grayscale = rng.random() < cfg.grayscale_prob
        timer.lap("record")
        out = {}
        for mode, name, frame_ids in ((0, "train", spec.train_frames), (1, "test", spec.test_frames)):
            brightness = rng.uniform(1 - cfg.brightness_jitter, 1 + cfg.brightness_jitter)
            images, boxes = [], []
            for fid in frame_ids:
                image = cv2.imread(seq.frames[int(fid)])
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                if grayscale:
                    image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
                timer.lap("decode")
                box = torch.tensor(seq.boxes[int(fid)], dtype=torch.float32)
                jittered = _pt_jitter(box, cfg.center_jitter[mode], cfg.scale_jitter[mode], gen)
                timer.lap("record")
                crop, crop_box = _pt_crop(image, jittered, box, cfg.search_area_factor, cfg.output_size, timer)
                tensor = torch.from_numpy(crop).permute(2, 0, 1).float().mul(brightness / 255.0).clamp(0.0, 1.0)
                images.append(tensor.sub(mean).div(std))
                boxes.append(crop_box)
                timer.lap("normalise")
            out[f"{name}_images"] = torch.stack(images)
            out[f"{name}_anno"] = torch.stack(boxes)
            timer.lap("normalise")
        proposals, ious = [], []
        for box in out["test_anno"]:
            drawn = [_pt_proposal(box, rng.choice(cfg.proposal_sigma_factors), cfg.proposal_min_iou, rng)
                     for _ in range(cfg.num_proposals)]
            proposals.append(torch.stack([p for p, _ in drawn]))
            ious.append(torch.stack([i for _, i in drawn]))
        out["test_proposals"], out["proposal_iou"] = torch.stack(proposals), torch.stack(ious)
        timer.lap("proposals")
        for name in ("train", "test"):
            out[f"{name}_label"] = _pt_labels(out[f"{name}_anno"], cfg.output_size, cfg.label_feature_size,
                                              cfg.label_kernel_size, cfg.label_sigma_factor)
        timer.lap("labels")
        return out


def stack1_collate(samples: list[dict]) -> dict:
    """pytracking's batching of DiMP samples: every tensor stacked along dim 1 (frames first, then batch)."""
    import torch

    return {key: torch.stack([s[key] for s in samples], 1) for key in samples[0]}


def build_baseline_loader(sampler, processing, batch_size: int, workers: int):
    """The baseline in a torch DataLoader: samples 0, 1, ... of `sampler` in order, `workers` worker processes."""
    import torch

    return torch.utils.data.DataLoader(PytrackingStyleSamples(sampler, processing), batch_size=batch_size,
                                       shuffle=False, num_workers=workers, collate_fn=stack1_collate,
                                       drop_last=True)
