"""Processing: turns a sampled (sequence, frames) choice into a plain per-sample record.

Everything random about a training sample is decided here, once, from a generator seeded by
(seed, epoch, global index): box jitter, crop windows, horizontal flips, proposals, grayscale and brightness.
The record holds only numbers and file paths, so any loader backend can execute it (decode, crop by the
window, colour ops, normalize) and the boxes/labels/proposals are computed exactly, once, from the same
windows.

Coordinates: source boxes are xywh in continuous frame pixel coordinates (see tracking.data.sequence);
crop windows are x1y1x2y2 in the same coordinates and map onto the output_size x output_size crop, whose
own coordinates are continuous with pixel (i, j) covering [j, j+1) x [i, i+1) (tracking.data.geometry). A
horizontally flipped frame has a mirrored window (x1 > x2): its crop is the mirror image of the crop of the
window with x1 and x2 swapped, and its boxes, labels and proposals are those of the mirrored crop.

The seam for new trackers is the :class:`Processing` protocol: an object that makes records and declares
the non-image batch fields its records carry (:class:`BatchField`). Loader backends render the images of
a record's frame sets and collate whatever fields the processing declares, so a tracker that needs another
field (KYS, LWL, a user's own) adds it in its processing object, without touching the loaders.
:class:`ProcessingConfig` (DiMP, PrDiMP, SuperDiMP, ATOM: :data:`PROCESSING_PRESETS`, :func:`make_processing`)
is such an object; its crop types are in tracking.data.crop_modes, PrDiMP's label densities in
tracking.data.processing_kl and its KL proposals in tracking.data.proposals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np

from ..ops.normalize import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (the loaders' normalisation constants)
from . import crop_modes, geometry, processing_kl
from .proposals import sample_box_gmm
from .sampler import SampleSpec
from .sequence import SequenceInfo

#: BatchField.frames values: per train frame, per test frame, per sample.
FIELD_FRAMES = ("train", "test", None)


@dataclass(frozen=True)
class BatchField:
    """How one non-image field of the records is batched.

    frames: "train" or "test": a per-frame field whose leading dimension is that frame set's number of
        frames ([n, ...] per sample); the batch is stacked as dimension 1 ([n, B, ...], pytracking's
        stack_dim=1). None: a per-sample field ([...] per sample), stacked on dimension 0 ([B, ...]).
    dtype: the batch tensor's dtype as a numpy dtype name ("float32", "int64", "bool", ...); record values
        are cast to it (numpy's conversion, e.g. float64 -> float32 rounds to nearest).
    """

    frames: str | None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.frames not in FIELD_FRAMES:
            raise ValueError(f"BatchField.frames must be one of {FIELD_FRAMES}, got {self.frames!r}")
        np.dtype(self.dtype)  # a TypeError for names numpy does not know

    @property
    def per_frame(self) -> bool:
        return self.frames is not None

    @property
    def stack_dim(self) -> int:
        """The batch dimension of the collated tensor: 1 for per-frame fields, 0 for per-sample ones."""
        return 1 if self.per_frame else 0


#: Values of ProcessingConfig.proposal_type.
PROPOSAL_TYPES = ("iou", "kl")


@dataclass(frozen=True)
class ProcessingConfig:
    """Parameters of DiMP / PrDiMP / SuperDiMP / ATOM-style processing (defaults: DiMP-18/50; the presets of
    pytracking's train settings are PROCESSING_PRESETS). Every field is a plain value (number, string, bool,
    None, or tuples of them; lists are turned into tuples), so a config file can override any of them:
    ``make_processing("super_dimp", brightness_jitter=0.0)``. Pairs are (train, test).

    Crop: ``search_area_factor``, ``output_size`` S, box jitter ``center_jitter`` / ``scale_jitter``
    (tracking.data.geometry.jitter_box); ``crop_type`` "replicate" / "zeros" (the plain square window around the
    jittered box) or "inside" / "inside_major" (shrunk by at most ``max_scale_change`` (None: unbounded) and
    shifted into the frame: tracking.data.crop_modes); ``padding`` "replicate" / "zeros": what fills the crop
    outside the frame (crop_type "zeros" requires padding "zeros"; make_processing sets it).

    Labels (None ``label_feature_size``: none, as ATOM): Gaussian maps on the filter's output grid
    (geometry.gaussian_label: ``label_feature_size``, ``label_kernel_size``, ``label_sigma_factor``);
    ``label_density``: also PrDiMP's density maps on that grid (processing_kl.label_density:
    ``label_density_normalize``, ``_threshold``, ``_uni_weight``, ``_shrink``).

    Proposals for the test frames, ``num_proposals`` per frame (0: none), of ``proposal_type`` "iou" (IoU-Net:
    ``proposal_min_iou``, ``proposal_sigma_factors``; geometry.sample_proposals) or "kl" (PrDiMP's Gaussian
    mixture: ``proposal_sigma`` pairs (centre std, size std), ``proposal_gt_sigma``, ``proposal_add_mean_box``;
    proposals.sample_box_gmm; P = num_proposals + 1 with the mean box).

    Colour and flips: ``grayscale_prob`` (joint over the sample), ``brightness_jitter`` (factor U[1 - b, 1 + b]
    per frame set; 0: none), ``flip_joint_prob`` and ``flip_frame_prob`` (see :func:`make_record`).
    """

    search_area_factor: float = 5.0
    output_size: int = 288
    center_jitter: tuple[float, float] = (3.0, 4.5)  # (train, test)
    scale_jitter: tuple[float, float] = (0.25, 0.5)  # (train, test)
    padding: str = "replicate"  # "replicate" (border replication) or "zeros"
    crop_type: str = "replicate"  # "replicate", "zeros", "inside", "inside_major"
    max_scale_change: float | None = None  # "inside" / "inside_major" only; None: unbounded
    # Gaussian label maps (None: no labels, as in ATOM)
    label_feature_size: int | None = 18  # output_size / feature stride (288 / 16)
    label_kernel_size: int = 4
    label_sigma_factor: float = 1 / 4 / 5.0
    # PrDiMP label density maps (on the label grid)
    label_density: bool = False
    label_density_normalize: bool = False
    label_density_threshold: float = 0.0
    label_density_uni_weight: float = 0.0
    label_density_shrink: float = 0.0
    # proposals for the test frames (0: none)
    proposal_type: str = "iou"  # "iou" (IoU-Net) or "kl" (PrDiMP's KL regression)
    num_proposals: int = 8
    proposal_min_iou: float = 0.1  # iou
    proposal_sigma_factors: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3)  # iou
    proposal_sigma: tuple[tuple[float, float], ...] = ((0.05, 0.05), (0.5, 0.5))  # kl
    proposal_gt_sigma: tuple[float, float] | None = (0.05, 0.05)  # kl
    proposal_add_mean_box: bool = False  # kl
    # colour decisions and flips
    grayscale_prob: float = 0.05
    brightness_jitter: float = 0.2
    flip_joint_prob: float = 0.0
    flip_frame_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("center_jitter", "scale_jitter", "proposal_sigma_factors", "proposal_sigma", "proposal_gt_sigma"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value))
        _validate(self)

    def make_record(self, sequence: SequenceInfo, spec: SampleSpec, seed: int, epoch: int, index: int,
                    attempt: int = 0) -> SampleRecord:
        """The record of global sample `index` of `epoch` (see the module function :func:`make_record`)."""
        return make_record(sequence, spec, self, seed, epoch, index, attempt)

    def batch_fields(self) -> dict[str, BatchField]:
        """The non-image fields of this configuration's records, in batch order (all float32):

        train_anno [n_train, 4], test_anno [n_test, 4]: xywh target boxes in crop coordinates;
        train_label [n_train, L, L], test_label [n_test, L, L]: Gaussian label maps, when label_feature_size;
        train_label_density, test_label_density [n, L, L]: label density maps, when label_density;
        test_proposals [n_test, P, 4] (xywh, crop coordinates), when num_proposals > 0, with
        proposal_iou [n_test, P] (proposal_type "iou") or proposal_density, gt_density [n_test, P] ("kl",
        P = num_proposals + 1 with proposal_add_mean_box).
        """
        fields = {"train_anno": BatchField("train"), "test_anno": BatchField("test")}
        if self.label_feature_size is not None:
            fields.update(train_label=BatchField("train"), test_label=BatchField("test"))
        if self.label_density:
            fields.update(train_label_density=BatchField("train"), test_label_density=BatchField("test"))
        if self.num_proposals > 0:
            fields["test_proposals"] = BatchField("test")
            if self.proposal_type == "iou":
                fields["proposal_iou"] = BatchField("test")
            else:
                fields.update(proposal_density=BatchField("test"), gt_density=BatchField("test"))
        return fields


def _validate(cfg: ProcessingConfig) -> None:
    """ValueError naming the first field of `cfg` with a value out of its domain."""

    def bad(name: str, need: str) -> ValueError:
        return ValueError(f"ProcessingConfig: {name} must be {need}, got {getattr(cfg, name)!r}")

    def number(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)

    def integer(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    def pair(v, low: float) -> bool:
        return isinstance(v, tuple) and len(v) == 2 and all(number(x) and x >= low for x in v)

    choices = {"padding": ("replicate", "zeros"), "crop_type": crop_modes.CROP_TYPES, "proposal_type": PROPOSAL_TYPES}
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise bad(name, f"one of {allowed}")
    if cfg.crop_type == "zeros" and cfg.padding != "zeros":
        raise ValueError("ProcessingConfig: crop_type 'zeros' (the plain window with zero padding) needs "
                         f"padding='zeros', got padding={cfg.padding!r}")
    for name in ("label_density", "label_density_normalize", "proposal_add_mean_box"):
        if not isinstance(getattr(cfg, name), (bool, np.bool_)):
            raise bad(name, "True or False")
    if not integer(cfg.output_size) or cfg.output_size <= 0:
        raise bad("output_size", "a positive int")
    if not number(cfg.search_area_factor) or cfg.search_area_factor <= 0:
        raise bad("search_area_factor", "a positive number")
    for name in ("center_jitter", "scale_jitter"):
        if not pair(getattr(cfg, name), 0.0):
            raise bad(name, "a pair (train, test) of numbers >= 0")
    if cfg.max_scale_change is not None and not (number(cfg.max_scale_change) and cfg.max_scale_change >= 1):
        raise bad("max_scale_change", "None or a number >= 1")
    if cfg.label_feature_size is not None and (not integer(cfg.label_feature_size) or cfg.label_feature_size <= 0):
        raise bad("label_feature_size", "None or a positive int")
    if not integer(cfg.label_kernel_size) or cfg.label_kernel_size <= 0:
        raise bad("label_kernel_size", "a positive int")
    if not number(cfg.label_sigma_factor) or cfg.label_sigma_factor <= 0:
        raise bad("label_sigma_factor", "a positive number")
    if cfg.label_density and cfg.label_feature_size is None:
        raise ValueError("ProcessingConfig: label_density needs the label grid: set label_feature_size")
    if not number(cfg.label_density_shrink) or not 0.0 <= cfg.label_density_shrink < 1.0:
        raise bad("label_density_shrink", "a number in [0, 1)")
    for name, low, high in (("label_density_threshold", 0.0, np.inf), ("label_density_uni_weight", 0.0, 1.0),
                            ("grayscale_prob", 0.0, 1.0),
                            ("flip_joint_prob", 0.0, 1.0), ("flip_frame_prob", 0.0, 1.0),
                            ("brightness_jitter", 0.0, np.inf), ("proposal_min_iou", 0.0, 1.0)):
        if not number(getattr(cfg, name)) or not low <= getattr(cfg, name) <= high:
            raise bad(name, f"a number in [{low:g}, {high:g}]" if high < np.inf else f"a number >= {low:g}")
    if not integer(cfg.num_proposals) or cfg.num_proposals < 0:
        raise bad("num_proposals", "an int >= 0")
    factors = cfg.proposal_sigma_factors
    if not isinstance(factors, tuple) or not factors or not all(number(f) and f > 0 for f in factors):
        raise bad("proposal_sigma_factors", "a non-empty list of positive numbers")
    sigma = cfg.proposal_sigma
    if not isinstance(sigma, tuple) or not sigma or not all(pair(p, 1e-300) for p in sigma):
        raise bad("proposal_sigma", "a non-empty list of pairs (centre std, size std) of positive numbers")
    gt = cfg.proposal_gt_sigma
    if gt is not None and not (pair(gt, 0.0) and (gt[0] > 0) == (gt[1] > 0)):
        raise bad("proposal_gt_sigma", "None or a pair (centre std, size std), both positive or both 0")


@dataclass
class FrameSet:
    """The train or the test frames of one sample (n frames)."""

    paths: list[str]
    frame_ids: np.ndarray  # [n] int
    # [n, 4] float64 x1y1x2y2 crop windows in frame coordinates; x1 > x2 (a mirrored window,
    # tracking.data.geometry) for a horizontally flipped frame
    windows: np.ndarray
    boxes: np.ndarray  # [n, 4] float64 xywh target boxes in crop coordinates (of the flipped crop if flipped)
    labels: np.ndarray | None = None  # [n, L, L] float32 Gaussian label maps
    proposals: np.ndarray | None = None  # [n, P, 4] float64 xywh in crop coordinates
    proposal_iou: np.ndarray | None = None  # [n, P] float64 (IoU-Net proposals)
    brightness: float = 1.0  # multiplier applied to every frame of the set
    label_density: np.ndarray | None = None  # [n, L, L] float32 label density maps
    proposal_density: np.ndarray | None = None  # [n, P] float64 (KL proposals)
    gt_density: np.ndarray | None = None  # [n, P] float64 (KL proposals)

    @property
    def flipped(self) -> np.ndarray:
        """[n] bool: the frames whose crop is horizontally mirrored (their window has x1 > x2)."""
        return geometry.window_is_mirrored(self.windows)


@dataclass
class SampleRecord:
    """Everything a loader backend needs to produce one training sample, decided up front."""

    index: int  # global sample index within the epoch
    epoch: int
    dataset: str
    sequence: str
    output_size: int
    padding: str
    grayscale: bool  # joint over train and test frames
    train: FrameSet
    test: FrameSet
    attempts: int = 1  # sampler attempts (diagnostics)
    # the non-image batch fields, numpy arrays keyed as the processing's batch_fields() declares them
    fields: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Processing(Protocol):
    """What loader backends need of a processing object (ProcessingConfig is one).

    output_size: side S of the square crops (pixels); padding: "replicate" or "zeros" (outside the frame).
    make_record: the record of global sample `index` of `epoch` for the frames the sampler chose (`spec`),
        every random choice drawn from a generator seeded by (seed, epoch, index, attempt); `attempt` > 0
        for the replacements of a sample whose frames could not be read. Called in the loader's workers.
        Its frame sets (`train`, `test`) say what to render; `fields` holds the non-image fields.
    batch_fields: the fields every record carries in `fields`, name -> BatchField, in batch order.
    """

    output_size: int
    padding: str

    def make_record(self, sequence: SequenceInfo, spec: SampleSpec, seed: int, epoch: int, index: int,
                    attempt: int = 0) -> SampleRecord: ...

    def batch_fields(self) -> dict[str, BatchField]: ...


def processing_rng(seed: int, epoch: int, index: int, attempt: int = 0) -> np.random.Generator:
    """The generator of processing decisions for global sample `index` of `epoch` (independent of the
    world size and of the sampler's own generator)."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index, attempt, 0x70726F63]))


def _crop_windows(sequence: SequenceInfo, frame_ids: np.ndarray, jittered: np.ndarray,
                  cfg: ProcessingConfig) -> np.ndarray:
    """[n, 4] xyxy windows (x1 < x2) of cfg.crop_type around the jittered boxes [n, 4] of frames `frame_ids`."""
    windows = geometry.crop_window(jittered, cfg.search_area_factor)
    if cfg.crop_type in crop_modes.ADAPTIVE_CROP_TYPES:
        paths = [sequence.frames[int(f)] for f in frame_ids]
        sizes = crop_modes.frame_sizes(paths, sequence.image_size)
        known = np.isfinite(sizes).all(axis=1)  # unreadable frames keep the plain window (crop_modes)
        if known.any():
            windows[known] = crop_modes.adaptive_window(jittered[known], cfg.search_area_factor, sizes[known],
                                                        cfg.crop_type, cfg.max_scale_change)
    return windows


def _frame_set(sequence: SequenceInfo, frame_ids: np.ndarray, cfg: ProcessingConfig, mode: int,
               rng: np.random.Generator) -> FrameSet:
    """The frames `frame_ids` with their (unflipped) windows; boxes and maps come in :func:`_finish`."""
    boxes = sequence.boxes[frame_ids]
    if not np.all(np.isfinite(boxes)) or np.any(boxes[:, 2:] <= 0):
        raise ValueError(f"{sequence.dataset}/{sequence.name}: frames {frame_ids.tolist()} include an invalid box "
                         f"{boxes.tolist()} (the sampler must only pick visible frames)")
    jittered = geometry.jitter_box(boxes, cfg.center_jitter[mode], cfg.scale_jitter[mode], rng)
    return FrameSet(paths=[sequence.frames[int(f)] for f in frame_ids], frame_ids=np.asarray(frame_ids),
                    windows=_crop_windows(sequence, frame_ids, jittered, cfg), boxes=boxes)


def _finish(frames: FrameSet, flips: np.ndarray, cfg: ProcessingConfig) -> None:
    """Mirror the windows of the flipped frames, map the ground truth (frames.boxes, frame coordinates) into
    the crops and make the label maps."""
    frames.windows = geometry.mirror_windows(frames.windows, flips)
    frames.boxes = geometry.box_to_crop(frames.boxes, frames.windows, cfg.output_size, allow_mirrored=True)
    centres = geometry.box_center(frames.boxes)
    if cfg.label_feature_size is not None:
        frames.labels = geometry.gaussian_label(centres, cfg.output_size, cfg.label_feature_size,
                                                cfg.label_kernel_size, cfg.label_sigma_factor).astype(np.float32)
    if cfg.label_density:
        frames.label_density = processing_kl.label_density(
            centres, cfg.output_size, cfg.label_feature_size, cfg.label_kernel_size, cfg.label_sigma_factor,
            cfg.label_density_normalize, cfg.label_density_threshold, cfg.label_density_uni_weight,
            cfg.label_density_shrink).astype(np.float32)


def make_record(sequence: SequenceInfo, spec: SampleSpec, cfg: ProcessingConfig, seed: int, epoch: int,
                index: int, attempt: int = 0) -> SampleRecord:
    """The record of global sample `index` of `epoch` for the frames chosen by the sampler (`spec`);
    `attempt` > 0 for replacements of a sample whose frames could not be loaded. Its `fields` are those of
    ``cfg.batch_fields()`` (float64 boxes/proposals/IoUs/densities and float32 maps, cast when collated).

    The generator's draws, in order: grayscale; train jitter; test jitter; train and test brightness; then,
    when enabled, the joint flip (``flip_joint_prob``), the per-frame flips (``flip_frame_prob``, train frames
    then test frames), and the test proposals.

    Horizontal flips follow pytracking's SuperDiMP, which has ``RandomHorizontalFlip`` twice: in the joint
    transform (one roll for the whole sample: every train and test frame is flipped before cropping), and in
    the train transform, which pytracking applies to each crop on its own (``joint=False``: a new roll per
    frame, in the train set and in the test set alike). A frame's crop is therefore mirrored when exactly one
    of the two flips it: ``flip = joint XOR frame``. The joint flip is done here by mirroring the crop of the
    unflipped frame rather than cropping the mirrored frame: the jitter and the crop types are symmetric
    about the frame's vertical axis, so the two have the same distribution. The ground-truth boxes are
    mirrored exactly in continuous coordinates (``x -> S - x - w`` in the crop); pytracking maps corner
    pixels ``x -> W - 1 - x``, a box one pixel to the left. Labels and proposals are made from the boxes in
    the flipped crops, as pytracking makes them after its transforms.
    """
    rng = processing_rng(seed, epoch, index, attempt)
    grayscale = bool(rng.random() < cfg.grayscale_prob)
    train = _frame_set(sequence, spec.train_frames, cfg, 0, rng)
    test = _frame_set(sequence, spec.test_frames, cfg, 1, rng)
    low = max(0.0, 1.0 - cfg.brightness_jitter)
    train.brightness = float(rng.uniform(low, 1.0 + cfg.brightness_jitter))
    test.brightness = float(rng.uniform(low, 1.0 + cfg.brightness_jitter))
    n_train, n_test = len(train.paths), len(test.paths)
    flips = np.zeros(n_train + n_test, dtype=bool)
    if cfg.flip_joint_prob > 0:
        flips ^= bool(rng.random() < cfg.flip_joint_prob)
    if cfg.flip_frame_prob > 0:
        flips ^= rng.random(n_train + n_test) < cfg.flip_frame_prob
    _finish(train, flips[:n_train], cfg)
    _finish(test, flips[n_train:], cfg)
    fields = {"train_anno": train.boxes, "test_anno": test.boxes}
    if cfg.label_feature_size is not None:
        fields.update(train_label=train.labels, test_label=test.labels)
    if cfg.label_density:
        fields.update(train_label_density=train.label_density, test_label_density=test.label_density)
    if cfg.num_proposals > 0 and cfg.proposal_type == "iou":
        drawn = [geometry.sample_proposals(box, cfg.num_proposals, cfg.proposal_sigma_factors, cfg.proposal_min_iou,
                                           rng) for box in test.boxes]
        test.proposals = np.stack([p for p, _ in drawn])
        test.proposal_iou = np.stack([iou for _, iou in drawn])
        fields.update(test_proposals=test.proposals, proposal_iou=test.proposal_iou)
    elif cfg.num_proposals > 0:
        test.proposals, test.proposal_density, test.gt_density = sample_box_gmm(
            test.boxes, cfg.proposal_sigma, cfg.proposal_gt_sigma, cfg.num_proposals, cfg.proposal_add_mean_box,
            rng=rng)
        fields.update(test_proposals=test.proposals, proposal_density=test.proposal_density,
                      gt_density=test.gt_density)
    return SampleRecord(index=index, epoch=epoch, dataset=sequence.dataset, sequence=sequence.name,
                        output_size=cfg.output_size, padding=cfg.padding, grayscale=grayscale, train=train,
                        test=test, attempts=spec.attempts, fields=fields)


# ------------------------------------------------------------------------------------------------ presets

#: pytracking's processing of each train setting (ltr/train_settings): "dimp" (DiMP-18/50), "prdimp"
#: (PrDiMP-18/50: KL proposals, normalised label densities), "super_dimp" (SuperDiMP: search area 6,
#: 352 = 22 x 16 crops, test centre jitter 5.5, inside_major crops with scale change <= 1.5, joint and
#: per-frame flips, KL proposals, label densities not normalised) and "atom" (ATOM: 1 + 1 frames, 16 IoU
#: proposals, no labels). Validation in pytracking differs only by having no brightness jitter and no
#: per-frame flip: ``make_processing(name, brightness_jitter=0.0, flip_frame_prob=0.0)``.
PROCESSING_PRESETS: Mapping[str, ProcessingConfig] = MappingProxyType({
    "dimp": ProcessingConfig(),
    "prdimp": ProcessingConfig(label_density=True, label_density_normalize=True, proposal_type="kl",
                               num_proposals=128),
    "super_dimp": ProcessingConfig(search_area_factor=6.0, output_size=352, center_jitter=(3.0, 5.5),
                                   crop_type="inside_major", max_scale_change=1.5, label_feature_size=22,
                                   label_sigma_factor=1 / 4 / 6.0, label_density=True, proposal_type="kl",
                                   num_proposals=128, flip_joint_prob=0.5, flip_frame_prob=0.5),
    "atom": ProcessingConfig(center_jitter=(0.0, 4.5), scale_jitter=(0.0, 0.5), label_feature_size=None,
                             num_proposals=16),
})
ATOM_PROCESSING = PROCESSING_PRESETS["atom"]


def make_processing(preset: str = "dimp", **overrides) -> ProcessingConfig:
    """The ProcessingConfig of PROCESSING_PRESETS[`preset`] with `overrides` (field name -> plain value, e.g.
    from a config file). An unknown preset or field name is a ValueError listing the valid ones; a value out
    of its field's domain a ValueError naming the field. crop_type="zeros" without a padding override also
    sets padding="zeros"."""
    if preset not in PROCESSING_PRESETS:
        raise ValueError(f"make_processing: unknown preset {preset!r}; the presets are {sorted(PROCESSING_PRESETS)}")
    names = [f.name for f in dataclasses.fields(ProcessingConfig)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(f"make_processing: unknown ProcessingConfig field(s) {unknown}; the fields are: "
                         f"{', '.join(names)}")
    if overrides.get("crop_type") == "zeros" and "padding" not in overrides:
        overrides["padding"] = "zeros"
    return dataclasses.replace(PROCESSING_PRESETS[preset], **overrides)
