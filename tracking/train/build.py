"""Build a run's parts from its config: network, actor, processing, sampler, loaders.

Each part is a registered ``name`` or a user's ``_target_`` import path (``mypkg.mynet.build`` or
``mypkg.mynet:build``), called with the config's ``kwargs`` (detectron2's ``instantiate``, reduced to what a
tracker needs). What a ``_target_`` is called with:

=============  =====================================================================================
part           call
=============  =====================================================================================
model          ``target(**kwargs) -> nn.Module``
actor          ``target(net=net, loss_weights=dict, **kwargs)`` -> an Actor (tracking.train.actors)
processing     ``target(**kwargs)`` -> a tracking.data.processing.Processing
sampler        ``target(datasets=..., weights=..., seed=..., rank=..., world_size=...,
               samples_per_epoch=..., **kwargs)`` -> a tracking.data.sampler.Sampler
=============  =====================================================================================
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["BuildError", "locate", "build_network_from", "build_actor_from", "build_processing_from",
           "build_sampler_from", "build_train_loader", "build_val_loader"]


class BuildError(ValueError):
    """A part of the config cannot be built (unknown name, import path not found, bad kwargs)."""


def locate(path: str, key: str) -> Callable:
    """The object at import path ``pkg.mod.attr`` or ``pkg.mod:attr`` (BuildError naming ``key`` otherwise)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise BuildError(f"{key}._target_={path!r}: not an import path (write mypkg.module.function)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BuildError(f"{key}._target_={path!r}: cannot import {module_name!r} ({e})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BuildError(f"{key}._target_={path!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise BuildError(f"{key}._target_={path!r} is not callable")
    return obj


def _call(fn: Callable, key: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except TypeError as e:
        if "argument" in str(e):
            raise BuildError(f"{key}: {e}") from None
        raise


def build_network_from(cfg: Any) -> tuple[nn.Module, dict]:
    """The network of the ``model`` section; returns ``(net, info)`` with ``info["pretrained"]`` one of
    "loaded", "missing" (weights asked for but not on this machine: random init, logged with the message of
    where to put them) or "not asked"."""
    from tracking.models import build_network
    from tracking.models.backbones.pretrained import PretrainedWeightsNotFoundError

    kwargs = dict(cfg.kwargs)
    fn: Callable = locate(cfg._target_, "model") if cfg._target_ else (lambda **kw: build_network(cfg.name, **kw))
    asked = bool(kwargs.get("backbone_pretrained", False))
    try:
        return _call(fn, "model", **kwargs), {"pretrained": "loaded" if asked else "not asked"}
    except KeyError as e:  # UnknownNetworkError lists the known names
        raise BuildError(f"model.name: {e}") from None
    except PretrainedWeightsNotFoundError as e:
        if cfg.require_pretrained or "backbone_pretrained" not in kwargs:
            raise
        logger.warning("%s\nTraining from a randomly initialised backbone instead (set model.require_pretrained="
                       "true to stop here, or model.kwargs.backbone_pretrained=false to silence this).", e)
        kwargs["backbone_pretrained"] = False
        return _call(fn, "model", **kwargs), {"pretrained": "missing", "message": str(e)}


def build_actor_from(cfg: Any, net: nn.Module) -> Any:
    """The actor of the ``actor`` section over ``net``."""
    from .actors import build_actor

    kwargs = dict(cfg.kwargs)
    weights = dict(cfg.loss_weights) or None
    if cfg._target_:
        return _call(locate(cfg._target_, "actor"), "actor", net=net, loss_weights=weights, **kwargs)
    try:
        return _call(build_actor, "actor", cfg.name, net, loss_weights=weights, **kwargs)
    except KeyError as e:
        raise BuildError(f"actor.name: {e}") from None


def build_processing_from(cfg: Any, overrides: dict | None = None) -> Any:
    """The processing of ``data.processing``: a preset of tracking.data.processing with ``kwargs`` (and then
    ``overrides``, e.g. validation's) replacing its fields, or ``_target_(**kwargs, **overrides)``."""
    from tracking.data.processing import Processing

    kwargs = {**dict(cfg.kwargs), **dict(overrides or {})}
    if cfg._target_:
        processing = _call(locate(cfg._target_, "data.processing"), "data.processing", **kwargs)
    else:
        from tracking.data.processing import make_processing

        try:
            processing = make_processing(cfg.name, **kwargs)
        except (KeyError, TypeError, ValueError) as e:
            raise BuildError(f"data.processing: {e}") from None
    if not isinstance(processing, Processing):
        raise BuildError(f"data.processing: {type(processing).__name__} is not a Processing (it needs output_size, "
                         "padding, make_record and batch_fields; see tracking.data.processing.Processing)")
    return processing


def build_sampler_from(cfg: Any, datasets: list, weights: list[float], *, seed: int, rank: int, world_size: int,
                       samples_per_epoch: int, key: str = "data.sampler") -> Any:
    """The sampler of ``data.sampler`` over ``datasets``, sharded for ``rank`` of ``world_size``."""
    from loaders.api import SAMPLER_FACTORIES
    from tracking.data.sampler import Sampler

    common = dict(seed=seed, rank=rank, world_size=world_size, samples_per_epoch=samples_per_epoch)
    if cfg._target_:
        sampler = _call(locate(cfg._target_, key), key, datasets=datasets, weights=weights, **common, **cfg.kwargs)
    else:
        if cfg.name not in SAMPLER_FACTORIES:
            raise BuildError(f"{key}.name={cfg.name!r}: the samplers are {', '.join(sorted(SAMPLER_FACTORIES))}")
        sampler = _call(SAMPLER_FACTORIES[cfg.name], key, datasets, weights, **common, **dict(cfg.kwargs))
    if not isinstance(sampler, Sampler):
        raise BuildError(f"{key}: {type(sampler).__name__} is not a Sampler (see tracking.data.sampler.Sampler)")
    return sampler


def _loader(cfg: Any, sampler: Any, processing: Any, seed: int, validation: bool,
            device: torch.device | str | None) -> Any:
    """The loader of ``data.loader``: raw uint8 batches (the trainer's move_batch normalises them on its device,
    loaders.normalize.normalize_batch), pinned when training on CUDA."""
    from loaders import LoaderConfig, build_loader

    cuda = device is not None and torch.device(device).type == "cuda"
    loader_cfg = LoaderConfig(backend=cfg.data.loader.backend, batch_size=cfg.data.batch_size,
                              workers=cfg.data.loader.workers, device=cfg.data.loader.device,
                              decode=cfg.data.loader.decode, seed=seed,
                              samples_per_epoch=int(sampler.samples_per_epoch), validation=validation,
                              images="uint8", pin_memory=cuda)
    loader = build_loader(loader_cfg, processing=processing, sampler=sampler)
    if len(loader) == 0:
        raise BuildError(f"{'data.val' if validation else 'data'}: {len(sampler)} samples for this rank make no "
                         f"batch of data.batch_size={cfg.data.batch_size}; raise samples_per_epoch")
    return loader


def build_train_loader(cfg: Any, datasets: list, weights: list[float], rank: int, world_size: int,
                       device: torch.device | str | None = None) -> Any:
    """The training loader; its batches are raw (uint8, see _loader), pinned when ``device`` is CUDA."""
    processing = build_processing_from(cfg.data.processing)
    sampler = build_sampler_from(cfg.data.sampler, datasets, weights, seed=cfg.train.seed, rank=rank,
                                 world_size=world_size, samples_per_epoch=cfg.data.samples_per_epoch)
    return _loader(cfg, sampler, processing, cfg.train.seed, validation=False, device=device)


def build_val_loader(cfg: Any, datasets: list, weights: list[float], rank: int, world_size: int,
                     device: torch.device | str | None = None) -> Any:
    """The validation loader (raw batches as build_train_loader's)."""
    val = cfg.data.val
    processing = build_processing_from(cfg.data.processing, dict(val.processing))
    sampler = build_sampler_from(cfg.data.sampler, datasets, weights, seed=val.seed, rank=rank,
                                 world_size=world_size, samples_per_epoch=val.samples_per_epoch)
    return _loader(cfg, sampler, processing, val.seed, validation=True, device=device)
