"""The DiMP trackers' sample memory: training features, their target boxes and their weights (pytracking's
``init_memory`` / ``update_memory`` / ``update_sample_weights``).

Features ``[capacity, C, H, W]`` and boxes ``[capacity, 4]`` (xywh in patch coordinates) live on the device; the
weights (``capacity`` numbers) on the host in float64, since choosing the slot to replace is a host decision.

Weight update for a new sample with learning rate ``lr``: while the memory is not full the next free slot is
used, then the slot of lowest weight (among the non-initial samples when ``init_samples_minimum_weight`` is
set); the first update multiplies all weights by ``1 / (1 - lr)`` and gives the new one ``lr``, later ones give
the new sample the previous new sample's weight times ``1 / (1 - lr)`` (weights grow geometrically instead of
decaying); then the weights are normalised and, when the initial samples together weigh less than
``init_samples_minimum_weight``, they are set to share exactly that weight. ``lr == 1`` keeps only the new one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["SampleMemory"]


class SampleMemory:
    """Args:
        init_features: ``[N0, C, H, W]`` the first frame's (augmented) samples, each of weight ``1 / N0``.
        init_boxes: ``[N0, 4]``.
        capacity: ``sample_memory_size``.
        learning_rate: the default ``lr``.
        init_samples_minimum_weight: None or 0 = no floor.
    """

    def __init__(self, init_features: Tensor, init_boxes: Tensor, capacity: int, learning_rate: float,
                 init_samples_minimum_weight: float | None = None) -> None:
        n0 = init_features.shape[0]
        if init_boxes.shape != (n0, 4):
            raise ValueError(f"init_boxes must be [{n0}, 4], got {tuple(init_boxes.shape)}")
        if capacity < n0:
            raise ValueError(f"sample_memory_size ({capacity}) must hold the {n0} initial samples")
        self.capacity = capacity
        self.learning_rate = learning_rate
        self.min_init_weight = init_samples_minimum_weight or None
        self.num_init = n0
        self.num_stored = n0
        self.previous_replace: int | None = None
        self.features = init_features.new_zeros(capacity, *init_features.shape[1:])
        self.features[:n0] = init_features
        self.boxes = init_boxes.new_zeros(capacity, 4)
        self.boxes[:n0] = init_boxes
        self.weights = np.zeros(capacity)
        self.weights[:n0] = 1.0 / n0

    def _replace_index(self, lr: float) -> int:
        w = self.weights
        if self.num_stored == 0 or lr == 1:
            w[:] = 0
            w[0] = 1
            return 0
        if self.num_stored < self.capacity:
            ind = self.num_stored
        else:
            start = 0 if self.min_init_weight is None else self.num_init
            ind = start + int(np.argmin(w[start:]))
        if self.previous_replace is None:
            w /= 1 - lr
            w[ind] = lr
        else:
            w[ind] = w[self.previous_replace] / (1 - lr)
        return ind

    def update(self, feature: Tensor, box: Tensor, learning_rate: float | None = None) -> int:
        """Store ``feature`` ``[1, C, H, W]`` (or ``[C, H, W]``) with ``box`` ``[4]``; returns the slot used."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        ind = self._replace_index(lr)
        w = self.weights
        w /= w.sum()
        n0 = self.num_init
        if self.min_init_weight is not None and w[:n0].sum() < self.min_init_weight:
            w /= self.min_init_weight + w[n0:].sum()
            w[:n0] = self.min_init_weight / n0
        self.previous_replace = ind
        self.features[ind] = feature.reshape(self.features.shape[1:])
        self.boxes[ind] = box.reshape(4).to(self.boxes)
        self.num_stored = min(self.num_stored + 1, self.capacity)
        return ind

    def training_set(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(features [n, C, H, W], boxes [n, 4], weights [n])`` of the stored samples (weights on the device)."""
        n = self.num_stored
        weights = torch.as_tensor(self.weights[:n], dtype=self.features.dtype).to(self.features.device,
                                                                                   non_blocking=True)
        return self.features[:n], self.boxes[:n], weights
