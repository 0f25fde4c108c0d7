"""loaders.visualize: the batch is split into its samples correctly, the marks sit where the annotations
say, and the command line fails with one `error:` line and exit status 2 on bad paths."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from loaders.visualize import draw_crop, label_peak, main, split_batch
from tracking.data import geometry
from tracking.data.processing import BatchField

pytest.importorskip("cv2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_split_batch_takes_the_batch_dimension_of_each_field():
    batch = {"train_images": torch.arange(2 * 3 * 3).view(2, 3, 3, 1, 1).float(),
             "test_images": torch.zeros(1, 3, 3, 1, 1), "train_anno": torch.arange(2 * 3 * 4).view(2, 3, 4),
             "weight": torch.tensor([5.0, 6.0, 7.0]), "dataset": ["a", "b", "c"]}
    samples = split_batch(batch, {"train_anno": BatchField("train"), "weight": BatchField(None)})
    assert len(samples) == 3 and "dataset" not in samples[0]
    assert torch.equal(samples[1]["train_anno"], batch["train_anno"][:, 1])
    assert torch.equal(samples[2]["train_images"], batch["train_images"][:, 2]) and samples[2]["weight"] == 7.0


def test_marks_sit_on_the_annotations():
    size, box = 64, (10.0, 20.0, 30.0, 16.0)
    centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
    label = geometry.gaussian_label(centre, size, 4, 4, 1 / 4 / 5.0)
    peak = label_peak(label, size)
    stride = size / 4
    assert abs(peak[0] - centre[0]) <= stride / 2 and abs(peak[1] - centre[1]) <= stride / 2
    canvas = draw_crop(torch.zeros(3, size, size), box, label)
    assert canvas[20, 25].tolist() == [0, 255, 0] and canvas[36, 40].tolist() == [0, 255, 0]  # box edges
    x, y = (int(round(v)) for v in peak)
    assert canvas[y, x].tolist() == [0, 0, 255]  # the red cross at the label's peak


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loaders.visualize", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_missing_dataset_directory_is_one_error_line(tmp_path):
    result = run_cli("--out", str(tmp_path / "x.png"), "--got10k-root", str(tmp_path / "absent"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: --got10k-root {tmp_path / 'absent'}: not a directory"]
    assert main(["--out", str(tmp_path / "x.png"), "--got10k-root", str(tmp_path)]) == 2  # not GOT-10k
    assert not (tmp_path / "x.png").exists()


def test_unwritable_output_is_one_error_line(tmp_path):
    for out in (tmp_path / "no" / "such" / "dir.png", tmp_path):
        result = run_cli("--out", str(out))
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.splitlines() == [f"error: --out {out}: cannot write there"]
