"""The OpenCV backend: batch layout, pixel geometry of the crops, determinism, resume, bad data, workers."""

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from conftest import SHARED_SEQUENCES

from loaders.config import LoaderConfig
from loaders.opencv import OpenCVLoader
from loaders.opencv_render import render_sample
from loaders.samples import EpochRecords
from tracking.data.frames import FrameDecodeError, decode_frame
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, BatchField, ProcessingConfig
from tracking.data.sampler import atom_sampler, dimp_sampler
from tracking.data.sequence import FramePaths, SequenceInfo

cv2 = pytest.importorskip("cv2")


def opencv_loader(sampler, processing, batch_size, seed=0, epoch=0, num_workers=0, start_iteration=0,
                  **kwargs) -> OpenCVLoader:
    """The OpenCV backend over `sampler`, positioned at batch `start_iteration` of `epoch`."""
    loader = OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=batch_size,
                                                            workers=num_workers, seed=seed), **kwargs)
    loader.resume(epoch, start_iteration)
    return loader


def write_sequence(directory, name: str, frames: int = 24, size=(96, 128), seed: int = 0) -> SequenceInfo:
    """Frames of a mid-grey background with a white rectangle (the target) moving over it, as PNG (lossless)
    so the pixel checks are exact; returns its SequenceInfo."""
    rng = np.random.default_rng(seed)
    h, w = size
    seq_dir = directory / name
    seq_dir.mkdir()
    boxes = []
    x, y = 40.0, 30.0
    for t in range(frames):
        x = float(np.clip(x + rng.uniform(-3, 3), 5, w - 40))
        y = float(np.clip(y + rng.uniform(-3, 3), 5, h - 30))
        box = (round(x), round(y), 24, 18)
        image = np.full((h, w, 3), 128, np.uint8)
        image[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = 255
        cv2.imwrite(str(seq_dir / f"{t + 1:08d}.png"), image)
        boxes.append(box)
    return SequenceInfo("toy", name, FramePaths(str(seq_dir), "{:08d}.png", 1, frames), np.asarray(boxes, float),
                        np.ones(frames, bool))


@pytest.fixture()
def sequences(tmp_path):
    return [write_sequence(tmp_path, f"seq{i}", seed=i) for i in range(3)]


PLAIN_KW = {"output_size": 64, "label_feature_size": 4, "grayscale_prob": 0.0, "brightness_jitter": 0.0}
PLAIN = ProcessingConfig(**PLAIN_KW)


def unnormalise(images: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (images * std + mean).numpy()


def test_batch_layout_matches_dimp(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    loader = opencv_loader(sampler, ProcessingConfig(), batch_size=2)
    batch = next(iter(loader))
    expected = {
        "train_images": (3, 2, 3, 288, 288), "test_images": (3, 2, 3, 288, 288), "train_anno": (3, 2, 4),
        "test_anno": (3, 2, 4), "train_label": (3, 2, 19, 19), "test_label": (3, 2, 19, 19),
        "test_proposals": (3, 2, 8, 4), "proposal_iou": (3, 2, 8),
    }
    for key, shape in expected.items():
        assert tuple(batch[key].shape) == shape, key
        assert batch[key].dtype == torch.float32, key
    assert batch["index"].tolist() == [0, 1] and batch["replaced"].tolist() == [0, 0]
    assert len(batch["sequence"]) == 2 and set(batch["dataset"]) == {"toy"}
    assert len(loader) == 4


def test_atom_batch_layout(sequences):
    from tracking.data.processing import ATOM_PROCESSING

    sampler = atom_sampler([("toy", sequences)], samples_per_epoch=4, max_gap=10)
    batch = next(iter(opencv_loader(sampler, ATOM_PROCESSING, batch_size=4)))
    assert tuple(batch["train_images"].shape) == (1, 4, 3, 288, 288)
    assert tuple(batch["test_proposals"].shape) == (1, 4, 16, 4)
    assert "train_label" not in batch


def test_target_appears_in_the_crop_where_the_record_says(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=6, max_gap=10)
    samples = EpochRecords(sampler, PLAIN)
    for index in range(len(samples)):
        sample = render_sample(samples, index)
        for images, annos in ((sample["train_images"], sample["train_anno"]),
                              (sample["test_images"], sample["test_anno"])):
            for image, (x, y, w, h) in zip(unnormalise(images), annos.tolist()):
                white = image.min(axis=0) > 0.99  # [S, S]
                rows, cols = np.mgrid[0:64, 0:64] + 0.5  # pixel centres
                inside = (cols > x + 1) & (cols < x + w - 1) & (rows > y + 1) & (rows < y + h - 1)
                outside = (cols < x - 1) | (cols > x + w + 1) | (rows < y - 1) | (rows > y + h + 1)
                assert inside.sum() > 0
                assert white[inside].mean() == 1.0
                assert white[outside].mean() == 0.0


def test_same_seed_same_batches_with_and_without_workers(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10, seed=3)
    inline = list(opencv_loader(sampler, PLAIN, batch_size=2, seed=5))
    loader = opencv_loader(sampler, PLAIN, batch_size=2, seed=5, num_workers=2)
    workers = list(loader)
    loader.close()
    other = list(opencv_loader(sampler, PLAIN, batch_size=2, seed=6))
    assert len(inline) == len(workers) == 4
    for a, b, c in zip(inline, workers, other):
        assert torch.equal(a["train_images"], b["train_images"]) and torch.equal(a["test_anno"], b["test_anno"])
        assert not torch.equal(a["train_anno"], c["train_anno"])


def test_resume_from_an_iteration_and_next_epoch(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    full = list(opencv_loader(sampler, PLAIN, batch_size=2))
    resumed = list(opencv_loader(sampler, PLAIN, batch_size=2, start_iteration=2))
    assert len(resumed) == 2
    assert torch.equal(resumed[0]["test_images"], full[2]["test_images"])
    assert resumed[1]["index"].tolist() == full[3]["index"].tolist()
    next_epoch = next(iter(opencv_loader(sampler, PLAIN, batch_size=2, epoch=1)))
    assert not torch.equal(next_epoch["train_anno"], full[0]["train_anno"])


def test_ranks_get_disjoint_samples(sequences):
    ranks = [dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10, rank=r, world_size=2)
             for r in range(2)]
    indices = [torch.cat([b["index"] for b in opencv_loader(s, PLAIN, batch_size=2)]).tolist()
               for s in ranks]
    assert set(indices[0]).isdisjoint(indices[1]) and sorted(indices[0] + indices[1]) == list(range(8))


def test_corrupt_and_missing_frames_are_replaced_with_a_warning(sequences, caplog):
    first = sequences[0]
    with open(first.frames[3], "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really an image")
    os.remove(first.frames[7])
    with pytest.raises(FrameDecodeError, match=r"00000004\.png.*not a decodable image"):
        decode_frame(first.frames[3])
    with pytest.raises(FrameDecodeError, match=r"00000008\.png.*file not found"):
        decode_frame(first.frames[7])
    # A single sequence, so every draw of this sequence touches the bad frames with a good chance.
    sampler = dimp_sampler([("toy", [first])], samples_per_epoch=24, max_gap=10)
    samples = EpochRecords(sampler, PLAIN)
    with caplog.at_level(logging.WARNING, logger="loaders.samples"):
        replaced = [render_sample(samples, i)["replaced"] for i in range(len(samples))]
    assert sum(replaced) > 0
    assert sum(replaced) == sum("drawing a replacement" in r.message for r in caplog.records)
    assert any("00000004.png" in r.message or "00000008.png" in r.message for r in caplog.records)


def test_unreadable_dataset_fails_with_the_file_names(sequences):
    for path in sequences[1].frames:
        os.remove(path)
    sampler = dimp_sampler([("toy", [sequences[1]])], samples_per_epoch=2, max_gap=10)
    with pytest.raises(RuntimeError, match=r"11 draws in a row had unreadable frames.*seq1/000000\d\d\.png"):
        render_sample(EpochRecords(sampler, PLAIN), 0)


def test_unreadable_data_in_a_worker_raises_in_the_main_process(sequences):
    for path in sequences[2].frames:
        os.remove(path)
    sampler = dimp_sampler([("toy", [sequences[2]])], samples_per_epoch=4, max_gap=10)
    loader = opencv_loader(sampler, PLAIN, batch_size=2, num_workers=2)
    iterator = iter(loader)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="unreadable frames"):
        next(iterator)
    assert multiprocessing.active_children() == []  # the workers are already stopped, before close()
    assert time.monotonic() - start < 10
    with pytest.raises(RuntimeError, match="unreadable frames"):  # a new iteration starts new workers
        next(iter(loader))
    assert multiprocessing.active_children() == []
    loader.close()


def test_consumer_stopping_early_keeps_the_workers_until_close(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    loader = opencv_loader(sampler, PLAIN, batch_size=2, num_workers=2)
    for batch in loader:
        workers = {p.pid for p in multiprocessing.active_children()}
        assert len(workers) == 2
        break
    assert {p.pid for p in multiprocessing.active_children()} == workers  # kept for the next iteration
    assert [b["index"].tolist() for b in loader] == [[0, 1], [2, 3], [4, 5], [6, 7]]  # the epoch again, whole
    loader.close()
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "Crossing")), reason="../shared not present")
def test_real_sequence_through_the_generic_dataset_and_the_loader():
    from tracking.data.datasets import ImageFolderDataset

    dataset = ImageFolderDataset(os.path.join(SHARED_SEQUENCES, "Crossing"), one_based=True)
    assert len(dataset) == 1 and len(dataset[0]) == 120
    sampler = dimp_sampler([dataset], samples_per_epoch=4, max_gap=30)
    batch = next(iter(opencv_loader(sampler, ProcessingConfig(), batch_size=2)))
    assert tuple(batch["train_images"].shape) == (3, 2, 3, 288, 288)
    assert torch.isfinite(batch["train_images"]).all()
    # the crops are centred on jittered targets: the target box lies near the crop centre
    centres = batch["test_anno"][..., :2] + batch["test_anno"][..., 2:] / 2
    assert ((centres - 144).abs() < 144).all()


@pytest.mark.parametrize("grayscale", [False, True])
def test_colour_pipeline_equals_the_per_pixel_formula(grayscale):
    from loaders.normalize import normalisation_table, normalise_planes
    from loaders.opencv_render import crop_planes

    crop = np.random.default_rng(1).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    source = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2) if grayscale else crop
    values = np.clip(source.astype(np.float32) * np.float32(1.17 / 255), 0, 1)
    expected = ((values - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)).transpose(2, 0, 1)
    bgr = np.ascontiguousarray(crop[:, :, ::-1])  # the loader works in OpenCV's channel order
    rendered = normalise_planes(crop_planes(bgr, grayscale), normalisation_table(1.17))  # worker, then consumer
    np.testing.assert_array_equal(rendered, expected)


@dataclass(frozen=True)
class PidProcessing(ProcessingConfig):
    """PLAIN's processing (extended by subclassing, the other way of tests/test_loader_seams.py) plus a
    per-sample field: the id of the process that made the record (a worker's)."""

    def make_record(self, sequence, spec, seed, epoch, index, attempt=0):
        record = super().make_record(sequence, spec, seed, epoch, index, attempt)
        record.fields["pid"] = np.int64(os.getpid())
        return record

    def batch_fields(self):
        return {**super().batch_fields(), "pid": BatchField(None, "int64")}


def epoch_pids(loader: OpenCVLoader, epoch: int) -> set[int]:
    loader.set_epoch(epoch)
    return {pid for batch in loader for pid in batch["pid"].tolist()}


def test_worker_processes_persist_across_epochs(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    loader = opencv_loader(sampler, PidProcessing(**PLAIN_KW), batch_size=2, num_workers=2)
    first = epoch_pids(loader, 0)
    assert len(first) == 2 and os.getpid() not in first  # records are made in the two workers
    assert epoch_pids(loader, 1) == first
    assert {p.pid for p in multiprocessing.active_children()} == first
    loader.close()
    assert multiprocessing.active_children() == []
    restarted = epoch_pids(loader, 2)  # a closed loader can be iterated again: new workers
    assert len(restarted) == 2 and restarted.isdisjoint(first)
    loader.close()
    assert multiprocessing.active_children() == []


def test_non_persistent_workers_restart_every_epoch(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    loader = opencv_loader(sampler, PidProcessing(**PLAIN_KW), batch_size=2, num_workers=2, persistent_workers=False)
    first = epoch_pids(loader, 0)
    assert multiprocessing.active_children() == []  # stopped when the epoch ended
    second = epoch_pids(loader, 1)
    assert len(first) == len(second) == 2 and first.isdisjoint(second)
    for batch in loader:  # breaking out stops this iteration's workers too
        break
    del batch
    assert multiprocessing.active_children() == []
    loader.close()


def test_workers_do_not_change_the_batches_of_later_epochs(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10, seed=2)
    inline, workers = opencv_loader(sampler, PLAIN, batch_size=2), opencv_loader(sampler, PLAIN, batch_size=2,
                                                                                  num_workers=2)
    for epoch in (0, 1, 2):
        inline.set_epoch(epoch)
        workers.set_epoch(epoch)
        for batch in workers:  # abandoned with batches in flight: they must not leak into the next iteration
            break
        for a, b in zip(list(inline), list(workers), strict=True):
            assert a["index"].tolist() == b["index"].tolist()
            assert torch.equal(a["train_images"], b["train_images"]) and torch.equal(a["test_anno"], b["test_anno"])
    workers.close()
