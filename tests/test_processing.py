"""Processing: the per-sample records (windows, crop boxes, labels, proposals, colour decisions)."""

import numpy as np
import pytest

from tracking.data import geometry
from tracking.data.processing import ATOM_PROCESSING, BatchField, Processing, ProcessingConfig, make_record
from tracking.data.sampler import SampleSpec
from tracking.data.sequence import FramePaths, SequenceInfo


def make_sequence(T: int = 40, seed: int = 0) -> SequenceInfo:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(50, 400, size=(T, 2))
    wh = rng.uniform(20, 120, size=(T, 2))
    return SequenceInfo("synthetic", "seq", FramePaths("/nowhere", "{:08d}.jpg", 1, T), np.hstack([xy, wh]),
                        np.ones(T, bool))


def spec(train=(3, 5, 9), test=(12, 15, 20)) -> SampleSpec:
    return SampleSpec(dataset_index=0, sequence_index=0, train_frames=np.array(train), test_frames=np.array(test),
                      attempts=1)


def test_record_is_deterministic_and_depends_on_index_and_epoch():
    seq, cfg = make_sequence(), ProcessingConfig()
    a, b = make_record(seq, spec(), cfg, 7, 0, 11), make_record(seq, spec(), cfg, 7, 0, 11)
    np.testing.assert_array_equal(a.train.windows, b.train.windows)
    np.testing.assert_array_equal(a.test.proposals, b.test.proposals)
    assert (a.grayscale, a.train.brightness) == (b.grayscale, b.train.brightness)
    for other in (make_record(seq, spec(), cfg, 7, 1, 11), make_record(seq, spec(), cfg, 7, 0, 12),
                  make_record(seq, spec(), cfg, 8, 0, 11)):
        assert not np.array_equal(a.train.windows, other.train.windows)


def test_crop_boxes_are_the_ground_truth_mapped_through_the_windows():
    seq, cfg = make_sequence(), ProcessingConfig()
    record = make_record(seq, spec(), cfg, 0, 0, 3)
    for frames in (record.train, record.test):
        gt = seq.boxes[frames.frame_ids]
        # window corner (x1, y1) -> 0, scale S / window side: analytic crop coordinates of the ground truth
        side = frames.windows[:, 2] - frames.windows[:, 0]
        expected = np.column_stack([(gt[:, 0] - frames.windows[:, 0]) * cfg.output_size / side,
                                    (gt[:, 1] - frames.windows[:, 1]) * cfg.output_size / side,
                                    gt[:, 2] * cfg.output_size / side, gt[:, 3] * cfg.output_size / side])
        np.testing.assert_allclose(frames.boxes, expected, atol=1e-4)
        # the output->source affine maps the crop box back onto the ground truth
        m = geometry.window_to_affine(frames.windows, cfg.output_size)
        corners = np.stack([frames.boxes[:, :2], frames.boxes[:, :2] + frames.boxes[:, 2:]], 1)  # [n, 2, 2]
        mapped = np.einsum("nij,nkj->nki", m[:, :, :2], corners) + m[:, None, :, 2]
        np.testing.assert_allclose(mapped[:, 0], gt[:, :2], atol=1e-4)
        np.testing.assert_allclose(mapped[:, 1], gt[:, :2] + gt[:, 2:], atol=1e-4)
        # windows are square and search_area_factor x the jittered box, which stays near the target
        np.testing.assert_allclose(side, frames.windows[:, 3] - frames.windows[:, 1])
        assert np.all(side > 0)


def test_jitter_scales_follow_the_mode():
    seq, cfg = make_sequence(), ProcessingConfig(center_jitter=(0.0, 4.5), scale_jitter=(0.0, 0.5))
    record = make_record(seq, spec(), cfg, 0, 0, 0)
    gt = seq.boxes[record.train.frame_ids]
    # no train jitter: the window is exactly 5 x sqrt(wh) around the target centre
    np.testing.assert_allclose(record.train.windows, geometry.crop_window(gt, 5.0))
    centres = record.train.boxes[:, :2] + record.train.boxes[:, 2:] / 2
    np.testing.assert_allclose(centres, cfg.output_size / 2)


def test_labels_peak_at_the_target_centre():
    seq, cfg = make_sequence(), ProcessingConfig()
    record = make_record(seq, spec(), cfg, 0, 0, 5)
    stride = cfg.output_size / cfg.label_feature_size
    L = record.train.labels.shape[-1]
    assert record.train.labels.shape == (3, 19, 19) and record.test.labels.shape == (3, 19, 19)
    for frames in (record.train, record.test):
        for box, label in zip(frames.boxes, frames.labels):
            cx, cy = box[:2] + box[2:] / 2
            row, col = np.unravel_index(np.argmax(label), label.shape)
            cell_x = (col - (L - 1) / 2) * stride + cfg.output_size / 2
            cell_y = (row - (L - 1) / 2) * stride + cfg.output_size / 2
            if 0 <= cx < cfg.output_size and 0 <= cy < cfg.output_size:
                assert abs(cell_x - cx) <= stride / 2 + 1e-9 and abs(cell_y - cy) <= stride / 2 + 1e-9


def test_proposal_ious_match_the_boxes():
    seq, cfg = make_sequence(), ProcessingConfig()
    record = make_record(seq, spec(), cfg, 0, 0, 9)
    assert record.test.proposals.shape == (3, 8, 4) and record.test.proposal_iou.shape == (3, 8)
    recomputed = geometry.box_iou(record.test.proposals, record.test.boxes[:, None, :])
    np.testing.assert_array_equal(record.test.proposal_iou, recomputed)
    assert np.all(record.test.proposal_iou >= cfg.proposal_min_iou)


def test_atom_config_has_no_labels_and_16_proposals():
    record = make_record(make_sequence(), spec(train=(4,), test=(8,)), ATOM_PROCESSING, 0, 0, 0)
    assert record.train.labels is None and record.test.labels is None
    assert record.test.proposals.shape == (1, 16, 4)


def test_colour_decisions_are_in_range_and_grayscale_is_rare():
    seq, cfg = make_sequence(), ProcessingConfig()
    records = [make_record(seq, spec(), cfg, 0, 0, i) for i in range(400)]
    brightness = np.array([[r.train.brightness, r.test.brightness] for r in records])
    assert brightness.min() >= 0.8 and brightness.max() <= 1.2
    assert 0 < sum(r.grayscale for r in records) < 0.15 * len(records)


def test_invalid_box_in_a_chosen_frame_is_a_clear_error():
    seq = make_sequence()
    seq.boxes[5] = [np.nan, 1, 2, 3]
    with pytest.raises(ValueError, match=r"synthetic/seq.*invalid box"):
        make_record(seq, spec(), ProcessingConfig(), 0, 0, 0)


def test_processing_config_is_a_processing_object_declaring_its_record_fields():
    seq = make_sequence()
    for cfg, names in ((ProcessingConfig(), ["train_anno", "test_anno", "train_label", "test_label",
                                             "test_proposals", "proposal_iou"]),
                       (ATOM_PROCESSING, ["train_anno", "test_anno", "test_proposals", "proposal_iou"]),
                       (ProcessingConfig(label_feature_size=None, num_proposals=0), ["train_anno", "test_anno"])):
        assert isinstance(cfg, Processing)
        fields = cfg.batch_fields()
        assert list(fields) == names
        train_frames = (3, 5, 9) if cfg is not ATOM_PROCESSING else (4,)
        test_frames = (12, 15, 20) if cfg is not ATOM_PROCESSING else (8,)
        record = cfg.make_record(seq, spec(train_frames, test_frames), 7, 2, 11, attempt=1)
        same = make_record(seq, spec(train_frames, test_frames), cfg, 7, 2, 11, 1)
        np.testing.assert_array_equal(record.train.windows, same.train.windows)
        assert list(record.fields) == names
        for name, field in fields.items():
            assert field.dtype == "float32" and field.stack_dim == 1
            frames = record.train if field.frames == "train" else record.test
            assert record.fields[name].shape[0] == len(frames.paths)
        np.testing.assert_array_equal(record.fields["test_anno"], record.test.boxes)
        if "proposal_iou" in names:
            np.testing.assert_array_equal(record.fields["proposal_iou"], record.test.proposal_iou)


def test_batch_field_kinds():
    assert BatchField("test").per_frame and BatchField("train").stack_dim == 1
    per_sample = BatchField(None, "int64")
    assert not per_sample.per_frame and per_sample.stack_dim == 0
    with pytest.raises(ValueError):
        BatchField("frames")
    with pytest.raises(TypeError):
        BatchField(None, "no such dtype")
