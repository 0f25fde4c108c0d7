"""Crops of windows at and beyond the frame border (issue 9), on both backends.

DALI's CPU fn.resize (the default CPU mode for replicate padding) segfaulted inside Pipeline.run on a ROI
lying wholly outside its input, i.e. for windows beyond the border on an axis; cv2.warpAffine (the OpenCV
backend) silently returned wrong pixels for windows with coordinates in the millions (its fixed-point
coordinates overflow). The DALI runs here are in a subprocess, so a crash fails a test instead of the suite.
Expected pixels come from the backends' agreement and from an independent float64 bilinear crop.
"""

import dataclasses
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import requires_dali
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders.config import LoaderConfig
from loaders.crop_windows import executable_window
from loaders.dali_host import resize_roi, roi_for_window
from loaders.opencv import OpenCVLoader
from loaders.opencv_render import crop_frame
from loaders.samples import EpochRecords
from tracking.data.datasets import Got10k
from tracking.data.frames import decode_frame
from tracking.data.processing import ProcessingConfig
from tracking.data.sampler import dimp_sampler
from tracking.data.synthetic import SyntheticSpec, ensure_dataset

cv2 = pytest.importorskip("cv2")

HEIGHT, WIDTH, FRAMES = 240, 320, 24
SPEC = SyntheticSpec(num_sequences=1, num_frames=FRAMES, width=WIDTH, height=HEIGHT)
#: Boxes (xywh) given to every frame: beyond the right / left border, beyond the top-left corner, a box far
#: larger than the frame, and a small one beyond the border (less than a frame pixel per output pixel: its
#: executable window stays wholly outside the frame, fn.resize gets resize_roi's half-pixel ROI). 0,0,1e6,1e6
#: is exercised through
#: the processing (FixedBoxProcessing): datasets may refuse such boxes (boxes > 100x the frame are being made
#: "not visible").
DATASET_BOXES = ["330,100,40,40", "-300,100,40,40", "-50,-50,40,40", "0,0,5000,5000", "330,100,10,10"]
HUGE_BOX = (0.0, 0.0, 1e6, 1e6)
#: (padding, DALI mode): the CPU default of each padding (roi_resize, roi_warp) and the GPU graph.
CONFIGS = (("replicate", None), ("zeros", None), ("replicate", "warp"))
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS_DIR)


needs_dali = requires_dali


@dataclasses.dataclass(frozen=True)
class FixedBoxProcessing(ProcessingConfig):
    """ProcessingConfig's records for sequences whose every box is `box` (xywh): the crop path of any box,
    including ones dataset construction refuses."""

    box: tuple[float, float, float, float] | None = None

    def make_record(self, sequence, spec, seed, epoch, index, attempt=0):
        if self.box is not None:
            sequence = dataclasses.replace(sequence, boxes=np.tile(np.asarray(self.box, float), (len(sequence), 1)))
        return super().make_record(sequence, spec, seed, epoch, index, attempt)


def processing(padding: str, box=None) -> FixedBoxProcessing:
    return FixedBoxProcessing(output_size=64, label_feature_size=4, num_proposals=4, grayscale_prob=0.5,
                              padding=padding, box=box)


def sampler(root: str):
    return dimp_sampler([Got10k(root)], samples_per_epoch=8, max_gap=10)


def write_dali_batches(root: str, box: str, out: str) -> None:
    """Run by the subprocess: the DALI batches of every CONFIGS entry over `root` (box "": the dataset's
    boxes, else FixedBoxProcessing's), saved to `out`."""
    from loaders.dali import DaliLoader

    fixed = tuple(float(v) for v in box.split(",")) if box else None
    results = {}
    for padding, mode in CONFIGS:
        loader = DaliLoader(sampler(root), processing(padding, fixed),
                            LoaderConfig(backend="dali", batch_size=4, workers=2, device="cpu"), mode=mode)
        results[(padding, mode)] = (loader.mode, list(loader), loader.fallback_batches)
        loader.close()
    torch.save(results, out)


def batches_in_subprocess(module: str, call: str, out: str):
    """Run ``<module>.<call>`` (a test module's function writing the batches to ``out``) in a fresh interpreter,
    so that a DALI crash fails the test instead of killing the test run, and load what it wrote."""
    code = f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import {module} as t; t.{call}"
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, f"the DALI loader died with status {run.returncode} (-11: SIGSEGV):\n" \
                                f"{run.stderr[-3000:]}"
    return torch.load(out, weights_only=False)


def dali_batches(root: str, box: str, tmp_path) -> dict:
    out = str(tmp_path / "dali.pt")
    return batches_in_subprocess("test_dali_border_crops", f"write_dali_batches({root!r}, {box!r}, {out!r})", out)


@pytest.fixture(scope="module")
def source_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("border") / "got10k", "got10k", SPEC)


def border_dataset(source: str, directory, box: str) -> str:
    """A copy of the GOT-10k-layout `source` whose every frame has box `box` ("x,y,w,h"), all visible."""
    root = os.path.join(str(directory), "got10k")
    shutil.copytree(source, root)
    split = os.path.join(root, "train")
    for name in open(os.path.join(split, "list.txt")).read().split():
        for file, line in (("groundtruth.txt", box), ("absence.label", "0"), ("cover.label", "8")):
            with open(os.path.join(split, name, file), "w") as f:
                f.write(f"{line}\n" * FRAMES)
    return root


def reference_crop(image: np.ndarray, window, size: int, padding: str) -> np.ndarray:
    """[size, size, C] float64: bilinear samples of `image` at the output pixel centres of `window`
    (continuous coordinates, pixel j covers [j, j+1)), taps outside the image replicated or zero."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in window)
    xs = x1 + (np.arange(size) + 0.5) * (x2 - x1) / size - 0.5  # index coordinates
    ys = y1 + (np.arange(size) + 0.5) * (y2 - y1) / size - 0.5
    x0, y0 = np.floor(xs), np.floor(ys)
    tx, ty = (xs - x0)[None, :, None], (ys - y0)[:, None, None]
    pixels = image.astype(np.float64)

    def tap(yi, xi):
        value = pixels[np.clip(yi, 0, h - 1).astype(int)[:, None], np.clip(xi, 0, w - 1).astype(int)[None, :]]
        if padding == "zeros":
            value = value * (((yi >= 0) & (yi < h))[:, None] & ((xi >= 0) & (xi < w))[None, :])[..., None]
        return value

    top = tap(y0, x0) * (1 - tx) + tap(y0, x0 + 1) * tx
    bottom = tap(y0 + 1, x0) * (1 - tx) + tap(y0 + 1, x0 + 1) * tx
    return top * (1 - ty) + bottom * ty


def assert_agree_with_opencv(root: str, box: str, results: dict) -> None:
    from test_dali_loader import assert_same_batches

    fixed = tuple(float(v) for v in box.split(",")) if box else None
    for (padding, mode), (dali_mode, batches, fallbacks) in results.items():
        opencv = list(OpenCVLoader(sampler(root), processing(padding, fixed),
                                   LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
        assert fallbacks == 0 and len(batches) == 2
        assert dali_mode == (mode or ("roi_resize" if padding == "replicate" else "roi_warp"))
        assert_same_batches(batches, opencv)


def windows_of(root: str, box=None) -> np.ndarray:
    records = EpochRecords(sampler(root), processing("replicate", box))
    return np.concatenate([np.concatenate([r.train.windows, r.test.windows]) for r in map(records.record, range(8))])


@needs_dali
@pytest.mark.parametrize("box", DATASET_BOXES)
def test_windows_beyond_the_border_agree_on_both_backends(source_root, tmp_path, box):
    root = border_dataset(source_root, tmp_path, box)
    windows = windows_of(root)
    if box != "0,0,5000,5000":  # the case that crashed: windows wholly outside the frame on an axis
        outside = (windows[:, 0] >= WIDTH) | (windows[:, 2] <= 0) | (windows[:, 1] >= HEIGHT) | (windows[:, 3] <= 0)
        assert outside.any()
    assert_agree_with_opencv(root, "", dali_batches(root, "", tmp_path))


@needs_dali
def test_a_box_a_million_pixels_wide_through_the_crop_path(source_root, tmp_path):
    box = ",".join(str(v) for v in HUGE_BOX)
    assert np.abs(windows_of(source_root, HUGE_BOX)).max() > 2e6
    assert_agree_with_opencv(source_root, box, dali_batches(source_root, box, tmp_path))


@needs_dali
def test_exif_rotated_frames_are_cropped_as_displayed(source_root, tmp_path):
    """Frames with EXIF orientation 6 are decoded rotated (240 wide, 320 high) by DALI and OpenCV alike; the
    DALI host must clip its ROIs to that size, not to the stored 320 x 240."""
    from test_corrupt_frames import with_exif_orientation

    root = os.path.join(str(tmp_path), "got10k")
    shutil.copytree(source_root, root)
    for path in Got10k(root)[0].frames:
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(with_exif_orientation(data, 6))
    assert decode_frame(Got10k(root)[0].frames[0]).shape == (WIDTH, HEIGHT, 3)
    assert_agree_with_opencv(root, "", dali_batches(root, "", tmp_path))


def test_opencv_crops_of_far_windows_match_the_reference(source_root):
    """cv2.warpAffine alone is off by up to ~100 grey levels here (fixed-point overflow)."""
    sequence = Got10k(source_root)[0]
    image = decode_frame(sequence.frames[0])
    windows = list(windows_of(source_root, HUGE_BOX)[:12])
    windows += [np.array(w, float) for w in ([-2e6, -2e6, 3e6, 3e6], [2.5e5, -1e6, 5.25e6, 4e6],
                                             [1e7, 1e7, 1e7 + 200, 1e7 + 200], [-1e9, 100, 1e9, 150])]
    for window in windows:
        for padding in ("replicate", "zeros"):
            crop = crop_frame(image, window, 64, padding).astype(np.float64)
            assert np.abs(crop - reference_crop(image, window, 64, padding)).max() <= 3, (window, padding)


WINDOWS = dict(centre=st.tuples(st.floats(-5, 6), st.floats(-5, 6)),
               log_size=st.tuples(st.floats(-1, 7), st.floats(-1, 7)), size=st.integers(1, 40),
               width=st.integers(1, 30), height=st.integers(1, 30))


def window_and_image(centre, log_size, width, height):
    """A window around (centre * frame size) of sides 10^log_size, and a random width x height image."""
    image = np.random.default_rng(width * 31 + height).integers(0, 256, (height, width, 3)).astype(np.uint8)
    half = 0.5 * 10.0 ** np.asarray(log_size)
    cx, cy = centre[0] * width, centre[1] * height
    return np.array([cx - half[0], cy - half[1], cx + half[0], cy + half[1]]), image


@settings(max_examples=300, deadline=None)
@given(**WINDOWS, padding=st.sampled_from(["replicate", "zeros"]))
def test_executable_windows_give_the_same_crop(centre, log_size, size, width, height, padding):
    window, image = window_and_image(centre, log_size, width, height)
    equivalent = executable_window(window, height, width, size)
    for axis, n in ((0, width), (1, height)):  # bounded coordinates (loaders.crop_windows)
        assert np.abs(equivalent[[axis, axis + 2]]).max() <= size * (n + 2) + n + 1
    np.testing.assert_allclose(reference_crop(image, equivalent, size, padding),
                               reference_crop(image, window, size, padding), atol=1e-6)


def test_executable_window_rejects_invalid_windows():
    for window in ([0, 0, 0, 10], [5, 0, 1, 10], [0, np.nan, 4, 4], [0, 0, np.inf, 4]):
        with pytest.raises(ValueError, match="crop window"):
            executable_window(np.array(window, float), 10, 10, 8)


@settings(max_examples=300, deadline=None)
@given(**WINDOWS)
def test_resize_rois_lie_inside_the_decoded_region(centre, log_size, size, width, height):
    """What fn.resize gets in the roi_resize mode (DALI's CPU resize segfaults on a ROI beyond its input):
    a ROI overlapping the decoded region by half a pixel at least, with the crop of the window (replicate)."""
    window, image = window_and_image(centre, log_size, width, height)
    equivalent = executable_window(window, height, width, size)
    x0, y0, x1, y1 = region = roi_for_window(equivalent, height, width)
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    start, end = resize_roi(equivalent, region)  # (y, x), relative to the region
    for axis, n in ((0, y1 - y0), (1, x1 - x0)):
        assert start[axis] < end[axis] and start[axis] <= n - 0.5 and end[axis] >= 0.5
    roi = np.array([start[1], start[0], end[1], end[0]], dtype=np.float64)  # float32 values, as DALI gets them
    np.testing.assert_allclose(reference_crop(image[y0:y1, x0:x1], roi, size, "replicate"),
                               reference_crop(image, window, size, "replicate"), atol=0.1)
