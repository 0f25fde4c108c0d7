"""Assemble and run one training run from a merged config (what ``python -m tracking.train`` calls).

Order, so that a mistake costs seconds, not an epoch: the process layout, every dataset root (training and
validation) resolved before anything is built, the datasets parsed, the network (ImageNet weights when asked
for; random init with the not-found message when they are not on the machine, unless
``model.require_pretrained``), optimizer and schedule, the checkpoint to resume from, the actor (wrapped for
DDP / torch.compile), the loaders, then the loop.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import random
import sys
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from . import checkpoint as ckpt
from .build import locate, build_actor_from, build_network_from, build_train_loader, build_val_loader
from .config import COMPONENTS, to_container, to_yaml
from .distributed import Layout, setup, teardown
from .events import EventWriter
from .hooks import CheckpointHook, LRSchedulerHook, MetricsHook, ReplicaCheckHook, ValidationHook
from .optim import build_optimizer, build_scheduler
from .trainer import Trainer, amp_settings

logger = logging.getLogger("tracking.train")

__all__ = ["RunError", "resolve_run_dir", "train"]


class RunError(RuntimeError):
    """The run cannot start as asked (run directory state, resume file): one line for the CLI."""


def resolve_run_dir(cfg: Any) -> str:
    """``train.run_dir``, else ``<workspace_dir>/runs/<name>`` (workspace from the settings file)."""
    if cfg.train.run_dir:
        return os.path.abspath(os.path.expanduser(cfg.train.run_dir))
    from tracking.data.roots import workspace_dir

    return os.path.join(workspace_dir(), "runs", cfg.name)


def _configure_logging(layout: Layout) -> None:
    """Log lines on stderr (INFO on rank 0, WARNING on the others), once per process."""
    root = logging.getLogger()
    level = logging.INFO if layout.is_main else logging.WARNING
    if not any(getattr(h, "_tracking_train", False) for h in root.handlers):
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(f"%(asctime)s{'' if not layout.distributed else f' [rank {layout.rank}]'}"
                                              " %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        stream._tracking_train = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    root.setLevel(min(root.level, level) if root.level else level)
    logging.getLogger("tracking").setLevel(level)
    logging.getLogger("loaders").setLevel(level)


def _hold_log() -> logging.handlers.MemoryHandler:
    """Keep rank 0's log records until the run directory is known to be wanted (:func:`_log_to_file`): a run that
    stops on a config or dataset error leaves no run directory behind, and train.log still starts at the top."""
    buffer = logging.handlers.MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1)
    logging.getLogger().addHandler(buffer)
    return buffer


def _log_to_file(run_dir: str, held: logging.handlers.MemoryHandler) -> logging.Handler:
    """Write the log to ``<run_dir>/train.log`` from now on, the held records first."""
    os.makedirs(run_dir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(run_dir, "train.log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    held.setTarget(handler)
    held.flush()
    logging.getLogger().removeHandler(held)
    logging.getLogger().addHandler(handler)
    return handler


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _determinism(cfg: Any) -> None:
    if cfg.train.threads:
        torch.set_num_threads(int(cfg.train.threads))
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def _datasets(cfg: Any, config_path: str | None) -> tuple[list, list, list, list]:
    from .datasets import build_datasets, check_roots

    entries = to_container(cfg.data)
    with_val = bool(entries["val"]["datasets"]) and cfg.data.val.samples_per_epoch > 0
    # every root first (training, then validation) before any dataset is parsed: a missing one costs seconds
    check_roots(entries["datasets"], config_path=config_path, key="data.datasets",
                more=[("data.val.datasets", entries["val"]["datasets"])] if with_val else [])
    train, weights = build_datasets(entries["datasets"], config_path=config_path, key="data.datasets")
    val, val_weights = [], []
    if with_val:
        val, val_weights = build_datasets(entries["val"]["datasets"], config_path=config_path,
                                          key="data.val.datasets")
    return train, weights, val, val_weights


def _network_info(cfg: Any) -> dict:
    return {"name": cfg.model.name, "target": cfg.model._target_, "kwargs": to_container(cfg.model)["kwargs"]}


def _start(cfg: Any, run_dir: str, resume: str | None) -> dict | None:
    """The checkpoint to resume from (None: a fresh run). A fresh run refuses a run directory that already
    holds checkpoints, so nothing is overwritten by accident."""
    if resume is None:
        latest = ckpt.latest_checkpoint(run_dir)
        if latest is not None:
            raise RunError(f"{run_dir} already holds checkpoints (latest {os.path.basename(latest)}): pass --resume to "
                           "continue that run, or choose another run directory (train.run_dir=DIR)")
        return None
    path = ckpt.latest_checkpoint(run_dir) if resume == "latest" else resume
    if path is None:
        raise RunError(f"--resume: no checkpoint in {ckpt.checkpoint_dir(run_dir)}")
    state = ckpt.load_checkpoint(path)
    mine, theirs = to_container(cfg), state.get("config", {})
    changed = [k for k in ("model", "actor", "data", "optim") if mine.get(k) != theirs.get(k)]
    if changed:
        logger.warning("resuming %s with a config whose %s differ from the checkpoint's", path, ", ".join(changed))
    logger.info("resuming from %s (epoch %d, batch %d, step %d)", path, state["epoch"] + 1, state["next_batch"],
                state["global_step"])
    return state


def train(cfg: Any, config_path: str | None = None, resume: str | None = None) -> dict:
    """Run training; returns ``{"history": per-epoch summaries, "run_dir", "global_step"}``. ``resume``: None
    (fresh), "latest" or a checkpoint path."""
    try:
        layout = setup(cfg.train.device)
    except ValueError as e:  # CUDA asked for and not there
        raise RunError(str(e)) from None
    run_dir = resolve_run_dir(cfg)
    held = None
    try:
        _configure_logging(layout)
        held = _hold_log() if layout.is_main else None
        _determinism(cfg)
        state = _start(cfg, run_dir, resume)
        for key in COMPONENTS:  # import paths first: seconds, not minutes
            target = OmegaConf.select(cfg, key)._target_
            if target:
                locate(target, key)
        datasets, weights, val_sets, val_weights = _datasets(cfg, config_path)
        _seed_everything(cfg.train.seed)  # the same initial weights on every rank
        net, net_info = build_network_from(cfg.model)
        channels_last = cfg.train.channels_last != "off"
        net = net.to(layout.device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        optimizer = build_optimizer(net, cfg.optim)
        scheduler = build_scheduler(optimizer, cfg.optim.scheduler, cfg.train.epochs)
        try:
            amp, amp_note = amp_settings(cfg.train.amp, layout.device)
        except ValueError as e:
            raise RunError(str(e)) from None
        start_epoch = start_batch = step = 0
        extra: dict = {}
        history: list = []
        if state is not None:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if amp.scaler is not None and state.get("scaler"):
                amp.scaler.load_state_dict(state["scaler"])
            ckpt.restore_rng(state["rng"])
            start_epoch, start_batch, step = state["epoch"], state["next_batch"], state["global_step"]
            extra = dict(state.get("metrics", {}).get("extra", {}))
            history = list(state.get("metrics", {}).get("history", []))
        actor = build_actor_from(cfg.actor, net)
        if layout.distributed:
            from torch.nn.parallel import DistributedDataParallel

            actor.net = DistributedDataParallel(net, device_ids=[layout.device.index] if layout.device.type == "cuda"
                                                else None, find_unused_parameters=cfg.train.find_unused_parameters)
        if cfg.train.compile:
            actor.net = torch.compile(actor.net)
        loader = build_train_loader(cfg, datasets, weights, layout.rank, layout.world_size, device=layout.device)
        val_loader = (build_val_loader(cfg, val_sets, val_weights, layout.rank, layout.world_size,
                                       device=layout.device) if val_sets else None)
        log_file = None
        if held is not None:
            log_file, held = _log_to_file(run_dir, held), None
        writer = EventWriter(run_dir if layout.is_main else None, tensorboard=cfg.train.tensorboard)
        if layout.is_main:
            with open(os.path.join(run_dir, "config.yaml"), "w", encoding="utf-8") as f:
                f.write(to_yaml(cfg))
            trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
            logger.info("run %s in %s: %s on %s x%d, amp %s, channels_last %s, %s parameters (%s trainable), "
                        "%d batches of %d per epoch per rank, loader %s", cfg.name, run_dir,
                        cfg.model.name or cfg.model._target_, layout.device, layout.world_size, amp_note,
                        channels_last, f"{sum(p.numel() for p in net.parameters()):,}", f"{trainable:,}",
                        len(loader), cfg.data.batch_size, type(loader).__name__)

        trainer: Trainer

        def make_state(epoch: int, next_batch: int) -> dict:
            return {"format": ckpt.FORMAT, "config": to_container(cfg), "network": _network_info(cfg),
                    "epoch": epoch, "next_batch": next_batch, "global_step": trainer.global_step,
                    "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": amp.scaler.state_dict() if amp.scaler is not None else {},
                    "rng": ckpt.capture_rng(), "loader": loader.state_dict(),
                    "metrics": {"history": trainer.history, "extra": trainer.extra_state}}

        hooks = [ReplicaCheckHook()] if layout.distributed else []
        hooks += [MetricsHook(writer, cfg.train.log_every, layout.world_size, layout.distributed,
                             show_progress=layout.is_main,
                             summary_extra={"device": str(layout.device), "world_size": layout.world_size,
                                            "amp": amp_note, "pretrained": net_info["pretrained"],
                                            "run_dir": run_dir})]
        if val_loader is not None:
            hooks.append(ValidationHook(val_loader, cfg.data.val.every, writer, layout.distributed))
        hooks += [LRSchedulerHook(scheduler),
                  CheckpointHook(run_dir, make_state, cfg.train.checkpoint.every_iters, cfg.train.checkpoint.keep_last,
                                 cfg.train.checkpoint.best_metric, enabled=layout.is_main,
                                 validated=val_loader is not None)]
        trainer = Trainer(actor=actor, model=net, optimizer=optimizer, loader=loader,
                          device=layout.device, epochs=cfg.train.epochs, amp=amp, grad_clip=cfg.train.grad_clip,
                          hooks=hooks, start_epoch=start_epoch, start_batch=start_batch, global_step=step,
                          history=history, extra_state=extra)
        try:
            trainer.train()
        finally:
            loader.close()
            if val_loader is not None:
                val_loader.close()
            writer.close()
            if log_file is not None:
                logging.getLogger().removeHandler(log_file)
                log_file.close()
        return {"history": trainer.history, "run_dir": run_dir, "global_step": trainer.global_step}
    finally:
        if held is not None:  # stopped before the run directory was wanted: drop the held records
            logging.getLogger().removeHandler(held)
            held.close()
        teardown(layout)
