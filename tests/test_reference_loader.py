"""The OpenCV reference loader: batch layout, pixel geometry of the crops, determinism, resume, bad data."""

import logging
import multiprocessing
import os
import time

import numpy as np
import pytest
import torch
from conftest import SHARED_SEQUENCES

from loaders.reference import FrameDecodeError, TrainingSamples, build_reference_loader, decode_frame
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, ProcessingConfig
from tracking.data.sampler import atom_sampler, dimp_sampler
from tracking.data.sequence import FramePaths, SequenceInfo

cv2 = pytest.importorskip("cv2")



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


PLAIN = ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.0, brightness_jitter=0.0)


def unnormalise(images: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (images * std + mean).numpy()


def test_batch_layout_matches_dimp(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    loader = build_reference_loader(sampler, ProcessingConfig(), batch_size=2)
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
    batch = next(iter(build_reference_loader(sampler, ATOM_PROCESSING, batch_size=4)))
    assert tuple(batch["train_images"].shape) == (1, 4, 3, 288, 288)
    assert tuple(batch["test_proposals"].shape) == (1, 4, 16, 4)
    assert "train_label" not in batch


def test_target_appears_in_the_crop_where_the_record_says(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=6, max_gap=10)
    samples = TrainingSamples(sampler, PLAIN)
    for index in range(len(samples)):
        sample = samples[index]
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
    inline = list(build_reference_loader(sampler, PLAIN, batch_size=2, seed=5))
    workers = list(build_reference_loader(sampler, PLAIN, batch_size=2, seed=5, num_workers=2))
    other = list(build_reference_loader(sampler, PLAIN, batch_size=2, seed=6))
    assert len(inline) == len(workers) == 4
    for a, b, c in zip(inline, workers, other):
        assert torch.equal(a["train_images"], b["train_images"]) and torch.equal(a["test_anno"], b["test_anno"])
        assert not torch.equal(a["train_anno"], c["train_anno"])


def test_resume_from_an_iteration_and_next_epoch(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    full = list(build_reference_loader(sampler, PLAIN, batch_size=2))
    resumed = list(build_reference_loader(sampler, PLAIN, batch_size=2, start_iteration=2))
    assert len(resumed) == 2
    assert torch.equal(resumed[0]["test_images"], full[2]["test_images"])
    assert resumed[1]["index"].tolist() == full[3]["index"].tolist()
    next_epoch = next(iter(build_reference_loader(sampler, PLAIN, batch_size=2, epoch=1)))
    assert not torch.equal(next_epoch["train_anno"], full[0]["train_anno"])


def test_ranks_get_disjoint_samples(sequences):
    ranks = [dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10, rank=r, world_size=2)
             for r in range(2)]
    indices = [torch.cat([b["index"] for b in build_reference_loader(s, PLAIN, batch_size=2)]).tolist()
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
    samples = TrainingSamples(sampler, PLAIN)
    with caplog.at_level(logging.WARNING, logger="loaders.reference"):
        replaced = [samples[i]["replaced"] for i in range(len(samples))]
    assert sum(replaced) > 0
    assert sum(replaced) == sum("drawing a replacement" in r.message for r in caplog.records)
    assert any("00000004.png" in r.message or "00000008.png" in r.message for r in caplog.records)


def test_unreadable_dataset_fails_with_the_file_names(sequences):
    for path in sequences[1].frames:
        os.remove(path)
    sampler = dimp_sampler([("toy", [sequences[1]])], samples_per_epoch=2, max_gap=10)
    with pytest.raises(RuntimeError, match=r"11 draws in a row had unreadable frames.*seq1/000000\d\d\.png"):
        TrainingSamples(sampler, PLAIN)[0]


def test_unreadable_data_in_a_worker_raises_in_the_main_process(sequences):
    for path in sequences[2].frames:
        os.remove(path)
    sampler = dimp_sampler([("toy", [sequences[2]])], samples_per_epoch=4, max_gap=10)
    iterator = iter(build_reference_loader(sampler, PLAIN, batch_size=2, num_workers=2))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="unreadable frames"):
        next(iterator)
    assert multiprocessing.active_children() == []  # the workers are already stopped
    assert time.monotonic() - start < 10


def test_consumer_stopping_early_stops_the_workers(sequences):
    sampler = dimp_sampler([("toy", sequences)], samples_per_epoch=8, max_gap=10)
    for batch in build_reference_loader(sampler, PLAIN, batch_size=2, num_workers=2):
        assert multiprocessing.active_children() != []
        break
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "Crossing")), reason="../shared not present")
def test_real_sequence_through_the_generic_dataset_and_the_loader():
    from tracking.data.datasets import ImageFolderDataset

    dataset = ImageFolderDataset(os.path.join(SHARED_SEQUENCES, "Crossing"), one_based=True)
    assert len(dataset) == 1 and len(dataset[0]) == 120
    sampler = dimp_sampler([dataset], samples_per_epoch=4, max_gap=30)
    batch = next(iter(build_reference_loader(sampler, ProcessingConfig(), batch_size=2)))
    assert tuple(batch["train_images"].shape) == (3, 2, 3, 288, 288)
    assert torch.isfinite(batch["train_images"]).all()
    # the crops are centred on jittered targets: the target box lies near the crop centre
    centres = batch["test_anno"][..., :2] + batch["test_anno"][..., 2:] / 2
    assert ((centres - 144).abs() < 144).all()


@pytest.mark.parametrize("grayscale", [False, True])
def test_colour_pipeline_equals_the_per_pixel_formula(grayscale):
    from loaders.reference import finish_crop

    crop = np.random.default_rng(1).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    source = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2) if grayscale else crop
    values = np.clip(source.astype(np.float32) * np.float32(1.17 / 255), 0, 1)
    expected = ((values - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)).transpose(2, 0, 1)
    bgr = np.ascontiguousarray(crop[:, :, ::-1])  # the loader works in OpenCV's channel order
    np.testing.assert_array_equal(finish_crop(bgr, grayscale, 1.17), expected)
