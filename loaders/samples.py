"""Backend-neutral sample handling: one epoch's records, the replacement of unreadable samples, collation.

Batch layout (every backend; pytracking's stack_dim=1 for per-frame tensors), two variants after
LoaderConfig.images:

* "float" (the default):
    train_images [n_train, B, 3, S, S]   test_images [n_test, B, 3, S, S]   float32, ImageNet-normalised RGB
* "uint8" (raw: 4x fewer bytes to move between processes and to the device; the consumer normalises with
  loaders.normalize.normalize_batch, which gives exactly the "float" batch):
    train_images [n_train, B, 3, S, S]   test_images [n_test, B, 3, S, S]   uint8 RGB crops, grayscale applied,
                                                                            brightness not applied
    train_brightness [n_train, B]        test_brightness [n_test, B]        float64 per-frame brightness factor
                                                                            (the frame set's, per frame)

and in both:

    <field>      [n, B, ...]             a per-frame field the processing declares (BatchField("train"/"test"))
    <field>      [B, ...]                a per-sample field it declares (BatchField(None))
    dataset, sequence: lists of B names; index: [B] int64 global sample indices;
    replaced: [B] int64, how many draws of the sample were replaced because their frames were unreadable

The keys come in this order: the images, (raw batches) the brightness fields, the processing's fields in
batch_fields() order, then the loader's own metadata (METADATA_FIELDS). The brightness factors are float64,
the records' own values: the normalisation computes brightness / 255 in float64 and rounds it once to float32
(tracking.ops.normalize_images); a float32 factor would round twice and change about a quarter of the factors.

For ProcessingConfig the fields are train_anno / test_anno [n, B, 4] (xywh, crop coordinates), train_label /
test_label [n, B, L, L] and test_proposals [n_test, B, P, 4] / proposal_iou [n_test, B, P] (see
ProcessingConfig.batch_fields).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from tracking.data.frames import FrameDecodeError
from tracking.data.processing import BatchField, Processing, SampleRecord
from tracking.data.sampler import Sampler

logger = logging.getLogger(__name__)

#: The fields every batch has besides the images and the processing's fields.
METADATA_FIELDS = ("dataset", "sequence", "index", "replaced")
#: Raw (uint8) batches: each image field and its per-frame brightness field.
BRIGHTNESS_FIELDS = {"train_images": "train_brightness", "test_images": "test_brightness"}
#: The dtype of the brightness fields (module docstring).
BRIGHTNESS_DTYPE = torch.float64

# A replacement for a sample whose frames fail to load is another draw of this epoch: global index
# (index + attempt * REPLACEMENT_STRIDE) mod samples_per_epoch, with the processing generator keyed on the
# attempt too. Deterministic, so runs stay reproducible.
REPLACEMENT_STRIDE = 7919

#: allocate(shape, dtype=...) -> an uninitialised tensor (torch.empty, or one in shared memory in a worker).
Allocator = Callable[[tuple[int, ...], torch.dtype], torch.Tensor]


class EpochRecords:
    """The records of one rank's samples in one epoch, and the deterministic replacement of unreadable ones.

    Local sample i's record is a pure function of (seed, epoch, the sampler's global index of i): the
    sampler picks the frames, the processing makes the record. A sample with a missing or corrupt frame
    (FrameDecodeError while rendering) is replaced (see REPLACEMENT_STRIDE) with a logged warning; after
    `max_replacements` consecutive failures a RuntimeError names the files.
    """

    def __init__(self, sampler: Sampler, processing: Processing, seed: int = 0, epoch: int = 0,
                 max_replacements: int = 10) -> None:
        self.sampler, self.processing = sampler, processing
        self.seed, self.epoch, self.max_replacements = seed, epoch, max_replacements

    def __len__(self) -> int:
        return len(self.sampler)

    def record(self, index: int, attempt: int = 0) -> SampleRecord:
        """The record of this rank's local sample `index` (or of its `attempt`-th replacement)."""
        global_index = self.sampler.global_index(index)
        drawn = (global_index + attempt * REPLACEMENT_STRIDE) % self.sampler.samples_per_epoch
        spec = self.sampler.sample_global(drawn, self.epoch)
        return self.processing.make_record(self.sampler.sequence(spec), spec, self.seed, self.epoch, global_index,
                                           attempt)

    def render_with_replacement(self, index: int, render: Callable[[SampleRecord], None]) -> tuple[SampleRecord, int]:
        """Run `render(record)` on sample `index`'s record, replacing it after a FrameDecodeError (logged);
        returns the record rendered and the number of replacements."""
        failures: list[str] = []
        for attempt in range(self.max_replacements + 1):
            record = self.record(index, attempt)
            try:
                render(record)
            except FrameDecodeError as exc:
                failures.append(str(exc))
                logger.warning("sample %d (epoch %d, %s/%s): %s; drawing a replacement", record.index, self.epoch,
                               record.dataset, record.sequence, exc)
                continue
            return record, attempt
        raise RuntimeError(f"sample {index} (epoch {self.epoch}): {len(failures)} draws in a row had unreadable "
                           "frames: " + "; ".join(failures))


def torch_dtype(field: BatchField) -> torch.dtype:
    """The torch dtype of a field's numpy dtype name."""
    return torch.from_numpy(np.empty(0, dtype=np.dtype(field.dtype))).dtype


def field_value(record: SampleRecord, name: str, field: BatchField) -> np.ndarray:
    """The record's value of a declared field, checked: present, and per-frame fields lead with the number
    of frames of their set."""
    if name not in record.fields:
        raise KeyError(f"{record.dataset}/{record.sequence} sample {record.index}: the record has no field "
                       f"{name!r} that its processing declares (it has {sorted(record.fields)})")
    value = np.asarray(record.fields[name])
    if field.per_frame:
        frames = len((record.train if field.frames == "train" else record.test).paths)
        if value.ndim == 0 or value.shape[0] != frames:
            raise ValueError(f"field {name!r} is per {field.frames} frame but has shape {value.shape} for "
                             f"{frames} {field.frames} frames")
    return value


def sample_tensors(record: SampleRecord, fields: Mapping[str, BatchField]) -> dict[str, torch.Tensor]:
    """The declared fields of one record as tensors of their declared dtype (not batched)."""
    return {name: torch.from_numpy(np.ascontiguousarray(field_value(record, name, f).astype(f.dtype)))
            for name, f in fields.items()}


def collate_records(records: Sequence[SampleRecord], fields: Mapping[str, BatchField], replaced: Sequence[int],
                    allocate: Allocator = torch.empty) -> dict:
    """The non-image part of a batch (module docstring) from its records, in their order.

    Per-frame fields are stacked as dimension 1, per-sample ones on dimension 0, each cast to its declared
    dtype into a tensor from `allocate` (e.g. shared memory in a worker, which saves a copy when the batch
    is sent to the main process). Every record must carry every declared field, with equal shapes.
    """
    undeclared = set(records[0].fields) - set(fields)
    if undeclared:
        raise ValueError(f"records carry fields {sorted(undeclared)} that the processing's batch_fields() does "
                         f"not declare ({list(fields)})")
    batch: dict = {}
    for name, f in fields.items():
        values = [field_value(r, name, f) for r in records]
        shape = values[0].shape
        if any(v.shape != shape for v in values):
            raise ValueError(f"field {name!r} has different shapes in one batch: {[v.shape for v in values]}")
        out_shape = (shape[0], len(values), *shape[1:]) if f.per_frame else (len(values), *shape)
        out = allocate(out_shape, dtype=torch_dtype(f))
        target = out.numpy()
        for slot, value in enumerate(values):
            if f.per_frame:
                target[:, slot] = value
            else:
                target[slot] = value
        batch[name] = out
    batch["dataset"] = [r.dataset for r in records]
    batch["sequence"] = [r.sequence for r in records]
    batch["index"] = torch.as_tensor([r.index for r in records], dtype=torch.int64)
    batch["replaced"] = torch.as_tensor(list(replaced), dtype=torch.int64)
    return batch


def brightness_field(records: Sequence[SampleRecord], frames: str, allocate: Allocator = torch.empty) -> torch.Tensor:
    """[n, B] BRIGHTNESS_DTYPE: the brightness factor of each `frames` ("train" / "test") frame of each record
    (its FrameSet's, repeated per frame), in a tensor from `allocate`."""
    sets = [r.train if frames == "train" else r.test for r in records]
    out = allocate((len(sets[0].paths), len(sets)), dtype=BRIGHTNESS_DTYPE)
    for slot, frame_set in enumerate(sets):
        out[:, slot] = frame_set.brightness
    return out


_pin_note: list[bool] = []  # the "no CUDA, not pinned" line is logged once per process


def pin_memory_enabled(requested: bool) -> bool:
    """Whether LoaderConfig.pin_memory=`requested` pins: only with CUDA (torch's pinning needs an accelerator;
    the DataLoader would warn and ignore it), else False with one log line."""
    if not requested:
        return False
    if torch.cuda.is_available():
        return True
    if not _pin_note:
        _pin_note.append(True)
        logger.info("LoaderConfig.pin_memory=True without a CUDA device: batches are not pinned")
    return False


def pin_batch(batch: dict) -> dict:
    """The batch with its CPU tensors in page-locked memory (copies; other values as they are)."""
    return {key: value.pin_memory() if isinstance(value, torch.Tensor) and value.device.type == "cpu"
            and not value.is_pinned() else value for key, value in batch.items()}
