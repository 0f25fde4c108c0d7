"""The OpenCV reference loader: executes sample records (tracking.data.processing) on the CPU.

It is the correctness oracle for the DALI backend and the loader used where DALI is absent. Per frame:
decode the JPEG (cv2, RGB), crop the record's window to output_size x output_size with one
cv2.warpAffine (bilinear, border replication or zeros, half-pixel convention of tracking.data.geometry),
grayscale (joint over the sample), brightness x factor (per frame set), clip to [0, 1], ImageNet
normalisation, CHW float32. Batches follow pytracking's stack_dim=1 layout:

    train_images [n_train, B, 3, S, S]   test_images [n_test, B, 3, S, S]     (float32, normalised)
    train_anno   [n_train, B, 4]         test_anno   [n_test, B, 4]           (xywh, crop coordinates)
    train_label  [n_train, B, L, L]      test_label  [n_test, B, L, L]        (when the config has labels)
    test_proposals [n_test, B, P, 4]     proposal_iou [n_test, B, P]          (when it has proposals)
    dataset, sequence: lists of B names; index: [B] int64 global sample indices

Bad data: a frame that is missing or does not decode raises FrameDecodeError naming the file; the
dataset wrapper skips such a sample, logs a warning, counts it, and draws a replacement deterministically
(see TrainingSamples).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, FrameSet, ProcessingConfig, SampleRecord, make_record
from tracking.data.sampler import TrackingSampler

logger = logging.getLogger(__name__)

_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)


class FrameDecodeError(RuntimeError):
    """A frame file is missing or is not a decodable image."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot decode frame {path}: {reason}")
        self.path = path


def decode_frame(path: str) -> np.ndarray:
    """HxWx3 uint8 image of `path` in OpenCV's BGR order (finish_crop reorders to RGB);
    FrameDecodeError when missing or corrupt."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if _exists(path) else None
    if data is None:
        raise FrameDecodeError(path, "file not found")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    return image


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)


def crop_frame(image: np.ndarray, window: np.ndarray, output_size: int, padding: str) -> np.ndarray:
    """The window (x1y1x2y2, frame coordinates) of an HxWx3 image resampled to output_size^2 (uint8)."""
    import cv2

    matrix = geometry.affine_to_cv2(geometry.window_to_affine(window, output_size))
    border = cv2.BORDER_REPLICATE if padding == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix, (output_size, output_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=(0, 0, 0))


def normalisation_table(brightness: float) -> np.ndarray:
    """[3, 256] float32: the normalised value of each uint8 level per RGB channel,
    (clip(level * brightness / 255, 0, 1) - mean) / std, evaluated in float32."""
    levels = np.arange(256, dtype=np.float32)
    values = np.clip(levels * np.float32(brightness / 255.0), 0.0, 1.0)
    return np.ascontiguousarray((values[None, :] - _MEAN[:, None]) / _STD[:, None])


def finish_crop(crop: np.ndarray, grayscale: bool, brightness: float, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 HxWx3 BGR crop -> normalised float32 3xHxW RGB (grayscale, brightness, clip, ImageNet norm),
    written into `out` when given.

    The per-pixel arithmetic is a function of the uint8 level alone, so each output channel is one table
    lookup (cv2.LUT) of one input plane: the same float32 values as computing it per pixel, 5x faster."""
    import cv2

    if out is None:
        out = np.empty((3, *crop.shape[:2]), dtype=np.float32)
    if grayscale:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        planes = (gray, gray, gray)
    else:
        blue, green, red = cv2.split(crop)
        planes = (red, green, blue)
    table = normalisation_table(brightness)
    for channel, plane in enumerate(planes):
        cv2.LUT(plane, table[channel], dst=out[channel])
    return out


def render_frames(frames: FrameSet, record: SampleRecord, out: np.ndarray) -> None:
    """Render one frame set into `out` [n, 3, S, S] float32."""
    for i, (path, window) in enumerate(zip(frames.paths, frames.windows)):
        crop = crop_frame(decode_frame(path), window, record.output_size, record.padding)
        finish_crop(crop, record.grayscale, frames.brightness, out=out[i])


def _empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised tensor; in a DataLoader worker, in shared memory (sent to the main process
    without a copy, as torch's default_collate does)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    numel = int(np.prod(shape))
    storage = torch.UntypedStorage._new_shared(numel * torch.empty((), dtype=dtype).element_size())
    return torch.tensor([], dtype=dtype).set_(storage).view(shape)


def sample_fields(record: SampleRecord) -> dict:
    """The per-sample annotations of a record (everything but the images), as tensors / names."""
    sample = {
        "train_anno": torch.from_numpy(record.train.boxes.astype(np.float32)),
        "test_anno": torch.from_numpy(record.test.boxes.astype(np.float32)),
        "dataset": record.dataset,
        "sequence": record.sequence,
        "index": record.index,
    }
    if record.train.labels is not None:
        sample["train_label"] = torch.from_numpy(record.train.labels)
        sample["test_label"] = torch.from_numpy(record.test.labels)
    if record.test.proposals is not None:
        sample["test_proposals"] = torch.from_numpy(record.test.proposals.astype(np.float32))
        sample["proposal_iou"] = torch.from_numpy(record.test.proposal_iou.astype(np.float32))
    return sample


def execute_record(record: SampleRecord) -> dict:
    """One sample as a dict of tensors (per-frame leading dimension, not yet batched)."""
    size = record.output_size
    sample = {"train_images": torch.empty(len(record.train.paths), 3, size, size),
              "test_images": torch.empty(len(record.test.paths), 3, size, size)}
    render_frames(record.train, record, sample["train_images"].numpy())
    render_frames(record.test, record, sample["test_images"].numpy())
    return {**sample, **sample_fields(record)}


def _stack_dim1(values: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack(values, dim=1); in a DataLoader worker, straight into shared memory (as torch's
    default_collate does), which saves a copy when the batch is sent to the main process."""
    first = values[0]
    return torch.stack(values, dim=1, out=_empty((first.shape[0], len(values), *first.shape[1:]), first.dtype))


def collate_stack1(samples: list[dict]) -> dict:
    """Batch samples with the batch as dimension 1 of per-frame tensors (pytracking's stack_dim=1);
    strings become lists and ints an int64 tensor. Works for any set of keys (no None/dict pitfalls)."""
    batch: dict = {}
    for key, value in samples[0].items():
        values = [s[key] for s in samples]
        if isinstance(value, torch.Tensor):
            batch[key] = _stack_dim1(values)
        elif isinstance(value, (int, np.integer)):
            batch[key] = torch.as_tensor(values, dtype=torch.int64)
        else:
            batch[key] = values
    return batch


# A replacement for a sample whose frames fail to load is another draw of this epoch: global index
# (index + attempt * REPLACEMENT_STRIDE) mod samples_per_epoch, with the processing generator keyed on the
# attempt too. Deterministic, so runs stay reproducible.
REPLACEMENT_STRIDE = 7919


class TrainingSamples(torch.utils.data.Dataset):
    """Map-style dataset of one rank's training samples for one epoch, executed by the reference loader.

    Sample i is a pure function of (seed, epoch, the sampler's global index of i): the sampler picks the
    frames, processing makes the record, execute_record renders it. A sample with a missing or corrupt
    frame is replaced (see REPLACEMENT_STRIDE) with a logged warning; its "replaced" entry counts the
    failed attempts. After `max_replacements` consecutive failures a RuntimeError names the files.
    """

    def __init__(self, sampler: TrackingSampler, processing: ProcessingConfig, seed: int = 0, epoch: int = 0,
                 max_replacements: int = 10) -> None:
        self.sampler = sampler
        self.processing = processing
        self.seed = seed
        self.epoch = epoch
        self.max_replacements = max_replacements

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; takes effect for DataLoader iterators created afterwards."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def record(self, index: int, attempt: int = 0) -> SampleRecord:
        """The record of this rank's local sample `index` (or of its `attempt`-th replacement)."""
        global_index = self.sampler.global_index(index)
        drawn = (global_index + attempt * REPLACEMENT_STRIDE) % self.sampler.samples_per_epoch
        spec = self.sampler.sample_global(drawn, self.epoch)
        return make_record(self.sampler.sequence(spec), spec, self.processing, self.seed, self.epoch, global_index,
                           attempt)

    def render_with_replacement(self, index: int, render) -> tuple[SampleRecord, int]:
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

    def __getitem__(self, index: int) -> dict:
        rendered: dict = {}
        record, replaced = self.render_with_replacement(index, lambda r: rendered.update(execute_record(r)))
        rendered["replaced"] = replaced
        return rendered

    def batch(self, indices: Sequence[int]) -> dict:
        """The batch of local samples `indices`, rendered straight into its [n, B, 3, S, S] image tensors
        (in shared memory inside a DataLoader worker): no per-sample tensors, no stacking copy."""
        size, count = self.processing.output_size, len(indices)
        train = _empty((self.sampler.num_train_frames, count, 3, size, size))
        test = _empty((self.sampler.num_test_frames, count, 3, size, size))
        fields = []
        for slot, index in enumerate(indices):
            def render(record: SampleRecord, slot: int = slot) -> None:
                render_frames(record.train, record, train[:, slot].numpy())
                render_frames(record.test, record, test[:, slot].numpy())

            record, replaced = self.render_with_replacement(index, render)
            fields.append({**sample_fields(record), "replaced": replaced})
        return {"train_images": train, "test_images": test, **collate_stack1(fields)}


class TrainingBatches(torch.utils.data.Dataset):
    """Batches of a TrainingSamples: item k is local samples [k*B, (k+1)*B) (offset by `first_batch`)."""

    def __init__(self, samples: TrainingSamples, batch_size: int, first_batch: int = 0) -> None:
        self.samples, self.batch_size, self.first_batch = samples, batch_size, first_batch

    def __len__(self) -> int:
        return max(0, len(self.samples) // self.batch_size - self.first_batch)

    def __getitem__(self, k: int) -> dict:
        start = (self.first_batch + k) * self.batch_size
        return self.samples.batch(range(start, start + self.batch_size))


class ReferenceDataLoader(torch.utils.data.DataLoader):
    """A DataLoader whose iterator stops its worker processes as soon as iteration ends for any reason:
    exhausted, an exception (e.g. unreadable data re-raised from a worker) or the consumer dropping it.
    (A plain DataLoader iterator caught in an exception's reference cycle is only collected by the cyclic
    GC, whose teardown of the worker queues makes the shutdown wait ~5 s per worker.)"""

    def __iter__(self):
        iterator = super().__iter__()
        try:
            yield from iterator
        finally:
            shutdown = getattr(iterator, "_shutdown_workers", None)  # multi-process iterators only
            if shutdown is not None:
                shutdown()


def build_reference_loader(sampler: TrackingSampler, processing: ProcessingConfig, batch_size: int, seed: int = 0,
                           epoch: int = 0, num_workers: int = 0, start_iteration: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over one epoch of `sampler` with the stack_dim=1 batch layout (see the module docstring).

    Batches come in index order (the sampler already randomises which sequence and frames each index
    gets), the last incomplete batch is dropped, and `start_iteration` skips the first batches without
    computing them (resume). Workers are plain torch DataLoader workers.
    """
    samples = TrainingSamples(sampler, processing, seed=seed, epoch=epoch)
    return ReferenceDataLoader(TrainingBatches(samples, batch_size, first_batch=start_iteration), batch_size=None,
                               shuffle=False, num_workers=num_workers, persistent_workers=False)
