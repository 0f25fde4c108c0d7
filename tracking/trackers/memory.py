"""The online trackers' sample memory: per-sample tensors (DiMP: features and target boxes; ATOM: projected
samples and labels) with their weights (pytracking's ``init_memory`` / ``update_memory`` /
``update_sample_weights``), one implementation for both trackers.

Every item is stored as ``[capacity, ...]`` on the device, and so are the weights ``[capacity]``: choosing the slot
to replace is done on the device (``argmin``), so an update costs no host synchronisation.

Weight update for a new sample with learning rate ``lr``: the slot of lowest weight is replaced (among the
non-initial samples when ``init_samples_minimum_weight`` is set); empty slots weigh 0 and fill in order first.
The first update multiplies all weights by ``1 / (1 - lr)`` and gives the new one ``lr``; later ones give the new
sample the previous new sample's weight times ``1 / (1 - lr)`` (weights grow geometrically instead of decaying);
then the weights are normalised and, when the initial samples together weigh less than
``init_samples_minimum_weight``, they are set to share exactly that weight. ``lr == 1`` keeps only the new one.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["SampleMemory"]


class SampleMemory:
    """Args:
        init: name -> ``[N0, ...]`` the first frame's (augmented) samples (same N0 for every item), each sample
            of weight ``1 / N0``.
        capacity: ``sample_memory_size``.
        learning_rate: the default ``lr``.
        init_samples_minimum_weight: None or 0 = no floor.

    Attributes: ``items`` (name -> ``[capacity, ...]``), ``weights`` ``[capacity]`` (on the items' device),
    ``num_init``, ``num_stored`` (samples stored so far, at most ``capacity``).
    """

    def __init__(self, init: Mapping[str, Tensor], capacity: int, learning_rate: float,
                 init_samples_minimum_weight: float | None = None) -> None:
        sizes = {name: t.shape[0] for name, t in init.items()}
        if not sizes or len(set(sizes.values())) != 1:
            raise ValueError(f"SampleMemory: every item needs the same number of initial samples, got {sizes}")
        n0 = next(iter(sizes.values()))
        if capacity < n0:
            raise ValueError(f"sample_memory_size ({capacity}) must hold the {n0} initial samples")
        self.capacity, self.learning_rate = int(capacity), float(learning_rate)
        self.min_init_weight = init_samples_minimum_weight or None
        self.num_init = self.num_stored = n0
        self.items = {name: t.new_zeros(capacity, *t.shape[1:]) for name, t in init.items()}
        for name, t in init.items():
            self.items[name][:n0] = t
        first = next(iter(init.values()))
        self.weights = torch.zeros(capacity, dtype=first.dtype if first.is_floating_point() else torch.float32,
                                   device=first.device)
        self.weights[:n0] = 1.0 / n0
        self.previous: Tensor | None = None

    def _replace_index(self, lr: float) -> Tensor:
        w = self.weights
        if lr == 1:
            w.zero_()
            index = torch.zeros(1, dtype=torch.long, device=w.device)
            w[0] = 1
            return index
        start = self.num_init if self.min_init_weight is not None and self.num_stored >= self.capacity else 0
        if self.num_stored < self.capacity:  # empty slots (weight 0) fill in order
            index = torch.full((1,), self.num_stored, dtype=torch.long, device=w.device)
        else:
            index = (torch.argmin(w[start:]) + start).view(1)
        if self.previous is None:
            w /= 1 - lr
            w.index_fill_(0, index, lr)
        else:
            w.index_copy_(0, index, w.index_select(0, self.previous) / (1 - lr))
        return index

    def update(self, items: Mapping[str, Tensor], learning_rate: float | None = None) -> Tensor:
        """Store one sample (each item ``[1, ...]`` or ``[...]``); returns the slot used (a ``[1]`` long tensor
        on the device)."""
        if set(items) != set(self.items):
            raise ValueError(f"SampleMemory.update: items {sorted(items)} differ from the stored {sorted(self.items)}")
        index = self._replace_index(self.learning_rate if learning_rate is None else float(learning_rate))
        w = self.weights
        w /= w.sum()
        if self.min_init_weight is not None:
            m, n0 = self.min_init_weight, self.num_init
            rescaled = w / (m + w[n0:].sum())
            rescaled[:n0] = m / n0
            w.copy_(torch.where(w[:n0].sum() < m, rescaled, w))
        for name, value in items.items():
            store = self.items[name]
            store.index_copy_(0, index, value.reshape(1, *store.shape[1:]).to(store))
        self.previous = index
        self.num_stored = min(self.num_stored + 1, self.capacity)
        return index

    def training_set(self) -> tuple[dict[str, Tensor], Tensor]:
        """``({name: [n, ...]}, weights [n])`` of the ``n`` stored samples."""
        n = self.num_stored
        return {name: t[:n] for name, t in self.items.items()}, self.weights[:n]
