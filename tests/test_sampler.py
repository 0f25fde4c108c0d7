"""The training sampler: determinism, rank sharding, DiMP/ATOM frame semantics, usability and gap growth."""

import numpy as np
import pytest

from tracking.data.sampler import SampleSpec, TrackingSampler, atom_sampler, dimp_sampler, rng_for
from tracking.data.sequence import FramePaths, SequenceInfo


def make_seq(visible, name="seq", dataset="synthetic"):
    visible = np.asarray(visible, dtype=bool)
    T = visible.shape[0]
    boxes = np.tile(np.array([10.0, 10.0, 20.0, 20.0]), (T, 1))
    boxes[~visible] = np.nan
    return SequenceInfo(dataset=dataset, name=name, frames=FramePaths("/nonexistent", "{:08d}.jpg", 1, T),
                        boxes=boxes, visible=visible)


def random_videos(n, rng, dataset="synthetic", min_len=20, max_len=300, p_visible=0.85):
    seqs = []
    for i in range(n):
        T = int(rng.integers(min_len, max_len))
        seqs.append(make_seq(rng.random(T) < p_visible, name=f"v{i}", dataset=dataset))
    return seqs


@pytest.fixture(scope="module")
def videos():
    return random_videos(40, np.random.default_rng(123))


def specs_of(sampler, epoch, indices=None):
    indices = range(len(sampler)) if indices is None else indices
    return {sampler.global_index(i): sampler.sample(i, epoch) for i in indices}


# ------------------------------------------------------------------------------------------- determinism
def test_rng_for_is_seed_sequence_of_the_tuple():
    a = rng_for(1, 2, 3, 4).integers(1 << 30, size=5)
    b = np.random.default_rng(np.random.SeedSequence([1, 2, 3, 4])).integers(1 << 30, size=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, rng_for(1, 2, 3, 5).integers(1 << 30, size=5))


def test_same_arguments_same_spec_and_order_independent(videos):
    s1 = dimp_sampler([("a", videos)], samples_per_epoch=200, seed=7)
    s2 = dimp_sampler([("a", videos)], samples_per_epoch=200, seed=7)
    forward = [s1.sample(i, 3) for i in range(20)]
    backward = [s2.sample(i, 3) for i in reversed(range(20))][::-1]
    assert forward == backward
    # sample 5 before 3 or after 3, on a fresh sampler or on a used one
    s3 = dimp_sampler([("a", videos)], samples_per_epoch=200, seed=7)
    assert s3.sample(5, 3) == forward[5] and s3.sample(3, 3) == forward[3] and s3.sample(5, 3) == forward[5]
    assert all(isinstance(s, SampleSpec) for s in forward)


def test_different_epoch_or_seed_gives_different_specs(videos):
    s = dimp_sampler([("a", videos)], samples_per_epoch=200, seed=7)
    other_seed = dimp_sampler([("a", videos)], samples_per_epoch=200, seed=8)
    e0 = [s.sample(i, 0) for i in range(50)]
    e1 = [s.sample(i, 1) for i in range(50)]
    assert sum(a == b for a, b in zip(e0, e1)) <= 2
    assert sum(a == b for a, b in zip(e0, [other_seed.sample(i, 0) for i in range(50)])) <= 2


# ------------------------------------------------------------------------------------------------ ranks
@pytest.mark.parametrize("factory", [dimp_sampler, atom_sampler])
def test_ranks_are_disjoint_and_cover_the_single_process_epoch(videos, factory):
    single = factory([("a", videos)], samples_per_epoch=120, seed=3)
    r0 = factory([("a", videos)], samples_per_epoch=120, seed=3, rank=0, world_size=2)
    r1 = factory([("a", videos)], samples_per_epoch=120, seed=3, rank=1, world_size=2)
    assert len(single) == 120 and len(r0) == len(r1) == 60
    epoch = 4
    full, part0, part1 = specs_of(single, epoch), specs_of(r0, epoch), specs_of(r1, epoch)
    assert set(part0).isdisjoint(part1)
    assert set(part0) | set(part1) == set(full) == set(range(120))
    assert all(full[g] == spec for part in (part0, part1) for g, spec in part.items())
    assert all(g % 2 == 0 for g in part0) and all(g % 2 == 1 for g in part1)


def test_remainder_is_dropped(videos):
    ranks = [dimp_sampler([("a", videos)], samples_per_epoch=10, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in ranks] == [3, 3, 3]
    covered = sorted(s.global_index(i) for s in ranks for i in range(len(s)))
    assert covered == list(range(9))  # global index 9 (= 10 % 3 highest) is dropped
    with pytest.raises(IndexError):
        ranks[0].sample(3, 0)


# ----------------------------------------------------------------------------------------- frame rules
def test_causal_semantics(videos):
    s = dimp_sampler([("a", videos)], samples_per_epoch=1500, seed=1)
    gap_increases = []
    for i in range(len(s)):
        spec = s.sample(i, 0)
        vis = videos[spec.sequence_index].visible
        T = vis.shape[0]
        train, test = spec.train_frames, spec.test_frames
        assert train.shape == (3,) and test.shape == (3,)
        assert np.all(np.diff(train) >= 0) and np.all(np.diff(test) >= 0)
        assert train.min() >= 0 and test.max() < T
        assert vis[train].all() and vis[test].all()
        assert train.max() < test.min()
        b, g = spec.base_frame, s.max_gap + spec.gap_increase
        assert b == train[-1] and 2 <= b <= T - 4
        assert train.min() >= b - g and test.max() <= b + g
        assert spec.gap_increase == 5 * (spec.attempts - 1)
        gap_increases.append(spec.gap_increase)
    assert max(gap_increases) <= 5 * (s.max_attempts_for(300) - 1)


def test_interval_semantics(videos):
    s = TrackingSampler([("a", videos)], samples_per_epoch=1000, max_gap=10, num_train_frames=3,
                        num_test_frames=2, frame_sample_mode="interval", seed=2)
    for i in range(len(s)):
        spec = s.sample(i, 0)
        vis = videos[spec.sequence_index].visible
        frames = np.concatenate([spec.train_frames, spec.test_frames])
        assert vis[frames].all()
        assert spec.base_frame in spec.train_frames
        assert np.abs(frames - spec.base_frame).max() <= s.max_gap  # the window always has the base: no retry
        assert spec.attempts == 1 and spec.gap_increase == 0


def test_without_replacement_when_possible():
    vis = np.ones(100, dtype=bool)
    s = TrackingSampler([("a", [make_seq(vis)])], samples_per_epoch=300, max_gap=30, num_train_frames=3,
                        num_test_frames=3, frame_sample_mode="causal")
    for i in range(len(s)):
        spec = s.sample(i, 0)
        assert len(set(spec.train_frames.tolist())) == 3 and len(set(spec.test_frames.tolist())) == 3


def test_with_replacement_when_the_window_is_short():
    # Visible frames: 0..4 then every 40th; num_test 3 forces repeats when only one test frame is in reach.
    vis = np.zeros(200, dtype=bool)
    vis[:5] = True
    vis[40::40] = True
    s = TrackingSampler([("a", [make_seq(vis)])], samples_per_epoch=200, max_gap=30, num_train_frames=3,
                        num_test_frames=3, min_visible_frames=5)
    repeated = 0
    for i in range(len(s)):
        spec = s.sample(i, 0)
        assert vis[spec.train_frames].all() and vis[spec.test_frames].all()
        repeated += len(set(spec.test_frames.tolist())) < 3
    assert repeated > 0


def test_image_sequences_repeat_frame_zero():
    images = [make_seq([True], name=f"im{i}", dataset="coco") for i in range(5)]
    images.append(make_seq([False], name="bad", dataset="coco"))
    for factory in (dimp_sampler, atom_sampler):
        s = factory([("coco", images)], samples_per_epoch=100)
        for i in range(len(s)):
            spec = s.sample(i, 0)
            assert spec.sequence_index != 5
            assert spec.train_frames.tolist() == [0] * s.num_train_frames
            assert spec.test_frames.tolist() == [0] * s.num_test_frames


# --------------------------------------------------------------------------------- usability and weights
def test_unusable_sequences_are_never_picked():
    rng = np.random.default_rng(0)
    good = [make_seq(rng.random(60) < 0.9, name=f"good{i}") for i in range(5)]
    few_visible = make_seq(np.r_[np.ones(12, bool), np.zeros(50, bool)], name="twelve_visible")
    short = make_seq(np.ones(19, bool), name="short")
    invisible = make_seq(np.zeros(80, bool), name="invisible")
    seqs = [few_visible, good[0], short, good[1], invisible, good[2], good[3], good[4]]
    s = dimp_sampler([("a", seqs)], samples_per_epoch=500)
    assert s.usable_sequences(0).tolist() == [1, 3, 5, 6, 7]
    picked = {s.sample(i, 0).sequence_index for i in range(len(s))}
    assert picked == {1, 3, 5, 6, 7}
    # 13 visible frames (> 2 * (3 + 3)) and 20 frames is the DiMP minimum
    edge = make_seq(np.r_[np.ones(13, bool), np.zeros(7, bool)], name="edge")
    assert dimp_sampler([("a", [edge])], samples_per_epoch=10).usable_sequences(0).tolist() == [0]


def test_dataset_without_usable_sequence_fails_at_construction(videos):
    bad = [make_seq(np.ones(10, bool), name="tiny"), make_seq(np.zeros(50, bool), name="dark")]
    with pytest.raises(ValueError, match=r"dataset 'lasot_bad'.*none of its 2 sequences is usable"):
        dimp_sampler([("ok", videos), ("lasot_bad", bad)], [1, 1], samples_per_epoch=10)


def test_dataset_weights(videos):
    other = random_videos(10, np.random.default_rng(5), dataset="other")
    s = dimp_sampler([("a", videos), ("b", other)], [1, 3], samples_per_epoch=4000, seed=11)
    share_a = np.mean([s.sample(i, 0).dataset_index == 0 for i in range(len(s))])
    assert abs(share_a - 0.25) < 0.03
    assert np.allclose(s.p_datasets, [0.25, 0.75])


def test_dataset_forms_and_names(videos):
    class Dataset:
        name = "got10k"

        def __init__(self, seqs):
            self.sequences = seqs

    s = dimp_sampler([Dataset(videos), videos], samples_per_epoch=10)
    assert s.dataset_names == ["got10k", "synthetic"]
    spec = s.sample(0, 0)
    assert s.sequence(spec) is s.sequences[spec.dataset_index][spec.sequence_index]


@pytest.mark.parametrize("kwargs, match", [
    (dict(frame_sample_mode="random"), "frame_sample_mode"),
    (dict(rank=2, world_size=2), "rank"),
    (dict(num_test_frames=0), "at least one"),
])
def test_invalid_arguments(videos, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrackingSampler([("a", videos)], samples_per_epoch=10, max_gap=5, **kwargs)
    with pytest.raises(ValueError, match="p_datasets"):
        TrackingSampler([("a", videos)], [-1.0], samples_per_epoch=10, max_gap=5)


# ------------------------------------------------------------------------------------------ gap growth
def test_sparse_visibility_forces_gap_increase_and_terminates():
    # Visible every 50th frame: with max_gap 30 the previous-frame window [base-30, base-1] is empty until the
    # gap has grown by 20 (= 4 retries).
    T = 1000
    vis = np.zeros(T, dtype=bool)
    vis[::50] = True
    s = dimp_sampler([("sparse", [make_seq(vis, name="sparse")])], samples_per_epoch=300)
    attempts = []
    for i in range(len(s)):
        spec = s.sample(i, 0)
        assert spec.gap_increase >= 20 and spec.attempts == spec.gap_increase // 5 + 1
        b, g = spec.base_frame, s.max_gap + spec.gap_increase
        assert vis[spec.train_frames].all() and vis[spec.test_frames].all()
        assert spec.train_frames.max() < spec.test_frames.min()
        assert spec.train_frames.min() >= b - g and spec.test_frames.max() <= b + g
        assert spec.attempts <= s.max_attempts_for(T)
        attempts.append(spec.attempts)
    assert min(attempts) == 5


def test_retries_are_bounded_even_when_only_extreme_bases_work():
    # Two visible clusters at the ends of a long sequence: only covering windows succeed, and the try that
    # covers the sequence picks a feasible base, so the sample always terminates within the automatic bound.
    T = 600
    vis = np.zeros(T, dtype=bool)
    vis[:7] = True
    vis[-7:] = True
    s = dimp_sampler([("ends", [make_seq(vis, name="ends")])], samples_per_epoch=100)
    for i in range(len(s)):
        spec = s.sample(i, 0)
        assert spec.attempts <= s.max_attempts_for(T)
        assert vis[spec.train_frames].all() and vis[spec.test_frames].all()
        assert spec.train_frames.max() < spec.test_frames.min()


def test_attempt_cap_raises_a_clear_error():
    T = 1000
    vis = np.zeros(T, dtype=bool)
    vis[::50] = True
    s = dimp_sampler([("sparse", [make_seq(vis, name="seq_sparse")])], samples_per_epoch=10,
                     max_sampling_attempts=2)
    with pytest.raises(RuntimeError, match=r"dataset 'sparse', sequence 'seq_sparse'.*1 usable sequences"):
        s.sample(0, 0)
