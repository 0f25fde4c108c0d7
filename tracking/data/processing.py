"""Processing: turns a sampled (sequence, frames) choice into a plain per-sample record.

Everything random about a training sample is decided here, once, from a generator seeded by
(seed, epoch, global index): box jitter, crop windows, proposals, grayscale and brightness. The record holds
only numbers and file paths, so any loader backend can execute it (decode, crop by the window, colour ops,
normalize) and the boxes/labels/proposals are computed exactly, once, from the same windows.

Coordinates: source boxes are xywh in continuous frame pixel coordinates (see tracking.data.sequence);
crop windows are x1y1x2y2 in the same coordinates and map onto the output_size x output_size crop, whose
own coordinates are continuous with pixel (i, j) covering [j, j+1) x [i, i+1) (tracking.data.geometry).

The seam for new trackers is the :class:`Processing` protocol: an object that makes records and declares
the non-image batch fields its records carry (:class:`BatchField`). Loader backends render the images of
a record's frame sets and collate whatever fields the processing declares, so a tracker that needs another
field (KYS, LWL, a user's own) adds it in its processing object, without touching the loaders.
:class:`ProcessingConfig` (DiMP, ATOM) is such an object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..ops.normalize import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (the loaders' normalisation constants)
from . import geometry
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


@dataclass(frozen=True)
class ProcessingConfig:
    """Parameters of DiMP/ATOM-style processing (defaults: DiMP-50)."""

    search_area_factor: float = 5.0
    output_size: int = 288
    center_jitter: tuple[float, float] = (3.0, 4.5)  # (train, test)
    scale_jitter: tuple[float, float] = (0.25, 0.5)  # (train, test)
    padding: str = "replicate"  # "replicate" (border replication) or "zeros"
    # Gaussian label maps (None: no labels, as in ATOM)
    label_feature_size: int | None = 18  # output_size / feature stride (288 / 16)
    label_kernel_size: int = 4
    label_sigma_factor: float = 1 / 4 / 5.0
    # IoU-Net proposals for the test frames (0: none)
    num_proposals: int = 8
    proposal_min_iou: float = 0.1
    proposal_sigma_factors: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3)
    # joint colour decisions
    grayscale_prob: float = 0.05
    brightness_jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.padding not in ("replicate", "zeros"):
            raise ValueError(f"ProcessingConfig: padding must be 'replicate' or 'zeros', got {self.padding!r}")
        if self.output_size <= 0 or self.search_area_factor <= 0:
            raise ValueError("ProcessingConfig: output_size and search_area_factor must be > 0")

    def make_record(self, sequence: SequenceInfo, spec: SampleSpec, seed: int, epoch: int, index: int,
                    attempt: int = 0) -> SampleRecord:
        """The record of global sample `index` of `epoch` (see the module function :func:`make_record`)."""
        return make_record(sequence, spec, self, seed, epoch, index, attempt)

    def batch_fields(self) -> dict[str, BatchField]:
        """The non-image fields of this configuration's records, in batch order:

        train_anno [n_train, 4], test_anno [n_test, 4]: xywh target boxes in crop coordinates (float32);
        train_label [n_train, L, L], test_label [n_test, L, L]: Gaussian label maps, when label_feature_size;
        test_proposals [n_test, P, 4] (xywh, crop coordinates), proposal_iou [n_test, P]: when num_proposals.
        """
        fields = {"train_anno": BatchField("train"), "test_anno": BatchField("test")}
        if self.label_feature_size is not None:
            fields.update(train_label=BatchField("train"), test_label=BatchField("test"))
        if self.num_proposals > 0:
            fields.update(test_proposals=BatchField("test"), proposal_iou=BatchField("test"))
        return fields


ATOM_PROCESSING = ProcessingConfig(center_jitter=(0.0, 4.5), scale_jitter=(0.0, 0.5), label_feature_size=None,
                                   num_proposals=16)


@dataclass
class FrameSet:
    """The train or the test frames of one sample (n frames)."""

    paths: list[str]
    frame_ids: np.ndarray  # [n] int
    windows: np.ndarray  # [n, 4] float64 x1y1x2y2 crop windows in frame coordinates
    boxes: np.ndarray  # [n, 4] float64 xywh target boxes in crop coordinates
    labels: np.ndarray | None = None  # [n, L, L] float32 Gaussian label maps
    proposals: np.ndarray | None = None  # [n, P, 4] float64 xywh in crop coordinates
    proposal_iou: np.ndarray | None = None  # [n, P] float64
    brightness: float = 1.0  # multiplier applied to every frame of the set


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


def _frame_set(sequence: SequenceInfo, frame_ids: np.ndarray, cfg: ProcessingConfig, mode: int,
               rng: np.random.Generator) -> FrameSet:
    boxes = sequence.boxes[frame_ids]
    if not np.all(np.isfinite(boxes)) or np.any(boxes[:, 2:] <= 0):
        raise ValueError(f"{sequence.dataset}/{sequence.name}: frames {frame_ids.tolist()} include an invalid box "
                         f"{boxes.tolist()} (the sampler must only pick visible frames)")
    jittered = geometry.jitter_box(boxes, cfg.center_jitter[mode], cfg.scale_jitter[mode], rng)
    windows = geometry.crop_window(jittered, cfg.search_area_factor)
    crop_boxes = geometry.box_to_crop(boxes, windows, cfg.output_size)
    frames = FrameSet(paths=[sequence.frames[int(f)] for f in frame_ids], frame_ids=np.asarray(frame_ids),
                      windows=windows, boxes=crop_boxes)
    if cfg.label_feature_size is not None:
        centres = crop_boxes[:, :2] + crop_boxes[:, 2:] / 2
        frames.labels = np.stack([
            geometry.gaussian_label(c, cfg.output_size, cfg.label_feature_size, cfg.label_kernel_size,
                                    cfg.label_sigma_factor) for c in centres]).astype(np.float32)
    return frames


def make_record(sequence: SequenceInfo, spec: SampleSpec, cfg: ProcessingConfig, seed: int, epoch: int,
                index: int, attempt: int = 0) -> SampleRecord:
    """The record of global sample `index` of `epoch` for the frames chosen by the sampler (`spec`);
    `attempt` > 0 for replacements of a sample whose frames could not be loaded. Its `fields` are those of
    ``cfg.batch_fields()`` (float64 boxes/proposals/IoUs and float32 labels, cast when collated)."""
    rng = processing_rng(seed, epoch, index, attempt)
    grayscale = bool(rng.random() < cfg.grayscale_prob)
    train = _frame_set(sequence, spec.train_frames, cfg, 0, rng)
    test = _frame_set(sequence, spec.test_frames, cfg, 1, rng)
    low = max(0.0, 1.0 - cfg.brightness_jitter)
    train.brightness = float(rng.uniform(low, 1.0 + cfg.brightness_jitter))
    test.brightness = float(rng.uniform(low, 1.0 + cfg.brightness_jitter))
    if cfg.num_proposals > 0:
        drawn = [geometry.sample_proposals(box, cfg.num_proposals, cfg.proposal_sigma_factors, cfg.proposal_min_iou,
                                           rng) for box in test.boxes]
        test.proposals = np.stack([p for p, _ in drawn])
        test.proposal_iou = np.stack([iou for _, iou in drawn])
    fields = {"train_anno": train.boxes, "test_anno": test.boxes}
    if train.labels is not None:
        fields.update(train_label=train.labels, test_label=test.labels)
    if test.proposals is not None:
        fields.update(test_proposals=test.proposals, proposal_iou=test.proposal_iou)
    return SampleRecord(index=index, epoch=epoch, dataset=sequence.dataset, sequence=sequence.name,
                        output_size=cfg.output_size, padding=cfg.padding, grayscale=grayscale, train=train,
                        test=test, attempts=spec.attempts, fields=fields)
