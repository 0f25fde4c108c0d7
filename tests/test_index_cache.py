"""The parsed-index cache cannot execute code, lives in the user cache directory and is keyed by the
annotations' content; implausible boxes are not visible at dataset construction."""

import json
import logging
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from test_datasets import make_coco, make_got10k, vid_xml, write

from tracking.data.datasets import Coco, Got10k, ImagenetVID
from tracking.data.processing import ProcessingConfig
from tracking.data.sampler import TrackingSampler
from tracking.data.datasets.index_cache import index_cache_path, index_key, load_index, save_index
from tracking.data.sequence import FramePaths, SequenceInfo, plausible_boxes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKING_CACHE_DIR", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "index"


class _RunsCode:
    """Unpickling this writes a marker file: the payload of a crafted cache."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_cache_file_executes_nothing(tmp_path, cache, caplog):
    """Every cache file the old code or the new one would read is replaced by a pickle that runs code when
    unpickled; building the dataset must not run it, must warn about a damaged cache it finds, and must
    give the parsed index."""
    make_coco(tmp_path / "coco")
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_RunsCode(str(marker)))
    # where the pickle cache used to be
    (tmp_path / "coco" / "annotations" / "instances_train2017.json.index.pkl").write_bytes(payload)
    os.utime(tmp_path / "coco" / "annotations" / "instances_train2017.json.index.pkl", (2e9, 2e9))
    expected = Coco(tmp_path / "coco").names
    first = Coco(tmp_path / "coco", cache=True)
    (path,) = cache.iterdir()
    path.write_bytes(payload)  # where the cache is now: a pickle instead of the npz
    with caplog.at_level(logging.WARNING):
        again = Coco(tmp_path / "coco", cache=True)
    assert not marker.exists()
    assert first.names == expected and again.names == expected
    assert "ignoring the dataset index cache" in caplog.text and path.name in caplog.text
    # an npz whose arrays are pickled objects is refused too
    np.savez(path, meta=np.array([_RunsCode(str(marker))], dtype=object))
    assert load_index(str(path), "any") is None and not marker.exists()


def test_key_follows_the_annotation_bytes_not_the_mtime(tmp_path, cache):
    make_coco(tmp_path)
    ann = tmp_path / "annotations" / "instances_train2017.json"
    assert len(Coco(tmp_path, cache=True)) == 2
    data = json.loads(ann.read_text())
    data["annotations"][0]["bbox"] = [1.0, 2.0, 3.0, 4.0]
    stat = ann.stat()
    ann.write_text(json.dumps(data))
    os.utime(ann, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime, other content
    changed = Coco(tmp_path, cache=True)
    np.testing.assert_array_equal(changed[0].boxes, [[1, 2, 3, 4]])
    assert len(list(cache.iterdir())) == 2  # one file per content


def test_key_changes_with_sources_and_parameters(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.xml").write_text("<a/>")
    k = index_key("coco", [str(tmp_path / "a.json")], {"image_dir": "/x"})
    assert k == index_key("coco", [str(tmp_path / "a.json")], {"image_dir": "/x"})
    assert k != index_key("coco", [str(tmp_path / "a.json")], {"image_dir": "/y"})
    assert k != index_key("lasot", [str(tmp_path / "a.json")], {"image_dir": "/x"})
    d = index_key("vid", [str(tmp_path / "d")], {})
    (tmp_path / "d" / "y.xml").write_text("<b/>")
    assert index_key("vid", [str(tmp_path / "d")], {}) != d


def test_round_trip_keeps_every_field(tmp_path):
    seqs = [
        SequenceInfo(dataset="x", name="a", frames=FramePaths("/d/a", "{:06d}.JPEG", 3, 3),
                     boxes=np.array([[1.5, 2, 3, 4], [np.nan] * 4, [5, 6, 7, 8]]),
                     visible=np.array([True, False, True]), class_name="n0", image_size=(240, 320),
                     extra={"video": "v", "trackid": np.int64(4), "occluded": np.array([False, True, False]),
                            "cover": np.array([8, 0, 3], dtype=np.uint8)}, box_base=1),
        SequenceInfo(dataset="x", name="b", frames=("/i/7.jpg",), boxes=np.array([[0.0, 0, 1, 1]]),
                     visible=np.array([True]), extra={"area": 2.5, "occluded": np.array([True])},
                     first_frame_only=True),
    ]
    path = str(tmp_path / "i.npz")
    save_index(path, "k", seqs)
    assert load_index(path, "other key") is None
    back = load_index(path, "k")
    for s, b in zip(seqs, back):
        assert (b.dataset, b.name, list(b.frames), b.class_name, b.image_size, b.box_base, b.first_frame_only) == (
            s.dataset, s.name, list(s.frames), s.class_name, s.image_size, s.box_base, s.first_frame_only)
        np.testing.assert_array_equal(b.boxes, s.boxes)
        np.testing.assert_array_equal(b.visible, s.visible)
        assert b.extra.keys() == s.extra.keys()
        for k, v in s.extra.items():
            np.testing.assert_array_equal(b.extra[k], v)
            assert np.asarray(b.extra[k]).dtype == np.asarray(v).dtype or not isinstance(v, np.ndarray)
    assert isinstance(back[0].frames, FramePaths)
    with pytest.raises(TypeError, match=r"x/a: extra\['bad'\]"):
        save_index(path, "k", [SequenceInfo(dataset="x", name="a", frames=("f",), boxes=np.zeros((1, 4)),
                                            visible=np.ones(1, bool), extra={"bad": object()})])


def test_imagenetvid_cache_sees_a_new_xml_and_not_the_dataset_dir(tmp_path, cache):
    video = tmp_path / "Annotations" / "VID" / "val" / "ILSVRC2015_val_00000000"
    for t in range(3):
        write(video / f"{t:06d}.xml", vid_xml([(0, "n02691156", (10, 20, 50, 80), int(t == 1))]))
    a = ImagenetVID(tmp_path, split="val", cache=True)
    assert len(a[0]) == 3 and a[0].extra["occluded"].tolist() == [False, True, False]
    b = ImagenetVID(tmp_path, split="val", cache=True)
    np.testing.assert_array_equal(b[0].extra["occluded"], a[0].extra["occluded"])
    write(video / "000003.xml", vid_xml([(0, "n02691156", (10, 20, 50, 80), 0)]))
    assert len(ImagenetVID(tmp_path, split="val", cache=True)[0]) == 4
    assert not [p for p in (tmp_path / "Annotations" / "VID").iterdir() if p.is_file()]
    assert not ImagenetVID(tmp_path, split="val", occluded_visible=False, cache=True)[0].visible[1]


def test_an_unwritable_cache_dir_is_a_warning(tmp_path, monkeypatch, caplog):
    make_coco(tmp_path)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TRACKING_CACHE_DIR", str(tmp_path / "file"))  # a file: nothing can go below it
    with caplog.at_level(logging.WARNING):
        assert len(Coco(tmp_path, cache=True)) == 2
    assert "could not write the dataset index cache" in caplog.text


def test_cache_path_is_in_the_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKING_CACHE_DIR", str(tmp_path))
    assert index_cache_path("coco", "ab" * 32) == str(tmp_path / "index" / f"coco-{'ab' * 16}.npz")
    monkeypatch.delenv("TRACKING_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index_cache_path("coco", "ab" * 32).startswith(str(tmp_path / "xdg" / "tracking" / "index"))


# ------------------------------------------------------------------------------------------- plausible boxes


def test_plausible_boxes_rule():
    boxes = np.array([
        [10, 10, 20, 20],        # ordinary
        [330, 100, 40, 40],      # beyond the right border of a 320x240 frame: still a target
        [-300, -50, 40, 40],     # beyond the left / top border
        [0, 0, 1e300, 1e300],    # garbage
        [1e300, 0, 10, 10],      # garbage position
        [5, 5, 1e-150, 3],       # no crop can be made of it
        [5, 5, 1e-3, 1e-3],      # the smallest side kept
        [5, 5, 32000, 24000],    # exactly 100 frames
        [5, 5, 32001, 20],       # more than 100 frame widths
        [np.nan, 0, 1, 1], [0, 0, 0, 5], [0, 0, 5, -1],
    ], dtype=np.float64)
    expected = [True, True, True, False, False, False, True, True, False, False, False, False]
    assert plausible_boxes(boxes, (240, 320)).tolist() == expected
    # unknown size: 1e6 pixels
    assert plausible_boxes(np.array([[0, 0, 1e6, 1e6], [0, 0, 1.1e6, 5]]), None).tolist() == [True, False]
    sizes = np.array([[240, 320], [np.nan, np.nan]])
    assert plausible_boxes(np.array([[0, 0, 40000, 5], [0, 0, 40000, 5]]), sizes).tolist() == [False, True]


def test_extreme_boxes_are_not_visible_and_the_epoch_runs(tmp_path):
    """Finite but extreme boxes used to pass construction as visible and abort an epoch in crop_window."""
    make_got10k(tmp_path, n=1, T=5)
    seq_dir = tmp_path / "train" / "GOT-10k_Train_000001"
    write(seq_dir / "groundtruth.txt", "10,20,30,40\n1,2,1e300,1e300\n0,0,1e-150,1e-150\n10,20,30,40\n"
                                       "1e300,20,30,40\n")
    for f in ("absence.label", "cover.label"):
        os.remove(seq_dir / f)
    ds = Got10k(tmp_path, split="train")
    assert ds[0].visible.tolist() == [True, False, False, True, False]
    sampler = TrackingSampler([ds], samples_per_epoch=20, max_gap=10, num_train_frames=1, num_test_frames=1,
                              min_visible_frames=2, min_video_length=1, seed=0)
    cfg = ProcessingConfig(output_size=64, label_feature_size=None, num_proposals=0)
    for index in range(len(sampler)):
        spec = sampler.sample(index, epoch=0)
        cfg.make_record(sampler.sequence(spec), spec, seed=0, epoch=0, index=index)


def test_coco_skips_implausible_boxes(tmp_path):
    make_coco(tmp_path)
    ann = tmp_path / "annotations" / "instances_train2017.json"
    data = json.loads(ann.read_text())
    data["annotations"].append({"id": 104, "image_id": 9, "category_id": 18, "bbox": [1, 1, 1e300, 5],
                                "iscrowd": 0})
    data["annotations"].append({"id": 105, "image_id": 9, "category_id": 18, "bbox": [1, 1, 1e-150, 5],
                                "iscrowd": 0})
    ann.write_text(json.dumps(data))
    assert Coco(tmp_path).names == ["7_100", "9_103"]


def test_import_needs_no_cache_dir(tmp_path):
    """Importing the datasets writes nothing (no import-time side effects)."""
    env = dict(os.environ, TRACKING_CACHE_DIR=str(tmp_path / "c"))
    subprocess.run([sys.executable, "-c", "import tracking.data.datasets.index_cache, tracking.data.datasets"],
                   check=True, env=env)
    assert not (tmp_path / "c").exists()
