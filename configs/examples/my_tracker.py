"""A tracker of your own, trained by ``python -m tracking.train`` without editing the framework.

``configs/examples/my_tracker.yaml`` names the four parts below by import path (``_target_``); the training
CLI puts the config file's directory on ``sys.path``, so this module is found beside it. Each part is an
ordinary Python object:

* ``build_network(channels)``: any ``nn.Module``; here a 3-layer convnet whose train-frame target template
  (pooled with our ``prroi_pool2d``) is correlated with the test-frame features into a score map;
* ``MyActor(net, loss_weights)``: turns a batch into ``(loss, stats)``; here MSE against the Gaussian label;
* ``build_processing(**overrides)``: a ``tracking.data.processing.Processing``; here DiMP's processing with
  small crops whose label grid matches the network's stride-8 score map;
* ``build_sampler(datasets, weights, seed, rank, world_size, samples_per_epoch)``: a
  ``tracking.data.sampler.Sampler``; here one train and one test frame at most 20 frames apart.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from tracking.data.processing import make_processing
from tracking.data.sampler import TrackingSampler
from tracking.ops import prroi_pool2d

STRIDE = 8


class TemplateMatcher(nn.Module):
    """Score map of the test frames from a template of the train frame's target.

    forward(train_imgs [1, B, 3, S, S], test_imgs [1, B, 3, S, S], train_bb [1, B, 4] xywh crop pixels)
    -> scores [1, B, S/8, S/8].
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for _ in range(3):  # stride 2 each: stride 8
            layers += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            c_in = channels
        self.features = nn.Sequential(*layers)
        self.scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, train_imgs: Tensor, test_imgs: Tensor, train_bb: Tensor) -> Tensor:
        n, b = test_imgs.shape[:2]
        train_feat = self.features(train_imgs[0])  # [B, C, S/8, S/8]
        test_feat = self.features(test_imgs.flatten(0, 1))  # [n*B, C, S/8, S/8]
        box = train_bb[0]
        rois = torch.cat([torch.arange(b, dtype=box.dtype, device=box.device)[:, None], box[:, :2],
                          box[:, :2] + box[:, 2:]], dim=1)
        template = prroi_pool2d(train_feat, rois, 3, 3, 1.0 / STRIDE)  # [B, C, 3, 3]
        c, h, w = test_feat.shape[1:]
        test_feat = test_feat.reshape(n, b * c, h, w)
        scores = nn.functional.conv2d(test_feat, template, padding=1, groups=b)  # [n, B, h, w]
        return self.scale * scores


def build_network(channels: int = 16) -> nn.Module:
    return TemplateMatcher(channels)


class MyActor:
    """MSE between the score map and the Gaussian label of the test frame."""

    def __init__(self, net: nn.Module, loss_weights: Mapping[str, float] | None = None) -> None:
        self.net = net
        self.loss_weights = {"heatmap": 1.0, **dict(loss_weights or {})}

    def __call__(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        scores = self.net(batch["train_images"], batch["test_images"], batch["train_anno"])
        heatmap = nn.functional.mse_loss(scores, batch["test_label"])
        loss = self.loss_weights["heatmap"] * heatmap
        return loss, {"Loss/total": loss.detach(), "Loss/heatmap": heatmap.detach()}


def build_processing(output_size: int = 96, **overrides):
    """DiMP's processing with small crops: labels on the stride-8 grid (96 / 8 = 12 cells, odd kernel: 12x12)."""
    return make_processing("dimp", output_size=output_size, label_feature_size=output_size // STRIDE,
                           label_kernel_size=3, num_proposals=0, **overrides)


def build_sampler(datasets, weights, seed: int, rank: int, world_size: int, samples_per_epoch: int,
                  max_gap: int = 20) -> TrackingSampler:
    return TrackingSampler(datasets, weights, samples_per_epoch=samples_per_epoch, max_gap=max_gap,
                           num_train_frames=1, num_test_frames=1, frame_sample_mode="interval", seed=seed,
                           rank=rank, world_size=world_size)
