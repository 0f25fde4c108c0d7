"""The training loop: one loop, hooks around it (detectron2's ``SimpleTrainer`` + ``HookBase`` shape).

Per iteration the loop measures separately

* ``data``: the time spent waiting for the loader's next batch,
* ``compute``: moving it to the device (and normalising its uint8 images there, see move_batch), forward,
  backward and the optimizer step,
* ``iter``: the wall time from the end of the previous iteration (hooks included),

and the **loader-bound fraction** ``data / iter``: the share of the run that the network waited for data
(0: the data path is never the bottleneck). On a GPU, kernels run asynchronously, so compute is the host's
time to issue them and a slow GPU shows up as compute at the next synchronising call; data and iter are wall
times either way, so the fraction stays right over a window of iterations.

Statistics stay on the device as 0-dim tensors; hooks convert them when they log (one host sync per log).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from loaders.normalize import normalize_batch
from loaders.samples import BRIGHTNESS_FIELDS

__all__ = ["HookBase", "StepRecord", "Trainer", "move_batch"]


class HookBase:
    """Called by :class:`Trainer` around the loop; ``self.trainer`` is set before ``before_train``."""

    trainer: "Trainer"

    def before_train(self) -> None: ...

    def after_train(self) -> None: ...

    def before_epoch(self) -> None: ...

    def after_epoch(self) -> None: ...

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...


@dataclass
class StepRecord:
    """One iteration: its statistics (detached 0-dim tensors, ``Loss/total`` included) and its times (s)."""

    stats: dict[str, Tensor]
    data_time: float
    compute_time: float
    iter_time: float
    batch_size: int


def move_batch(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` on ``device`` (through pinned memory and non_blocking copies for CUDA); other
    values (names) as they are. A raw batch (``LoaderConfig(images="uint8")``: uint8 images and brightness
    fields, see loaders.samples) is then normalised on ``device`` by loaders.normalize.normalize_batch: the
    copy is a quarter of the float batch's, and the result the same float32 batch the loader would have made."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            if device.type == "cuda":
                value = value.pin_memory() if not value.is_pinned() else value
                value = value.to(device, non_blocking=True)
            elif value.device != device:
                value = value.to(device)
        out[key] = value
    if any(key in out for key in BRIGHTNESS_FIELDS.values()):
        out = normalize_batch(out, device)
    return out


@dataclass
class AmpSettings:
    """Autocast dtype (None: off) and whether a GradScaler is used (float16)."""

    dtype: torch.dtype | None = None
    scaler: Any = None

    @property
    def enabled(self) -> bool:
        return self.dtype is not None


def amp_settings(mode: str, device: torch.device) -> tuple[AmpSettings, str]:
    """The autocast setup for ``train.amp`` on ``device`` and a line saying what was chosen and why."""
    if mode == "off":
        return AmpSettings(), "off (train.amp=off)"
    if device.type != "cuda":
        if mode != "auto":
            raise ValueError(f"train.amp={mode} needs a CUDA device; this run is on {device}")
        return AmpSettings(), "off (mixed precision is used on GPUs only)"
    bf16_ok = torch.cuda.is_bf16_supported()
    if mode == "bf16" or (mode == "auto" and bf16_ok):
        if not bf16_ok:
            raise ValueError(f"train.amp=bf16: {torch.cuda.get_device_name(device)} does not support bfloat16")
        return AmpSettings(dtype=torch.bfloat16), "bfloat16 autocast"
    return (AmpSettings(dtype=torch.float16, scaler=torch.amp.GradScaler("cuda")),
            "float16 autocast with a GradScaler")


@dataclass
class Trainer:
    """Runs ``actor`` over ``loader`` for epochs ``[start_epoch, epochs)``, starting at batch ``start_batch`` of
    the first; ``hooks`` are called in order. ``model`` is the unwrapped network (what checkpoints hold)."""

    actor: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: Any
    device: torch.device
    epochs: int
    amp: AmpSettings = field(default_factory=AmpSettings)
    grad_clip: float | None = None
    hooks: list[HookBase] = field(default_factory=list)
    start_epoch: int = 0
    start_batch: int = 0
    global_step: int = 0
    # state the hooks read
    epoch: int = 0
    iteration: int = 0  # batches of the current epoch done
    last: StepRecord | None = None
    history: list[dict] = field(default_factory=list)  # per-epoch summaries (filled by hooks)
    extra_state: dict = field(default_factory=dict)  # plain data hooks keep in checkpoints

    def __post_init__(self) -> None:
        for hook in self.hooks:
            hook.trainer = self

    def _call(self, name: str) -> None:
        for hook in self.hooks:
            getattr(hook, name)()

    def train(self) -> None:
        self._call("before_train")
        try:
            for epoch in range(self.start_epoch, self.epochs):
                self.epoch = epoch
                first = self.start_batch if epoch == self.start_epoch else 0
                self.loader.resume(epoch, first)
                self.iteration = first
                self.actor.net.train()
                self._call("before_epoch")
                self._run_epoch()
                self._call("after_epoch")
        finally:
            self._call("after_train")

    def _run_epoch(self) -> None:
        batches = iter(self.loader)
        end = time.perf_counter()
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                break
            got = time.perf_counter()
            self._call("before_step")
            stats, size = self.run_step(batch)
            done = time.perf_counter()
            self.last = StepRecord(stats=stats, data_time=got - start, compute_time=done - got,
                                   iter_time=done - end, batch_size=size)
            self.iteration += 1
            self.global_step += 1
            self._call("after_step")
            end = done  # the next iteration's wall time includes these hooks

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp.dtype)

    def run_step(self, batch: Mapping[str, Any]) -> tuple[dict[str, Tensor], int]:
        """One optimisation step on ``batch``; returns (detached statistics, batch size)."""
        batch = move_batch(batch, self.device)
        with self.autocast():
            loss, stats = self.actor(batch)
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.amp.scaler
        if scaler is not None:
            scaler.scale(loss).backward()
            if self.grad_clip is not None:
                scaler.unscale_(self.optimizer)
                stats["grad_norm"] = self._clip()
            scaler.step(self.optimizer)
            scaler.update()
        else:
            loss.backward()
            if self.grad_clip is not None:
                stats["grad_norm"] = self._clip()
            self.optimizer.step()
        stats = {k: v.detach() for k, v in stats.items()}
        stats.setdefault("Loss/total", loss.detach())
        return stats, _batch_size(batch)

    def _clip(self) -> Tensor:
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        return torch.nn.utils.clip_grad_norm_(params, self.grad_clip).detach()


def _batch_size(batch: Mapping[str, Any]) -> int:
    images = batch.get("train_images")
    if isinstance(images, Tensor) and images.dim() >= 2:
        return int(images.shape[1])
    index = batch.get("index")
    return int(len(index)) if index is not None else 0
