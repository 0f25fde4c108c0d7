"""ATOM's network (Danelljan et al., CVPR 2019): a (frozen) ResNet backbone and the IoU-Net box regressor.

Parameter names as pytracking's ``ATOMnet`` (``ltr/models/bbreg/atom.py``): ``feature_extractor.*`` (the whole
ResNet, layer4 and fc included) then ``bb_regressor.*``, so pytracking's ATOM checkpoints load with
``strict=True``. ATOM's online classifier is part of the tracker, not of this net.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ..backbones import resnet18, resnet50
from ..registry import register_network
from .atom_iou_net import AtomIoUNet

__all__ = ["ATOMnet", "atom_resnet18", "atom_resnet50"]


class ATOMnet(nn.Module):
    """Backbone + IoU-Net.

    Args:
        feature_extractor: backbone; ``feature_extractor(images [N, 3, H, W], layers)`` returns an ordered dict
            ``{layer name: [N, C, H', W']}``.
        bb_regressor: the IoU predictor (``AtomIoUNet``) taking the ``bb_regressor_layer`` features.
        bb_regressor_layer: the two backbone layers fed to ``bb_regressor`` (stride 8 and 16).
        extractor_grad: False sets ``requires_grad=False`` on every backbone parameter. As in pytracking this does
            not touch train/eval mode: ``net.train()`` puts the backbone's BatchNorms in training mode (batch
            statistics, running statistics updated) unless the backbone itself keeps layers frozen
            (``frozen_layers``); call ``net.feature_extractor.eval()`` to keep them fixed.
    """

    def __init__(self, feature_extractor: nn.Module, bb_regressor: nn.Module,
                 bb_regressor_layer: Sequence[str] = ("layer2", "layer3"), extractor_grad: bool = False) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.bb_regressor = bb_regressor
        self.bb_regressor_layer = tuple(bb_regressor_layer)
        if len(self.bb_regressor_layer) != 2:
            raise ValueError(f"ATOMnet: `bb_regressor_layer` must name two backbone layers, "
                             f"got {bb_regressor_layer!r}")
        if not extractor_grad:
            for p in self.feature_extractor.parameters():
                p.requires_grad_(False)

    def forward(self, train_imgs: torch.Tensor, test_imgs: torch.Tensor, train_bb: torch.Tensor,
                test_proposals: torch.Tensor) -> torch.Tensor:
        """IoU predictions of the test proposals, the target given by the first train image.

        Args:
            train_imgs: ``[num_train, B, 3, H, W]`` (or ``[B, 3, H, W]`` for one image per sequence).
            test_imgs: ``[num_test, B, 3, H, W]`` (or ``[B, 3, H, W]``).
            train_bb: ``[num_train, B, 4]`` xywh boxes in train-image pixels (only the first image's are used).
            test_proposals: ``[num_test, B, P, 4]`` xywh proposals in test-image pixels.

        Returns:
            ``[num_test, B, P]`` predicted IoUs.

        pytracking reshapes the test proposals with the number of *train* images, so it needs
        ``num_train == num_test``; here they are reshaped with the number of test images, which is the same
        whenever pytracking's is defined and also allows other counts.
        """
        for name, imgs in (("train_imgs", train_imgs), ("test_imgs", test_imgs)):
            if imgs.dim() not in (4, 5) or imgs.shape[-3] != 3:
                raise ValueError(f"ATOMnet.forward: `{name}` must be [S, B, 3, H, W] or [B, 3, H, W], "
                                 f"got {tuple(imgs.shape)}")
        num_seq = train_imgs.shape[-4]
        if test_imgs.shape[-4] != num_seq:
            raise ValueError(f"ATOMnet.forward: `train_imgs` has {num_seq} sequences, `test_imgs` "
                             f"{test_imgs.shape[-4]}")
        num_train = train_imgs.shape[0] if train_imgs.dim() == 5 else 1
        num_test = test_imgs.shape[0] if test_imgs.dim() == 5 else 1
        if train_bb.numel() != num_train * num_seq * 4:
            raise ValueError(f"ATOMnet.forward: `train_bb` of shape {tuple(train_bb.shape)} is not "
                             f"[{num_train}, {num_seq}, 4]")
        if test_proposals.shape[-1] != 4 or test_proposals.numel() % (num_test * num_seq * 4) != 0:
            raise ValueError(f"ATOMnet.forward: `test_proposals` of shape {tuple(test_proposals.shape)} is not "
                             f"[{num_test}, {num_seq}, P, 4]")
        train_feat = self.extract_backbone_features(train_imgs.reshape(-1, *train_imgs.shape[-3:]))
        test_feat = self.extract_backbone_features(test_imgs.reshape(-1, *test_imgs.shape[-3:]))
        layers = self.bb_regressor_layer
        return self.bb_regressor([train_feat[n] for n in layers], [test_feat[n] for n in layers],
                                 train_bb.reshape(num_train, num_seq, 4),
                                 test_proposals.reshape(num_test, num_seq, -1, 4))

    def extract_backbone_features(self, im: torch.Tensor,
                                  layers: Sequence[str] | None = None) -> OrderedDict[str, torch.Tensor]:
        """Backbone features ``{layer: [N, C, H', W']}`` of images ``[N, 3, H, W]`` (default: the regressor's
        layers)."""
        return self.feature_extractor(im, list(self.bb_regressor_layer if layers is None else layers))

    def extract_features(self, im: torch.Tensor, layers: Sequence[str]) -> OrderedDict[str, torch.Tensor]:
        """Backbone features of the given layers."""
        return self.feature_extractor(im, list(layers))


def _atom(backbone: nn.Module, iou_input_dim: Sequence[int], iou_inter_dim: Sequence[int]) -> ATOMnet:
    layers = ("layer2", "layer3")
    channels = tuple(backbone.layer_channels[n] for n in layers)
    regressor = AtomIoUNet(input_dim=channels, pred_input_dim=tuple(iou_input_dim),
                           pred_inter_dim=tuple(iou_inter_dim))
    return ATOMnet(backbone, regressor, bb_regressor_layer=layers, extractor_grad=False)


@register_network("atom_resnet18")
def atom_resnet18(iou_input_dim: Sequence[int] = (256, 256), iou_inter_dim: Sequence[int] = (256, 256),
                  backbone_pretrained: bool = True, backbone_weights_path: str | None = None) -> ATOMnet:
    """pytracking's ATOM: frozen ResNet-18 (ImageNet weights when ``backbone_pretrained``, from
    ``backbone_weights_path`` or the backbone's default locations; a missing file raises the backbone's error)
    and ``AtomIoUNet(input_dim=(128, 256))``. 17,285,033 parameters, 5,595,521 trainable."""
    kwargs = {} if backbone_weights_path is None else {"weights_path": backbone_weights_path}
    return _atom(resnet18(pretrained=backbone_pretrained, **kwargs), iou_input_dim, iou_inter_dim)


@register_network("atom_resnet50")
def atom_resnet50(iou_input_dim: Sequence[int] = (256, 256), iou_inter_dim: Sequence[int] = (256, 256),
                  backbone_pretrained: bool = True, backbone_weights_path: str | None = None) -> ATOMnet:
    """ATOM with a frozen ResNet-50 and ``AtomIoUNet(input_dim=(512, 1024))``; arguments as ``atom_resnet18``."""
    kwargs = {} if backbone_weights_path is None else {"weights_path": backbone_weights_path}
    return _atom(resnet50(pretrained=backbone_pretrained, **kwargs), iou_input_dim, iou_inter_dim)
