"""The hooks of a training run: metrics (progress bar, JSONL, TensorBoard), validation, LR schedule,
checkpoints. Order matters at the end of an epoch: metrics (the epoch summary), validation, the LR step, then
the checkpoint, so a checkpoint holds the stepped schedule and the epoch's validation result."""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from tracking.data.atomic import atomic_path

from . import checkpoint as ckpt
from .events import EventWriter
from .trainer import HookBase, StepRecord, move_batch

logger = logging.getLogger(__name__)

__all__ = ["MetricsHook", "ValidationHook", "LRSchedulerHook", "CheckpointHook", "ReplicaCheckHook", "mean_stats"]


def _all_reduce_mean(values: dict[str, float], distributed: bool, device: torch.device) -> dict[str, float]:
    """The mean of each value over the ranks (a collective; as is when not distributed)."""
    if not distributed or not values:
        return values
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64,
                     device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def mean_stats(records: list[dict[str, Tensor]]) -> dict[str, float]:
    """Per-key means of detached 0-dim tensors, converted with one host transfer."""
    if not records:
        return {}
    keys = sorted({k for r in records for k in r})
    means = []
    for k in keys:
        vals = [r[k].float().reshape(()) for r in records if k in r]
        means.append(torch.stack(vals).mean())
    return dict(zip(keys, torch.stack(means).cpu().tolist()))


class MetricsHook(HookBase):
    """Progress bar per epoch (rank 0), a record every ``log_every`` iterations, the epoch summary (averaged
    over ranks, appended to ``trainer.history``) and the run summary."""

    def __init__(self, writer: EventWriter, log_every: int, world_size: int, distributed: bool,
                 show_progress: bool, summary_extra: dict | None = None) -> None:
        self.writer, self.log_every = writer, log_every
        self.world_size, self.distributed, self.show_progress = world_size, distributed, show_progress
        self.summary_extra = dict(summary_extra or {})
        self._window: list[StepRecord] = []
        self._epoch_stats: list[dict[str, Tensor]] = []
        self._epoch_times = [0.0, 0.0, 0.0, 0]  # data, compute, iter, samples
        self._bar = None
        self._started = 0.0
        self._totals = [0.0, 0.0, 0.0, 0]

    def before_train(self) -> None:
        self._started = time.perf_counter()

    def before_epoch(self) -> None:
        t = self.trainer
        self._window, self._epoch_stats, self._epoch_times = [], [], [0.0, 0.0, 0.0, 0]
        if self.show_progress:
            from tqdm import tqdm

            self._bar = tqdm(total=len(t.loader), initial=t.iteration, desc=f"epoch {t.epoch + 1}/{t.epochs}",
                             unit="it", dynamic_ncols=True, leave=True)

    def _lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.trainer.optimizer.param_groups]

    def after_step(self) -> None:
        t = self.trainer
        rec = t.last
        self._window.append(rec)
        self._epoch_stats.append(rec.stats)
        for i, v in enumerate((rec.data_time, rec.compute_time, rec.iter_time, rec.batch_size)):
            self._epoch_times[i] += v
        if self._bar is not None:
            self._bar.update(1)
        if len(self._window) >= self.log_every or t.iteration == len(t.loader):
            self._flush()

    def _flush(self) -> None:
        t, window = self.trainer, self._window
        self._window = []
        if not window:
            return
        stats = mean_stats([r.stats for r in window])
        loss = stats.get("Loss/total", 0.0)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the training loss became {loss} at epoch {t.epoch + 1}, iteration "
                                     f"{t.iteration} (step {t.global_step}); the checkpoints before it are intact: "
                                     "lower the learning rate or set train.grad_clip, then --resume")
        data = sum(r.data_time for r in window)
        compute = sum(r.compute_time for r in window)
        total = sum(r.iter_time for r in window)
        samples = sum(r.batch_size for r in window) * self.world_size
        record = {"epoch": t.epoch, "iteration": t.iteration, "step": t.global_step, "lr": self._lr(), **stats,
                  "time/data": data / len(window), "time/compute": compute / len(window),
                  "time/iter": total / len(window), "loader_bound": data / total if total > 0 else 0.0,
                  "samples_per_s": samples / total if total > 0 else 0.0}
        self.writer.write("train", record, t.global_step)
        if self._bar is not None:
            self._bar.set_postfix({"loss": f"{stats.get('Loss/total', math.nan):.4g}",
                                   "data": f"{record['loader_bound']:.0%}",
                                   "samples/s": f"{record['samples_per_s']:.1f}"}, refresh=False)

    def after_epoch(self) -> None:
        t = self.trainer
        self._flush()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        data, compute, total, samples = self._epoch_times
        for i, v in enumerate(self._epoch_times):
            self._totals[i] += v
        values = {**mean_stats(self._epoch_stats), "time/data": data, "time/compute": compute, "time/iter": total,
                  "samples": float(samples)}
        values = _all_reduce_mean(values, self.distributed, t.device)
        iters = max(1, len(self._epoch_stats))
        summary = {"epoch": t.epoch, "step": t.global_step, "iterations": len(self._epoch_stats), "lr": self._lr(),
                   **{k: v for k, v in values.items() if not k.startswith("time/") and k != "samples"},
                   "time/data": values["time/data"] / iters, "time/compute": values["time/compute"] / iters,
                   "time/iter": values["time/iter"] / iters,
                   "loader_bound": values["time/data"] / values["time/iter"] if values["time/iter"] > 0 else 0.0,
                   "samples_per_s": (values["samples"] * self.world_size / values["time/iter"]
                                     if values["time/iter"] > 0 else 0.0)}
        t.history.append(summary)
        self.writer.write("epoch", summary, t.global_step)
        if self.writer.enabled:
            logger.info("epoch %d: loss %.4f, loader-bound %.1f%% (data %.3f s + compute %.3f s per iteration), "
                        "%.1f samples/s", t.epoch + 1, summary.get("Loss/total", math.nan),
                        100 * summary["loader_bound"], summary["time/data"], summary["time/compute"],
                        summary["samples_per_s"])

    def after_train(self) -> None:
        if self._bar is not None:
            self._bar.close()
        t = self.trainer
        if not self.writer.enabled or not t.history:
            return
        data, compute, total, samples = self._totals
        losses = [h.get("Loss/total") for h in t.history]
        summary = {"epochs": len(t.history), "first_epoch": t.history[0]["epoch"], "last_epoch": t.history[-1]["epoch"],
                   "first_epoch_loss": losses[0], "last_epoch_loss": losses[-1], "steps": t.global_step,
                   "wall_time_s": time.perf_counter() - self._started, "train_time_s": total,
                   "time/data": data, "time/compute": compute,
                   "loader_bound": data / total if total > 0 else 0.0,
                   "samples_per_s": samples * self.world_size / total if total > 0 else 0.0,
                   "best": t.extra_state.get("best"), **self.summary_extra}
        if "replicas_identical" in t.extra_state:
            summary["replicas_identical"] = t.extra_state["replicas_identical"]
        self.writer.write("summary", summary, t.global_step)
        import json

        with open(os.path.join(self.writer.run_dir, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, default=str)
        logger.info("run summary: epochs %d..%d, loss %.4f -> %.4f, loader-bound %.1f%%, %.1f samples/s, "
                    "%.0f s; %s", summary["first_epoch"] + 1, summary["last_epoch"] + 1,
                    summary["first_epoch_loss"], summary["last_epoch_loss"], 100 * summary["loader_bound"],
                    summary["samples_per_s"], summary["wall_time_s"], self.writer.run_dir)


class ValidationHook(HookBase):
    """Every ``every`` epochs (and after the last), the actor's statistics over the validation loader, in
    eval mode without gradients, averaged over ranks; stored in ``trainer.history[-1]["val"]``."""

    def __init__(self, loader: Any, every: int, writer: EventWriter, distributed: bool) -> None:
        self.loader, self.every, self.writer, self.distributed = loader, every, writer, distributed

    def after_epoch(self) -> None:
        t = self.trainer
        if (t.epoch + 1) % self.every != 0 and t.epoch + 1 != t.epochs:
            return
        self.loader.set_epoch(t.epoch)
        t.actor.net.eval()
        records = []
        started = time.perf_counter()
        try:
            with torch.no_grad(), t.autocast():
                for batch in self.loader:
                    _, stats = t.actor(move_batch(batch, t.device))
                    records.append({k: v.detach() for k, v in stats.items()})
        finally:
            t.actor.net.train()
        values = _all_reduce_mean(mean_stats(records), self.distributed, t.device)
        values["time_s"] = time.perf_counter() - started
        if t.history:
            t.history[-1]["val"] = values
        self.writer.write("val", {"epoch": t.epoch, "step": t.global_step, **values}, t.global_step)
        if self.writer.enabled:
            logger.info("epoch %d validation: %s", t.epoch + 1,
                        ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k.startswith("Loss/")))


class LRSchedulerHook(HookBase):
    """Steps the per-epoch LR schedule after each epoch."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def after_epoch(self) -> None:
        self.scheduler.step()


class CheckpointHook(HookBase):
    """Writes ``step_<n>.pth`` every ``every_iters`` iterations (0: never within an epoch) and after every epoch
    (rank 0), keeps the last ``keep_last``, and copies the epoch with the lowest ``best_metric`` to ``best.pth``:
    among the validated epochs when the run validates (``validated=True``), else by the training epoch's value
    (the two are never compared with each other). ``make_state(epoch, next_batch)`` builds the dict."""

    def __init__(self, run_dir: str, make_state: Callable[[int, int], dict], every_iters: int, keep_last: int,
                 best_metric: str, enabled: bool, validated: bool = False) -> None:
        self.run_dir, self.make_state = run_dir, make_state
        self.every_iters, self.keep_last, self.best_metric, self.enabled = every_iters, keep_last, best_metric, enabled
        self.validated = validated

    def _save(self, epoch: int, next_batch: int) -> str:
        path = os.path.join(ckpt.checkpoint_dir(self.run_dir), f"step_{self.trainer.global_step:08d}.pth")
        ckpt.atomic_save(self.make_state(epoch, next_batch), path)
        ckpt.prune(self.run_dir, self.keep_last)
        return path

    def after_step(self) -> None:
        t = self.trainer
        if (self.enabled and self.every_iters and t.global_step % self.every_iters == 0
                and t.iteration < len(t.loader)):  # the epoch-end checkpoint covers the last batch
            self._save(t.epoch, t.iteration)

    def after_epoch(self) -> None:
        t = self.trainer
        summary = t.history[-1] if t.history else {}
        source = summary.get("val", {}) if self.validated else summary
        value = source.get(self.best_metric)
        best = t.extra_state.get("best")
        improved = value is not None and math.isfinite(value) and (best is None or value < best["value"])
        if improved:
            t.extra_state["best"] = {"value": float(value), "epoch": t.epoch, "metric": self.best_metric,
                                     "source": "val" if self.validated else "train"}
        if not self.enabled:
            return
        path = self._save(t.epoch + 1, 0)
        if improved:
            best_path = os.path.join(ckpt.checkpoint_dir(self.run_dir), "best.pth")
            with atomic_path(best_path, durable=True) as tmp:
                shutil.copyfile(path, tmp)


class ReplicaCheckHook(HookBase):
    """DDP sanity check at the end of a run: are the replicas' parameters still identical on every rank? The
    elementwise max and min of the parameters over the ranks (two all-reduces) must agree; the answer goes into
    ``trainer.extra_state["replicas_identical"]`` (and so the run summary), and a divergence is logged as an
    error. Place it before MetricsHook so the summary sees it."""

    def after_train(self) -> None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        t = self.trainer
        flat = torch.cat([p.detach().reshape(-1).float() for p in t.model.parameters()])
        high, low = flat.clone(), flat.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        same = bool(torch.equal(high, low))
        t.extra_state["replicas_identical"] = same
        if not same:
            logger.error("the DDP replicas' parameters differ between ranks (max difference %.3g)",
                         float((high - low).abs().max()))
