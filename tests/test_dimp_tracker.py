"""The DiMP-family tracker end to end with a random-weight DiMP-18 (small patches, few iterations)."""

import os

import numpy as np
import pytest
import torch
from _tracker_helpers import moving_square, run
from conftest import SHARED_SEQUENCES

from tracking.models import build_network
from tracking.trackers import build_tracker, load_params
from tracking.trackers.dimp import DiMPTracker, validate_params

FAST = ["image_sample_size=128", "net_opt_iter=2", "net_opt_update_iter=1", "train_skipping=2",
        "box_refinement_iter=2", "num_init_random_boxes=3", "augmentation.rotate=[10]", "sample_memory_size=20"]
ALWAYS_FOUND = ["target_not_found_threshold=-.inf"]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("dimpnet18", backbone_pretrained=False, filter_size=4, out_feature_dim=32).eval()


@pytest.mark.parametrize("name", ["dimp18", "dimp50", "prdimp18", "prdimp50", "super_dimp"])
def test_parameter_sets_are_complete(name):
    p = validate_params(load_params(name))
    assert p["tracker"] == "dimp" and p["network"]
    assert p["augmentation"]["dropout"] == [2, 0.2]


def test_unknown_key_and_missing_network(net):
    with pytest.raises(ValueError, match="'bogus_key'.*known:"):
        DiMPTracker(load_params("dimp18", ["bogus_key=1"]), net=net, device="cpu")
    with pytest.raises(ValueError, match="net=.*weights="):
        DiMPTracker(load_params("dimp18"), device="cpu")
    with pytest.raises(ValueError, match="border_mode"):
        DiMPTracker(load_params("dimp18", ["border_mode=outside"]), net=net, device="cpu")


def test_runs_and_reports(net):
    frames, boxes = moving_square()
    tracker = build_tracker("dimp18", overrides=FAST + ALWAYS_FOUND, net=net, device="cpu", seed=3)
    outs = run(tracker, frames, boxes[0])
    for o in outs:
        assert o.box.shape == (4,) and np.all(np.isfinite(o.box))
        assert o.state in ("normal", "uncertain", "hard_negative")
        assert o.score_map.shape == (9, 9)  # 128 / 16 = 8 feature cells, even filter: 9
        assert o.confidence == pytest.approx(float(o.score_map.max()))
        assert set(o.timings) == {"sample", "backbone", "classify", "optimize", "iou_refine"}
    assert isinstance(tracker.track(frames[-1]), np.ndarray)


@pytest.mark.parametrize("name", ["dimp18", "prdimp18", "super_dimp"])
def test_same_seed_same_boxes(net, name):
    frames, boxes = moving_square(5)
    overrides = FAST + ALWAYS_FOUND + ["score_preprocess=none"]  # prdimp's softmax needs a PrDiMP net
    a = [o.box for o in run(DiMPTracker(load_params(name, overrides), net=net, device="cpu", seed=7),
                            frames, boxes[0])]
    tracker = DiMPTracker(load_params(name, overrides), net=net, device="cpu", seed=7)
    b = [o.box for o in run(tracker, frames, boxes[0])]
    c = [o.box for o in run(tracker, frames, boxes[0])]  # re-initialising re-seeds
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    np.testing.assert_array_equal(np.stack(a), np.stack(c))


def test_box_stays_inside_the_image(net):
    frames, _ = moving_square(6)
    tracker = DiMPTracker(load_params("dimp18", FAST + ALWAYS_FOUND), net=net, device="cpu")
    # start at the corner with a large box: whatever the random net says, the state stays bounded
    outs = run(tracker, frames, np.array([130.0, 95.0, 29.0, 24.0]))
    for o in outs:
        # at least target_inside_ratio (0.2) of the box's width and height inside the image, as pytracking
        x, y, w, h = o.box
        assert -0.8 * w - 1e-6 <= x <= 160 - 0.2 * w + 1e-6 and -0.8 * h - 1e-6 <= y <= 120 - 0.2 * h + 1e-6
        # the scale is bounded by the image: the box fits it in at least one dimension
        assert min(w / 160, h / 120) <= 1 + 1e-6


def test_target_not_found_keeps_the_state(net):
    frames, boxes = moving_square(4)
    p = load_params("dimp18", FAST + ["target_not_found_threshold=1000000"])
    tracker = DiMPTracker(p, net=net, device="cpu")
    outs = run(tracker, frames, boxes[0])
    for o in outs:
        assert o.state == "not_found"
        np.testing.assert_allclose(o.box, boxes[0])  # neither moved nor learnt from
        assert o.timings["optimize"] == 0 and o.timings["iou_refine"] == 0
    assert tracker.memory.num_stored == tracker.memory.num_init
    p = load_params("dimp18", FAST + ["target_not_found_threshold=1000000", "output_not_found_box=true"])
    outs = run(DiMPTracker(p, net=net, device="cpu"), frames, boxes[0])
    np.testing.assert_array_equal(outs[0].box, [-1, -1, -1, -1])


def test_online_update_stores_samples(net):
    frames, boxes = moving_square(5)
    tracker = DiMPTracker(load_params("dimp18", FAST + ALWAYS_FOUND + ["hard_negative_threshold=10"]), net=net,
                          device="cpu")
    filter0 = None
    tracker.initialize(frames[0], boxes[0])
    n0 = tracker.memory.num_stored
    filter0 = tracker.target_filter.clone()
    for f in frames[1:]:
        tracker.track_info(f)
    assert tracker.memory.num_stored > n0
    assert not torch.equal(filter0, tracker.target_filter)


def test_weights_file(net, tmp_path):
    from tracking.models.safetensors_io import save_safetensors

    path = str(tmp_path / "dimp18_small.safetensors")
    save_safetensors(path, net, "dimpnet18", kwargs={"backbone_pretrained": False, "filter_size": 4,
                                                    "out_feature_dim": 32})
    frames, boxes = moving_square(3)
    a = run(build_tracker("dimp18", weights=path, overrides=FAST + ALWAYS_FOUND, device="cpu"), frames, boxes[0])
    b = run(build_tracker("dimp18", net=net, overrides=FAST + ALWAYS_FOUND, device="cpu"), frames, boxes[0])
    np.testing.assert_array_equal(np.stack([o.box for o in a]), np.stack([o.box for o in b]))
    with pytest.raises(ValueError, match="dimpnet50"):
        build_tracker("dimp50", weights=path, device="cpu")


CROSSING = os.path.join(SHARED_SEQUENCES, "Crossing")


@pytest.mark.skipif(not os.path.isdir(CROSSING), reason=f"{CROSSING} absent")
def test_crossing_end_to_end(net):
    import cv2

    with open(os.path.join(CROSSING, "groundtruth_rect.txt")) as f:
        gt = np.array([[float(v) for v in line.replace(",", " ").split()] for line in f if line.strip()])
    names = sorted(os.listdir(os.path.join(CROSSING, "img")))[:10]
    frames = [cv2.cvtColor(cv2.imread(os.path.join(CROSSING, "img", n)), cv2.COLOR_BGR2RGB) for n in names]
    h, w = frames[0].shape[:2]
    tracker = build_tracker("dimp18", overrides=["net_opt_iter=3", "train_skipping=3"] + ALWAYS_FOUND, net=net,
                            device="cpu")
    tracker.initialize(frames[0], gt[0] - np.array([1, 1, 0, 0]))  # OTB boxes are 1-based
    for f in frames[1:]:
        box = tracker.track(f)
        assert np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        assert 0 <= cx <= w and 0 <= cy <= h
