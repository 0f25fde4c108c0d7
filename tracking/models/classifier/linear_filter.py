"""DiMP's target classifier: classification features, a learnt initial filter and its unrolled optimisation."""

import math

from torch import Tensor, nn

from ..layers.filter import apply_filter


class LinearFilter(nn.Module):
    """Target classification by a linear filter learnt from the train frames.

    Args:
        filter_size: filter side fH = fW.
        filter_initializer: module ``(feat, bb) -> weights [S, C, fH, fW]``.
        filter_optimizer: module ``(weights, feat=, bb=, ...) -> (weights, iterates, losses)`` or None
            (then the initial filter is the only iterate).
        feature_extractor: module turning backbone features into classification features, or None. Its convs
            are re-initialised from N(0, 2 / (k*k*out_channels)) with zero bias, its BatchNorms to weight 1,
            bias 0.
    Shapes: features ``[I, S, C, H, W]``, boxes ``(x, y, w, h)`` ``[I, S, 4]`` in image pixels, scores
    ``[I, S, H', W']`` (see ``layers.filter``).
    """

    def __init__(self, filter_size: int, filter_initializer: nn.Module, filter_optimizer: nn.Module | None = None,
                 feature_extractor: nn.Module | None = None) -> None:
        super().__init__()
        self.filter_size = filter_size
        self.filter_initializer = filter_initializer
        self.filter_optimizer = filter_optimizer
        self.feature_extractor = feature_extractor
        if feature_extractor is not None:
            for m in feature_extractor.modules():
                if isinstance(m, nn.Conv2d):
                    n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                    nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, train_feat: Tensor, test_feat: Tensor, train_bb: Tensor, *args, **kwargs) -> list[Tensor]:
        """Learn the filter on the train frames and score the test frames with every iterate (training use).

        Args:
            train_feat: backbone features ``[I_train, S, C, H, W]`` or ``[I_train * S, C, H, W]``.
            test_feat: backbone features ``[I_test, S, C, H, W]`` or ``[I_test * S, C, H, W]``.
            train_bb: ``[I_train, S, 4]`` boxes ``(x, y, w, h)``.
            *args, **kwargs: passed to the filter optimiser (sample_weight, num_iter, compute_losses).
        Returns:
            one ``[I_test, S, H', W']`` score map per filter iterate (initial filter first).
        """
        if train_bb.dim() != 3 or train_bb.shape[-1] != 4:
            raise ValueError(f"train_bb must be [images, sequences, 4], got shape {tuple(train_bb.shape)}")
        num_sequences = train_bb.shape[1]
        train_feat = self.extract_classification_feat(train_feat, num_sequences)
        test_feat = self.extract_classification_feat(test_feat, num_sequences)
        _, filter_iter, _ = self.get_filter(train_feat, train_bb, *args, **kwargs)
        return [self.classify(f, test_feat) for f in filter_iter]

    def extract_classification_feat(self, feat: Tensor, num_sequences: int | None = None) -> Tensor:
        """Classification features of backbone features. With ``num_sequences`` the result is
        ``[N / S, S, C', H, W]``, otherwise it keeps the 4-D batch layout ``[N, C', H, W]``."""
        if self.feature_extractor is None:
            return feat
        if num_sequences is None:
            return self.feature_extractor(feat)
        output = self.feature_extractor(feat.reshape(-1, *feat.shape[-3:]))
        return output.reshape(-1, num_sequences, *output.shape[-3:])

    def classify(self, weights: Tensor, feat: Tensor) -> Tensor:
        """Scores ``[I, S, H', W']`` of filter ``weights`` ``[S, C, fH, fW]`` on ``feat``."""
        return apply_filter(feat, weights)

    def get_filter(self, feat: Tensor, bb: Tensor, *args, **kwargs) -> tuple[Tensor, list[Tensor], list[Tensor] | None]:
        """Initial filter, then the optimiser. Returns ``(final weights, all iterates incl. the initial filter,
        losses or None without optimiser)``; weights ``[S, C, fH, fW]``."""
        weights = self.filter_initializer(feat, bb)
        if self.filter_optimizer is None:
            return weights, [weights], None
        return self.filter_optimizer(weights, feat=feat, bb=bb, *args, **kwargs)

    def train_classifier(self, backbone_feat: Tensor, bb: Tensor) -> tuple[Tensor, list[Tensor] | None]:
        """Tracker use: the final filter and the train losses for backbone features of the train frames and
        boxes ``[I, S, 4]``."""
        train_feat = self.extract_classification_feat(backbone_feat.reshape(-1, *backbone_feat.shape[-3:]),
                                                      bb.shape[1])
        final_filter, _, losses = self.get_filter(train_feat, bb)
        return final_filter, losses

    def track_frame(self, filter_weights: Tensor, backbone_feat: Tensor) -> Tensor:
        """Tracker use: scores of ``filter_weights`` on a frame's backbone features (4-D or 5-D)."""
        num_sequences = backbone_feat.shape[1] if backbone_feat.dim() == 5 else None
        test_feat = self.extract_classification_feat(backbone_feat.reshape(-1, *backbone_feat.shape[-3:]),
                                                     num_sequences)
        return apply_filter(test_feat, filter_weights)
