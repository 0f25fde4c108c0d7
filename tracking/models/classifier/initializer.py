"""DiMP's initial target filter: pool the target box out of (conv-transformed) train features.

Boxes are ``(x, y, w, h)`` in image pixels (the crop the features come from); ``feature_stride`` maps them
onto the feature grid (PrRoIPool's spatial_scale ``1 / feature_stride``).
"""

import math

import torch
from torch import Tensor, nn

from ...ops import PrRoIPool2D


class FilterPool(nn.Module):
    """Precise-RoI-pool each sample's target box into a ``filter_size x filter_size`` map.

    ``pool_square`` pools the square of the same area centred on the box instead of the box itself.
    """

    def __init__(self, filter_size: int = 1, feature_stride: int = 16, pool_square: bool = False) -> None:
        super().__init__()
        self.prroi_pool = PrRoIPool2D(filter_size, filter_size, 1.0 / feature_stride)
        self.pool_square = pool_square

    def forward(self, feat: Tensor, bb: Tensor) -> Tensor:
        """Args:
            feat: ``[num_samples, C, H, W]``.
            bb: boxes ``(x, y, w, h)``, anything reshapeable to ``[num_samples, 4]`` (sample i pools from
                feat[i]).
        Returns:
            ``[num_samples, C, filter_size, filter_size]``.
        """
        if bb.numel() % 4 or bb.numel() // 4 != feat.shape[0]:
            raise ValueError(f"FilterPool: bb must hold one (x, y, w, h) box per feature map ({feat.shape[0]}), "
                             f"got shape {tuple(bb.shape)}")
        boxes = bb.reshape(-1, 4)
        xy, wh = boxes[:, :2], boxes[:, 2:]
        if self.pool_square:
            side = wh.prod(dim=1, keepdim=True).sqrt()
            xy = xy + wh / 2 - side / 2
            wh = side.expand(-1, 2)
        index = torch.arange(boxes.shape[0], dtype=boxes.dtype, device=boxes.device).reshape(-1, 1)
        rois = torch.cat((index, xy, xy + wh), dim=1)
        return self.prroi_pool(feat, rois)


class FilterInitializerLinear(nn.Module):
    """Initial filter = mean over the train images of the pooled target region of ``conv(feat)``.

    ``filter_conv`` is a ``conv_ksz x conv_ksz`` conv (with bias) keeping ``feature_dim`` channels; init
    ``'default'`` draws its weights from N(0, 2 / (k*k*out_channels)), ``'zero'`` zeroes them; the bias is 0.
    ``filter_norm`` divides the filter by its number of elements ``C * fH * fW``.
    """

    def __init__(self, filter_size: int = 1, feature_dim: int = 256, feature_stride: int = 16,
                 pool_square: bool = False, filter_norm: bool = True, num_filter_pre_convs: int = 1,
                 conv_ksz: int = 3, init_weights: str = "default") -> None:
        super().__init__()
        if init_weights not in ("default", "zero"):
            raise ValueError(f"FilterInitializerLinear: init_weights must be 'default' or 'zero', got {init_weights!r}")
        # num_filter_pre_convs is accepted for signature compatibility; the linear initialiser has one conv.
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, kernel_size=conv_ksz, padding=conv_ksz // 2)
        self.filter_pool = FilterPool(filter_size=filter_size, feature_stride=feature_stride, pool_square=pool_square)
        self.filter_norm = filter_norm
        with torch.no_grad():
            if init_weights == "default":
                n = conv_ksz * conv_ksz * feature_dim
                self.filter_conv.weight.normal_(0.0, math.sqrt(2.0 / n))
            else:
                self.filter_conv.weight.zero_()
            self.filter_conv.bias.zero_()

    def forward(self, feat: Tensor, bb: Tensor) -> Tensor:
        """Args:
            feat: ``[num_images, num_sequences, C, H, W]`` (or ``[num_images, C, H, W]``, one sequence).
            bb: ``[num_images, num_sequences, 4]`` (or ``[num_images, 4]``) boxes ``(x, y, w, h)``.
        Returns:
            ``[num_sequences, C, filter_size, filter_size]``.
        """
        num_images = feat.shape[0]
        feat = self.filter_conv(feat.reshape(-1, *feat.shape[-3:]))
        weights = self.filter_pool(feat, bb)
        if num_images > 1:
            weights = weights.reshape(num_images, -1, *weights.shape[-3:]).mean(dim=0)
        if self.filter_norm:
            weights = weights / (weights.shape[1] * weights.shape[2] * weights.shape[3])
        return weights
