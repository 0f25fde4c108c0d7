"""The seams of the loaders, on both backends: a custom sampler and a custom processing adding batch fields,
state_dict / load_state_dict, validation mode, and build_loader's argument rules."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import LOADER_BACKENDS
import torch

from loaders import Loader, LoaderConfig, build_loader
from loaders.samples import METADATA_FIELDS, collate_records
from tracking.data.datasets import Got10k
from tracking.data.processing import ATOM_PROCESSING, BatchField, Processing, ProcessingConfig
from tracking.data.sampler import Sampler, SampleSpec, dimp_sampler
from tracking.data.synthetic import SyntheticSpec, ensure_dataset

pytest.importorskip("cv2")

SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96)
SMALL = ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.5, num_proposals=4)


BACKEND_PARAMS = LOADER_BACKENDS


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return Got10k(ensure_dataset(tmp_path_factory.mktemp("seams") / "got10k", "got10k", SPEC))


def cfg(backend: str, **kw) -> LoaderConfig:
    """Both backends on the CPU with 2 workers (OpenCV: processes, DALI: threads), 4 samples per batch."""
    return LoaderConfig(**{"backend": backend, "batch_size": 4, "workers": 2, "device": "cpu",
                           "samples_per_epoch": 8, **kw})


def assert_batches_equal(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert list(x) == list(y)
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


def take(loader, epoch: int) -> list[dict]:
    loader.set_epoch(epoch)
    return list(loader)


class TripletSampler:
    """A user's sampler: 2 train frames then 1 test frame, three visible frames of one sequence in order,
    drawn from a generator seeded by (seed, epoch, global index); ranks interleave global indices."""

    num_train_frames, num_test_frames = 2, 1

    def __init__(self, sequences, samples_per_epoch: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.sequences, self.samples_per_epoch = list(sequences), samples_per_epoch
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __len__(self) -> int:
        return self.samples_per_epoch // self.world_size

    def global_index(self, index: int) -> int:
        return index * self.world_size + self.rank

    def sample_global(self, global_index: int, epoch: int) -> SampleSpec:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch, global_index, 7]))
        s = int(rng.integers(len(self.sequences)))
        frames = np.sort(rng.choice(np.flatnonzero(self.sequences[s].visible), 3, replace=False))
        return SampleSpec(0, s, frames[:2], frames[2:], attempts=1)

    def sequence(self, spec: SampleSpec):
        return self.sequences[spec.sequence_index]


@dataclass(frozen=True)
class FrameIdProcessing:
    """A user's processing: ProcessingConfig's records plus a per-test-frame int64 field (the frame ids), a
    per-test-frame bool field (visible) and a per-sample int32 field (the sequence's length)."""

    base: ProcessingConfig = SMALL

    @property
    def output_size(self) -> int:
        return self.base.output_size

    @property
    def padding(self) -> str:
        return self.base.padding

    def make_record(self, sequence, spec, seed, epoch, index, attempt=0):
        record = self.base.make_record(sequence, spec, seed, epoch, index, attempt)
        record.fields["test_frame_ids"] = record.test.frame_ids
        record.fields["test_visible"] = sequence.visible[record.test.frame_ids]
        record.fields["sequence_length"] = np.int64(len(sequence))
        return record

    def batch_fields(self):
        return {**self.base.batch_fields(), "test_frame_ids": BatchField("test", "int64"),
                "test_visible": BatchField("test", "bool"), "sequence_length": BatchField(None, "int32")}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_custom_sampler_and_processing_add_a_batch_field(dataset, backend):
    sampler = TripletSampler(dataset.sequences, samples_per_epoch=8, seed=1)
    processing = FrameIdProcessing()
    assert isinstance(sampler, Sampler) and isinstance(processing, Processing)
    custom = build_loader(cfg(backend), sampler=sampler, processing=processing)
    plain = build_loader(cfg(backend), sampler=sampler, processing=SMALL)
    batches, expected = take(custom, 1), take(plain, 1)
    custom.close()
    plain.close()
    assert len(batches) == len(custom) == 2
    extra = ["test_frame_ids", "test_visible", "sequence_length"]
    for batch, base in zip(batches, expected):
        declared = [k for k in base if k not in METADATA_FIELDS]
        assert list(batch) == declared + extra + list(METADATA_FIELDS)
        for key in base:  # the existing fields are unchanged
            if isinstance(base[key], torch.Tensor):
                assert torch.equal(batch[key], base[key]), key
            else:
                assert batch[key] == base[key], key
        assert tuple(batch["train_images"].shape) == (2, 4, 3, 64, 64)
        assert tuple(batch["test_images"].shape) == (1, 4, 3, 64, 64)
        assert tuple(batch["train_anno"].shape) == (2, 4, 4) and tuple(batch["proposal_iou"].shape) == (1, 4, 4)
        assert tuple(batch["test_frame_ids"].shape) == (1, 4) and batch["test_frame_ids"].dtype == torch.int64
        assert tuple(batch["test_visible"].shape) == (1, 4) and batch["test_visible"].dtype == torch.bool
        assert tuple(batch["sequence_length"].shape) == (4,) and batch["sequence_length"].dtype == torch.int32
        for slot, g in enumerate(batch["index"].tolist()):
            spec = sampler.sample_global(g, 1)
            assert batch["test_frame_ids"][:, slot].tolist() == spec.test_frames.tolist()
            assert batch["sequence_length"][slot].item() == len(sampler.sequence(spec))
        assert batch["test_visible"].all()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_state_dict_mid_epoch_resumes_the_remaining_batches(dataset, backend):
    def make():
        return build_loader(cfg(backend, samples_per_epoch=16, seed=5), [dataset], SMALL)

    whole = make()
    full = take(whole, 2)
    whole.close()
    assert len(full) == 4
    loader = make()
    loader.set_epoch(2)
    for consumed, batch in enumerate(loader, 1):
        if consumed == 2:
            state = loader.state_dict()
            break
    loader.close()
    assert state == {"epoch": 2, "next_batch": 2, "batch_size": 4, "seed": 5, "samples_per_epoch": 16, "rank": 0,
                     "world_size": 1, "validation": False}
    assert json.loads(json.dumps(state)) == state  # a plain dict
    fresh = make()
    fresh.load_state_dict(state)
    assert_batches_equal(list(fresh), full[2:])
    assert fresh.state_dict()["next_batch"] == 4  # the epoch is consumed: resuming it yields nothing more
    done = make()
    done.load_state_dict(fresh.state_dict())
    assert list(done) == []
    assert_batches_equal(take(done, 2), full)  # and set_epoch starts an epoch afresh
    for each in (fresh, done):
        each.close()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_load_state_dict_rejects_other_settings(dataset, backend):
    base = cfg(backend, samples_per_epoch=16, seed=5)
    state = build_loader(base, [dataset], SMALL).state_dict()
    others = {"batch_size": cfg(backend, samples_per_epoch=16, seed=5, batch_size=2),
              "seed": cfg(backend, samples_per_epoch=16, seed=6),
              "samples_per_epoch": cfg(backend, samples_per_epoch=24, seed=5),
              "validation": cfg(backend, samples_per_epoch=16, seed=5, validation=True)}
    for setting, other in others.items():
        with pytest.raises(ValueError, match=rf"{setting} \(state"):
            build_loader(other, [dataset], SMALL).load_state_dict(state)
    sharded = build_loader(base, [dataset], SMALL, rank=1, world_size=2)
    with pytest.raises(ValueError, match=r"rank \(state 0, loader 1\).*world_size \(state 1, loader 2\)"):
        sharded.load_state_dict(state)
    with pytest.raises(ValueError, match="lacks"):
        build_loader(base, [dataset], SMALL).load_state_dict({k: v for k, v in state.items() if k != "seed"})
    build_loader(base, [dataset], SMALL).load_state_dict(state)  # the same settings load


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_validation_batches_do_not_depend_on_the_epoch(dataset, backend):
    val = build_loader(cfg(backend, seed=7, validation=True), [dataset], SMALL)
    first, later = take(val, 0), take(val, 5)
    assert len(first) == len(val) == 2
    assert_batches_equal(first, later)
    assert val.state_dict()["epoch"] == 5 and val.state_dict()["validation"] is True
    train = build_loader(cfg(backend, seed=7), [dataset], SMALL)
    assert_batches_equal(take(train, 0), first)  # drawn as epoch 0 of its seed
    assert not torch.equal(take(train, 5)[0]["train_anno"], first[0]["train_anno"])
    other = build_loader(cfg(backend, seed=8, validation=True), [dataset], SMALL)
    assert not torch.equal(take(other, 0)[0]["train_anno"], first[0]["train_anno"])
    for each in (val, train, other):
        each.close()


def test_build_loader_arguments(dataset):
    with pytest.raises(ValueError, match="renamed to 'opencv'"):
        LoaderConfig(backend="reference")
    sampler = TripletSampler(dataset.sequences, samples_per_epoch=8)
    with pytest.raises(ValueError, match="do not also give datasets or weights"):
        build_loader(cfg("opencv"), [dataset], sampler=sampler)
    with pytest.raises(ValueError, match="do not also give datasets or weights"):
        build_loader(cfg("opencv"), weights=[1.0], sampler=sampler)
    with pytest.raises(ValueError, match="either datasets"):
        build_loader(cfg("opencv"))
    with pytest.raises(ValueError, match="shard the sampler itself"):
        build_loader(cfg("opencv"), sampler=sampler, rank=1, world_size=2)
    with pytest.raises(TypeError, match="LoaderConfig.sampler"):
        build_loader(cfg("opencv"), [dataset], sampler="atom")
    with pytest.raises(TypeError, match="Sampler protocol"):
        build_loader(cfg("opencv"), sampler=object())
    with pytest.raises(ValueError, match="shortcuts"):
        build_loader(cfg("opencv"), [dataset], processing="kys")
    with pytest.raises(TypeError, match="Processing object"):
        build_loader(cfg("opencv"), [dataset], processing=object())
    atom = build_loader(cfg("opencv", sampler="atom"), [dataset], processing="atom")
    assert atom.processing == ATOM_PROCESSING and atom.sampler.num_train_frames == 1
    dimp = build_loader(cfg("opencv"), [dataset])
    assert dimp.processing == ProcessingConfig() and dimp.sampler.num_train_frames == 3
    assert isinstance(dimp, Loader) and isinstance(dimp.sampler, Sampler)
    assert build_loader(cfg("opencv"), [dataset], "dimp").processing == ProcessingConfig()
    own = build_loader(cfg("opencv", samples_per_epoch=1000), sampler=sampler)
    assert own.sampler is sampler and len(own) == 2  # the sampler's own samples per epoch


def test_collation_checks_the_declared_fields(dataset):
    sampler = dimp_sampler([dataset], samples_per_epoch=4, max_gap=10)
    records = [SMALL.make_record(sampler.sequence(sampler.sample(i, 0)), sampler.sample(i, 0), 0, 0, i)
               for i in range(2)]
    fields = SMALL.batch_fields()
    batch = collate_records(records, fields, [0, 1])
    assert tuple(batch["train_label"].shape) == (3, 2, 5, 5) and batch["replaced"].tolist() == [0, 1]
    np.testing.assert_array_equal(batch["test_anno"][:, 1].numpy(), records[1].test.boxes.astype(np.float32))
    with pytest.raises(KeyError, match="no field 'extra'"):
        collate_records(records, {**fields, "extra": BatchField(None)}, [0, 0])
    with pytest.raises(ValueError, match="do not declare|does not declare"):
        collate_records(records, {k: v for k, v in fields.items() if k != "test_label"}, [0, 0])
    records[0].fields["test_anno"] = records[0].test.boxes[:2]
    with pytest.raises(ValueError, match=r"'test_anno' is per test frame but has shape \(2, 4\) for 3"):
        collate_records(records, fields, [0, 0])
    records[0].fields["test_anno"] = np.zeros((3, 5))
    with pytest.raises(ValueError, match="'test_anno' has different shapes"):
        collate_records(records, fields, [0, 0])
    with pytest.raises(ValueError, match="BatchField.frames"):
        BatchField("val")
