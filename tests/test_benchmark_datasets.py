"""The benchmark datasets as evaluation uses them (OTB, LaSOT test, GOT-10k val/test, TrackingNet test, UAV123,
NfS, VOT, folders) on tiny generated layouts, and the real vot15_bag / Crossing when present."""

import os

import cv2
import numpy as np
import pytest
from conftest import SHARED_SEQUENCES

from tracking.data.annotations import polygon_to_aabb
from tracking.data.datasets import NFS, OTB, UAV123, Got10k, ImageFolderDataset, Lasot, TrackingNet, Vot
from tracking.eval.benchmarks import load_benchmark


def _img(path, value=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 10, 3), value, np.uint8))


def _txt(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _boxes(n, start=1):
    return [f"{i},{i + 1},5,6" for i in range(start, start + n)]


# ----------------------------------------------------------------------------------------------- OTB

def test_otb_plain_tab_and_space(tmp_path):
    for i in range(1, 4):
        _img(tmp_path / "Car" / "img" / f"{i:04d}.jpg")
    _txt(tmp_path / "Car" / "groundtruth_rect.txt", ["1\t2\t3\t4", "2 3 4 5", "0,0,0,0"])
    ds = OTB(tmp_path, sequences=["Car"])
    assert ds.names == ["Car"] and len(ds) == 1
    s = ds["Car"]
    assert list(s.frames) == [str(tmp_path / "Car" / "img" / f"{i:04d}.jpg") for i in (1, 2, 3)]
    np.testing.assert_array_equal(s.ground_truth[:2], [[1, 2, 3, 4], [2, 3, 4, 5]])  # the file's 1-based values
    np.testing.assert_array_equal(s.boxes[:2], [[0, 1, 3, 4], [1, 2, 4, 5]])         # 0-based for training
    assert s.visible.tolist() == [True, True, False]
    np.testing.assert_array_equal(s.init_box, [1, 2, 3, 4])
    assert s.dataset == "otb" and not s.first_frame_only


def test_otb_multi_target_and_ranges(tmp_path):
    for i in range(1, 6):
        _img(tmp_path / "Jogging" / "img" / f"{i:04d}.jpg")
    _txt(tmp_path / "Jogging" / "groundtruth_rect.1.txt", _boxes(5, 1))
    _txt(tmp_path / "Jogging" / "groundtruth_rect.2.txt", _boxes(5, 100))
    # David: frames 300..770 with a 471-line file; Tiger1: 6..354 with a file annotating from frame 1.
    for i in (300, 770):
        _img(tmp_path / "David" / "img" / f"{i:04d}.jpg")
    _txt(tmp_path / "David" / "groundtruth_rect.txt", _boxes(471, 300))
    for i in (6, 354):
        _img(tmp_path / "Tiger1" / "img" / f"{i:04d}.jpg")
    _txt(tmp_path / "Tiger1" / "groundtruth_rect.txt", _boxes(354, 1))
    _img(tmp_path / "Board" / "img" / "00001.jpg")
    _img(tmp_path / "Board" / "img" / "00002.jpg")
    _txt(tmp_path / "Board" / "groundtruth_rect.txt", _boxes(2))
    ds = OTB(tmp_path, sequences=["Jogging-1", "Jogging-2", "David", "Tiger1", "Board"])
    j1, j2 = ds["Jogging-1"], ds["Jogging-2"]
    assert j1.frames == j2.frames and len(j1) == 5
    assert j1.init_box[0] == 1 and j2.init_box[0] == 100
    d = ds["David"]
    assert len(d) == 471 and d.frames[0].endswith("img/0300.jpg") and d.frames[-1].endswith("img/0770.jpg")
    assert d.init_box[0] == 300
    t = ds["Tiger1"]
    assert len(t) == 349 and t.frames[0].endswith("0006.jpg") and t.init_box[0] == 6  # line 6 = frame 6
    assert ds["Board"].frames[0].endswith("img/00001.jpg")


def test_otb_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="OTB: dataset root .* is not a directory.*TRACKING_OTB_ROOT"):
        OTB(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="OTB.*Basketball"):
        OTB(tmp_path)  # default: the 100 official sequences
    with pytest.raises(FileNotFoundError, match="Human4"):
        OTB(tmp_path, sequences=["Human4-2"])


def test_env_root(tmp_path, monkeypatch):
    _img(tmp_path / "Car" / "img" / "0001.jpg")
    _txt(tmp_path / "Car" / "groundtruth_rect.txt", _boxes(1))
    monkeypatch.setenv("TRACKING_OTB_ROOT", str(tmp_path))
    assert OTB(sequences=["Car"]).names == ["Car"]
    monkeypatch.delenv("TRACKING_OTB_ROOT")
    with pytest.raises(FileNotFoundError, match="OTB: no dataset root given.*TRACKING_OTB_ROOT"):
        OTB()


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "Crossing")), reason="no shared data")
def test_otb_real_crossing():
    s = OTB(SHARED_SEQUENCES, sequences=["Crossing"])[0]
    assert len(s) == 120 and all(os.path.isfile(f) for f in s.frames)
    np.testing.assert_array_equal(s.init_box, [205, 151, 17, 50])
    assert s.visible.all()


# ----------------------------------------------------------------------------------------------- LaSOT

def test_lasot(tmp_path):
    d = tmp_path / "cat" / "cat-1"
    for i in range(1, 5):
        _img(d / "img" / f"{i:08d}.jpg")
    _txt(d / "groundtruth.txt", ["1,2,3,4", "1,2,3,4", "0,0,0,0", "1,2,3,4"])
    _txt(d / "full_occlusion.txt", ["0,1,0,0"])
    _txt(d / "out_of_view.txt", ["0,0,1,0"])
    d2 = tmp_path / "dog" / "dog-3"
    _img(d2 / "img" / "00000001.jpg")
    _txt(d2 / "groundtruth.txt", ["5,6,7,8"])
    with pytest.warns(UserWarning, match="testing_set.txt"):
        ds = Lasot(tmp_path, split="test")
    assert ds.names == ["cat-1", "dog-3"]
    s = ds["cat-1"]
    assert s.frames[0] == str(d / "img" / "00000001.jpg") and len(s) == 4
    assert s.visible.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(s.ground_truth[2], [0, 0, 0, 0])
    assert ds[1].visible.tolist() == [True]  # no flag files: no information
    _txt(tmp_path / "testing_set.txt", ["dog-3"])
    assert Lasot(tmp_path, split="test").names == ["dog-3"]
    assert load_benchmark("lasot", tmp_path).names == ["dog-3"]  # evaluation uses the test split
    with pytest.raises(FileNotFoundError, match="LaSOT"):
        Lasot(tmp_path / "x", split="test")


# ----------------------------------------------------------------------------------------------- GOT-10k

def test_got10k_val_and_test(tmp_path):
    v = tmp_path / "val" / "GOT-10k_Val_000001"
    for i in range(1, 4):
        _img(v / f"{i:08d}.jpg")
    _txt(v / "groundtruth.txt", ["1.5,2,3,4", "1,2,3,4", "1,2,3,4"])
    _txt(v / "absence.label", ["0", "1", "0"])
    _txt(v / "cover.label", ["8", "0", "0"])
    _txt(tmp_path / "val" / "list.txt", ["GOT-10k_Val_000001"])
    s = Got10k(tmp_path, split="val")[0]
    assert s.name == "GOT-10k_Val_000001" and len(s) == 3 and not s.first_frame_only
    assert s.visible.tolist() == [True, False, False]
    assert load_benchmark("got10k", tmp_path)[0].name == s.name  # evaluation uses the val split
    assert s.init_box[0] == 1.5

    t = tmp_path / "test" / "GOT-10k_Test_000001"
    for i in range(1, 6):
        _img(t / f"{i:08d}.jpg")
    _txt(t / "groundtruth.txt", ["1,2,3,4"])
    s = load_benchmark("got10k-test", tmp_path)[0]
    assert s.first_frame_only and len(s) == 5 and s.visible.tolist() == [True] + [False] * 4
    assert np.isnan(s.ground_truth[1:]).all()
    assert load_benchmark("got10k-test", tmp_path / "test").names == ["GOT-10k_Test_000001"]  # root = split dir
    with pytest.raises(ValueError, match="split"):
        Got10k(tmp_path, split="testing")


# ----------------------------------------------------------------------------------------------- TrackingNet

def test_trackingnet(tmp_path):
    f = tmp_path / "TEST" / "frames" / "abc_1"
    for i in range(12):  # 0..11: numeric, not lexicographic order
        _img(f / f"{i}.jpg")
    _txt(tmp_path / "TEST" / "anno" / "abc_1.txt", ["3,4,5,6"])
    ds = TrackingNet(tmp_path, split="test")
    s = ds["abc_1"]
    assert [os.path.basename(p) for p in s.frames] == [f"{i}.jpg" for i in range(12)]
    assert s.first_frame_only and s.visible.sum() == 1
    np.testing.assert_array_equal(s.init_box, [3, 4, 5, 6])
    assert load_benchmark("trackingnet", tmp_path / "TEST").names == ["abc_1"]  # root = the chunk itself
    with pytest.raises(FileNotFoundError, match="TrackingNet"):
        TrackingNet(tmp_path / "TEST" / "frames", split="test")


# ----------------------------------------------------------------------------------------------- UAV123

def test_uav123(tmp_path):
    data = tmp_path / "data_seq" / "UAV123"
    for i in (1, 3):
        _img(data / "bike1" / f"{i:06d}.jpg")
    _txt(tmp_path / "anno" / "UAV123" / "bike1.txt", ["1,2,3,4", "NaN,NaN,NaN,NaN", "1,2,3,4"])
    _txt(tmp_path / "anno" / "UAV123" / "bird1_2.txt", _boxes(1477 - 775 + 1))
    os.makedirs(data / "bird1")
    ds = UAV123(tmp_path)
    assert ds.names == ["bike1", "bird1_2"]
    s = ds["bike1"]
    assert s.visible.tolist() == [True, False, True] and s.frames[2].endswith("bike1/000003.jpg")
    b = ds["bird1_2"]
    assert len(b) == 703 and b.frames[0].endswith("bird1/000775.jpg") and b.frames[-1].endswith("001477.jpg")
    _txt(tmp_path / "anno" / "UAV123" / "bird1_3.txt", _boxes(5))  # wrong length for 1573-2437
    with pytest.raises(ValueError, match="bird1_3"):
        UAV123(tmp_path)
    assert UAV123(tmp_path, sequences=["bike1"]).names == ["bike1"]


# ----------------------------------------------------------------------------------------------- NfS

def test_nfs(tmp_path):
    base = tmp_path / "Gymnastics" / "30"
    for i in range(1, 4):
        _img(base / "Gymnastics" / f"{i:05d}.jpg")
    # 240 fps annotation (8 lines per 30 fps frame): every 8th line is taken.
    lines = [f'1 {10 + k} 20 {30 + k} 50 {k} {1 if k == 8 else 0} 0 0 "person"' for k in range(24)]
    _txt(base / "Gymnastics.txt", lines)
    s = NFS(tmp_path)["Gymnastics"]
    assert len(s) == 3
    np.testing.assert_array_equal(s.ground_truth[0], [10, 20, 20, 30])
    np.testing.assert_array_equal(s.ground_truth[1], [18, 20, 20, 30])
    assert s.visible.tolist() == [True, False, True]  # frame 8 is "lost"
    with pytest.raises(FileNotFoundError, match="NfS"):
        NFS(tmp_path, fps=240)


# ----------------------------------------------------------------------------------------------- VOT / folder

def test_polygon_to_aabb():
    np.testing.assert_allclose(polygon_to_aabb([0, 0, 4, 1, 3, 5, -1, 4]), [-1, 0, 5, 5])
    np.testing.assert_allclose(polygon_to_aabb([1, 2, 3, 4]), [1, 2, 3, 4])
    with pytest.raises(ValueError):
        polygon_to_aabb([1, 2, 3])


def test_vot_layout(tmp_path):
    d = tmp_path / "ball"
    for i in range(1, 4):
        _img(d / "color" / f"{i:08d}.jpg")
    _txt(d / "groundtruth.txt", ["0,0,4,1,3,5,-1,4", "1,2,3,4", "nan,nan,nan,nan"])
    ds = Vot(tmp_path)
    assert ds.names == ["ball"]
    s = ds[0]
    np.testing.assert_allclose(s.ground_truth[:2], [[-1, 0, 5, 5], [1, 2, 3, 4]])
    assert s.visible.tolist() == [True, True, False] and s.frames[0].endswith("color/00000001.jpg")
    assert Vot(d).names == ["ball"]  # root = the sequence itself
    with pytest.raises(FileNotFoundError, match="VOT"):
        Vot(tmp_path / "ball" / "color")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "vot15_bag")), reason="no shared data")
def test_vot_real_bag_aabb():
    root = os.path.join(SHARED_SEQUENCES, "vot15_bag")
    s = Vot(root)[0]
    ref = np.loadtxt(os.path.join(root, "groundtruth_aabb_xywh.txt"), delimiter=",")
    assert len(s) == 196 == len(ref)
    np.testing.assert_allclose(s.ground_truth, ref, atol=1e-9)
    assert s.frames[0].endswith("imgs/00000001.jpg") and all(os.path.isfile(f) for f in s.frames)


def test_folder(tmp_path):
    a = tmp_path / "a"
    for i in range(3):
        _img(a / f"f{i}.png")
    _txt(a / "groundtruth.txt", _boxes(3))
    b = tmp_path / "b"
    for i in range(1, 4):
        _img(b / "img" / f"{i:04d}.jpg")
    _txt(b / "groundtruth_rect.txt", ["1\t2\t3\t4"])
    os.makedirs(tmp_path / "empty")
    ds = load_benchmark("folder", tmp_path)
    assert ds.names == ["a", "b"]
    assert not ds["a"].first_frame_only and ds["a"].visible.all()
    sb = ds["b"]
    assert sb.first_frame_only and len(sb) == 3 and sb.visible.tolist() == [True, False, False]
    c = tmp_path / "c"
    for i in range(2):
        _img(c / f"{i}.jpg")
    s = ImageFolderDataset(c, init_box=[1, 1, 2, 2])[0]
    assert s.first_frame_only and s.name == "c"
    _txt(c / "groundtruth.txt", _boxes(5))
    with pytest.raises(ValueError, match="5 ground-truth lines for 2 images"):
        ImageFolderDataset(c)
    with pytest.raises(FileNotFoundError, match="folder"):
        ImageFolderDataset(tmp_path / "empty")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_SEQUENCES, "dlib_video_frames_juicebox")),
                    reason="no shared data")
def test_folder_real_juicebox_init_box_only():
    s = ImageFolderDataset(os.path.join(SHARED_SEQUENCES, "dlib_video_frames_juicebox"), init_box=[74, 67, 39, 87])[0]
    assert s.first_frame_only and s.frames[0].endswith("frame_000100.jpg") and len(s) > 100


def test_build_unknown():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_benchmark("imagenet", "/tmp")
