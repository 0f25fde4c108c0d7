"""Dataset annotation indexes on tiny fake layouts (and the shared real sequences when present)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED_SEQUENCES

from tracking.data import roots
from tracking.data.annotations import read_boxes, read_flags
from tracking.data.datasets import (AnnotationError, Coco, DatasetNotFoundError, Got10k, ImageFolderDataset,
                                    ImagenetVID, Lasot, SplitFileNotFoundError, TrackingNet, build_dataset,
                                    resolve_root)
from tracking.data.sequence import FramePaths

SEQUENCES = SHARED_SEQUENCES
NAN = float("nan")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_jpegs(directory, names):
    import cv2
    os.makedirs(directory, exist_ok=True)
    img = np.zeros((4, 6, 3), np.uint8)
    for n in names:
        assert cv2.imwrite(os.path.join(directory, n), img)


# ------------------------------------------------------------------------------------------- parsers


def test_read_boxes_separators_nan_and_trailing_blank_lines(tmp_path):
    expected = np.array([[1, 2, 3, 4], [5.5, 6, 7, 8], [NAN, NAN, NAN, NAN]])
    for sep in (",", "\t", " ", ", ", " \t "):
        p = tmp_path / "gt.txt"
        p.write_text("\n".join(sep.join(str(v) for v in row) for row in [[1, 2, 3, 4], [5.5, 6, 7, 8]])
                     + "\n" + sep.join(["NaN"] * 4) + "\n\n\n")
        np.testing.assert_array_equal(read_boxes(p), expected)
    mixed = tmp_path / "mixed.txt"  # mixed separators take the line-by-line path
    mixed.write_text("1,2,3,4\n5.5\t6\t7\t8\nnan nan nan nan\n")
    np.testing.assert_array_equal(read_boxes(mixed), expected)
    (tmp_path / "empty.txt").write_text("\n")
    assert read_boxes(tmp_path / "empty.txt").shape == (0, 4)


@pytest.mark.parametrize("content, line", [
    ("1,2,3,4\n1,2,3\n", 2),            # wrong field count
    ("1,2,3,4\n1,2,3,4\n1,2,x,4\n", 3),  # not a number
    ("1,2,3,4\n\n1,2,3,4\n", 2),        # blank line before more boxes
    ("1,2,,4\n", 1),                    # empty field
])
def test_read_boxes_malformed_line_names_file_and_line(tmp_path, content, line):
    p = tmp_path / "groundtruth.txt"
    p.write_text(content)
    with pytest.raises(AnnotationError, match=rf"groundtruth\.txt, line {line}\b"):
        read_boxes(p)
    assert issubclass(AnnotationError, ValueError)


def test_read_flags_one_per_line_or_comma_separated(tmp_path):
    (tmp_path / "a").write_text("0\n1\n1\n0\n")
    (tmp_path / "b").write_text("0,1,1,0\n")
    for name in "ab":
        np.testing.assert_array_equal(read_flags(tmp_path / name), [False, True, True, False])
    (tmp_path / "c").write_text("0,2\n")
    with pytest.raises(AnnotationError, match="expected 0 or 1"):
        read_flags(tmp_path / "c")
    (tmp_path / "d").write_text("0\nyes\n")
    with pytest.raises(AnnotationError, match="line 2"):
        read_flags(tmp_path / "d")


# ------------------------------------------------------------------------------------------- roots


def test_resolve_root_from_argument_or_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKING_X_ROOT", str(tmp_path))
    assert resolve_root("x", None) == str(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_root("x", other) == str(other)  # the argument wins


def test_root_from_the_settings_file_after_argument_and_environment(tmp_path, monkeypatch):
    make_got10k(tmp_path / "from_settings", n=2)
    make_got10k(tmp_path / "from_env", n=1)
    specs = tmp_path / "my_specs"
    specs.mkdir()
    (specs / "got10k_vot_val_split.txt").write_text("1\n")  # pytracking's file name
    settings = tmp_path / "local.yaml"
    settings.write_text(f"datasets:\n  got10k: {tmp_path / 'from_settings'}\nspecs_dir: {specs}\n")
    monkeypatch.setenv("TRACKING_SETTINGS", str(settings))
    monkeypatch.delenv("TRACKING_GOT10K_ROOT", raising=False)
    assert len(Got10k()) == 2
    assert Got10k(split="votval").names == ["GOT-10k_Train_000002"]  # the split list from specs_dir
    monkeypatch.setenv("TRACKING_GOT10K_ROOT", str(tmp_path / "from_env"))
    assert len(Got10k()) == 1  # the environment wins over the settings file
    assert len(Got10k(tmp_path / "from_settings")) == 2  # and the argument over both
    monkeypatch.delenv("TRACKING_GOT10K_ROOT")
    settings.write_text(f"datasets:\n  got10k: {tmp_path / 'nowhere'}\n")
    with pytest.raises(DatasetNotFoundError, match=rf"nowhere.*from datasets\.got10k in {settings}"):
        Got10k()
    settings.write_text("datasets: [1, 2\n")
    with pytest.raises(ValueError, match=f"{settings}: cannot read the settings file"):
        Got10k()


def test_missing_root_error_names_dataset_path_and_variable(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere")
    monkeypatch.setenv("TRACKING_LASOT_ROOT", missing)
    with pytest.raises(DatasetNotFoundError) as info:
        Lasot()
    msg = str(info.value)
    assert "LaSOT" in msg and missing in msg and "TRACKING_LASOT_ROOT" in msg and "datasets.lasot in" in msg
    assert isinstance(info.value, FileNotFoundError)
    monkeypatch.delenv("TRACKING_GOT10K_ROOT", raising=False)
    with pytest.raises(DatasetNotFoundError, match="GOT-10k.*TRACKING_GOT10K_ROOT"):
        Got10k()
    with pytest.raises(DatasetNotFoundError, match=f"TrackingNet.*{missing}.*TRACKING_TRACKINGNET_ROOT"):
        TrackingNet(missing)


# ------------------------------------------------------------------------------------------- GOT-10k


def make_got10k(root, split="train", n=3, T=5):
    names = [f"GOT-10k_{split.capitalize()}_{i:06d}" for i in range(1, n + 1)]
    write(root / split / "list.txt", "\n".join(names) + "\n")
    for i, name in enumerate(names):
        d = root / split / name
        boxes = [[10.5 * i + t, 20.25, 30, 40] for t in range(T)]
        boxes[1][2] = 0  # invalid box in frame 1
        write(d / "groundtruth.txt", "".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in boxes))
        write(d / "absence.label", "0\n0\n1\n0\n0\n")  # frame 2 absent
        write(d / "cover.label", "8\n8\n0\n0\n3\n")  # frame 3 fully covered
        if i != 1:  # sequence 1 has no meta_info
            write(d / "meta_info.ini", f"[METAINFO]\nurl: https://example.com/a%20b\nobject_class: class{i}\n"
                                       "motion_class: walking\nresolution: (1280, 720)\n")
    return names


def test_got10k_train(tmp_path):
    names = make_got10k(tmp_path)
    ds = Got10k(tmp_path)
    assert len(ds) == 3 and ds.names == names and ds.name == "got10k" and ds.is_video_dataset
    s = ds[0]
    assert isinstance(s.frames, FramePaths) and len(s) == 5
    assert s.frames[0] == str(tmp_path / "train" / names[0] / "00000001.jpg")
    assert s.frames[4] == str(tmp_path / "train" / names[0] / "00000005.jpg")
    np.testing.assert_allclose(s.boxes[3], [3, 20.25, 30, 40])  # 0-based already: no conversion
    np.testing.assert_array_equal(s.visible, [True, False, False, False, True])
    assert s.class_name == "class0" and s.image_size == (720, 1280) and s.extra["motion_class"] == "walking"
    np.testing.assert_array_equal(s.extra["cover"], [8, 8, 0, 0, 3])
    assert ds[names[1]].class_name is None and ds[1].image_size is None  # meta_info.ini is optional
    assert ds.class_names == ["class0", "class2"]
    assert ds.sequences_per_class() == {"class0": [0], "class2": [2]}


def test_got10k_env_root_val_and_test(tmp_path, monkeypatch):
    make_got10k(tmp_path, "val", n=2)
    d = tmp_path / "test" / "GOT-10k_Test_000001"
    write(tmp_path / "test" / "list.txt", "GOT-10k_Test_000001\n")
    write(d / "groundtruth.txt", "1,2,3,4\n")  # first frame only, no flags
    write_jpegs(d, [f"{t:08d}.jpg" for t in range(1, 8)])
    monkeypatch.setenv("TRACKING_GOT10K_ROOT", str(tmp_path))
    assert len(Got10k(split="val")) == 2
    s = build_dataset("got10k", split="test")[0]
    assert len(s) == 7 and s.frames[6].endswith("00000007.jpg")
    np.testing.assert_array_equal(s.boxes[0], [1, 2, 3, 4])
    assert np.isnan(s.boxes[1:]).all() and s.visible.tolist() == [True] + [False] * 6
    with pytest.raises(DatasetNotFoundError, match="train split directory"):
        Got10k(split="train")


def test_got10k_split_files(tmp_path, monkeypatch):
    names = make_got10k(tmp_path, n=4)
    by_name = tmp_path / "mine.txt"
    by_name.write_text(f"# a comment\n{names[3]}\n\n{names[1]}\n")
    assert Got10k(tmp_path, split_file=str(by_name)).names == [names[3], names[1]]
    by_index = tmp_path / "idx.txt"
    by_index.write_text("0\n2\n")
    assert Got10k(tmp_path, split_file=by_index).names == [names[0], names[2]]
    (tmp_path / "bad.txt").write_text("GOT-10k_Train_999999\n")
    with pytest.raises(AnnotationError, match="GOT-10k_Train_999999"):
        Got10k(tmp_path, split_file=tmp_path / "bad.txt")
    (tmp_path / "oob.txt").write_text("4\n")
    with pytest.raises(AnnotationError, match="index 4 out of range"):
        Got10k(tmp_path, split_file=tmp_path / "oob.txt")
    with pytest.raises(SplitFileNotFoundError, match="nothere.txt"):
        Got10k(tmp_path, split_file="nothere.txt")

    # vottrain / votval: the spec file under tracking/data/specs/ (redirected to a temporary directory here)
    specs = tmp_path / "specs"
    specs.mkdir()
    monkeypatch.setattr(roots, "SPECS_DIR", str(specs))
    with pytest.raises(SplitFileNotFoundError) as info:
        Got10k(tmp_path, split="vottrain")
    assert "got10k_vottrain.txt" in str(info.value) and str(specs) in str(info.value)
    (specs / "got10k_votval.txt").write_text("1\n3\n")
    assert Got10k(tmp_path, split="votval").names == [names[1], names[3]]
    (specs / "named.txt").write_text(f"{names[2]}\n")  # a name under specs/
    assert Got10k(tmp_path, split_file="named.txt").names == [names[2]]
    (specs / "got10k_votval.txt").unlink()  # pytracking's file name is found too
    (specs / "got10k_vot_val_split.txt").write_text("2\n")
    assert Got10k(tmp_path, split="votval").names == [names[2]]
    # the real spec directory: vottrain is not shipped, so the error names the file to place there
    monkeypatch.undo()
    if not os.path.isfile(os.path.join(roots.SPECS_DIR, "got10k_vottrain.txt")):
        with pytest.raises(SplitFileNotFoundError, match="got10k_vottrain.txt"):
            Got10k(tmp_path, split="vottrain")


def test_got10k_flag_length_mismatch(tmp_path):
    make_got10k(tmp_path, n=1)
    write(tmp_path / "train" / "GOT-10k_Train_000001" / "absence.label", "0\n0\n")
    with pytest.raises(AnnotationError, match=r"absence\.label: 2 entries, expected 5"):
        Got10k(tmp_path)


# ------------------------------------------------------------------------------------------- LaSOT


def make_lasot(root):
    for cls, ns in (("airplane", (1, 2, 10)), ("zebra", (3,))):
        for n in ns:
            d = root / cls / f"{cls}-{n}"
            write(d / "groundtruth.txt", f"{n},5,10,20\n{n + 1},6,10,20\n1,1,0,0\n{n},7,10,20\n")
            write(d / "full_occlusion.txt", "0,1,0,0")
            write(d / "out_of_view.txt", "0,0,0,1\n")
            write(d / "nlp.txt", "an object\n")
    (root / "airplane" / "not-a-seq").mkdir()  # ignored


def test_lasot_all_sequences(tmp_path):
    make_lasot(tmp_path)
    ds = Lasot(tmp_path, split=None)
    assert ds.names == ["airplane-1", "airplane-2", "airplane-10", "zebra-3"]
    s = ds["airplane-2"]
    assert s.class_name == "airplane" and len(s) == 4
    assert s.frames[0] == str(tmp_path / "airplane" / "airplane-2" / "img" / "00000001.jpg")
    np.testing.assert_array_equal(s.boxes[:2], [[1, 4, 10, 20], [2, 5, 10, 20]])  # 1-based -> 0-based
    np.testing.assert_array_equal(s.visible, [True, False, False, False])  # occluded, invalid, out of view
    assert ds.class_names == ["airplane", "zebra"]
    assert Lasot(tmp_path, split=None, classes=["zebra"]).names == ["zebra-3"]
    with pytest.warns(UserWarning, match="lasot_train.txt"):
        assert len(Lasot(tmp_path)) == 4


def test_lasot_split_file(tmp_path, monkeypatch):
    make_lasot(tmp_path)
    (tmp_path / "split.txt").write_text("zebra-3\nairplane-10\n")
    monkeypatch.setenv("TRACKING_LASOT_ROOT", str(tmp_path))
    assert Lasot(split_file=str(tmp_path / "split.txt")).names == ["zebra-3", "airplane-10"]
    (tmp_path / "missing.txt").write_text("airplane-1\ncat-1\ncat-2\n")
    with pytest.raises(DatasetNotFoundError, match=r"2 of the 3 .*cat-1"):
        Lasot(split_file=str(tmp_path / "missing.txt"))


# ------------------------------------------------------------------------------------------- TrackingNet


def test_trackingnet(tmp_path):
    write(tmp_path / "TRAIN_0" / "anno" / "b_seq.txt", "1.5,2,3,4\n0,0,0,0\n5,6,7,8\n")
    write(tmp_path / "TRAIN_0" / "anno" / "a_seq.txt", "1,2,3,4\n1,2,3,4\n")
    write(tmp_path / "TRAIN_1" / "anno" / "c_seq.txt", "1,2,3,4\n")
    ds = TrackingNet(tmp_path, sets=[0, 1])
    assert ds.names == ["a_seq", "b_seq", "c_seq"] and ds.class_names == []
    s = ds["b_seq"]
    assert s.frames[0] == str(tmp_path / "TRAIN_0" / "frames" / "b_seq" / "0.jpg")
    assert s.frames[2] == str(tmp_path / "TRAIN_0" / "frames" / "b_seq" / "2.jpg")
    np.testing.assert_array_equal(s.boxes[0], [1.5, 2, 3, 4])
    assert s.visible.tolist() == [True, False, True] and ds["c_seq"].extra["set"] == "TRAIN_1"
    with pytest.raises(DatasetNotFoundError, match="TRAIN_2"):
        TrackingNet(tmp_path)  # default sets range(4)


# ------------------------------------------------------------------------------------------- COCO


def make_coco(root, images_subdir="images"):
    data = {
        "images": [{"id": 7, "file_name": "000000000007.jpg", "height": 480, "width": 640},
                   {"id": 9, "file_name": "000000000009.jpg", "height": 100, "width": 200}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 100, "image_id": 7, "category_id": 1, "bbox": [1.5, 2.5, 30.0, 40.0], "iscrowd": 0, "area": 5},
            {"id": 101, "image_id": 7, "category_id": 18, "bbox": [0, 0, 10, 10], "iscrowd": 1},  # crowd
            {"id": 102, "image_id": 9, "category_id": 18, "bbox": [5, 5, 0, 10], "iscrowd": 0},   # empty box
            {"id": 103, "image_id": 9, "category_id": 18, "bbox": [5, 6, 7, 8], "iscrowd": 0},
        ]}
    write(root / "annotations" / "instances_train2017.json", json.dumps(data))
    if images_subdir:
        (root / images_subdir / "train2017").mkdir(parents=True)


@pytest.mark.parametrize("images_subdir", ["images", None, "."])
def test_coco(tmp_path, images_subdir):
    make_coco(tmp_path, images_subdir)
    ds = Coco(tmp_path)
    assert not ds.is_video_dataset and len(ds) == 2
    s, t = ds
    assert s.name == "7_100" and len(s) == 1 and not s.is_video
    image_dir = tmp_path / ("train2017" if images_subdir == "." else "images/train2017")
    assert s.frames == (str(image_dir / "000000000007.jpg"),)
    np.testing.assert_array_equal(s.boxes, [[1.5, 2.5, 30, 40]])
    assert s.visible.tolist() == [True] and s.class_name == "person" and s.image_size == (480, 640)
    assert t.class_name == "dog" and t.extra["annotation_id"] == 103 and ds.class_names == ["dog", "person"]


def test_coco_cache_and_errors(tmp_path, monkeypatch):
    make_coco(tmp_path)
    monkeypatch.setenv("TRACKING_CACHE_DIR", str(tmp_path / "cache"))
    a = Coco(tmp_path, cache=True)
    assert len(os.listdir(tmp_path / "cache" / "index")) == 1
    assert not [f for f in os.listdir(tmp_path / "annotations") if "index" in f]  # nothing in the dataset dir
    b = Coco(tmp_path, cache=True)  # from the cache
    assert b.names == a.names and b[0].extra == a[0].extra and b[0].image_size == a[0].image_size
    np.testing.assert_array_equal(b[0].boxes, a[0].boxes)
    with pytest.raises(DatasetNotFoundError, match="instances_val2017.json"):
        Coco(tmp_path, split="val")
    write(tmp_path / "annotations" / "instances_val2017.json", '{"images": [\n  {"id": 1,\n')
    with pytest.raises(AnnotationError, match=r"instances_val2017\.json, line \d"):
        Coco(tmp_path, split="val")


# ------------------------------------------------------------------------------------------- ImageNet VID


def vid_xml(frame_objects, width=320, height=240):
    objs = "".join(
        f"<object><trackid>{tid}</trackid><name>{syn}</name><bndbox><xmax>{x1}</xmax><xmin>{x0}</xmin>"
        f"<ymax>{y1}</ymax><ymin>{y0}</ymin></bndbox><occluded>{occ}</occluded><generated>0</generated></object>"
        for tid, syn, (x0, y0, x1, y1), occ in frame_objects)
    return (f"<annotation><folder>x</folder><filename>y</filename><size><width>{width}</width>"
            f"<height>{height}</height></size>{objs}</annotation>")


def test_imagenetvid(tmp_path, monkeypatch):
    video = tmp_path / "Annotations" / "VID" / "train" / "ILSVRC2015_VID_train_0000" / "ILSVRC2015_train_00000000"
    frames = [
        [(0, "n02691156", (10, 20, 50, 80), 0)],
        [(0, "n02691156", (11, 21, 51, 81), 1), (1, "n02084071", (1, 2, 3, 4), 0)],  # track 1: one frame only
        [(2, "n02084071", (0, 0, 5, 5), 0)],                                          # track 0 missing here
        [(0, "n02691156", (12, 22, 52, 82), 0), (2, "n02084071", (0, 0, 6, 6), 0)],
    ]
    for t, objs in enumerate(frames):
        write(video / f"{t:06d}.xml", vid_xml(objs))
    write(tmp_path / "Annotations" / "VID" / "train" / "ILSVRC2015_VID_train_0001" / "ILSVRC2015_train_00001000"
          / "000000.xml", vid_xml([]))
    monkeypatch.setenv("TRACKING_IMAGENETVID_ROOT", str(tmp_path))
    ds = ImagenetVID()
    assert ds.names == ["ILSVRC2015_train_00000000_0", "ILSVRC2015_train_00000000_2"]
    s, u = ds
    data_dir = tmp_path / "Data" / "VID" / "train" / "ILSVRC2015_VID_train_0000" / "ILSVRC2015_train_00000000"
    assert len(s) == 4 and s.frames[0] == str(data_dir / "000000.JPEG") and s.frames[3] == str(data_dir / "000003.JPEG")
    np.testing.assert_array_equal(s.boxes[[0, 1, 3]], [[10, 20, 40, 60], [11, 21, 40, 60], [12, 22, 40, 60]])
    assert np.isnan(s.boxes[2]).all() and s.visible.tolist() == [True, True, False, True]
    assert s.extra["occluded"].tolist() == [False, True, False, False]
    assert s.class_name == "n02691156" and s.image_size == (240, 320)
    assert len(u) == 2 and u.frames[0] == str(data_dir / "000002.JPEG")  # starts at its first appearance
    assert ds.class_names == ["n02084071", "n02691156"]
    assert ImagenetVID(occluded_visible=False)[0].visible.tolist() == [True, False, False, True]
    cached = ImagenetVID(cache=True), ImagenetVID(cache=True)
    assert cached[1].names == ds.names

    write(video / "000004.xml", "<annotation><object><trackid>0</trackid>")
    with pytest.raises(AnnotationError, match="000004.xml"):
        ImagenetVID()


# ------------------------------------------------------------------------------------------- folder


def test_folder_single_sequence_and_directory_of_sequences(tmp_path):
    seq = tmp_path / "seqs" / "walk"
    write_jpegs(seq, ["frame10.jpg", "frame2.jpg", "frame1.jpg"])
    write(seq / "groundtruth.txt", "1\t2\t3\t4\n2\t3\t3\t4\n3\t4\t3\t4\n")
    ds = ImageFolderDataset(seq, name="mine")
    assert ds.name == "mine" and ds.names == ["walk"]
    s = ds[0]
    assert [os.path.basename(f) for f in s.frames] == ["frame1.jpg", "frame2.jpg", "frame10.jpg"]  # natural order
    np.testing.assert_array_equal(s.boxes[2], [3, 4, 3, 4])
    np.testing.assert_array_equal(ImageFolderDataset(seq, one_based=True)[0].boxes[2], [2, 3, 3, 4])

    first_only = tmp_path / "seqs" / "run"  # OTB-style: img/ subdir, groundtruth_rect.txt, first frame only
    write_jpegs(first_only / "img", ["0001.png", "0002.png"])
    write(first_only / "groundtruth_rect.txt", "5,6,7,8\n")
    (tmp_path / "seqs" / "empty_dir").mkdir()
    ds = ImageFolderDataset(tmp_path / "seqs")
    assert ds.names == ["run", "walk"]
    assert ds["run"].frames[1] == str(first_only / "img" / "0002.png")
    assert ds["run"].visible.tolist() == [True, False] and np.isnan(ds["run"].boxes[1]).all()

    write(seq / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n")
    with pytest.raises(AnnotationError, match=r"groundtruth\.txt: 2 ground-truth lines for 3 images"):
        ImageFolderDataset(seq)
    with pytest.raises(DatasetNotFoundError, match="no sequence"):
        ImageFolderDataset(tmp_path / "seqs" / "empty_dir")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SEQUENCES, "Crossing")), reason="shared Crossing sequence absent")
def test_folder_on_otb_crossing():
    root = os.path.join(SEQUENCES, "Crossing")
    ds = ImageFolderDataset(root, one_based=True)
    s = ds[0]
    assert len(ds) == 1 and s.name == "Crossing" and len(s) == 120
    assert os.path.basename(s.frames[0]) == "0001.jpg" and os.path.basename(s.frames[119]) == "0120.jpg"
    with open(os.path.join(root, "groundtruth_rect.txt")) as f:
        first = [float(v) for v in f.readline().replace(",", " ").split()]
    np.testing.assert_array_equal(s.boxes[0], [first[0] - 1, first[1] - 1, first[2], first[3]])
    assert s.visible.all()


@pytest.mark.skipif(not os.path.isdir(os.path.join(SEQUENCES, "vot15_bag")), reason="shared vot15_bag absent")
def test_folder_on_vot15_bag():
    root = os.path.join(SEQUENCES, "vot15_bag")
    s = ImageFolderDataset(root, groundtruth_file="groundtruth_aabb_xywh.txt")[0]
    assert len(s) == len([f for f in os.listdir(os.path.join(root, "imgs")) if f.endswith(".jpg")])
    with open(os.path.join(root, "groundtruth_aabb_xywh.txt")) as f:
        first = [float(v) for v in f.readline().split(",")]
    np.testing.assert_array_equal(s.boxes[0], first)


# ------------------------------------------------------------------------------------------- registry


def test_build_dataset_and_cheap_import(tmp_path):
    write(tmp_path / "TRAIN_0" / "anno" / "a.txt", "1,2,3,4\n")
    assert len(build_dataset("TrackingNet", str(tmp_path), sets=[0])) == 1
    with pytest.raises(TypeError, match="no split"):
        build_dataset("otb", str(tmp_path), split="train")
    with pytest.raises(DatasetNotFoundError, match="TRAIN_1"):
        build_dataset("trackingnet", str(tmp_path), split="train")  # all 12 training chunks
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("nope")
    code = "import sys, tracking.data.datasets; print([m for m in ('cv2', 'torch', 'pandas') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
