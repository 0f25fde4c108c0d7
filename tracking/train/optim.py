"""Optimizer with per-module parameter groups (pytracking's settings) and the per-epoch LR schedule."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["build_optimizer", "build_scheduler", "OptimizerSetupError"]


class OptimizerSetupError(ValueError):
    """optim.groups names a module the network does not have, or a parameter twice."""


def _module(net: nn.Module, path: str) -> nn.Module:
    try:
        return net.get_submodule(path) if path else net
    except AttributeError:
        names = sorted(n for n, _ in net.named_children())
        raise OptimizerSetupError(f"optim.groups: the network has no module {path!r} (its top-level modules: "
                                  f"{', '.join(names)})") from None


def param_groups(net: nn.Module, groups: list[Any], default_lr: float, default_wd: float) -> tuple[list[dict], int]:
    """Torch param groups for the config's ``optim.groups`` (each: ``params`` module paths, optional lr and
    weight_decay); only parameters with ``requires_grad``. Empty groups: one group of every trainable parameter.
    Returns (groups, number of trainable parameters left out of every group)."""
    trainable = {id(p): n for n, p in net.named_parameters() if p.requires_grad}
    if not groups:
        return [{"params": [p for p in net.parameters() if p.requires_grad]}], 0
    seen: dict[int, str] = {}
    out = []
    for i, group in enumerate(groups):
        params = []
        for path in group.params:
            for p in _module(net, path).parameters():
                if not p.requires_grad:
                    continue
                if id(p) in seen:
                    raise OptimizerSetupError(f"optim.groups[{i}]: parameter {trainable[id(p)]} is already in "
                                              f"optim.groups[{seen[id(p)].split(':')[0]}] ({seen[id(p)].split(':')[1]})")
                seen[id(p)] = f"{i}:{path}"
                params.append(p)
        entry: dict[str, Any] = {"params": params, "lr": default_lr if group.lr is None else float(group.lr)}
        if group.weight_decay is not None:
            entry["weight_decay"] = float(group.weight_decay)
        if not params:
            logger.info("optim.groups[%d] (%s) holds no trainable parameter", i, ", ".join(group.params))
        out.append(entry)
    left = [n for pid, n in trainable.items() if pid not in seen]
    if left:
        logger.info("%d trainable parameter tensors are in no optim group and stay fixed (e.g. %s)", len(left),
                    ", ".join(left[:3]))
    return out, len(left)


def build_optimizer(net: nn.Module, cfg: Any) -> torch.optim.Optimizer:
    """``cfg`` is the config's ``optim`` section."""
    groups, _ = param_groups(net, list(cfg.groups), cfg.lr, cfg.weight_decay)
    kwargs = dict(cfg.kwargs)
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    try:
        return classes[cfg.name](groups, lr=cfg.lr, weight_decay=cfg.weight_decay, **kwargs)
    except TypeError as e:
        raise OptimizerSetupError(f"optim.kwargs: {e}") from None


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Any, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule of the config's ``optim.scheduler`` (``none``: a constant factor 1)."""
    name = cfg.name
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
