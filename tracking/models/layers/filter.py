"""Per-sequence filtering of feature maps (DiMP's target classifier) and its transpose w.r.t. the filter.

Shapes: features ``[num_images, num_sequences, C, H, W]`` (a 4-D ``[num_images, C, H, W]`` means one
sequence), one filter per sequence ``[num_sequences, C, fH, fW]``. Filtering is a cross-correlation (as
``F.conv2d``) with zero padding ``(fH // 2, fW // 2)``, so the score maps are
``[num_images, num_sequences, H + 2*(fH//2) - fH + 1, W + 2*(fW//2) - fW + 1]`` (even sizes add one row/col).
"""

import torch
import torch.nn.functional as F


def _sizes(feat: torch.Tensor, name: str = "feat") -> tuple[int, int, int, int, int]:
    """(num_images, num_sequences, C, H, W) of a 4-D or 5-D feature tensor."""
    if feat.dim() == 5:
        return tuple(feat.shape)  # type: ignore[return-value]
    if feat.dim() == 4:
        return feat.shape[0], 1, feat.shape[1], feat.shape[2], feat.shape[3]
    raise ValueError(f"{name} must be [images, sequences, C, H, W] or [images, C, H, W], got {tuple(feat.shape)}")


def _ksz(filter_ksz: int | tuple[int, int]) -> tuple[int, int]:
    return (filter_ksz, filter_ksz) if isinstance(filter_ksz, int) else (int(filter_ksz[0]), int(filter_ksz[1]))


def apply_filter(feat: torch.Tensor, filter: torch.Tensor) -> torch.Tensor:
    """Correlate each sequence's features with its filter.

    Args:
        feat: ``[num_images, num_sequences, C, H, W]`` (or ``[num_images, C, H, W]`` for one sequence).
        filter: ``[num_sequences, C, fH, fW]``.
    Returns:
        scores ``[num_images, num_sequences, H', W']`` with H' = H + 2*(fH//2) - fH + 1 (same for W).
    """
    num_images, num_sequences, channels, height, width = _sizes(feat)
    if filter.dim() != 4 or filter.shape[0] != num_sequences or filter.shape[1] != channels:
        raise ValueError(f"filter must be [num_sequences={num_sequences}, C={channels}, fH, fW] for feat of shape "
                         f"{tuple(feat.shape)}, got {tuple(filter.shape)}")
    padding = (filter.shape[-2] // 2, filter.shape[-1] // 2)
    scores = F.conv2d(feat.reshape(num_images, num_sequences * channels, height, width), filter,
                      padding=padding, groups=num_sequences)
    return scores.reshape(num_images, num_sequences, scores.shape[-2], scores.shape[-1])


def _check_input(feat: torch.Tensor, input: torch.Tensor, ksz: tuple[int, int]) -> None:
    num_images, num_sequences, _, height, width = _sizes(feat)
    expected = (num_images, num_sequences, height + 2 * (ksz[0] // 2) - ksz[0] + 1,
                width + 2 * (ksz[1] // 2) - ksz[1] + 1)
    if tuple(input.shape) != expected:
        raise ValueError(f"input must be the score shape {expected} for feat {tuple(feat.shape)} and filter size "
                         f"{ksz}, got {tuple(input.shape)}")


def feat_transpose_v2(feat: torch.Tensor, input: torch.Tensor, filter_ksz: int | tuple[int, int]) -> torch.Tensor:
    """Transpose of :func:`apply_filter` w.r.t. the filter, as a correlation of the score-shaped ``input``
    with the features (grouped per image and sequence), summed over images and flipped. Cheap forward pass,
    costly backward pass (used in eval mode). Returns ``[num_sequences, C, fH, fW]``."""
    ksz = _ksz(filter_ksz)
    _check_input(feat, input, ksz)
    num_images, num_sequences, channels, height, width = _sizes(feat)
    groups = num_images * num_sequences
    padding = ((ksz[0] - 1) // 2, (ksz[1] - 1) // 2)
    out = F.conv2d(input.reshape(1, groups, input.shape[-2], input.shape[-1]),
                   feat.reshape(groups * channels, 1, height, width), padding=padding, groups=groups)
    out = out.reshape(num_images, num_sequences, channels, out.shape[-2], out.shape[-1]).sum(dim=0)
    return out.flip((2, 3))


def feat_transpose_v3(feat: torch.Tensor, input: torch.Tensor, filter_ksz: int | tuple[int, int]) -> torch.Tensor:
    """Same result as :func:`feat_transpose_v2`, computed as a correlation of the features (channels as batch)
    with the score-shaped ``input`` as per-image kernels. Costly forward, cheap backward (used in training).
    Returns ``[num_sequences, C, fH, fW]``."""
    ksz = _ksz(filter_ksz)
    _check_input(feat, input, ksz)
    num_images, num_sequences, channels, height, width = _sizes(feat)
    groups = num_images * num_sequences
    padding = (ksz[0] // 2, ksz[1] // 2)
    out = F.conv2d(feat.reshape(groups, channels, height, width).permute(1, 0, 2, 3),
                   input.reshape(groups, 1, input.shape[-2], input.shape[-1]), padding=padding, groups=groups)
    out = out.reshape(channels, num_images, num_sequences, out.shape[-2], out.shape[-1]).sum(dim=1)
    return out.permute(1, 0, 2, 3)


def apply_feat_transpose(feat: torch.Tensor, input: torch.Tensor, filter_ksz: int | tuple[int, int],
                         training: bool = True) -> torch.Tensor:
    """The adjoint of ``filter -> apply_filter(feat, filter)`` applied to ``input``: the gradient of
    ``<apply_filter(feat, f), input>`` w.r.t. ``f``.

    Args:
        feat: ``[num_images, num_sequences, C, H, W]`` (or 4-D for one sequence).
        input: ``[num_images, num_sequences, H', W']``, score-shaped (e.g. residuals).
        filter_ksz: filter size fH (= fW) or (fH, fW).
        training: pick the implementation whose backward pass is cheap (:func:`feat_transpose_v3`, as
            pytracking in train mode) or whose forward pass is (:func:`feat_transpose_v2`, eval mode).
    Returns:
        ``[num_sequences, C, fH, fW]``.
    """
    if training:
        return feat_transpose_v3(feat, input, filter_ksz)
    return feat_transpose_v2(feat, input, filter_ksz)
