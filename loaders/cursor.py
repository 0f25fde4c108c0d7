"""Epoch and next-batch bookkeeping shared by the loader backends, with its checkpoint state."""

from __future__ import annotations

from tracking.data.sampler import Sampler

from .config import LoaderConfig

#: The settings a loader's state_dict records and load_state_dict requires to be equal: the batches of an
#: epoch depend on all of them.
RESUME_SETTINGS = ("batch_size", "seed", "samples_per_epoch", "rank", "world_size", "validation")


class EpochCursor:
    """Which epoch the loader is in and which batch its consumer gets next.

    ``next_batch`` is the position (0-based, within the epoch) of the next batch to be yielded: set by
    set_epoch (0), resume / load_state_dict, and advanced by the backend as it yields batches, so a
    state_dict taken after k batches of an iteration that started at s says s + k. An iteration begins at
    ``next_batch`` when it was set by set_epoch / resume / load_state_dict, else (the epoch iterated again)
    at 0. In validation mode (LoaderConfig.validation) the batches are drawn as epoch 0 whatever the epoch.
    """

    def __init__(self, sampler: Sampler, cfg: LoaderConfig) -> None:
        self.sampler, self.cfg = sampler, cfg
        self.epoch = 0
        self.next_batch = 0
        self._fresh = True  # next_batch was set explicitly: the next iteration starts there

    def __len__(self) -> int:
        return len(self.sampler) // self.cfg.batch_size

    @property
    def draw_epoch(self) -> int:
        """The epoch the current batches are drawn from (0 in validation mode)."""
        return 0 if self.cfg.validation else self.epoch

    def set_epoch(self, epoch: int) -> None:
        self.resume(epoch, 0)

    def resume(self, epoch: int, iteration: int) -> None:
        """The next iteration yields batches iteration, iteration + 1, ... of `epoch`."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if not 0 <= iteration <= len(self):
            raise ValueError(f"resume: iteration {iteration} outside [0, {len(self)}]")
        self.epoch, self.next_batch, self._fresh = int(epoch), int(iteration), True

    def settings(self) -> dict:
        """The values of RESUME_SETTINGS for this loader."""
        return {"batch_size": self.cfg.batch_size, "seed": self.cfg.seed,
                "samples_per_epoch": int(self.sampler.samples_per_epoch), "rank": int(self.sampler.rank),
                "world_size": int(self.sampler.world_size), "validation": bool(self.cfg.validation)}

    def state_dict(self) -> dict:
        """Plain dict: epoch, next_batch and RESUME_SETTINGS."""
        return {"epoch": self.epoch, "next_batch": self.next_batch, **self.settings()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state` (of state_dict()): the next iteration yields its epoch's remaining batches.
        ValueError when a setting differs from this loader's or a key is missing."""
        missing = [k for k in ("epoch", "next_batch", *RESUME_SETTINGS) if k not in state]
        if missing:
            raise ValueError(f"load_state_dict: the state lacks {missing}")
        mine = self.settings()
        wrong = [f"{k} (state {state[k]!r}, loader {mine[k]!r})" for k in RESUME_SETTINGS if state[k] != mine[k]]
        if wrong:
            raise ValueError("load_state_dict: the state was saved with other settings: " + ", ".join(wrong))
        self.resume(state["epoch"], state["next_batch"])

    def _begin(self) -> int:
        """The position the iteration starting now begins at (see the class docstring)."""
        if not self._fresh:
            self.next_batch = 0
        self._fresh = False
        return self.next_batch

    def _advance(self, next_batch: int) -> None:
        """A batch was yielded; `next_batch` is the position after it."""
        self.next_batch = next_batch
