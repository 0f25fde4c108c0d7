"""Which sequence and which frames each training sample uses (the semantics of pytracking's DiMP/ATOM samplers).

A sample is a pure function of ``(seed, epoch, global_index)``: its generator is
:func:`rng_for` ``(seed, epoch, 0, global_index)``, so sample ``g`` of epoch ``e`` is the same whatever was
sampled before, in whatever order, by whichever process. The sampler only reads the sequences' lengths and
``visible`` arrays (no I/O) and keeps references to them, not copies.

Index space and ranks
    A sampler built with ``(rank, world_size)`` owns local indices ``i in [0, len(sampler))`` with
    ``len(sampler) == samples_per_epoch // world_size``; local index ``i`` is global index
    ``i * world_size + rank``. Ranks are therefore disjoint, and together they cover the global indices
    ``[0, len(sampler) * world_size)``: the ``samples_per_epoch % world_size`` highest global indices are
    dropped (every rank does the same number of steps). Because the generator depends on the global index only
    (not on ``rank`` or ``world_size``), rank ``r``'s sample ``i`` equals the single-process sampler's sample
    ``i * world_size + r``.

Per sample
    1. A dataset is drawn with probabilities ``p_datasets`` (normalised), then one of its *usable* sequences
       uniformly. Usable sequences are found once, at construction, so the pick never retries; drawing
       uniformly from the usable ones is the distribution of pytracking's "draw any, reject the unusable" loop.
    2. Frames (below). Single-image sequences (1 frame) use frame 0 for every train and test frame.

Usability (checked at construction; a dataset without a usable sequence is a ``ValueError`` naming it)
    * an image (1 frame): its frame is visible;
    * a video: at least ``min_visible_frames`` visible frames (default ``2 * (num_train + num_test) + 1``,
      i.e. pytracking's "more than 2*(train+test)": 13 for DiMP's 3+3, 5 for ATOM's 1+1), at least
      ``min_video_length`` frames (default 20, as in pytracking), and frames can be sampled at all, i.e. a
      *feasible base* exists: for "causal", a visible frame in ``[num_train - 1, T - num_test - 1]`` with a
      visible frame after it and (when ``num_train > 1``) one before it; for "interval", any visible frame.

Frame windows (inclusive bounds, clipped to ``[0, T - 1]``; ``g = max_gap + gap_increase``; ``gap_increase``
starts at 0 and grows by ``gap_step`` = 5 after each failed try)
    * ``"causal"`` (DiMP): ``base`` = a visible frame in ``[num_train - 1, T - num_test - 1]``; the other
      ``num_train - 1`` train frames are visible frames in ``[base - g, base - 1]``; the ``num_test`` test
      frames are visible frames in ``[base + 1, base + g]``. A try fails when a window with frames to draw has
      no visible frame. Train frames are sorted (``base`` is the last), so every train frame precedes every
      test frame.
    * ``"interval"`` (ATOM): ``base`` = any visible frame; the other ``num_train - 1`` train frames and the
      ``num_test`` test frames are visible frames in ``[base - g, base + g]`` (this window contains ``base``,
      so a try never fails; test frames may coincide with train frames, as in pytracking).
    * Draws of ``k`` frames from a window are without replacement when it has at least ``k`` visible frames,
      else with replacement. A window from which no frame is needed (``num_train == 1``) never fails (pytracking
      would fail, and grow the gap, when such a window has no visible frame). ``train_frames`` and
      ``test_frames`` are returned sorted; :attr:`SampleSpec.base_frame` says which train frame is the base.

Bounded retries
    Once ``g >= T - 1`` every window covers the whole sequence, so a try can only fail through the base draw;
    that try draws the base among the feasible bases directly (the distribution pytracking's unbounded loop
    converges to, since it redraws the base uniformly until one succeeds). Hence a sample needs at most
    ``ceil(max(0, T - 1 - max_gap) / gap_step) + 1`` tries and always terminates. ``max_sampling_attempts``
    (default None: that automatic bound) caps the tries; exceeding a smaller cap raises a ``RuntimeError``
    naming the dataset, the sequence and the dataset's number of usable sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .sequence import SequenceInfo

FRAME_SAMPLE_MODES = ("causal", "interval")
GAP_STEP = 5


def rng_for(seed: int, epoch: int, rank: int, index: int) -> np.random.Generator:
    """``np.random.default_rng(np.random.SeedSequence([seed, epoch, rank, index]))``.

    All four must be non-negative integers. Different tuples give statistically independent streams
    (SeedSequence hashes the whole entropy list). The sampler draws global sample ``g`` from
    ``rng_for(seed, epoch, 0, g)`` (rank slot 0 and the *global* index, so the sample does not depend on the
    process layout); code that needs more randomness for the same sample should spawn children from that
    generator (``rng.spawn``) or use its own seed, not reuse this tuple.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(rank), int(index)]))


@dataclass(frozen=True, eq=False)
class SampleSpec:
    """The sequence and frames of one training sample.

    Attributes:
        dataset_index: index into the sampler's datasets.
        sequence_index: index of the sequence within that dataset (always a usable one).
        train_frames: [num_train_frames] int64 frame ids, sorted.
        test_frames: [num_test_frames] int64 frame ids, sorted.
        attempts: tries the frame draw took (1 when the first try succeeded; each retry grew the gap).
        gap_increase: the gap increase of the successful try (``(attempts - 1) * gap_step``).
        base_frame: the base frame id (one of ``train_frames``; 0 for images).
    """

    dataset_index: int
    sequence_index: int
    train_frames: np.ndarray
    test_frames: np.ndarray
    attempts: int
    gap_increase: int = 0
    base_frame: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleSpec):
            return NotImplemented
        return (self.dataset_index == other.dataset_index and self.sequence_index == other.sequence_index
                and np.array_equal(self.train_frames, other.train_frames)
                and np.array_equal(self.test_frames, other.test_frames) and self.attempts == other.attempts
                and self.gap_increase == other.gap_increase and self.base_frame == other.base_frame)

    __hash__ = None  # type: ignore[assignment]


@runtime_checkable
class Sampler(Protocol):
    """What the loaders use of a sampler (TrackingSampler is one; a tracker may bring its own).

    A rank's sampler owns local sample indices ``[0, len(sampler))``; ``global_index(i)`` maps them into the
    epoch's global indices ``[0, samples_per_epoch)`` (disjoint between the ``world_size`` ranks; ``rank`` is
    this one). ``sample_global(g, epoch)`` must be a pure function of ``(g, epoch)`` and the sampler's own
    seed, whichever process calls it (the loaders call it in their workers), and ``sequence(spec)`` the
    SequenceInfo the spec's frames belong to. Every sample has ``num_train_frames`` train frames and
    ``num_test_frames`` test frames.
    """

    samples_per_epoch: int
    num_train_frames: int
    num_test_frames: int
    rank: int
    world_size: int

    def __len__(self) -> int: ...

    def global_index(self, index: int) -> int: ...

    def sample_global(self, global_index: int, epoch: int) -> SampleSpec: ...

    def sequence(self, spec: SampleSpec) -> SequenceInfo: ...


def _as_dataset(item, position: int) -> tuple[str, Sequence[SequenceInfo]]:
    """(name, sequences) from a ``(name, sequences)`` pair, an object with ``.sequences`` (and ``.name``), or a
    sequence of SequenceInfo (named by its ``.name`` attribute, else by its sequences' ``dataset`` field)."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        name, seqs = item
    else:
        seqs = getattr(item, "sequences", item)
        name = getattr(item, "name", None)
        if not isinstance(name, str):
            name = seqs[0].dataset if len(seqs) else f"dataset {position}"
    return name, seqs


def _draw(rng: np.random.Generator, visible: np.ndarray, lo: int, hi: int, k: int) -> np.ndarray | None:
    """``k`` visible frame ids in ``[lo, hi]`` (clipped), without replacement when possible, else with; an
    empty array when ``k == 0``; None when ``k > 0`` and the window has no visible frame."""
    if k == 0:
        return np.empty(0, dtype=np.int64)
    lo = max(lo, 0)
    hi = min(hi, visible.shape[0] - 1)
    if lo > hi:
        return None
    ids = np.flatnonzero(visible[lo:hi + 1])
    if ids.size == 0:
        return None
    return lo + rng.choice(ids, size=k, replace=ids.size < k)


class TrackingSampler:
    """Deterministic, resumable, rank-sharded choice of the sequence and frames of every training sample.

    See the module docstring for the exact rules. ``sample(index, epoch)`` is a pure function; there is no
    iterator and no ``set_epoch`` (the loader drives indices and passes the epoch).

    Args:
        datasets: the datasets; each a ``(name, sequences)`` pair, an object with ``.name`` and ``.sequences``,
            or a sequence of :class:`SequenceInfo`.
        p_datasets: non-negative sampling weights, one per dataset (normalised here); None means uniform.
        samples_per_epoch: global samples per epoch (over all ranks).
        max_gap: base gap (frames) of the windows.
        num_train_frames, num_test_frames: frames per sample (>= 1 each).
        frame_sample_mode: "causal" (DiMP) or "interval" (ATOM).
        min_visible_frames: a video is usable with at least this many visible frames; None means
            ``2 * (num_train_frames + num_test_frames) + 1``.
        min_video_length: a video is usable with at least this many frames (pytracking: 20).
        max_sampling_attempts: cap on frame-draw tries per sample; None means the automatic bound that
            always suffices.
        seed, rank, world_size: the random stream and this process's share of the index space.
    """

    def __init__(self, datasets: Sequence, p_datasets: Sequence[float] | None = None, *, samples_per_epoch: int,
                 max_gap: int, num_train_frames: int = 1, num_test_frames: int = 1,
                 frame_sample_mode: str = "causal", min_visible_frames: int | None = None,
                 min_video_length: int = 20, max_sampling_attempts: int | None = None, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if frame_sample_mode not in FRAME_SAMPLE_MODES:
            raise ValueError(f"frame_sample_mode must be one of {FRAME_SAMPLE_MODES}, got {frame_sample_mode!r}")
        if num_train_frames < 1 or num_test_frames < 1:
            raise ValueError(f"need at least one train and one test frame, got {num_train_frames} and "
                             f"{num_test_frames}")
        if max_gap < 0:
            raise ValueError(f"max_gap must be >= 0, got {max_gap}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        if samples_per_epoch < world_size:
            raise ValueError(f"samples_per_epoch={samples_per_epoch} gives no sample to each of {world_size} ranks")
        if max_sampling_attempts is not None and max_sampling_attempts < 1:
            raise ValueError(f"max_sampling_attempts must be >= 1 or None, got {max_sampling_attempts}")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        if len(datasets) == 0:
            raise ValueError("no dataset given")
        weights = np.ones(len(datasets)) if p_datasets is None else np.asarray(p_datasets, dtype=np.float64)
        if weights.shape != (len(datasets),):
            raise ValueError(f"{len(datasets)} datasets but p_datasets has shape {weights.shape}")
        if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
            raise ValueError(f"p_datasets must be finite, non-negative and not all zero, got {list(weights)}")

        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.num_train_frames = int(num_train_frames)
        self.num_test_frames = int(num_test_frames)
        self.frame_sample_mode = frame_sample_mode
        self.min_visible_frames = (2 * (self.num_train_frames + self.num_test_frames) + 1
                                   if min_visible_frames is None else int(min_visible_frames))
        self.min_video_length = int(min_video_length)
        self.max_sampling_attempts = max_sampling_attempts
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.p_datasets = weights / weights.sum()
        self._cum_p = np.cumsum(self.p_datasets)
        self._cum_p[-1] = 1.0

        self.dataset_names: list[str] = []
        self.sequences: list[Sequence[SequenceInfo]] = []
        self._visible: list[list[np.ndarray]] = []
        self._usable: list[np.ndarray] = []
        for d, item in enumerate(datasets):
            name, seqs = _as_dataset(item, d)
            visible = [np.asarray(s.visible, dtype=bool) for s in seqs]
            usable = np.array([i for i, v in enumerate(visible) if self._is_usable(v)], dtype=np.int64)
            if usable.size == 0:
                raise ValueError(
                    f"dataset {name!r}: none of its {len(seqs)} sequences is usable (a video needs >= "
                    f"{self.min_visible_frames} visible frames, >= {self.min_video_length} frames and a feasible "
                    f"base frame for mode {frame_sample_mode!r}; an image needs its frame visible)")
            self.dataset_names.append(name)
            self.sequences.append(seqs)
            self._visible.append(visible)
            self._usable.append(usable)

    # ----------------------------------------------------------------------------------------------- rules
    def _base_range(self, T: int) -> tuple[int, int]:
        """Inclusive range of base frame ids before the visibility condition."""
        if self.frame_sample_mode == "causal":
            return self.num_train_frames - 1, T - self.num_test_frames - 1
        return 0, T - 1

    def _feasible_range(self, visible: np.ndarray) -> tuple[int, int]:
        """Inclusive range whose visible frames are exactly the feasible bases (empty when lo > hi)."""
        ids = np.flatnonzero(visible)
        if ids.size == 0:
            return 0, -1
        lo, hi = self._base_range(visible.shape[0])
        if self.frame_sample_mode == "causal":
            if self.num_train_frames > 1:
                lo = max(lo, int(ids[0]) + 1)
            hi = min(hi, int(ids[-1]) - 1)
        return lo, hi

    def _is_usable(self, visible: np.ndarray) -> bool:
        T = visible.shape[0]
        if T == 1:
            return bool(visible[0])
        if T < self.min_video_length or int(np.count_nonzero(visible)) < self.min_visible_frames:
            return False
        lo, hi = self._feasible_range(visible)
        return lo <= hi and bool(visible[max(lo, 0):hi + 1].any())

    def max_attempts_for(self, length: int) -> int:
        """The automatic bound on tries for a sequence of ``length`` frames (the tries until ``g >= T - 1``)."""
        return math.ceil(max(0, length - 1 - self.max_gap) / GAP_STEP) + 1

    # ------------------------------------------------------------------------------------------- public API
    def __len__(self) -> int:
        return self.samples_per_epoch // self.world_size

    def global_index(self, index: int) -> int:
        """The global sample index of this rank's local ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for rank {self.rank} ({len(self)} samples)")
        return index * self.world_size + self.rank

    def usable_sequences(self, dataset_index: int) -> np.ndarray:
        """Indices of the usable sequences of a dataset (a copy)."""
        return self._usable[dataset_index].copy()

    def sequence(self, spec: SampleSpec) -> SequenceInfo:
        """The SequenceInfo a spec refers to."""
        return self.sequences[spec.dataset_index][spec.sequence_index]

    def sample(self, index: int, epoch: int) -> SampleSpec:
        """The spec of this rank's local sample ``index`` in ``epoch`` (a pure function of its arguments)."""
        return self.sample_global(self.global_index(index), epoch)

    def sample_global(self, global_index: int, epoch: int) -> SampleSpec:
        """The spec of global sample ``global_index`` in ``epoch``; independent of ``rank`` and ``world_size``."""
        if not 0 <= global_index < self.samples_per_epoch:
            raise IndexError(f"global sample index {global_index} out of range [0, {self.samples_per_epoch})")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        rng = rng_for(self.seed, epoch, 0, global_index)
        d = int(np.searchsorted(self._cum_p, rng.random(), side="right"))
        d = min(d, len(self._cum_p) - 1)
        usable = self._usable[d]
        s = int(usable[rng.integers(usable.size)])
        visible = self._visible[d][s]
        if visible.shape[0] == 1:
            zeros = np.zeros
            return SampleSpec(d, s, zeros(self.num_train_frames, np.int64), zeros(self.num_test_frames, np.int64),
                              attempts=1)
        return self._sample_frames(rng, d, s, visible)

    def _sample_frames(self, rng: np.random.Generator, d: int, s: int, visible: np.ndarray) -> SampleSpec:
        T = visible.shape[0]
        causal = self.frame_sample_mode == "causal"
        n_extra, n_test = self.num_train_frames - 1, self.num_test_frames
        auto = self.max_attempts_for(T)
        limit = auto if self.max_sampling_attempts is None else min(auto, self.max_sampling_attempts)
        gap_increase = 0
        for attempt in range(1, limit + 1):
            g = self.max_gap + gap_increase
            if g >= T - 1:  # windows cover the sequence: only the base can fail, so draw a feasible one
                base = _draw(rng, visible, *self._feasible_range(visible), 1)
            else:
                base = _draw(rng, visible, *self._base_range(T), 1)
            b = int(base[0])  # never None: usable sequences have a visible (feasible) base
            if causal:
                extra = _draw(rng, visible, b - g, b - 1, n_extra)
                test = None if extra is None else _draw(rng, visible, b + 1, b + g, n_test)
            else:
                extra = _draw(rng, visible, b - g, b + g, n_extra)
                test = None if extra is None else _draw(rng, visible, b - g, b + g, n_test)
            if extra is not None and test is not None:
                train = np.sort(np.concatenate([extra, base]))
                return SampleSpec(d, s, train, np.sort(test), attempts=attempt, gap_increase=gap_increase,
                                  base_frame=b)
            gap_increase += GAP_STEP
        seq = self.sequences[d][s]
        raise RuntimeError(
            f"dataset {self.dataset_names[d]!r}, sequence {getattr(seq, 'name', s)!r} ({T} frames, "
            f"{int(np.count_nonzero(visible))} visible): no {self.frame_sample_mode} frame selection after "
            f"{limit} attempts (gap increase reached {gap_increase - GAP_STEP}, max_sampling_attempts="
            f"{self.max_sampling_attempts}); the dataset has {self._usable[d].size} usable sequences")


def dimp_sampler(datasets: Sequence, weights: Sequence[float] | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1, samples_per_epoch: int = 26000, max_gap: int = 30, num_train: int = 3,
                 num_test: int = 3, **kwargs) -> TrackingSampler:
    """pytracking's DiMP training sampler: "causal" frames, 3 train + 3 test, max_gap 30, 26000 samples/epoch;
    usable videos have >= 13 visible frames and >= 20 frames. ``kwargs`` go to :class:`TrackingSampler`."""
    return TrackingSampler(datasets, weights, samples_per_epoch=samples_per_epoch, max_gap=max_gap,
                           num_train_frames=num_train, num_test_frames=num_test, frame_sample_mode="causal",
                           seed=seed, rank=rank, world_size=world_size, **kwargs)


def atom_sampler(datasets: Sequence, weights: Sequence[float] | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1, samples_per_epoch: int = 64000, max_gap: int = 50, num_train: int = 1,
                 num_test: int = 1, **kwargs) -> TrackingSampler:
    """pytracking's ATOM training sampler: "interval" frames, 1 train + 1 test, max_gap 50, 64000
    samples/epoch; usable videos have >= 5 visible frames and >= 20 frames. ``kwargs`` go to
    :class:`TrackingSampler`."""
    return TrackingSampler(datasets, weights, samples_per_epoch=samples_per_epoch, max_gap=max_gap,
                           num_train_frames=num_train, num_test_frames=num_test, frame_sample_mode="interval",
                           seed=seed, rank=rank, world_size=world_size, **kwargs)
