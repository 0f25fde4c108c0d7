"""Horizontal flips: records (mirrored windows, boxes, labels), the OpenCV backend's mirrored warpAffine,
and the DALI backend (mirrored warp_affine matrix, fn.resize with roi_start > roi_end) against it, with
PrDiMP / SuperDiMP records (flips, inside_major crops, KL proposals, label densities)."""

import dataclasses
import os

import numpy as np
import pytest
import torch
from conftest import SHARED_SEQUENCES, requires_dali

from loaders.config import LoaderConfig
from loaders.opencv import OpenCVLoader
from loaders.opencv_render import crop_frame, render_record
from tracking.data import geometry
from tracking.data.datasets import Got10k
from tracking.data.frames import decode_frame
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, make_processing, make_record
from tracking.data.sampler import SampleSpec, dimp_sampler
from tracking.data.sequence import FramePaths, SequenceInfo
from tracking.data.synthetic import SyntheticSpec, ensure_dataset

cv2 = pytest.importorskip("cv2")

REAL_FRAME = os.path.join(SHARED_SEQUENCES, "Crossing", "img", "0001.jpg")
SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96)
#: SuperDiMP's processing at a small size, colour decisions on.
SMALL_SUPER = make_processing("super_dimp", output_size=64, label_feature_size=4, num_proposals=16,
                              grayscale_prob=0.5)
#: Backend agreement bounds in 0..255 grey levels (tests/test_dali_loader.py's, measured there).
MEAN_BOUND_255, MAX_BOUND_255 = 0.15, 6.0


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("flips") / "got10k", "got10k", SPEC)


@pytest.fixture(scope="module")
def frame(dataset_root):
    """A real frame (BGR) when the shared data is there, else a textured synthetic one."""
    if os.path.exists(REAL_FRAME):
        return decode_frame(REAL_FRAME)
    return decode_frame(Got10k(dataset_root).sequences[0].frames[0])


def test_a_mirrored_window_crops_the_mirror_image(frame):
    rng = np.random.default_rng(0)
    height, width = frame.shape[:2]
    windows = [[10.3, 20.7, 110.9, 121.3], [-40.0, -25.5, 60.0, 74.5], [width - 30.2, 5.0, width + 70.0, 105.2]]
    for _ in range(20):
        x, y = rng.uniform(-0.2, 1.0, 2) * (width, height)
        side = rng.uniform(20, 2 * width)
        windows.append([x, y, x + side, y + side])
    windows.append([0.0, 0.0, 1e6, 1e6])  # cropped through an equivalent bounded window
    for window in np.asarray(windows):
        for padding in ("replicate", "zeros"):
            plain = crop_frame(frame, window, 64, padding).astype(int)
            mirrored = crop_frame(frame, geometry.mirror_windows(window, True), 64, padding).astype(int)
            difference = np.abs(mirrored - np.fliplr(plain))
            assert difference.max() <= 2 and difference.mean() < 0.05, (window, padding)  # cv2's fixed point


def test_mirrored_window_geometry():
    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(-50, 300, (30, 2)), rng.uniform(5, 90, (30, 2))])
    windows = geometry.crop_window(geometry.jitter_box(boxes, 3.0, 0.25, rng), 5.0)
    mirrored = geometry.mirror_windows(windows, True)
    size = 96
    plain = geometry.box_to_crop(boxes, windows, size)
    flipped = geometry.box_to_crop(boxes, mirrored, size, allow_mirrored=True)
    np.testing.assert_allclose(flipped, np.column_stack([size - plain[:, 0] - plain[:, 2], plain[:, 1:]]), atol=1e-9)
    np.testing.assert_allclose(geometry.box_from_crop(flipped, mirrored, size, allow_mirrored=True), boxes, atol=1e-9)
    # the mirrored affine maps the flipped crop box's corners onto the box's (right edge first)
    m = geometry.window_to_affine(mirrored, size, allow_mirrored=True)
    corners = geometry.xywh_to_xyxy(flipped)
    left = np.einsum("nij,nj->ni", m, np.column_stack([corners[:, :2], np.ones(30)]))
    right = np.einsum("nij,nj->ni", m, np.column_stack([corners[:, 2:], np.ones(30)]))
    np.testing.assert_allclose(left, np.column_stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1]]), atol=1e-9)
    np.testing.assert_allclose(right, np.column_stack([boxes[:, 0], boxes[:, 1] + boxes[:, 3]]), atol=1e-9)
    unmirrored, flags = geometry.unmirror_windows(np.where(np.arange(30)[:, None] % 2, mirrored, windows))
    np.testing.assert_array_equal(unmirrored, windows)
    np.testing.assert_array_equal(flags, np.arange(30) % 2 == 1)
    # mirrored windows stay errors unless asked for; invalid ones stay errors either way
    with pytest.raises(ValueError, match="window_to_affine: `window`"):
        geometry.window_to_affine(mirrored[0], size)
    with pytest.raises(ValueError, match="box_to_crop: `window`"):
        geometry.box_to_crop(boxes[0], mirrored[0], size)
    for bad in ([5.0, 0.0, 5.0, 10.0], [10.0, 10.0, 0.0, 0.0], [10.0, 0.0, np.nan, 10.0]):
        with pytest.raises(ValueError, match="`window`"):
            geometry.window_to_affine(bad, size, allow_mirrored=True)


def toy_sequence(directory, frames: int = 16, size=(96, 128)) -> SequenceInfo:
    """PNG frames: a white rectangle (the target) on mid grey, near the left border."""
    h, w = size
    directory.mkdir()
    boxes = []
    for t in range(frames):
        box = (6 + t, 30 + (t % 5), 24, 18)
        image = np.full((h, w, 3), 128, np.uint8)
        image[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = 255
        cv2.imwrite(str(directory / f"{t:04d}.png"), image)
        boxes.append(box)
    return SequenceInfo("toy", "box", FramePaths(str(directory), "{:04d}.png", 0, frames), np.asarray(boxes, float),
                        np.ones(frames, bool))


TOY_SPEC = SampleSpec(dataset_index=0, sequence_index=0, train_frames=np.array([0, 4, 8]),
                      test_frames=np.array([10, 12, 15]), attempts=1)


def unnormalise(images: torch.Tensor) -> np.ndarray:
    return (images * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)).numpy()


@pytest.mark.parametrize("crop_type", ["replicate", "inside_major"])
def test_flipped_records_mirror_windows_boxes_and_labels(tmp_path, crop_type):
    sequence = toy_sequence(tmp_path / "toy")
    base = make_processing("super_dimp", output_size=64, label_feature_size=4, crop_type=crop_type, grayscale_prob=0.0,
                           brightness_jitter=0.0, flip_joint_prob=0.0, flip_frame_prob=0.0)
    flipped = dataclasses.replace(base, flip_joint_prob=1.0)
    both = dataclasses.replace(base, flip_joint_prob=1.0, flip_frame_prob=1.0)  # flipped twice: not flipped
    for index in range(4):
        a, b, c = (make_record(sequence, TOY_SPEC, cfg, 0, 0, index) for cfg in (base, flipped, both))
        for name in ("train", "test"):
            fa, fb, fc = getattr(a, name), getattr(b, name), getattr(c, name)
            assert not fa.flipped.any() and fb.flipped.all() and not fc.flipped.any()
            np.testing.assert_array_equal(fb.windows, geometry.mirror_windows(fa.windows, True))
            np.testing.assert_array_equal(fc.windows, fa.windows)
            x, y, w, h = fa.boxes.T
            np.testing.assert_allclose(fb.boxes, np.column_stack([64 - x - w, y, w, h]), atol=1e-9)
            np.testing.assert_allclose(fb.labels, fa.labels[..., ::-1], rtol=1e-6)  # the grid is symmetric
            np.testing.assert_allclose(fb.label_density, fa.label_density[..., ::-1], rtol=1e-6, atol=1e-30)
        # the target is where the flipped record's boxes say, and the images are mirrored
        fields = flipped.batch_fields()
        images_a, images_b = render_record(a, fields), render_record(b, fields)
        for key in ("train", "test"):
            ia, ib = unnormalise(images_a[f"{key}_images"]), unnormalise(images_b[f"{key}_images"])
            assert np.abs(ib - ia[..., ::-1]).max() <= 2.5 / 255
            for image, (x, y, w, h) in zip(ib, images_b[f"{key}_anno"].tolist()):
                white = image.min(axis=0) > 0.99
                rows, cols = np.mgrid[0:64, 0:64] + 0.5
                inside = (cols > x + 1) & (cols < x + w - 1) & (rows > y + 1) & (rows < y + h - 1)
                outside = (cols < x - 1) | (cols > x + w + 1) | (rows < y - 1) | (rows > y + h + 1)
                assert inside.sum() > 0 and white[inside].all() and not white[outside].any()


def test_flip_decisions_are_joint_xor_per_frame():
    rng = np.random.default_rng(2)
    boxes = np.column_stack([rng.uniform(50, 300, (40, 2)), rng.uniform(20, 80, (40, 2))])
    sequence = SequenceInfo("toy", "s", FramePaths("/nowhere", "{:04d}.jpg", 0, 40), boxes, np.ones(40, bool),
                            image_size=(360, 640))
    spec = SampleSpec(0, 0, np.array([1, 5, 9]), np.array([20, 30, 39]), 1)
    super_dimp = dataclasses.replace(SMALL_SUPER, num_proposals=0)
    flips = np.array([np.concatenate([r.train.flipped, r.test.flipped])
                      for r in (make_record(sequence, spec, super_dimp, 0, 0, i) for i in range(400))])
    assert abs(flips.mean() - 0.5) < 0.05  # each frame flips with probability 1/2 ...
    assert abs((flips.all(axis=1) | ~flips.any(axis=1)).mean() - 2 / 64) < 0.02  # ... independently
    joint_only = dataclasses.replace(super_dimp, flip_frame_prob=0.0)
    flips = np.array([np.concatenate([r.train.flipped, r.test.flipped])
                      for r in (make_record(sequence, spec, joint_only, 0, 0, i) for i in range(100))])
    assert (flips.all(axis=1) | ~flips.any(axis=1)).all() and 0.3 < flips.mean() < 0.7


# --------------------------------------------------------------------------------------- both backends


def image_diff_255(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs() * torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1) * 255


def assert_same_batches(dali: list, opencv: list) -> None:
    assert len(dali) == len(opencv) > 0
    for a, b in zip(dali, opencv):
        assert list(a) == list(b)
        for key in a:
            if key.endswith("_images"):
                diff = image_diff_255(a[key], b[key])
                assert diff.mean() < MEAN_BOUND_255 and diff.max() < MAX_BOUND_255, (key, diff.mean(), diff.max())
            elif isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key


CASES = {  # name: (processing, DALI mode)
    "super_dimp/roi_resize": (SMALL_SUPER, None),
    "super_dimp/roi_warp": (SMALL_SUPER, "roi_warp"),
    "super_dimp/warp": (SMALL_SUPER, "warp"),
    "prdimp/zeros/flips": (make_processing("prdimp", output_size=64, label_feature_size=4, num_proposals=8,
                                           crop_type="zeros", flip_frame_prob=0.5), None),
    "inside/flips/warp": (dataclasses.replace(SMALL_SUPER, crop_type="inside", max_scale_change=None), "warp"),
}


@requires_dali
@pytest.mark.parametrize("case", sorted(CASES))
def test_backends_agree_on_flipped_inside_major_and_kl_records(dataset_root, case):
    from loaders.dali import DaliLoader

    processing, mode = CASES[case]
    sampler = dimp_sampler([Got10k(dataset_root)], samples_per_epoch=8, max_gap=10)
    loader = DaliLoader(sampler, processing, LoaderConfig(backend="dali", batch_size=4, workers=2, device="cpu"),
                        mode=mode)
    dali = list(loader)
    loader.close()
    assert loader.fallback_batches == 0
    opencv = list(OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert_same_batches(dali, opencv)
    flipped = [make_record(sampler.sequence(s), s, processing, 0, 0, i).test.flipped
               for i, s in ((i, sampler.sample_global(i, 0)) for i in range(8))]
    assert 0 < np.mean(flipped) < 1  # both kinds of frames were rendered


def write_flipped_border_batches(root: str, out: str) -> None:
    """Run in a subprocess (a DALI crash must fail the test, not the suite): DALI batches of flipped windows
    wholly beyond the frame border (fn.resize's half-pixel border ROI, mirrored), saved to `out`."""
    from loaders.dali import DaliLoader
    from test_dali_border_crops import FixedBoxProcessing

    results = []
    for box in ((330.0, 40.0, 10.0, 10.0), (-300.0, 40.0, 40.0, 40.0), (0.0, 0.0, 1e6, 1e6)):
        processing = FixedBoxProcessing(output_size=64, label_feature_size=4, num_proposals=4, flip_joint_prob=1.0,
                                        box=box)
        sampler = dimp_sampler([Got10k(root)], samples_per_epoch=4, max_gap=10)
        loader = DaliLoader(sampler, processing, LoaderConfig(backend="dali", batch_size=4, workers=1,
                                                              device="cpu"))
        results.append((box, list(loader)))
        loader.close()
    torch.save(results, out)


@requires_dali
def test_flipped_windows_beyond_the_border_on_dali(dataset_root, tmp_path):
    from test_dali_border_crops import FixedBoxProcessing, batches_in_subprocess

    out = str(tmp_path / "dali.pt")
    written = batches_in_subprocess("test_flip_rendering", f"write_flipped_border_batches({dataset_root!r}, {out!r})",
                                    out)
    for box, dali in written:
        processing = FixedBoxProcessing(output_size=64, label_feature_size=4, num_proposals=4, flip_joint_prob=1.0,
                                        box=box)
        sampler = dimp_sampler([Got10k(dataset_root)], samples_per_epoch=4, max_gap=10)
        opencv = list(OpenCVLoader(sampler, processing,
                                   LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
        assert_same_batches(dali, opencv)
