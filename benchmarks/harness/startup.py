"""Epoch start-up: what persistent workers save at each epoch boundary.

One loader is built and kept for ``epochs + 1`` short epochs. Epoch 0 starts the workers and is not counted;
for every later epoch the time from ``iter(loader)`` to its first batch (``first_batch_ms``) and to its last
(``epoch_s``) is measured. With persistent workers the processes (and what they hold: the sequences, DALI or
cv2 state) survive from one epoch to the next; without, each epoch forks and joins its workers again.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def epoch_startup(make: Callable[[], object], epochs: int) -> dict:
    """Medians over epochs 1..`epochs` of the first-batch latency (ms) and of the whole epoch (s) of the
    loader `make()` builds (iterated with set_epoch, closed at the end)."""
    loader = make()
    first_ms, epoch_s = [], []
    try:
        for epoch in range(epochs + 1):
            loader.set_epoch(epoch)
            start = time.perf_counter()
            iterator = iter(loader)
            next(iterator)
            first = time.perf_counter()
            for _ in iterator:
                pass
            if epoch:
                first_ms.append((first - start) * 1e3)
                epoch_s.append(time.perf_counter() - start)
    finally:
        loader.close()
    return {"status": "ok", "first_batch_ms": round(statistics.median(first_ms), 1),
            "epoch_s": round(statistics.median(epoch_s), 3), "runs_first_batch_ms": [round(v, 1) for v in first_ms],
            "epochs": epochs}
