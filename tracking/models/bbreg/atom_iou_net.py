"""ATOM's IoU-Net (Danelljan et al., CVPR 2019): predicts the IoU of proposal boxes with the target, modulated by
a reference frame. Used as the box regressor of ATOM, DiMP and PrDiMP (where its output is a box score).

Structure and parameter names are pytracking's ``AtomIoUNet`` (``ltr/models/bbreg/atom_iou_net.py``), so
pytracking checkpoints load with ``strict=True``. Inputs are two backbone layers: ``layer2`` (stride 8) and
``layer3`` (stride 16).

Coordinates: boxes and proposals are ``(x, y, w, h)`` in the input-image coordinates of the feature maps
(e.g. pixels of the 288 x 288 training crop), converted to rois ``(batch_index, x1, y1, x2, y2)`` for
``tracking.ops.prroi_pool2d`` with spatial scales 1/8 and 1/16.

Reference branch (``get_modulation``): conv3_1r -> PrRoIPool 3x3 @1/8 -> fc3_1r (3x3 conv, no padding: 1x1),
conv4_1r -> PrRoIPool 1x1 @1/16; concatenated (256 + 256) -> fc34_3r / fc34_4r (1x1 convs) = one modulation
vector per test branch. Test branch (``get_iou_feat``): conv3_1t -> conv3_2t and conv4_1t -> conv4_2t.
Prediction (``predict_iou``): test features times the modulation vectors (channel-wise), PrRoIPool 5x5 @1/8 and
3x3 @1/16 of each proposal, fc3_rt / fc4_rt (LinearBlocks), concatenated -> iou_predictor (Linear(., 1)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tracking.ops import PrRoIPool2D

from ..layers.blocks import LinearBlock, conv_block

__all__ = ["AtomIoUNet", "xywh_to_rois"]


def xywh_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """[B, P, 4] xywh boxes -> [B * P, 5] rois ``(b, x1, y1, x2, y2)``, b the index along dim 0 (as a number of
    the boxes' dtype). Differentiable with respect to ``boxes``."""
    if boxes.dim() != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"xywh_to_rois: `boxes` must have shape [B, P, 4], got {tuple(boxes.shape)}")
    b, p = boxes.shape[:2]
    index = torch.arange(b, dtype=boxes.dtype, device=boxes.device).reshape(b, 1, 1).expand(b, p, 1)
    xyxy = torch.cat((boxes[..., :2], boxes[..., :2] + boxes[..., 2:]), dim=-1)
    return torch.cat((index, xyxy), dim=-1).reshape(b * p, 5)


def _check_pair(fn: str, name: str, feat: Sequence[torch.Tensor]) -> None:
    if not isinstance(feat, (list, tuple)) or len(feat) != 2 or not all(isinstance(f, torch.Tensor) for f in feat):
        raise ValueError(f"AtomIoUNet.{fn}: `{name}` must be a list of two tensors (layer2, layer3 features), "
                         f"got {type(feat).__name__}")
    for f in feat:
        if f.dim() not in (4, 5):
            raise ValueError(f"AtomIoUNet.{fn}: `{name}` tensors must be [N, C, H, W] or [S, B, C, H, W], "
                             f"got shape {tuple(f.shape)}")


class AtomIoUNet(nn.Module):
    """IoU prediction network.

    Args:
        input_dim: channels of the two backbone layers (resnet18: (128, 256); resnet50: (512, 1024)).
        pred_input_dim: channels of the modulated test features (and of the modulation vectors).
        pred_inter_dim: widths of fc3_rt / fc4_rt.

    Init (pytracking's): every Conv2d / Linear weight kaiming-normal (fan_in, gain sqrt(2)), biases 0; every
    BatchNorm weight U(0, 1), bias 0.
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256), pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        for name, dims in (("input_dim", input_dim), ("pred_input_dim", pred_input_dim),
                           ("pred_inter_dim", pred_inter_dim)):
            if len(dims) != 2 or not all(isinstance(d, int) and d > 0 for d in dims):
                raise ValueError(f"AtomIoUNet: `{name}` must be two positive ints, got {dims!r}")
        # Registration order fixes the state_dict order (pytracking's); suffix r: reference, t: test.
        self.conv3_1r = conv_block(input_dim[0], 128, kernel_size=3, stride=1)
        self.conv3_1t = conv_block(input_dim[0], 256, kernel_size=3, stride=1)
        self.conv3_2t = conv_block(256, pred_input_dim[0], kernel_size=3, stride=1)
        self.prroi_pool3r = PrRoIPool2D(3, 3, 1 / 8)
        self.prroi_pool3t = PrRoIPool2D(5, 5, 1 / 8)
        self.fc3_1r = conv_block(128, 256, kernel_size=3, stride=1, padding=0)
        self.conv4_1r = conv_block(input_dim[1], 256, kernel_size=3, stride=1)
        self.conv4_1t = conv_block(input_dim[1], 256, kernel_size=3, stride=1)
        self.conv4_2t = conv_block(256, pred_input_dim[1], kernel_size=3, stride=1)
        self.prroi_pool4r = PrRoIPool2D(1, 1, 1 / 16)
        self.prroi_pool4t = PrRoIPool2D(3, 3, 1 / 16)
        self.fc34_3r = conv_block(256 + 256, pred_input_dim[0], kernel_size=1, stride=1, padding=0)
        self.fc34_4r = conv_block(256 + 256, pred_input_dim[1], kernel_size=1, stride=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """pytracking's init (see the class docstring)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.0, 1.0)
                nn.init.zeros_(m.bias)

    def forward(self, feat1: Sequence[torch.Tensor], feat2: Sequence[torch.Tensor], bb1: torch.Tensor,
                proposals2: torch.Tensor) -> torch.Tensor:
        """Training forward: IoU predictions of the test frames' proposals, modulated by the FIRST train frame.

        Args:
            feat1: reference (train) features [layer2, layer3], each ``[num_train * B, C, H, W]`` (image-major:
                row ``i * B + b`` is image i of sequence b) or ``[num_train, B, C, H, W]``.
            feat2: test features, the same layout with ``num_test`` images.
            bb1: ``[num_train, B, 4]`` xywh target boxes of the train images; only ``bb1[0]`` is used.
            proposals2: ``[num_test, B, P, 4]`` xywh proposals in the test images.

        Returns:
            ``[num_test, B, P]`` predicted IoUs.
        """
        _check_pair("forward", "feat1", feat1)
        if bb1.dim() != 3 or bb1.shape[-1] != 4:
            raise ValueError(f"AtomIoUNet.forward: `bb1` must be [num_train, B, 4], got {tuple(bb1.shape)}")
        if proposals2.dim() != 4 or proposals2.shape[-1] != 4:
            raise ValueError(f"AtomIoUNet.forward: `proposals2` must be [num_test, B, P, 4], "
                             f"got {tuple(proposals2.shape)}")
        num_test, num_seq = proposals2.shape[:2]
        if bb1.shape[1] != num_seq:
            raise ValueError(f"AtomIoUNet.forward: `bb1` has {bb1.shape[1]} sequences, `proposals2` {num_seq}")
        first = []
        for f in feat1:
            if f.dim() == 4 and f.shape[0] % num_seq != 0:
                raise ValueError(f"AtomIoUNet.forward: `feat1` batch {f.shape[0]} is not a multiple of the "
                                 f"{num_seq} sequences")
            first.append(f[0] if f.dim() == 5 else f.reshape(-1, num_seq, *f.shape[-3:])[0])
        modulation = self.get_modulation(first, bb1[0])
        iou_feat = self.get_iou_feat(feat2)
        if iou_feat[0].shape[0] != num_test * num_seq:
            raise ValueError(f"AtomIoUNet.forward: `feat2` holds {iou_feat[0].shape[0]} images, `proposals2` "
                             f"{num_test} x {num_seq}")
        # The same modulation for every test image of a sequence, image-major like the test features.
        modulation = [m.reshape(1, num_seq, -1).expand(num_test, -1, -1).reshape(num_test * num_seq, -1)
                      for m in modulation]
        pred = self.predict_iou(modulation, iou_feat, proposals2.reshape(num_test * num_seq, -1, 4))
        return pred.reshape(num_test, num_seq, -1)

    def get_modulation(self, feat: Sequence[torch.Tensor], bb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Modulation vectors of the reference targets.

        Args:
            feat: [layer2, layer3] features of the reference images, each ``[B, C, H, W]``.
            bb: ``[B, 4]`` xywh target boxes in image coordinates.

        Returns:
            ``(m3, m4)``, each ``[B, pred_input_dim[i]]``.
        """
        _check_pair("get_modulation", "feat", feat)
        feat3_r, feat4_r = feat
        if feat3_r.dim() != 4 or feat4_r.dim() != 4:
            raise ValueError("AtomIoUNet.get_modulation: `feat` tensors must be [B, C, H, W]")
        if bb.dim() != 2 or bb.shape[-1] != 4 or bb.shape[0] != feat3_r.shape[0] or bb.shape[0] != feat4_r.shape[0]:
            raise ValueError(f"AtomIoUNet.get_modulation: `bb` must be [B, 4] with B = {feat3_r.shape[0]} "
                             f"(the feature batch), got {tuple(bb.shape)}")
        rois = xywh_to_rois(bb.to(feat3_r.dtype).unsqueeze(1))
        c3_r = self.conv3_1r(feat3_r)
        roi3r = self.prroi_pool3r(c3_r, rois)
        c4_r = self.conv4_1r(feat4_r)
        roi4r = self.prroi_pool4r(c4_r, rois)
        fc3_r = self.fc3_1r(roi3r)
        fc34_r = torch.cat((fc3_r, roi4r), dim=1)
        b = bb.shape[0]
        return self.fc34_3r(fc34_r).reshape(b, -1), self.fc34_4r(fc34_r).reshape(b, -1)

    def get_iou_feat(self, feat2: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-branch features: [layer2, layer3], each ``[N, C, H, W]`` or ``[S, B, C, H, W]`` (flattened to
        ``S * B``) -> ``(c3_t [N, pred_input_dim[0], H3, W3], c4_t [N, pred_input_dim[1], H4, W4])``."""
        _check_pair("get_iou_feat", "feat2", feat2)
        feat3_t, feat4_t = (f.reshape(-1, *f.shape[-3:]) for f in feat2)
        return self.conv3_2t(self.conv3_1t(feat3_t)), self.conv4_2t(self.conv4_1t(feat4_t))

    def predict_iou(self, modulation: Sequence[torch.Tensor], feat: Sequence[torch.Tensor],
                    proposals: torch.Tensor) -> torch.Tensor:
        """IoU predictions of proposals, differentiable with respect to ``proposals`` (box refinement).

        Args:
            modulation: ``(m3, m4)``, each with ``B * C`` elements (``[B, C]``, ``[B, C, 1, 1]``; also ``[C]``
                when B = 1, e.g. a modulation averaged over reference frames).
            feat: ``(c3_t, c4_t)`` from :meth:`get_iou_feat`, each ``[B, C, H, W]``.
            proposals: ``[B, P, 4]`` xywh boxes in image coordinates.

        Returns:
            ``[B, P]`` predicted IoUs.
        """
        _check_pair("predict_iou", "feat", feat)
        if not isinstance(modulation, (list, tuple)) or len(modulation) != 2:
            raise ValueError("AtomIoUNet.predict_iou: `modulation` must be a pair of tensors (from get_modulation)")
        c3_t, c4_t = feat
        b = c3_t.shape[0]
        if proposals.dim() != 3 or proposals.shape[0] != b or proposals.shape[-1] != 4:
            raise ValueError(f"AtomIoUNet.predict_iou: `proposals` must be [B, P, 4] with B = {b} (the feature "
                             f"batch), got {tuple(proposals.shape)}")
        if proposals.dtype != c3_t.dtype:
            raise TypeError(f"AtomIoUNet.predict_iou: `proposals` dtype {proposals.dtype} differs from the "
                            f"features' {c3_t.dtype}")
        att = []
        for name, m, c in (("m3", modulation[0], c3_t), ("m4", modulation[1], c4_t)):
            if m.numel() != b * c.shape[1]:
                raise ValueError(f"AtomIoUNet.predict_iou: modulation {name} has {m.numel()} elements, expected "
                                 f"B * C = {b} * {c.shape[1]}")
            att.append(c * m.reshape(b, -1, 1, 1))
        rois = xywh_to_rois(proposals)
        fc3_rt = self.fc3_rt(self.prroi_pool3t(att[0], rois))
        fc4_rt = self.fc4_rt(self.prroi_pool4t(att[1], rois))
        return self.iou_predictor(torch.cat((fc3_rt, fc4_rt), dim=1)).reshape(b, proposals.shape[1])
