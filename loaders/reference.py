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
    """HxWx3 uint8 RGB image of `path`; FrameDecodeError when missing or corrupt."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if _exists(path) else None
    if data is None:
        raise FrameDecodeError(path, "file not found")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


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
    """[1, 256, 3] float32: the normalised value of each uint8 level per RGB channel,
    (clip(level * brightness / 255, 0, 1) - mean) / std, evaluated in float32."""
    levels = np.arange(256, dtype=np.float32)
    values = np.clip(levels * np.float32(brightness / 255.0), 0.0, 1.0)
    return np.ascontiguousarray(((values[:, None] - _MEAN[None, :]) / _STD[None, :]).reshape(1, 256, 3))


def finish_crop(crop: np.ndarray, grayscale: bool, brightness: float) -> np.ndarray:
    """uint8 HxWx3 RGB crop -> normalised float32 3xHxW (grayscale, brightness, clip, ImageNet norm).

    The per-pixel arithmetic is a function of the uint8 level alone, so it runs as one table lookup
    (cv2.LUT): the same float32 values as computing it per pixel, about twice as fast."""
    import cv2

    if grayscale:
        crop = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    values = cv2.LUT(crop, normalisation_table(brightness))
    return np.ascontiguousarray(values.transpose(2, 0, 1))


def render_frames(frames: FrameSet, record: SampleRecord) -> np.ndarray:
    """[n, 3, S, S] float32 images of one frame set."""
    out = np.empty((len(frames.paths), 3, record.output_size, record.output_size), dtype=np.float32)
    for i, (path, window) in enumerate(zip(frames.paths, frames.windows)):
        crop = crop_frame(decode_frame(path), window, record.output_size, record.padding)
        out[i] = finish_crop(crop, record.grayscale, frames.brightness)
    return out


def execute_record(record: SampleRecord) -> dict:
    """One sample as a dict of tensors (per-frame leading dimension, not yet batched)."""
    sample = {
        "train_images": torch.from_numpy(render_frames(record.train, record)),
        "test_images": torch.from_numpy(render_frames(record.test, record)),
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


def _stack_dim1(values: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack(values, dim=1); in a DataLoader worker, straight into shared memory (as torch's
    default_collate does), which saves a copy when the batch is sent to the main process."""
    first = values[0]
    shape = (first.shape[0], len(values), *first.shape[1:])
    out = None
    if torch.utils.data.get_worker_info() is not None:
        storage = first._typed_storage()._new_shared(first.numel() * len(values), device=first.device)
        out = first.new(storage).view(shape)
    return torch.stack(values, dim=1, out=out)


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

    def __getitem__(self, index: int) -> dict:
        failures: list[str] = []
        for attempt in range(self.max_replacements + 1):
            record = self.record(index, attempt)
            try:
                sample = execute_record(record)
            except FrameDecodeError as exc:
                failures.append(str(exc))
                logger.warning("sample %d (epoch %d, %s/%s): %s; drawing a replacement", record.index, self.epoch,
                               record.dataset, record.sequence, exc)
                continue
            sample["replaced"] = attempt
            return sample
        raise RuntimeError(f"sample {index} (epoch {self.epoch}): {len(failures)} draws in a row had unreadable "
                           "frames: " + "; ".join(failures))


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
    first = start_iteration * batch_size
    indices = range(first, (len(samples) // batch_size) * batch_size)
    return ReferenceDataLoader(
        torch.utils.data.Subset(samples, indices), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_stack1, drop_last=True, persistent_workers=False)
