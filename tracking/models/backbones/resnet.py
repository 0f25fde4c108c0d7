"""ResNet-18 / ResNet-50 feature extractors with torchvision's (and pytracking's) parameter names.

The module layout, and hence the ``state_dict`` keys and their order, is torchvision's ``resnet18`` /
``resnet50`` (conv1, bn1, layer1..layer4 with ``downsample.0/1`` in the first block of a layer, fc), which is also
what pytracking's backbone stores under ``feature_extractor.*``. The whole classifier (``fc``, 1000 classes) is
kept so ImageNet weights and pytracking checkpoints load with ``strict=True``, although trackers stop earlier.

Input: ``[B, 3, H, W]`` float images normalised with ``tracking.ops.normalize_images`` (RGB, ImageNet mean/std).
Output feature ``layerN`` has ``layer_channels[layerN]`` channels and spatial size ``ceil(H / stride)``-ish with
``layer_strides[layerN]`` (exact sizes follow the convolutions' padding: conv1 7x7/2 pad 3, maxpool 3x3/2 pad 1,
3x3/2 pad 1 in the first block of layer2..layer4).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Union

import torch
from torch import Tensor, nn

LAYER_NAMES = ("conv1", "layer1", "layer2", "layer3", "layer4", "fc")
"""Names accepted in ``output_layers``, in the order they are computed."""

FREEZABLE = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")
"""Names accepted in ``frozen_layers`` (besides ``"all"``); ``"conv1"`` means conv1 and bn1 (the stem), ``"bn1"``
the stem's BatchNorm alone (pytracking's settings name both, e.g. SuperDiMP's ``['conv1', 'bn1', 'layer1']``)."""

FrozenLayers = Union[str, Iterable[str]]


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, residual connection (ResNet-18/34). ``stride`` is on the first conv."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as torchvision >= 0.5 and pytracking), 1x1 expand x4; residual."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _check_output_layers(output_layers: Sequence[str], argument: str = "output_layers") -> tuple[str, ...]:
    if isinstance(output_layers, str):
        output_layers = (output_layers,)
    layers = tuple(output_layers)
    if not layers:
        raise ValueError(f"{argument} is empty; give at least one of {LAYER_NAMES}")
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"{argument}: unknown layer(s) {unknown}; known layers are {LAYER_NAMES}")
    return layers


def _check_frozen_layers(frozen_layers: FrozenLayers) -> tuple[str, ...]:
    if isinstance(frozen_layers, str):
        if frozen_layers.lower() == "all":
            return FREEZABLE
        if frozen_layers.lower() == "none":
            return ()
        frozen_layers = (frozen_layers,)
    layers = tuple(frozen_layers)
    if "all" in layers:
        return FREEZABLE
    unknown = [name for name in layers if name not in FREEZABLE]
    if unknown:
        raise ValueError(f"frozen_layers: unknown layer(s) {unknown}; use 'all', 'none' or names among {FREEZABLE}")
    return tuple(name for name in FREEZABLE if name in layers)


class ResNet(nn.Module):
    """A ResNet that returns the intermediate features it is asked for.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks in layer1..layer4 (``[2, 2, 2, 2]`` for ResNet-18, ``[3, 4, 6, 3]`` for 50).
        output_layers: the default layers ``forward`` returns (among ``LAYER_NAMES``).
        num_classes: outputs of ``fc`` (1000 for ImageNet weights).
        frozen_layers: ``"all"``, ``"none"`` or names among ``FREEZABLE``: their parameters get
            ``requires_grad=False`` and their BatchNorms stay in eval mode (running statistics neither used
            from the batch nor updated) even after ``.train()``.

    Attributes:
        layer_channels: output channels of each layer name.
        layer_strides: output stride (input pixels per feature cell) of each layer name except fc.

    Init as pytracking's and torchvision's: conv weights ~ N(0, 2 / (k*k*out_channels)) (kaiming normal,
    fan_out, ReLU gain), BatchNorm weight 1 and bias 0, ``fc`` torch's default Linear init.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 output_layers: Sequence[str] = ("layer2", "layer3"), num_classes: int = 1000,
                 frozen_layers: FrozenLayers = ()) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of the 4 stages, got {list(layers)}")
        self.output_layers = _check_output_layers(output_layers)
        self.frozen_layers = _check_frozen_layers(frozen_layers)
        self._inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        e = block.expansion
        self.layer_channels: dict[str, int] = {"conv1": 64, "layer1": 64 * e, "layer2": 128 * e,
                                               "layer3": 256 * e, "layer4": 512 * e, "fc": num_classes}
        self.layer_strides: dict[str, int] = {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for p in self._frozen_parameters():
            p.requires_grad_(False)
        self._set_frozen_to_eval()

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        modules = [block(self._inplanes, planes, stride, downsample)]
        self._inplanes = planes * block.expansion
        modules += [block(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*modules)

    def _frozen_modules(self) -> list[nn.Module]:
        modules: list[nn.Module] = []
        for name in self.frozen_layers:
            modules += [self.conv1, self.bn1] if name == "conv1" else [getattr(self, name)]
        return list({id(m): m for m in modules}.values())  # 'conv1' and 'bn1' both name bn1

    def _frozen_parameters(self) -> list[nn.Parameter]:
        return [p for m in self._frozen_modules() for p in m.parameters()]

    def _set_frozen_to_eval(self) -> None:
        for m in self._frozen_modules():
            m.eval()

    def train(self, mode: bool = True) -> ResNet:
        """Set train/eval mode; frozen layers always stay in eval mode."""
        super().train(mode)
        self._set_frozen_to_eval()
        return self

    def forward(self, x: Tensor, output_layers: Sequence[str] | None = None) -> OrderedDict[str, Tensor]:
        """Features of ``x`` ``[B, 3, H, W]`` for the requested layers (default: the constructor's).

        Returns an OrderedDict ``{layer name: tensor}`` in computation order (conv1 ``[B, 64, H/2, W/2]``, ...,
        fc ``[B, num_classes]``); computation stops after the deepest requested layer.
        """
        layers = self.output_layers if output_layers is None else _check_output_layers(output_layers)
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ResNet input must be [B, 3, H, W], got shape {list(x.shape)}")
        wanted = set(layers)
        outputs: OrderedDict[str, Tensor] = OrderedDict()
        x = self.relu(self.bn1(self.conv1(x)))
        if "conv1" in wanted:
            outputs["conv1"] = x
        for name in ("layer1", "layer2", "layer3", "layer4"):
            if len(outputs) == len(wanted):
                return outputs
            if name == "layer1":
                x = self.maxpool(x)
            x = getattr(self, name)(x)
            if name in wanted:
                outputs[name] = x
        if "fc" in wanted:
            outputs["fc"] = self.fc(torch.flatten(self.avgpool(x), 1))
        return outputs


def _build(block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int], arch: str,
           output_layers: Sequence[str], pretrained: bool, frozen_layers: FrozenLayers,
           weights_path: str | None, download: bool) -> ResNet:
    model = ResNet(block, layers, output_layers=output_layers, frozen_layers=frozen_layers)
    if pretrained:
        from .pretrained import load_imagenet_weights

        load_imagenet_weights(model, arch, weights_path=weights_path, download=download)
    elif weights_path is not None:
        raise ValueError(f"weights_path={weights_path!r} given with pretrained=False; pass pretrained=True")
    return model


def resnet18(output_layers: Sequence[str] = ("layer2", "layer3"), pretrained: bool = False,
             frozen_layers: FrozenLayers = (), weights_path: str | None = None, download: bool = False) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]; layer2 128 ch / stride 8, layer3 256 ch / stride 16).

    ``pretrained=True`` loads torchvision's ImageNet weights (see ``tracking.models.backbones.pretrained``)
    from ``weights_path``, ``$TRACKING_PRETRAINED_DIR`` or the torch hub cache; ``download=True`` allows a
    download when no file is found.
    """
    return _build(BasicBlock, (2, 2, 2, 2), "resnet18", output_layers, pretrained, frozen_layers, weights_path,
                  download)


def resnet50(output_layers: Sequence[str] = ("layer2", "layer3"), pretrained: bool = False,
             frozen_layers: FrozenLayers = (), weights_path: str | None = None, download: bool = False) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]; layer2 512 ch / stride 8, layer3 1024 ch / stride 16).

    ``pretrained`` / ``weights_path`` / ``download`` as in ``resnet18``.
    """
    return _build(Bottleneck, (3, 4, 6, 3), "resnet50", output_layers, pretrained, frozen_layers, weights_path,
                  download)
