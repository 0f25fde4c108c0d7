"""PrDiMP / SuperDiMP processing: KL proposals and their densities, label density maps, the presets and
make_processing's handling of config-file overrides."""

import dataclasses
import math

import numpy as np
import pytest
import yaml

from tracking.data import geometry
from tracking.data.processing import (
    ATOM_PROCESSING, PROCESSING_PRESETS, ProcessingConfig, make_processing, make_record)
from tracking.data.processing_kl import label_density
from tracking.data.proposals import gmm_density_centered
from tracking.data.sampler import SampleSpec
from tracking.data.sequence import FramePaths, SequenceInfo

# Small and fast, with every PrDiMP output on; frames of a known size so no file is read.
KL = make_processing("prdimp", output_size=96, label_feature_size=6, num_proposals=32)


def make_sequence(T: int = 40, seed: int = 0, image_size=(480, 640)) -> SequenceInfo:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(50, 400, size=(T, 2))
    wh = rng.uniform(20, 120, size=(T, 2))
    return SequenceInfo("synthetic", "seq", FramePaths("/nowhere", "{:08d}.jpg", 1, T), np.hstack([xy, wh]),
                        np.ones(T, bool), image_size=image_size)


def spec(train=(3, 5, 9), test=(12, 15, 20)) -> SampleSpec:
    return SampleSpec(dataset_index=0, sequence_index=0, train_frames=np.array(train), test_frames=np.array(test),
                      attempts=1)


def offsets(boxes: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """PrDiMP's box offsets, written out here: centre shift over the mean box's size, log size ratio."""
    bc = boxes[..., :2] + boxes[..., 2:] / 2
    mc = mean[..., :2] + mean[..., 2:] / 2
    return np.concatenate([(bc - mc) / mean[..., 2:], np.log(boxes[..., 2:] / mean[..., 2:])], axis=-1)


def normal(x: np.ndarray, std: float) -> np.ndarray:
    return np.exp(-x ** 2 / (2 * std ** 2)) / (std * math.sqrt(2 * math.pi))


# ------------------------------------------------------------------------------------------- proposals


def test_kl_fields_have_the_declared_shapes_and_dtypes():
    record = make_record(make_sequence(), spec(), KL, 0, 0, 5)
    declared = KL.batch_fields()
    assert list(declared) == ["train_anno", "test_anno", "train_label", "test_label", "train_label_density",
                              "test_label_density", "test_proposals", "proposal_density", "gt_density"]
    assert set(record.fields) == set(declared)
    L = 7  # 6 + 1 (even kernel)
    shapes = {"train_anno": (3, 4), "test_anno": (3, 4), "train_label": (3, L, L), "test_label": (3, L, L),
              "train_label_density": (3, L, L), "test_label_density": (3, L, L), "test_proposals": (3, 32, 4),
              "proposal_density": (3, 32), "gt_density": (3, 32)}
    assert {k: v.shape for k, v in record.fields.items()} == shapes
    assert all(np.isfinite(v).all() for v in record.fields.values())


def test_proposal_and_gt_densities_are_the_mixture_and_gt_gaussians_of_the_offsets():
    record = make_record(make_sequence(), spec(), KL, 0, 0, 6)
    d = offsets(record.fields["test_proposals"], record.fields["test_anno"][:, None, :])  # [3, P, 4]
    gt = np.prod([normal(d[..., i], 0.05) for i in range(4)], axis=0)
    mixture = 0.5 * (np.prod([normal(d[..., i], 0.05) for i in range(4)], axis=0)
                     + np.prod([normal(d[..., i], 0.5) for i in range(4)], axis=0))
    np.testing.assert_allclose(record.fields["gt_density"], gt, rtol=1e-9)
    np.testing.assert_allclose(record.fields["proposal_density"], mixture, rtol=1e-9)


def test_the_gt_density_integrates_to_one_over_the_proposals():
    """E_q[p / q] = integral of p = 1 for the gt density p and the proposal density q the boxes are drawn from
    (an importance-sampling estimate over many records; p / q <= 2 here, so the estimate is tight)."""
    seq = make_sequence()
    ratios = [r.fields["gt_density"] / r.fields["proposal_density"]
              for r in (make_record(seq, spec(), KL, 1, 0, i) for i in range(60))]
    ratio = np.concatenate([x.ravel() for x in ratios])
    assert ratio.max() <= 2.0 + 1e-9
    assert abs(ratio.mean() - 1.0) < 0.03, ratio.mean()


def test_the_gt_density_integrates_to_one_over_a_grid_of_offsets():
    """The density the records' gt_density evaluates (checked against the offsets above), summed over a 4-D
    grid of offsets d covering +-6 sigma: a Riemann sum of the density, 1."""
    step = 0.02
    axis = np.arange(-0.3, 0.3 + step / 2, step)
    grid = np.stack(np.meshgrid(axis, axis, axis, axis, indexing="ij"), axis=-1)  # [31, 31, 31, 31, 4]
    density = gmm_density_centered(grid, np.full((4, 1), 0.05))
    assert abs(density.sum() * step ** 4 - 1.0) < 1e-6


def test_add_mean_box_puts_the_target_first():
    cfg = dataclasses.replace(KL, proposal_add_mean_box=True)
    record = make_record(make_sequence(), spec(), cfg, 0, 0, 1)
    assert record.fields["test_proposals"].shape == (3, 33, 4)
    np.testing.assert_array_equal(record.fields["test_proposals"][:, 0], record.fields["test_anno"])
    np.testing.assert_array_equal(record.fields["proposal_density"][:, 0], -1.0)
    np.testing.assert_array_equal(record.fields["gt_density"][:, 0], 1.0)


def test_records_are_deterministic_and_depend_on_seed_epoch_index_and_attempt():
    seq, super_dimp = make_sequence(), make_processing("super_dimp", output_size=64, label_feature_size=4)
    a, b = make_record(seq, spec(), super_dimp, 3, 1, 7), make_record(seq, spec(), super_dimp, 3, 1, 7)
    for name in a.fields:
        np.testing.assert_array_equal(a.fields[name], b.fields[name])
    np.testing.assert_array_equal(np.concatenate([a.train.windows, a.test.windows]),
                                  np.concatenate([b.train.windows, b.test.windows]))
    for other in ((4, 1, 7, 0), (3, 2, 7, 0), (3, 1, 8, 0), (3, 1, 7, 1)):
        c = make_record(seq, spec(), super_dimp, *other)
        assert not np.array_equal(a.fields["test_proposals"], c.fields["test_proposals"])


# ------------------------------------------------------------------------------------------ label maps


def pytracking_grid_label(center, output_size, feature_size, kernel_size, sigma_factor, end_pad_if_even, density):
    """pytracking's gaussian_label_function, from its formulas (numpy, one centre)."""
    end_pad = int(kernel_size % 2 == 0) if end_pad_if_even else 0
    k = np.arange(-(feature_size - 1) / 2, (feature_size + 1) / 2 + end_pad)
    mu = feature_size * (np.asarray(center) - output_size / 2) / output_size + 0.5 * ((kernel_size + 1) % 2)
    sigma = sigma_factor * feature_size
    g = [np.exp(-((k - m) ** 2) / (2 * sigma ** 2)) / ((math.sqrt(2 * math.pi) * sigma) if density else 1.0)
         for m in mu]
    return g[1][:, None] * g[0][None, :]


@pytest.mark.parametrize("feature_size,kernel_size,end_pad", [(18, 4, True), (22, 4, True), (18, 3, True),
                                                              (18, 3, False), (9, 5, True)])
@pytest.mark.parametrize("density", [False, True])
def test_label_grid_is_pytrackings(feature_size, kernel_size, end_pad, density):
    size = feature_size * 16
    for center in ([size / 2, size / 2], [37.3, 201.9], [-10.0, size + 5.0]):
        ours = geometry.gaussian_label(center, size, feature_size, kernel_size, 0.05, end_pad, density=density)
        theirs = pytracking_grid_label(center, size, feature_size, kernel_size, 0.05, end_pad, density)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-300)


def test_label_grid_differs_by_half_a_stride_for_even_kernels_without_end_pad():
    size, feat = 288, 18
    centre = np.array([100.0, 150.0])
    ours = geometry.gaussian_label(centre, size, feat, 4, 0.05, end_pad_if_even=False)
    theirs = pytracking_grid_label(centre - 8.0, size, feat, 4, 0.05, False, False)  # half a stride (16 / 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


def test_label_density_sums_to_one():
    centres = np.array([[144.0, 144.0], [100.3, 170.2], [80.0, 210.0]])
    raw = label_density(centres, 288, 18, 4, 0.05)
    # a Gaussian of 0.9 cells well inside the 19 x 19 grid: its grid sum is its integral, 1
    np.testing.assert_allclose(raw.sum(axis=(-2, -1)), 1.0, atol=1e-6)
    edge = centres + 100.0  # partly outside the grid
    assert label_density(edge, 288, 18, 4, 0.05).sum(axis=(-2, -1)).min() < 0.9
    np.testing.assert_allclose(label_density(edge, 288, 18, 4, 0.05, normalize=True).sum(axis=(-2, -1)), 1.0,
                               rtol=1e-12)


def test_label_density_options():
    centre = np.array([[144.0, 144.0]])
    plain = label_density(centre, 288, 18, 4, 0.05)
    cells = 19 * 19
    uni = label_density(centre, 288, 18, 4, 0.05, uni_weight=0.2)
    np.testing.assert_allclose(uni, 0.8 * plain + 0.2 / cells)
    cut = label_density(centre, 288, 18, 4, 0.05, threshold=0.01)
    np.testing.assert_array_equal(cut, np.where(plain > 0.01, plain, 0.0))
    np.testing.assert_allclose(label_density(centre, 288, 18, 4, 0.05, shrink=0.25), 0.75 * plain)
    # a target far outside the crop: nothing of the Gaussian on the grid -> uniform when normalised
    far = label_density(np.array([[2000.0, -900.0]]), 288, 18, 4, 0.05, normalize=True)
    np.testing.assert_allclose(far, 1.0 / cells)
    with pytest.raises(ValueError, match="uni_weight"):
        label_density(centre, 288, 18, 4, 0.05, uni_weight=1.5)


def test_records_label_densities_follow_the_presets():
    seq = make_sequence()
    prdimp = make_record(seq, spec(), make_processing("prdimp"), 0, 0, 2)
    np.testing.assert_allclose(prdimp.fields["test_label_density"].sum(axis=(-2, -1)), 1.0, rtol=1e-5)
    centres = geometry.box_center(prdimp.fields["test_anno"])
    np.testing.assert_allclose(prdimp.fields["test_label_density"],
                               label_density(centres, 288, 18, 4, 0.05, normalize=True), rtol=1e-6, atol=1e-12)
    super_dimp = make_record(seq, spec(), make_processing("super_dimp"), 0, 0, 2)
    assert super_dimp.fields["test_label_density"].shape == (3, 23, 23)
    centres = geometry.box_center(super_dimp.fields["test_anno"])
    np.testing.assert_allclose(super_dimp.fields["test_label_density"],
                               label_density(centres, 352, 22, 4, 1 / 4 / 6), rtol=1e-6, atol=1e-12)


# ----------------------------------------------------------------------------------- presets, overrides


def test_presets_are_pytrackings_settings():
    dimp, prdimp, super_dimp, atom = (PROCESSING_PRESETS[k] for k in ("dimp", "prdimp", "super_dimp", "atom"))
    assert dimp == ProcessingConfig() and atom == ATOM_PROCESSING
    assert (prdimp.proposal_type, prdimp.num_proposals, prdimp.proposal_sigma, prdimp.proposal_gt_sigma) == \
        ("kl", 128, ((0.05, 0.05), (0.5, 0.5)), (0.05, 0.05))
    assert prdimp.label_density and prdimp.label_density_normalize and prdimp.crop_type == "replicate"
    assert (super_dimp.search_area_factor, super_dimp.output_size, super_dimp.label_feature_size) == (6.0, 352, 22)
    assert super_dimp.center_jitter == (3.0, 5.5) and super_dimp.scale_jitter == (0.25, 0.5)
    assert (super_dimp.crop_type, super_dimp.max_scale_change) == ("inside_major", 1.5)
    assert (super_dimp.flip_joint_prob, super_dimp.flip_frame_prob) == (0.5, 0.5)
    assert super_dimp.label_density and not super_dimp.label_density_normalize
    assert math.isclose(super_dimp.label_sigma_factor, 1 / 4 / 6)
    assert list(atom.batch_fields()) == ["train_anno", "test_anno", "test_proposals", "proposal_iou"]


@pytest.mark.parametrize("name", sorted(PROCESSING_PRESETS))
def test_every_field_is_plain_yaml_and_round_trips(name):
    preset = PROCESSING_PRESETS[name]

    def plain(value) -> bool:
        if isinstance(value, (tuple, list)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    values = dataclasses.asdict(preset)
    assert all(plain(v) for v in values.values()), values
    loaded = yaml.safe_load(yaml.safe_dump(values))  # tuples come back as lists
    assert make_processing(name, **loaded) == preset
    assert hash(make_processing(name, **loaded)) == hash(preset)


def test_make_processing_overrides_and_validation_rules():
    val = make_processing("super_dimp", brightness_jitter=0.0, flip_frame_prob=0.0)
    assert val.brightness_jitter == 0.0 and val.flip_joint_prob == 0.5
    record = make_record(make_sequence(), spec(), dataclasses.replace(val, output_size=64, label_feature_size=4),
                         0, 0, 0)
    assert record.train.brightness == record.test.brightness == 1.0
    zeros = make_processing("dimp", crop_type="zeros")
    assert zeros.padding == "zeros"
    with pytest.raises(ValueError, match="padding='zeros'"):
        ProcessingConfig(crop_type="zeros")


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown ProcessingConfig field\(s\) \['crop_tpye'\].*crop_type"):
        make_processing("super_dimp", crop_tpye="inside")
    with pytest.raises(ValueError, match="unknown preset 'superdimp'.*super_dimp"):
        make_processing("superdimp")
    with pytest.raises(TypeError, match="crop_tpye"):
        dataclasses.replace(PROCESSING_PRESETS["dimp"], crop_tpye="inside")


@pytest.mark.parametrize("field,value,match", [
    ("crop_type", "inside-major", "crop_type must be one of"),
    ("proposal_type", "gmm", "proposal_type must be one of"),
    ("output_size", 288.0, "output_size must be a positive int"),
    ("max_scale_change", 0.5, "max_scale_change"),
    ("flip_frame_prob", 1.5, "flip_frame_prob"),
    ("brightness_jitter", -0.1, "brightness_jitter"),
    ("center_jitter", [3.0], "center_jitter"),
    ("proposal_sigma", [[0.05, 0.0]], "proposal_sigma"),
    ("proposal_gt_sigma", [0.05, 0.0], "proposal_gt_sigma"),
    ("label_density", "yes", "label_density must be True or False"),
    ("label_density_uni_weight", 2.0, "label_density_uni_weight"),
    ("label_feature_size", None, "label_density needs the label grid"),
])
def test_bad_values_name_their_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        make_processing("prdimp", **{field: value})
