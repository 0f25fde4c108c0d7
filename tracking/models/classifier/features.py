"""Classification-feature extractors of DiMP's classifier: residual blocks, a final conv and InstanceL2Norm.

The blocks are the backbone's torchvision-style residual blocks (parameter names ``conv1, bn1, conv2,
bn2[, conv3, bn3]``), used with stride 1 and without downsampling, so the Sequential indices and state_dict
keys equal pytracking's (``classifier.feature_extractor.0.conv1.weight`` ... for DiMP-18,
``classifier.feature_extractor.0.weight`` for DiMP-50's lone final conv). Weights are left at the blocks'
default init: ``LinearFilter`` re-initialises every conv and BatchNorm of its feature extractor. Input/output ``[N, C, H, W]``, spatial size kept.
"""

from torch import nn

from ..backbones.resnet import BasicBlock, Bottleneck
from ..layers.normalization import InstanceL2Norm


def _unsupported(name: str, **flags: bool) -> None:
    for flag, value in flags.items():
        if value:
            raise NotImplementedError(f"{name}: {flag}=True is not supported (no DiMP/PrDiMP/SuperDiMP net uses it)")


def residual_basic_block(feature_dim: int = 256, num_blocks: int = 1, l2norm: bool = True, final_conv: bool = False,
                         norm_scale: float = 1.0, out_dim: int | None = None, interp_cat: bool = False,
                         final_relu: bool = False, init_pool: bool = False) -> nn.Sequential:
    """``num_blocks`` BasicBlocks on ``feature_dim`` channels, then (``final_conv``) a 3x3 conv without bias
    to ``out_dim`` (+ ReLU if ``final_relu``), then (``l2norm``) ``InstanceL2Norm(scale=norm_scale)``.
    ``init_pool`` puts a 3x3/2 max-pool first. ``[N, feature_dim, H, W] -> [N, out_dim, H', W']``."""
    _unsupported("residual_basic_block", interp_cat=interp_cat)
    out_dim = feature_dim if out_dim is None else out_dim
    if num_blocks > 0 and not final_conv and out_dim != feature_dim:
        raise ValueError(f"residual_basic_block: out_dim={out_dim} != feature_dim={feature_dim} needs final_conv")
    layers: list[nn.Module] = []
    if init_pool:
        layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    layers.extend(BasicBlock(feature_dim, feature_dim) for _ in range(num_blocks))
    if final_conv:
        layers.append(nn.Conv2d(feature_dim, out_dim, kernel_size=3, padding=1, bias=False))
        if final_relu:
            layers.append(nn.ReLU(inplace=True))
    if l2norm:
        layers.append(InstanceL2Norm(scale=norm_scale))
    return nn.Sequential(*layers)


def residual_bottleneck(feature_dim: int = 256, num_blocks: int = 1, l2norm: bool = True, final_conv: bool = False,
                        norm_scale: float = 1.0, out_dim: int | None = None, interp_cat: bool = False,
                        final_relu: bool = False, final_pool: bool = False, input_dim: int | None = None,
                        final_stride: int = 1) -> nn.Sequential:
    """``num_blocks`` Bottlenecks (``4 * feature_dim`` channels in and out; ``input_dim`` defaults to that),
    then (``final_conv``) a 3x3 conv without bias to ``out_dim`` with stride ``final_stride`` (+ ReLU if
    ``final_relu``, + 3x3/2 max-pool if ``final_pool``), then (``l2norm``) ``InstanceL2Norm(norm_scale)``.
    DiMP-50: ``num_blocks=0, final_conv=True, out_dim=512`` on layer3's 1024 channels."""
    _unsupported("residual_bottleneck", interp_cat=interp_cat)
    out_dim = feature_dim if out_dim is None else out_dim
    dim = 4 * feature_dim if input_dim is None else input_dim
    if num_blocks > 0 and not final_conv and out_dim != 4 * feature_dim:
        raise ValueError(f"residual_bottleneck: out_dim={out_dim} != 4*feature_dim without final_conv")
    layers: list[nn.Module] = []
    for _ in range(num_blocks):
        if dim != 4 * feature_dim:
            raise ValueError(f"residual_bottleneck: input_dim={dim} must be 4*feature_dim={4 * feature_dim} "
                             "for a block without downsampling")
        layers.append(Bottleneck(dim, feature_dim))
        dim = 4 * feature_dim
    if final_conv:
        layers.append(nn.Conv2d(dim, out_dim, kernel_size=3, padding=1, bias=False, stride=final_stride))
        if final_relu:
            layers.append(nn.ReLU(inplace=True))
        if final_pool:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    if l2norm:
        layers.append(InstanceL2Norm(scale=norm_scale))
    return nn.Sequential(*layers)
