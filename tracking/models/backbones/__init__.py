"""Backbone feature extractors: ResNet-18/50 with torchvision's parameter names, optional ImageNet weights."""

from .pretrained import PretrainedWeightsError, PretrainedWeightsNotFoundError
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50

__all__ = ["BasicBlock", "Bottleneck", "PretrainedWeightsError", "PretrainedWeightsNotFoundError", "ResNet",
           "resnet18", "resnet50"]
