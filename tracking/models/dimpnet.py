"""DiMP / PrDiMP / SuperDiMP networks: a ResNet backbone, DiMP's target classifier and an ATOM IoU-Net.

Constructors (registered in ``tracking.models.registry``; defaults are pytracking's constructor defaults, the
train settings pass other values, e.g. ``filter_size=4``):
    dimpnet18, dimpnet50          DiMP (DiMPSteepestDescentGN classifier optimiser)
    klcedimpnet18, klcedimpnet50  PrDiMP (PrDiMPSteepestDescentNewton: KL loss on the score grid)
    super_dimp                    SuperDiMP as pytracking's ``super_dimp.py`` builds it: ``dimpnet50`` with
                                  its settings (it is DiMP's classifier, trained with PrDiMP's losses)
Images are ``[images, sequences, 3, H, W]`` normalised as the backbone expects; boxes ``(x, y, w, h)`` in
pixels of those images.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import Tensor, nn

from .backbones.resnet import resnet18, resnet50
from .bbreg.atom_iou_net import AtomIoUNet
from .classifier import features as clf_features
from .classifier.initializer import FilterInitializerLinear
from .classifier.linear_filter import LinearFilter
from .classifier.optimizer import DiMPSteepestDescentGN, PrDiMPSteepestDescentNewton
from .registry import register_network


class DiMPnet(nn.Module):
    """Backbone + target classifier + bounding-box regressor.

    Args:
        feature_extractor: backbone, ``(im [N, 3, H, W], layers) -> {layer: features}``.
        classifier: ``LinearFilter``.
        bb_regressor: ``AtomIoUNet``-like, ``(train feats, test feats, train_bb, proposals) -> iou``.
        classification_layer: backbone layer (or layers) the classifier reads.
        bb_regressor_layer: backbone layers the regressor reads, in its order.
    """

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module, bb_regressor: nn.Module,
                 classification_layer: str | Sequence[str] = "layer3",
                 bb_regressor_layer: Sequence[str] = ("layer2", "layer3")) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.bb_regressor = bb_regressor
        self.classification_layer = ([classification_layer] if isinstance(classification_layer, str)
                                     else list(classification_layer))
        self.bb_regressor_layer = list(bb_regressor_layer)
        self.output_layers = sorted(set(self.classification_layer + self.bb_regressor_layer))

    def forward(self, train_imgs: Tensor, test_imgs: Tensor, train_bb: Tensor, test_proposals: Tensor,
                *args, **kwargs) -> tuple[list[Tensor], Tensor]:
        """Training forward pass.

        Args:
            train_imgs: ``[I_train, B, 3, H, W]``; test_imgs: ``[I_test, B, 3, H, W]``.
            train_bb: ``[I_train, B, 4]`` target boxes (x, y, w, h) of the train images.
            test_proposals: ``[I_test, B, P, 4]`` proposal boxes (x, y, w, h) in the test images.
            *args, **kwargs: passed to the classifier's filter optimiser (e.g. ``num_iter``).
        Returns:
            ``(target_scores, iou_pred)``: one ``[I_test, B, H', W']`` score map per filter iterate
            (``num_iter + 1``), and ``[I_test, B, P]`` predicted IoUs.
        """
        if train_imgs.dim() != 5 or test_imgs.dim() != 5:
            raise ValueError(f"train_imgs and test_imgs must be [images, sequences, 3, H, W], got shapes "
                             f"{tuple(train_imgs.shape)} and {tuple(test_imgs.shape)}")
        train_feat = self.extract_backbone_features(train_imgs.reshape(-1, *train_imgs.shape[-3:]))
        test_feat = self.extract_backbone_features(test_imgs.reshape(-1, *test_imgs.shape[-3:]))
        target_scores = self.classifier(self.get_backbone_clf_feat(train_feat), self.get_backbone_clf_feat(test_feat),
                                        train_bb, *args, **kwargs)
        iou_pred = self.bb_regressor(self.get_backbone_bbreg_feat(train_feat), self.get_backbone_bbreg_feat(test_feat),
                                     train_bb, test_proposals)
        return target_scores, iou_pred

    def get_backbone_clf_feat(self, backbone_feat: dict[str, Tensor]) -> Tensor | OrderedDict[str, Tensor]:
        """The classification layer's features (an OrderedDict if there are several)."""
        if len(self.classification_layer) == 1:
            return backbone_feat[self.classification_layer[0]]
        return OrderedDict((name, backbone_feat[name]) for name in self.classification_layer)

    def get_backbone_bbreg_feat(self, backbone_feat: dict[str, Tensor]) -> list[Tensor]:
        """The regressor's features, in ``bb_regressor_layer`` order."""
        return [backbone_feat[name] for name in self.bb_regressor_layer]

    def extract_classification_feat(self, backbone_feat: dict[str, Tensor]) -> Tensor:
        """Classification features ``[N, C, H, W]`` from backbone features."""
        return self.classifier.extract_classification_feat(self.get_backbone_clf_feat(backbone_feat))

    def extract_backbone_features(self, im: Tensor, layers: Sequence[str] | None = None) -> OrderedDict[str, Tensor]:
        """Backbone features of ``im`` ``[N, 3, H, W]`` for ``layers`` (default: all the net needs)."""
        return self.feature_extractor(im, list(self.output_layers if layers is None else layers))

    def extract_features(self, im: Tensor, layers: Sequence[str] | None = None) -> OrderedDict[str, Tensor]:
        """Tracker use: features of ``im`` for ``layers``, which may include ``'classification'`` (the
        classifier's features); default: the regressor's layers and ``'classification'``."""
        layers = self.bb_regressor_layer + ["classification"] if layers is None else list(layers)
        if "classification" not in layers:
            return self.feature_extractor(im, layers)
        backbone_layers = sorted({name for name in layers + self.classification_layer if name != "classification"})
        all_feat = self.feature_extractor(im, backbone_layers)
        all_feat["classification"] = self.extract_classification_feat(all_feat)
        return OrderedDict((name, all_feat[name]) for name in layers)


def _backbone(depth: int, pretrained: bool, frozen_backbone_layers: str | Sequence[str],
              weights_path: str | None) -> nn.Module:
    build = resnet18 if depth == 18 else resnet50
    return build(pretrained=pretrained, frozen_layers=frozen_backbone_layers, weights_path=weights_path)


def _clf_features(depth: int, classification_layer: str, clf_feat_blocks: int, clf_feat_norm: bool,
                  final_conv: bool, out_feature_dim: int, filter_size: int, final_relu: bool) -> nn.Sequential:
    norm_scale = math.sqrt(1.0 / (out_feature_dim * filter_size * filter_size))
    if depth == 18:
        return clf_features.residual_basic_block(num_blocks=clf_feat_blocks, l2norm=clf_feat_norm,
                                                 final_conv=final_conv, norm_scale=norm_scale,
                                                 out_dim=out_feature_dim, final_relu=final_relu)
    dims = {"layer3": 256, "layer4": 512}
    if classification_layer not in dims:
        raise ValueError(f"classification_layer must be 'layer3' or 'layer4', got {classification_layer!r}")
    return clf_features.residual_bottleneck(feature_dim=dims[classification_layer], num_blocks=clf_feat_blocks,
                                            l2norm=clf_feat_norm, final_conv=final_conv, norm_scale=norm_scale,
                                            out_dim=out_feature_dim, final_relu=final_relu)


def _iou_net(depth: int, iou_input_dim: Sequence[int], iou_inter_dim: Sequence[int]) -> nn.Module:
    input_dim = (128, 256) if depth == 18 else (4 * 128, 4 * 256)
    return AtomIoUNet(input_dim=input_dim, pred_input_dim=tuple(iou_input_dim), pred_inter_dim=tuple(iou_inter_dim))


def _dimp(depth: int, filter_size: int, optim_iter: int, optim_init_step: float, optim_init_reg: float,
          classification_layer: str, feat_stride: int, backbone_pretrained: bool, clf_feat_blocks: int,
          clf_feat_norm: bool, init_filter_norm: bool, final_conv: bool, out_feature_dim: int,
          init_gauss_sigma: float, num_dist_bins: int, bin_displacement: float, mask_init_factor: float,
          iou_input_dim: Sequence[int], iou_inter_dim: Sequence[int], score_act: str, act_param: float | None,
          target_mask_act: str, detach_length: float, frozen_backbone_layers: str | Sequence[str],
          weights_path: str | None) -> DiMPnet:
    backbone = _backbone(depth, backbone_pretrained, frozen_backbone_layers, weights_path)
    features = _clf_features(depth, classification_layer, clf_feat_blocks, clf_feat_norm, final_conv,
                             out_feature_dim, filter_size, final_relu=False)
    initializer = FilterInitializerLinear(filter_size=filter_size, filter_norm=init_filter_norm,
                                          feature_dim=out_feature_dim)
    optimizer = DiMPSteepestDescentGN(num_iter=optim_iter, feat_stride=feat_stride, init_step_length=optim_init_step,
                                      init_filter_reg=optim_init_reg, init_gauss_sigma=init_gauss_sigma,
                                      num_dist_bins=num_dist_bins, bin_displacement=bin_displacement,
                                      mask_init_factor=mask_init_factor, score_act=score_act, act_param=act_param,
                                      mask_act=target_mask_act, detach_length=detach_length)
    classifier = LinearFilter(filter_size=filter_size, filter_initializer=initializer, filter_optimizer=optimizer,
                              feature_extractor=features)
    return DiMPnet(backbone, classifier, _iou_net(depth, iou_input_dim, iou_inter_dim),
                   classification_layer=classification_layer, bb_regressor_layer=("layer2", "layer3"))


@register_network("dimpnet18")
def dimpnet18(filter_size: int = 1, optim_iter: int = 5, optim_init_step: float = 1.0, optim_init_reg: float = 0.01,
              classification_layer: str = "layer3", feat_stride: int = 16, backbone_pretrained: bool = True,
              clf_feat_blocks: int = 1, clf_feat_norm: bool = True, init_filter_norm: bool = False,
              final_conv: bool = True, out_feature_dim: int = 256, init_gauss_sigma: float = 1.0,
              num_dist_bins: int = 5, bin_displacement: float = 1.0, mask_init_factor: float = 4.0,
              iou_input_dim: Sequence[int] = (256, 256), iou_inter_dim: Sequence[int] = (256, 256),
              score_act: str = "relu", act_param: float | None = None, target_mask_act: str = "sigmoid",
              detach_length: float = float("Inf"), frozen_backbone_layers: str | Sequence[str] = (),
              weights_path: str | None = None) -> DiMPnet:
    """DiMP-18. ``weights_path``: ImageNet ResNet-18 weights file for ``backbone_pretrained`` (see
    ``tracking.models.backbones.resnet18``)."""
    return _dimp(18, filter_size, optim_iter, optim_init_step, optim_init_reg, classification_layer, feat_stride,
                 backbone_pretrained, clf_feat_blocks, clf_feat_norm, init_filter_norm, final_conv, out_feature_dim,
                 init_gauss_sigma, num_dist_bins, bin_displacement, mask_init_factor, iou_input_dim, iou_inter_dim,
                 score_act, act_param, target_mask_act, detach_length, frozen_backbone_layers, weights_path)


@register_network("dimpnet50")
def dimpnet50(filter_size: int = 1, optim_iter: int = 5, optim_init_step: float = 1.0, optim_init_reg: float = 0.01,
              classification_layer: str = "layer3", feat_stride: int = 16, backbone_pretrained: bool = True,
              clf_feat_blocks: int = 0, clf_feat_norm: bool = True, init_filter_norm: bool = False,
              final_conv: bool = True, out_feature_dim: int = 512, init_gauss_sigma: float = 1.0,
              num_dist_bins: int = 5, bin_displacement: float = 1.0, mask_init_factor: float = 4.0,
              iou_input_dim: Sequence[int] = (256, 256), iou_inter_dim: Sequence[int] = (256, 256),
              score_act: str = "relu", act_param: float | None = None, target_mask_act: str = "sigmoid",
              detach_length: float = float("Inf"), frozen_backbone_layers: str | Sequence[str] = (),
              weights_path: str | None = None) -> DiMPnet:
    """DiMP-50 (ResNet-50 backbone, one 3x3 conv as classification features)."""
    return _dimp(50, filter_size, optim_iter, optim_init_step, optim_init_reg, classification_layer, feat_stride,
                 backbone_pretrained, clf_feat_blocks, clf_feat_norm, init_filter_norm, final_conv, out_feature_dim,
                 init_gauss_sigma, num_dist_bins, bin_displacement, mask_init_factor, iou_input_dim, iou_inter_dim,
                 score_act, act_param, target_mask_act, detach_length, frozen_backbone_layers, weights_path)


def _prdimp(depth: int, filter_size: int, optim_iter: int, optim_init_step: float, optim_init_reg: float,
            classification_layer: str, feat_stride: int, backbone_pretrained: bool, clf_feat_blocks: int,
            clf_feat_norm: bool, init_filter_norm: bool, final_conv: bool, out_feature_dim: int, gauss_sigma: float,
            iou_input_dim: Sequence[int], iou_inter_dim: Sequence[int], detach_length: float, alpha_eps: float,
            train_feature_extractor: bool, init_uni_weight: float | None, optim_min_reg: float,
            init_initializer: str, normalize_label: bool, label_shrink: float, softmax_reg: float | None,
            label_threshold: float, final_relu: bool, init_pool_square: bool,
            frozen_backbone_layers: str | Sequence[str], weights_path: str | None) -> DiMPnet:
    if not train_feature_extractor:
        frozen_backbone_layers = "all"
    backbone = _backbone(depth, backbone_pretrained, frozen_backbone_layers, weights_path)
    # pytracking's klcedimpnet50 builds its bottleneck features on 256 (layer3) whatever classification_layer
    features = _clf_features(depth, "layer3", clf_feat_blocks, clf_feat_norm, final_conv, out_feature_dim,
                             filter_size, final_relu=final_relu)
    initializer = FilterInitializerLinear(filter_size=filter_size, filter_norm=init_filter_norm,
                                          feature_dim=out_feature_dim, init_weights=init_initializer,
                                          pool_square=init_pool_square)
    optimizer = PrDiMPSteepestDescentNewton(num_iter=optim_iter, feat_stride=feat_stride,
                                            init_step_length=optim_init_step, init_filter_reg=optim_init_reg,
                                            gauss_sigma=gauss_sigma, detach_length=detach_length, alpha_eps=alpha_eps,
                                            init_uni_weight=init_uni_weight, min_filter_reg=optim_min_reg,
                                            normalize_label=normalize_label, label_shrink=label_shrink,
                                            softmax_reg=softmax_reg, label_threshold=label_threshold)
    classifier = LinearFilter(filter_size=filter_size, filter_initializer=initializer, filter_optimizer=optimizer,
                              feature_extractor=features)
    return DiMPnet(backbone, classifier, _iou_net(depth, iou_input_dim, iou_inter_dim),
                   classification_layer=classification_layer, bb_regressor_layer=("layer2", "layer3"))


@register_network("klcedimpnet18")
def klcedimpnet18(filter_size: int = 1, optim_iter: int = 5, optim_init_step: float = 1.0,
                  optim_init_reg: float = 0.01, classification_layer: str = "layer3", feat_stride: int = 16,
                  backbone_pretrained: bool = True, clf_feat_blocks: int = 1, clf_feat_norm: bool = True,
                  init_filter_norm: bool = False, final_conv: bool = True, out_feature_dim: int = 256,
                  gauss_sigma: float = 1.0, iou_input_dim: Sequence[int] = (256, 256),
                  iou_inter_dim: Sequence[int] = (256, 256), detach_length: float = float("Inf"),
                  alpha_eps: float = 0.0, train_feature_extractor: bool = True, init_uni_weight: float | None = None,
                  optim_min_reg: float = 1e-3, init_initializer: str = "default", normalize_label: bool = False,
                  label_shrink: float = 0, softmax_reg: float | None = None, label_threshold: float = 0,
                  final_relu: bool = False, init_pool_square: bool = False,
                  frozen_backbone_layers: str | Sequence[str] = (), weights_path: str | None = None) -> DiMPnet:
    """PrDiMP-18 (PrDiMP's train settings: ``filter_size=4, optim_init_step=1.0, optim_init_reg=0.05,
    optim_min_reg=0.05, gauss_sigma=0.9, alpha_eps=0.05, normalize_label=True, init_initializer='zero'``)."""
    return _prdimp(18, filter_size, optim_iter, optim_init_step, optim_init_reg, classification_layer, feat_stride,
                   backbone_pretrained, clf_feat_blocks, clf_feat_norm, init_filter_norm, final_conv,
                   out_feature_dim, gauss_sigma, iou_input_dim, iou_inter_dim, detach_length, alpha_eps,
                   train_feature_extractor, init_uni_weight, optim_min_reg, init_initializer, normalize_label,
                   label_shrink, softmax_reg, label_threshold, final_relu, init_pool_square, frozen_backbone_layers,
                   weights_path)


@register_network("klcedimpnet50")
def klcedimpnet50(filter_size: int = 1, optim_iter: int = 5, optim_init_step: float = 1.0,
                  optim_init_reg: float = 0.01, classification_layer: str = "layer3", feat_stride: int = 16,
                  backbone_pretrained: bool = True, clf_feat_blocks: int = 0, clf_feat_norm: bool = True,
                  init_filter_norm: bool = False, final_conv: bool = True, out_feature_dim: int = 512,
                  gauss_sigma: float = 1.0, iou_input_dim: Sequence[int] = (256, 256),
                  iou_inter_dim: Sequence[int] = (256, 256), detach_length: float = float("Inf"),
                  alpha_eps: float = 0.0, train_feature_extractor: bool = True, init_uni_weight: float | None = None,
                  optim_min_reg: float = 1e-3, init_initializer: str = "default", normalize_label: bool = False,
                  label_shrink: float = 0, softmax_reg: float | None = None, label_threshold: float = 0,
                  final_relu: bool = False, frozen_backbone_layers: str | Sequence[str] = (),
                  weights_path: str | None = None) -> DiMPnet:
    """PrDiMP-50 (train settings as ``klcedimpnet18``'s plus ``clf_feat_blocks=0, out_feature_dim=512``)."""
    return _prdimp(50, filter_size, optim_iter, optim_init_step, optim_init_reg, classification_layer, feat_stride,
                   backbone_pretrained, clf_feat_blocks, clf_feat_norm, init_filter_norm, final_conv,
                   out_feature_dim, gauss_sigma, iou_input_dim, iou_inter_dim, detach_length, alpha_eps,
                   train_feature_extractor, init_uni_weight, optim_min_reg, init_initializer, normalize_label,
                   label_shrink, softmax_reg, label_threshold, final_relu, False, frozen_backbone_layers,
                   weights_path)


SUPER_DIMP_SETTINGS: dict[str, object] = {
    "filter_size": 4, "optim_iter": 5, "clf_feat_norm": True, "clf_feat_blocks": 0, "final_conv": True,
    "out_feature_dim": 512, "optim_init_step": 0.9, "optim_init_reg": 0.1,
    "init_gauss_sigma": 0.25 / 6.0 * 22,   # output_sigma_factor / search_area_factor * feature_sz
    "num_dist_bins": 100, "bin_displacement": 0.1, "mask_init_factor": 3.0, "target_mask_act": "sigmoid",
    "score_act": "relu", "frozen_backbone_layers": ("conv1", "bn1", "layer1", "layer2"),
}
"""pytracking's ``ltr/train_settings/dimp/super_dimp.py`` arguments of ``dimpnet50``; images 352x352
(feature_sz 22)."""


@register_network("super_dimp")
def super_dimp(backbone_pretrained: bool = True, **kwargs) -> DiMPnet:
    """SuperDiMP: ``dimpnet50(**SUPER_DIMP_SETTINGS)``, any setting overridable by keyword."""
    return dimpnet50(backbone_pretrained=backbone_pretrained, **{**SUPER_DIMP_SETTINGS, **kwargs})
