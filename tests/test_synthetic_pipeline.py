"""The synthetic generator, the dataset readers and the OpenCV loader backend together."""

import numpy as np
import pytest
import torch

from tracking.data.datasets import Got10k, Lasot
from tracking.data.defaults import default_dataset
from tracking.data.processing import ProcessingConfig
from tracking.data.sampler import dimp_sampler
from tracking.data.synthetic import SyntheticSpec, ensure_dataset, generate_sequence

pytest.importorskip("cv2")
SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96, seed=4)


def test_readers_recover_the_generated_annotations(tmp_path):
    got = Got10k(root=ensure_dataset(tmp_path / "got", "got10k", SPEC), split="train")
    lasot = Lasot(root=ensure_dataset(tmp_path / "lasot", "lasot", SPEC), split=None)
    assert len(got) == len(lasot) == 3
    for index in range(3):
        _, boxes, absent, _ = generate_sequence(SPEC, index)
        seq = got[index]
        assert len(seq) == 30 and seq.image_size == (96, 160)
        np.testing.assert_array_equal(~seq.visible, absent)
        np.testing.assert_allclose(seq.boxes[~absent], boxes[~absent], atol=1e-4)
    for seq in lasot.sequences:  # LaSOT stores rounded 1-based ints: within a pixel after the reader's -1
        index = int(seq.name.split("-")[-1]) - 1
        index = index * 2 + (0 if seq.class_name == "synthcar" else 1)
        _, boxes, absent, _ = generate_sequence(SPEC, index)
        np.testing.assert_array_equal(~seq.visible, absent)
        assert np.abs(seq.boxes[~absent] - boxes[~absent]).max() <= 1.0


def test_default_dataset_feeds_the_opencv_loader(tmp_path):
    from loaders.config import LoaderConfig
    from loaders.opencv import OpenCVLoader

    dataset = default_dataset(root=str(tmp_path / "cache"), spec=SPEC)
    sampler = dimp_sampler([dataset], samples_per_epoch=4, max_gap=30)
    loader = OpenCVLoader(sampler, ProcessingConfig(), LoaderConfig(backend="opencv", batch_size=2, workers=2))
    batch = next(iter(loader))
    loader.close()
    assert tuple(batch["test_images"].shape) == (3, 2, 3, 288, 288) and torch.isfinite(batch["test_images"]).all()
    assert batch["replaced"].tolist() == [0, 0]


def test_visual_check_writes_a_png_grid(tmp_path):
    import cv2

    from loaders.visualize import main

    root = ensure_dataset(tmp_path / "got", "got10k", SPEC)
    out = tmp_path / "grid.png"
    assert main(["--out", str(out), "--got10k-root", str(root), "--samples", "2"]) == 0
    grid = cv2.imread(str(out))
    # 2 rows of 3 train + 3 test crops of 288 px, with 8 px separators
    assert grid.shape == (2 * 288 + 8, 6 * 288 + 8, 3)
