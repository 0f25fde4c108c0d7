"""The synthetic tracking-video generator: determinism, annotation semantics, on-disk layouts, the cache."""

import configparser
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from tracking.data import synthetic  # noqa: E402
from tracking.data.synthetic import (  # noqa: E402
    MARKER_NAME, SyntheticScene, SyntheticSpec, ensure_dataset, generate_sequence, write_got10k, write_lasot)

SMALL = dict(num_sequences=3, num_frames=12, width=160, height=96)


def small_spec(**kw) -> SyntheticSpec:
    return SyntheticSpec(**{**SMALL, **kw})


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def integer_box(box):
    """(r0, r1, c0, c1) pixel range intersecting an xywh box."""
    x, y, w, h = box
    return math.floor(y), math.ceil(y + h), math.floor(x), math.ceil(x + w)


def test_import_does_not_load_cv2():
    code = "import sys, tracking.data.synthetic; print('cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
    assert out == "False"


def test_generate_sequence_is_deterministic_and_typed():
    spec = small_spec()
    frames, boxes, absent, cover = generate_sequence(spec, 1)
    assert len(frames) == 12 and all(f.shape == (96, 160, 3) and f.dtype == np.uint8 for f in frames)
    assert boxes.shape == (12, 4) and boxes.dtype == np.float64
    assert absent.shape == (12,) and absent.dtype == bool
    assert cover.shape == (12,) and cover.dtype == np.uint8
    frames2, boxes2, absent2, cover2 = generate_sequence(spec, 1)
    assert all(np.array_equal(a, b) for a, b in zip(frames, frames2))
    np.testing.assert_array_equal(boxes, boxes2)
    np.testing.assert_array_equal(absent, absent2)
    np.testing.assert_array_equal(cover, cover2)
    other_seed = generate_sequence(small_spec(seed=1), 1)
    assert not np.array_equal(frames[0], other_seed[0][0])
    assert not np.allclose(boxes[0], other_seed[1][0])
    other_index = generate_sequence(spec, 2)
    assert not np.array_equal(frames[0], other_index[0][0])


@pytest.mark.parametrize("oov", [0.0, 1.0])
def test_boxes_inside_image_and_absence_consistent(oov):
    spec = small_spec(num_sequences=4, num_frames=16, out_of_view_prob=oov, occlusion_prob=1.0)
    for i in range(spec.num_sequences):
        scene = SyntheticScene(spec, i)
        present = ~scene.absent
        assert present[0] and scene.cover[0] == 8, "the first frame shows the whole target"
        b = scene.boxes[present]
        assert (b[:, 2] >= 1).all() and (b[:, 3] >= 1).all()
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
        assert (b[:, 0] + b[:, 2] <= spec.width + 1e-9).all() and (b[:, 1] + b[:, 3] <= spec.height + 1e-9).all()
        assert np.isnan(scene.boxes[scene.absent]).all()
        np.testing.assert_array_equal(scene.cover == 0, scene.absent)
        np.testing.assert_array_equal(scene.absent, scene.out_of_view | scene.full_occlusion)
        assert not (scene.out_of_view & scene.full_occlusion).any()
        assert ((scene.visible_ratio >= synthetic.MIN_VISIBLE_RATIO) | scene.absent).all()
        if oov == 1.0:
            assert scene.out_of_view.any(), "out_of_view_prob=1 must take the target out of view"
        else:
            assert not scene.out_of_view.any()
        # occlusion_prob=1: some frame is partially occluded though fully inside the image
        assert ((scene.visible_ratio < 0.99) & (scene.in_image_ratio > 0.999)).any()


def test_target_pixels_are_inside_the_box():
    spec = small_spec(num_sequences=3, num_frames=16, out_of_view_prob=0.5, occlusion_prob=0.5)
    for i in range(spec.num_sequences):
        scene = SyntheticScene(spec, i)
        frames = generate_sequence(spec, i)[0]
        for t in range(spec.num_frames):
            frame = scene.render(t)
            assert np.array_equal(frame, frames[t])
            diff = np.abs(frame.astype(np.int16) - scene.render(t, draw_target=False)).sum(axis=2)
            mask = scene.target_mask(t)
            if scene.absent[t]:
                continue
            r0, r1, c0, c1 = integer_box(scene.boxes[t])
            inside = np.zeros(mask.shape, bool)
            inside[r0:r1, c0:c1] = True
            assert not diff[~inside].any(), "the target changed a pixel outside its box"
            assert not mask[~inside].any()
            assert diff[inside].mean() > 5, (i, t)
            assert diff[mask > 0.99].mean() > 5, (i, t)
            if scene.visible_ratio[t] == 1:  # the box is tight: the mask reaches its edges (within a pixel)
                rows, cols = np.nonzero(mask > 0)
                assert rows.min() - r0 in (0, 1) and r1 - 1 - rows.max() in (0, 1)
                assert cols.min() - c0 in (0, 1) and c1 - 1 - cols.max() in (0, 1)


def test_got10k_layout(tmp_path):
    spec = small_spec(out_of_view_prob=1.0)
    names = write_got10k(tmp_path, spec)
    assert names == [f"GOT-10k_Train_{i:06d}" for i in (1, 2, 3)]
    assert read_lines(tmp_path / "train" / "list.txt") == names
    for i, name in enumerate(names):
        d = tmp_path / "train" / name
        expected = {f"{t:08d}.jpg" for t in range(1, 13)} | {
            "groundtruth.txt", "absence.label", "cover.label", "cut_by_image.label", "meta_info.ini"}
        assert set(os.listdir(d)) == expected
        for t in (1, 12):
            img = cv2.imread(str(d / f"{t:08d}.jpg"))
            assert img is not None and img.shape == (96, 160, 3)
        _, boxes, absent, cover = generate_sequence(spec, i)
        gt_lines = read_lines(d / "groundtruth.txt")
        assert len(gt_lines) == 12 and all(len(line.split(",")) == 4 for line in gt_lines)
        assert all(len(v.split(".")[1]) == 4 for line in gt_lines for v in line.split(","))
        gt = np.array([[float(v) for v in line.split(",")] for line in gt_lines])
        absence = np.array([int(v) for v in read_lines(d / "absence.label")])
        covers = np.array([int(v) for v in read_lines(d / "cover.label")])
        assert len(absence) == len(covers) == 12 and set(absence) <= {0, 1} and absence.any()
        np.testing.assert_array_equal(absence.astype(bool), absent)
        np.testing.assert_array_equal(covers, cover)
        np.testing.assert_allclose(gt[~absent], boxes[~absent], atol=5e-5)
        for t in np.nonzero(absent)[0]:  # absent rows repeat the last present box
            last = max(s for s in range(t) if not absent[s])
            assert gt_lines[t] == gt_lines[last]
        meta = configparser.ConfigParser()
        meta.read(d / "meta_info.ini")
        assert meta["METAINFO"]["object_class"] in ("synthetic_ellipse", "synthetic_rectangle")
        assert meta["METAINFO"]["resolution"] == "(160, 96)"
        assert read_lines(d / "meta_info.ini")[5].startswith("object_class: ")  # ltr reads it by line number


def test_lasot_layout(tmp_path):
    spec = small_spec(out_of_view_prob=1.0)
    names = write_lasot(tmp_path, spec)
    assert names == ["synthcar-1", "synthball-1", "synthcar-2"]
    assert sorted(os.listdir(tmp_path)) == ["synthball", "synthcar"]
    for i, name in enumerate(names):
        d = tmp_path / name.split("-")[0] / name
        assert sorted(os.listdir(d)) == ["full_occlusion.txt", "groundtruth.txt", "img", "nlp.txt", "out_of_view.txt"]
        assert sorted(os.listdir(d / "img")) == [f"{t:08d}.jpg" for t in range(1, 13)]
        assert cv2.imread(str(d / "img" / "00000012.jpg")).shape == (96, 160, 3)
        scene = SyntheticScene(spec, i)
        flags = {}
        for key in ("full_occlusion", "out_of_view"):
            lines = read_lines(d / f"{key}.txt")
            assert len(lines) == 1
            flags[key] = np.array([int(v) for v in lines[0].split(",")], bool)
            assert flags[key].shape == (12,)
        np.testing.assert_array_equal(flags["out_of_view"], scene.out_of_view)
        np.testing.assert_array_equal(flags["out_of_view"] | flags["full_occlusion"], scene.absent)
        gt_lines = read_lines(d / "groundtruth.txt")
        assert len(gt_lines) == 12
        gt = np.array([[int(v) for v in line.split(",")] for line in gt_lines])  # ints only
        absent = scene.absent
        assert (gt[absent] == 0).all()
        x0 = gt[~absent, :2] - 1  # 1-based on disk
        assert (x0 >= 0).all() and (gt[~absent, 2:] >= 1).all()
        assert (x0[:, 0] + gt[~absent, 2] <= 160).all() and (x0[:, 1] + gt[~absent, 3] <= 96).all()
        b = scene.boxes[~absent]
        np.testing.assert_allclose(x0, b[:, :2], atol=0.5 + 1e-9)
        np.testing.assert_allclose(x0 + gt[~absent, 2:], b[:, :2] + b[:, 2:], atol=0.5 + 1e-9)
        assert read_lines(d / "nlp.txt") == [scene.description]


def test_written_datasets_are_deterministic(tmp_path):
    spec = small_spec(num_sequences=2)
    write_got10k(tmp_path / "a", spec)
    write_got10k(tmp_path / "b", spec)
    write_got10k(tmp_path / "c", small_spec(num_sequences=2, seed=5))
    for name in ("GOT-10k_Train_000001", "GOT-10k_Train_000002"):
        a, b, c = (tmp_path / r / "train" / name for r in "abc")
        for f in ("groundtruth.txt", "absence.label", "cover.label", "meta_info.ini"):
            assert (a / f).read_bytes() == (b / f).read_bytes()
        assert (a / "groundtruth.txt").read_bytes() != (c / "groundtruth.txt").read_bytes()
        for t in (1, 7, 12):
            fa, fb, fc = (cv2.imread(str(d / f"{t:08d}.jpg")) for d in (a, b, c))
            assert np.array_equal(fa, fb) and not np.array_equal(fa, fc)


def test_ensure_dataset_reuses_and_regenerates(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    spec = small_spec(num_sequences=2, num_frames=8)
    assert ensure_dataset(root, "got10k", spec) == str(root)
    marker, frame = root / MARKER_NAME, root / "train" / "GOT-10k_Train_000001" / "00000001.jpg"
    stamps = (marker.stat().st_mtime_ns, frame.stat().st_mtime_ns)
    (root / "notes.txt").write_text("not ours")
    ensure_dataset(root, "got10k", spec)
    assert (marker.stat().st_mtime_ns, frame.stat().st_mtime_ns) == stamps

    # a different spec regenerates, and the stale third sequence of an old spec does not survive
    ensure_dataset(root, "got10k", small_spec(num_sequences=3, num_frames=8))
    assert (root / "train" / "GOT-10k_Train_000003").is_dir()
    ensure_dataset(root, "got10k", small_spec(num_sequences=2, num_frames=9, seed=3))
    assert sorted(os.listdir(root / "train")) == ["GOT-10k_Train_000001", "GOT-10k_Train_000002", "list.txt"]
    assert len(os.listdir(root / "train" / "GOT-10k_Train_000001")) == 9 + 5
    assert (root / "notes.txt").read_text() == "not ours"

    # an interrupted generation is cleaned up and redone
    spec3 = small_spec(num_sequences=2, num_frames=7, seed=4)

    def interrupted(root_, spec_, split, progress=None):
        write_got10k(root_, SyntheticSpec(**{**spec_.__dict__, "num_sequences": 1}), split)
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic.cache, "write_got10k", interrupted)  # the name ensure_dataset calls
    with pytest.raises(KeyboardInterrupt):
        ensure_dataset(root, "got10k", spec3)
    assert not marker.exists()
    monkeypatch.undo()
    ensure_dataset(root, "got10k", spec3)
    assert marker.exists() and len(read_lines(root / "train" / "GOT-10k_Train_000002" / "groundtruth.txt")) == 7

    # without the marker (and no record of an interrupted run) the data is not ours to delete
    marker.unlink()
    with pytest.raises(FileExistsError):
        ensure_dataset(root, "got10k", spec)



def test_ensure_dataset_switches_layout(tmp_path):
    spec = small_spec(num_sequences=2, num_frames=6)
    ensure_dataset(tmp_path, "got10k", spec)
    ensure_dataset(tmp_path, "lasot", spec)  # replaces the GOT-10k cache it owns
    assert sorted(os.listdir(tmp_path)) == [".synthetic.lock", "synthball", "synthcar", MARKER_NAME]


def test_ensure_dataset_refuses_foreign_data(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "real.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        ensure_dataset(tmp_path, "got10k", small_spec())
    assert (tmp_path / "train" / "real.jpg").exists()


def test_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain-print progress path
    args = ["--out", str(tmp_path), "--layout", "lasot", "--sequences", "2", "--frames", "5", "--size", "64x48",
            "--seed", "4"]
    assert synthetic.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[1/2] synthcar-1") and out[1].startswith("[2/2] synthball-1")
    assert cv2.imread(str(tmp_path / "synthball" / "synthball-1" / "img" / "00000005.jpg")).shape == (48, 64, 3)
    assert synthetic.main(args) == 0
    assert "nothing to do" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        synthetic.main(["--out", str(tmp_path), "--size", "64by48"])


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("case", ["bad_size", "invalid_spec", "out_is_a_file", "out_under_a_file", "foreign_data"])
def test_cli_user_error_is_one_line_and_exit_code_2(tmp_path, case):
    (tmp_path / "file").write_text("x")
    (tmp_path / "real" / "train").mkdir(parents=True)
    out, extra = str(tmp_path / "out"), []
    if case == "bad_size":
        extra = ["--size", "64by48"]
    elif case == "invalid_spec":
        extra = ["--frames", "0"]
    elif case == "out_is_a_file":
        out = str(tmp_path / "file")
    elif case == "out_under_a_file":
        out = str(tmp_path / "file" / "out")
    else:  # a real train/ that no synthetic dataset wrote
        out = str(tmp_path / "real")
    args = [sys.executable, "-m", "tracking.data.synthetic", "--out", out, "--sequences", "1", "--frames", "3",
            "--size", "32x32", *extra]
    result = subprocess.run(args, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_ensure_dataset_waits_for_a_concurrent_generation_and_reuses_it(tmp_path):
    # A second process generates the dataset slowly (holding the lock); a call on the same root made meanwhile
    # must wait for it and then reuse what it wrote, not regenerate it or delete it half-way.
    root, started = tmp_path / "cache", tmp_path / "started"
    spec = SyntheticSpec(num_sequences=2, num_frames=6, width=48, height=32, seed=7)
    code = ("import pathlib, sys, time\n"
            "from tracking.data.synthetic import SyntheticSpec, ensure_dataset\n"
            "def progress(done, total, name):\n"
            "    pathlib.Path(sys.argv[2]).touch()\n"
            "    time.sleep(1.0)\n"
            f"ensure_dataset(sys.argv[1], 'got10k', SyntheticSpec(**{asdict(spec)!r}), progress=progress)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(root), str(started)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 120
        while not started.exists():  # the child has written its first sequence and still holds the lock
            assert child.poll() is None, "the generating process died"
            assert time.monotonic() < deadline, "the generating process did not start"
            time.sleep(0.02)
        assert not (root / MARKER_NAME).exists()
        calls = []
        t0 = time.monotonic()
        assert ensure_dataset(root, "got10k", spec, progress=lambda *a: calls.append(a)) == str(root)
        waited = time.monotonic() - t0
    finally:
        child_rc = child.wait(timeout=120)
    assert child_rc == 0
    assert calls == [], "the waiting call regenerated the dataset instead of reusing it"
    assert waited > 0.5, f"returned after {waited:.2f} s: it did not wait for the lock holder"
    marker = json.loads((root / MARKER_NAME).read_text())
    assert marker["spec"] == asdict(spec) and marker["generator_version"] == synthetic.GENERATOR_VERSION
    assert not (root / ".synthetic_partial.json").exists()
    assert read_lines(root / "train" / "list.txt") == ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
    assert len(read_lines(root / "train" / "GOT-10k_Train_000002" / "groundtruth.txt")) == 6
