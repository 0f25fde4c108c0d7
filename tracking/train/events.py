"""Where a run's numbers go: a JSONL metrics file and TensorBoard scalars (rank 0 only).

``<run_dir>/metrics.jsonl`` gets one JSON object per line, each with a ``kind``:

* ``train``: every ``train.log_every`` iterations: ``epoch``, ``iteration`` (batches of the epoch done),
  ``step`` (optimizer steps), ``lr`` (per param group), the mean of each statistic over the window
  (``Loss/total``, ...), ``time/data``, ``time/compute``, ``time/iter`` (mean seconds per iteration),
  ``loader_bound`` (data / iter over the window) and ``samples_per_s`` (all ranks);
* ``epoch``: the same means over the whole epoch (averaged over ranks);
* ``val``: the validation statistics of an epoch;
* ``summary``: the run summary (also written to ``<run_dir>/summary.json``).

TensorBoard (``<run_dir>/tensorboard``) gets the same scalars under ``train/``, ``epoch/`` and ``val/``; its
``SummaryWriter`` is imported only when a run uses it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

__all__ = ["EventWriter", "read_metrics"]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN / inf
    return value


class EventWriter:
    """Appends records to the JSONL file and TensorBoard; a disabled writer (other ranks) does nothing."""

    def __init__(self, run_dir: str | None, tensorboard: bool = True) -> None:
        self.run_dir = run_dir
        self._file = None
        self._tb = None
        if run_dir is None:
            return
        os.makedirs(run_dir, exist_ok=True)
        self._file = open(os.path.join(run_dir, "metrics.jsonl"), "a", encoding="utf-8")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # lazily: tensorboard is heavy to import

            self._tb = SummaryWriter(os.path.join(run_dir, "tensorboard"))

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def write(self, kind: str, record: dict[str, Any], step: int) -> None:
        if self._file is None:
            return
        line = {"kind": kind, **{k: _plain(v) for k, v in record.items()}}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("epoch", "step"):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)
                elif key == "lr" and isinstance(value, list):
                    for i, lr in enumerate(value):
                        self._tb.add_scalar(f"{kind}/lr/group{i}", lr, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(run_dir: str, kind: str | None = None) -> list[dict]:
    """The records of ``<run_dir>/metrics.jsonl`` (of one ``kind`` when given), in order."""
    path = os.path.join(run_dir, "metrics.jsonl")
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if kind is None or record.get("kind") == kind:
                    out.append(record)
    return out
