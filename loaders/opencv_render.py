"""The OpenCV backend's rendering: sample records (tracking.data.processing) to image tensors, on the CPU.

Per frame: decode the file (tracking.data.frames.decode_frame, BGR), crop the record's window (through its
loaders.crop_windows.executable_window) to output_size x output_size with one cv2.warpAffine (bilinear, border
replication or zeros, the half-pixel convention of tracking.data.geometry; a mirrored window, i.e. a flipped
frame, through the mirrored matrix), then grayscale (joint over the sample), brightness x factor (per frame
set), clip to [0, 1] and ImageNet normalisation in one cv2.LUT per channel, giving CHW float32 RGB. Batches have
the layout of loaders.samples.

Bad data: a frame that is missing or does not decode cleanly (decode_frame: e.g. a JPEG with damaged
entropy-coded data) raises FrameDecodeError naming the file; the sample is then replaced deterministically
(loaders.samples.EpochRecords.render_with_replacement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.frames import decode_frame
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, BatchField, FrameSet, SampleRecord

from .crop_windows import executable_window
from .private_api import shared_empty
from .samples import EpochRecords, collate_records, sample_tensors

_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)


def crop_frame(image: np.ndarray, window: np.ndarray, output_size: int, padding: str) -> np.ndarray:
    """The window (x1y1x2y2, frame coordinates) of an HxWx3 image resampled to output_size^2 (uint8);
    sampled through its loaders.crop_windows.executable_window (cv2's fixed point overflows on far
    windows). A mirrored window (x1 > x2: a flipped frame) gives the mirror image of the crop of the window
    with x1 and x2 swapped, in the same cv2.warpAffine call (its matrix maps output column u to the mirrored
    source column)."""
    import cv2

    window, mirrored = geometry.unmirror_windows(window)
    window = executable_window(window, image.shape[0], image.shape[1], output_size)
    window = geometry.mirror_windows(window, mirrored)
    matrix = geometry.affine_to_cv2(geometry.window_to_affine(window, output_size, allow_mirrored=True))
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
    """Render one frame set of `record` into `out` [n, 3, S, S] float32."""
    for i, (path, window) in enumerate(zip(frames.paths, frames.windows)):
        crop = crop_frame(decode_frame(path), window, record.output_size, record.padding)
        finish_crop(crop, record.grayscale, frames.brightness, out=out[i])


def worker_empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised tensor; in a DataLoader worker, in shared memory (sent to the main process
    without a copy, as torch's default_collate does)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    return shared_empty(shape, dtype)


def render_record(record: SampleRecord, fields: Mapping[str, BatchField]) -> dict:
    """One sample, not batched: train_images [n_train, 3, S, S], test_images [n_test, 3, S, S] and the
    declared `fields` (the processing's batch_fields()) as tensors; FrameDecodeError on unreadable frames."""
    size = record.output_size
    sample = {"train_images": torch.empty(len(record.train.paths), 3, size, size),
              "test_images": torch.empty(len(record.test.paths), 3, size, size)}
    render_frames(record.train, record, sample["train_images"].numpy())
    render_frames(record.test, record, sample["test_images"].numpy())
    return {**sample, **sample_tensors(record, fields)}


def render_sample(records: EpochRecords, index: int) -> dict:
    """Local sample `index` (replaced when unreadable) as render_record does, plus its dataset, sequence,
    index (global) and replaced (count)."""
    rendered: dict = {}
    fields = records.processing.batch_fields()
    record, replaced = records.render_with_replacement(index, lambda r: rendered.update(render_record(r, fields)))
    return {**rendered, "dataset": record.dataset, "sequence": record.sequence, "index": record.index,
            "replaced": replaced}


def render_batch(records: EpochRecords, indices: Sequence[int]) -> dict:
    """The batch of local samples `indices` (layout of loaders.samples), rendered straight into its
    [n, B, 3, S, S] image tensors (in shared memory inside a DataLoader worker): no per-sample tensors,
    no stacking copy."""
    size, count = records.processing.output_size, len(indices)
    train = worker_empty((records.sampler.num_train_frames, count, 3, size, size))
    test = worker_empty((records.sampler.num_test_frames, count, 3, size, size))
    done, replaced = [], []
    for slot, index in enumerate(indices):
        def render(record: SampleRecord, slot: int = slot) -> None:
            render_frames(record.train, record, train[:, slot].numpy())
            render_frames(record.test, record, test[:, slot].numpy())

        record, attempts = records.render_with_replacement(index, render)
        done.append(record)
        replaced.append(attempts)
    fields = collate_records(done, records.processing.batch_fields(), replaced, allocate=worker_empty)
    return {"train_images": train, "test_images": test, **fields}
