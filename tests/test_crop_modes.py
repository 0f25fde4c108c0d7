"""Crop types: "inside" / "inside_major" windows (pytracking's sample_target_adaptive, continuous), the
frame sizes they need (dataset, JPEG header with EXIF orientation, unreadable files) and their records."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.data import crop_modes, geometry
from tracking.data.crop_modes import adaptive_window, frame_sizes
from tracking.data.frames import decode_frame, frame_size
from tracking.data.processing import make_processing, make_record
from tracking.data.sampler import SampleSpec
from tracking.data.sequence import FramePaths, SequenceInfo

cv2 = pytest.importorskip("cv2")


def pytracking_window(box, factor, height, width, mode, max_scale_change):
    """sample_target_adaptive's crop box as x1y1x2y2, from its formulas (whole pixels: ceil, floor, round)."""
    x, y, w, h = box
    crop = math.ceil(math.sqrt(w * h) * factor)
    ratios = [crop / width, crop / height]
    r = min(max(1.0, max(ratios) if mode == "inside" else min(ratios)), max_scale_change)
    crop = math.floor(crop / r)
    corner = []
    for c, n in ((x + w / 2, width), (y + h / 2, height)):
        lo = round(c - crop / 2)
        hi = lo + crop
        lo += max(0, -lo) + min(0, n - hi)
        hi = lo + crop
        out = (max(0, -lo) + max(0, hi - n)) // 2
        if out > 0:
            lo = -out
        corner.append(lo)
    return np.array([corner[0], corner[1], corner[0] + crop, corner[1] + crop], dtype=float)


boxes = st.tuples(st.floats(-300, 900), st.floats(-300, 700), st.floats(2, 600), st.floats(2, 600))
sizes = st.tuples(st.integers(40, 800), st.integers(40, 800))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(box=boxes, size=sizes, factor=st.floats(1.0, 8.0), limit=st.sampled_from([1.0, 1.5, 3.0, None]),
       mode=st.sampled_from(["inside", "inside_major"]))
def test_adaptive_windows(box, size, factor, limit, mode):
    height, width = size
    window = adaptive_window(np.array(box), factor, np.array(size, float), mode, limit)
    side = window[2] - window[0]
    plain = math.sqrt(box[2] * box[3]) * factor
    assert math.isclose(window[3] - window[1], side, rel_tol=1e-12)  # square
    # scale change bounded: shrunk by a factor in [1, max_scale_change], and only as far as needed
    change = plain / side
    assert 1.0 - 1e-9 <= change <= (limit or math.inf) * (1 + 1e-9)
    fit = min(width, height) if mode == "inside" else max(width, height)
    if change > 1.0 + 1e-9:
        assert side >= fit * (1 - 1e-9)
    # on every axis: inside the frame where it fits (by the least shift), else centred on it
    centre = geometry.box_center(np.array(box))
    for lo, hi, n, c in ((window[0], window[2], width, centre[0]), (window[1], window[3], height, centre[1])):
        if side <= n:
            assert -1e-9 <= lo and hi <= n + 1e-9
            assert math.isclose(lo, min(max(c - side / 2, 0.0), n - side), abs_tol=1e-6)
        else:
            assert math.isclose(lo + hi, n, abs_tol=1e-6)
    # "inside_major": inside along the frame's longer side whenever the scale change allows it
    if mode == "inside_major" and (limit is None or plain / limit <= max(width, height)):
        lo, hi, n = (window[0], window[2], width) if width >= height else (window[1], window[3], height)
        assert -1e-9 <= lo and hi <= n + 1e-9
    if mode == "inside" and (limit is None or plain / limit <= min(width, height)):
        assert window[0] >= -1e-9 and window[1] >= -1e-9 and window[2] <= width + 1e-9 and window[3] <= height + 1e-9
    # pytracking's whole-pixel window is the same up to its rounding
    if plain >= 8:
        np.testing.assert_allclose(window, pytracking_window(box, factor, height, width, mode, limit or math.inf),
                                   atol=2.5)  # ceil + floor of the side (< 2), rounding the corner


def test_adaptive_window_known_cases():
    # 100 x 100 box, factor 5: a 500 window in a 640 x 360 frame (W x H)
    box = np.array([270.0, 130.0, 100.0, 100.0])
    size = np.array([360.0, 640.0])
    # inside_major: min(500 / 640, 500 / 360) < 1: no shrinking; fits x (shifted to stay inside), centred on y
    np.testing.assert_allclose(adaptive_window(box, 5.0, size, "inside_major", 1.5), [70, -70, 570, 430])
    # inside: max(500 / 360) = 1.39 -> side 360, inside both axes
    np.testing.assert_allclose(adaptive_window(box, 5.0, size, "inside", 1.5), [140, 0, 500, 360])
    # inside with a scale change limited to 1.2: side 500 / 1.2, still too high: centred on y
    side = 500 / 1.2
    np.testing.assert_allclose(adaptive_window(box, 5.0, size, "inside", 1.2),
                               [320 - side / 2, 180 - side / 2, 320 + side / 2, 180 + side / 2])
    # a target at the right border: the window moves left to end at the border
    np.testing.assert_allclose(adaptive_window([600.0, 150.0, 40.0, 40.0], 5.0, size, "inside_major"),
                               [440, 70, 640, 270])
    # broadcasting: [..., 4] boxes with one size
    many = adaptive_window(np.tile(box, (2, 3, 1)), 5.0, size, "inside", 1.5)
    assert many.shape == (2, 3, 4)


def test_adaptive_window_bad_inputs():
    box = [10.0, 10.0, 20.0, 20.0]
    with pytest.raises(ValueError, match="crop_type"):
        adaptive_window(box, 5.0, [100, 100], "replicate")
    with pytest.raises(ValueError, match="max_scale_change"):
        adaptive_window(box, 5.0, [100, 100], "inside", 0.5)
    with pytest.raises(ValueError, match="image_size"):
        adaptive_window(box, 5.0, [100, np.nan], "inside")
    with pytest.raises(ValueError, match="`box`"):
        adaptive_window([10.0, 10.0, 0.0, 20.0], 5.0, [100, 100], "inside")


# ----------------------------------------------------------------------------------------- frame sizes


def with_exif_orientation(data: bytes, orientation: int) -> bytes:
    from test_corrupt_frames import with_exif_orientation as add

    return add(data, orientation)


def test_frame_sizes_from_headers_follow_exif_orientation(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    paths = []
    for orientation in (1, 3, 6, 8):
        path = str(tmp_path / f"o{orientation}.jpg")
        with open(path, "wb") as f:
            f.write(with_exif_orientation(encoded.tobytes(), orientation))
        paths.append(path)
        assert frame_size(path) == decode_frame(path).shape[:2]
    png = str(tmp_path / "frame.png")
    cv2.imwrite(png, image)
    paths += [png, str(tmp_path / "missing.jpg")]
    with open(tmp_path / "empty.jpg", "wb"):
        pass
    paths.append(str(tmp_path / "empty.jpg"))
    sizes = frame_sizes(paths)
    np.testing.assert_array_equal(sizes[:5], [[48, 80], [48, 80], [80, 48], [80, 48], [48, 80]])
    assert np.isnan(sizes[5:]).all()
    np.testing.assert_array_equal(frame_sizes(paths, image_size=(7, 9)), np.tile([7, 9], (7, 1)))


# ------------------------------------------------------------------------------------------------ records


def jpeg_sequence(directory, frames: int = 12, size=(120, 200), image_size=None) -> SequenceInfo:
    h, w = size
    rng = np.random.default_rng(1)
    directory.mkdir(exist_ok=True)
    for t in range(frames):
        cv2.imwrite(str(directory / f"{t:04d}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    boxes = np.column_stack([rng.uniform(-10, w - 10, frames), rng.uniform(-10, h - 10, frames),
                             rng.uniform(10, 60, (frames, 2))])
    return SequenceInfo("toy", "jpegs", FramePaths(str(directory), "{:04d}.jpg", 0, frames), boxes,
                        np.ones(frames, bool), image_size=image_size)


SPEC = SampleSpec(dataset_index=0, sequence_index=0, train_frames=np.array([0, 3, 5]),
                  test_frames=np.array([7, 9, 11]), attempts=1)


def test_inside_major_records_read_frame_sizes_when_the_dataset_does_not_know_them(tmp_path):
    cfg = make_processing("super_dimp", output_size=64, label_feature_size=4, flip_joint_prob=0.0,
                          flip_frame_prob=0.0)
    unknown = jpeg_sequence(tmp_path / "a")
    known = dataclasses.replace(unknown, image_size=(120, 200))
    for index in range(10):
        a, b = make_record(unknown, SPEC, cfg, 0, 0, index), make_record(known, SPEC, cfg, 0, 0, index)
        for frames_a, frames_b in ((a.train, b.train), (a.test, b.test)):
            np.testing.assert_array_equal(frames_a.windows, frames_b.windows)
            windows = frames_a.windows
            side = windows[:, 2] - windows[:, 0]
            # the major axis is x (200 > 120): inside it wherever the scale change allows
            inside = (windows[:, 0] >= -1e-9) & (windows[:, 2] <= 200 + 1e-9)
            assert np.all(inside | (side > 200))


def test_frames_without_a_size_keep_the_plain_window(tmp_path):
    cfg = make_processing("dimp", crop_type="inside", output_size=64, label_feature_size=4)
    plain = dataclasses.replace(cfg, crop_type="replicate")
    sequence = jpeg_sequence(tmp_path / "b")
    (tmp_path / "b" / "0003.jpg").unlink()  # the loader will replace this sample; the record must not fail
    a, b = make_record(sequence, SPEC, cfg, 0, 0, 1), make_record(sequence, SPEC, plain, 0, 0, 1)
    np.testing.assert_array_equal(a.train.windows[1], b.train.windows[1])
    assert not np.array_equal(a.train.windows[0], b.train.windows[0])


def test_size_cache_is_bounded(tmp_path, monkeypatch):
    sequence = jpeg_sequence(tmp_path / "c", frames=5)
    monkeypatch.setattr(crop_modes, "SIZE_CACHE_ENTRIES", 3)
    monkeypatch.setattr(crop_modes, "_size_cache", {})
    sizes = frame_sizes(list(sequence.frames))
    np.testing.assert_array_equal(sizes, np.tile([120, 200], (5, 1)))
    assert len(crop_modes._size_cache) <= 3
