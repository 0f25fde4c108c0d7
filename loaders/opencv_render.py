"""The OpenCV backend's rendering: sample records (tracking.data.processing) to image tensors, on the CPU.

Per frame: decode the part of the file the crop reads (loaders.window_decode.decode_window, BGR; with
``reduce`` at a DCT-domain reduced size where the crop shrinks the frame 2x or more, else the pixels of
tracking.data.frames.decode_frame), crop the record's window (through its
loaders.crop_windows.executable_window) to output_size x output_size with one cv2.warpAffine (bilinear, border
replication or zeros, the half-pixel convention of tracking.data.geometry; a mirrored window, i.e. a flipped
frame, through the mirrored matrix), then grayscale (joint over the sample; cv2 BGR2GRAY replicated into the 3
planes) into uint8 CHW RGB planes (crop_planes). render_batch makes the raw batch of loaders.samples: those
uint8 crops plus each frame's brightness factor; brightness x factor, clip to [0, 1] and ImageNet normalisation
come later, in the consumer's process (loaders.normalize.normalize_batch), on the CPU as one cv2.LUT per
channel through loaders.normalize.normalisation_tables (the values of tracking.ops.normalize_images, bit for
bit).

Bad data: a frame that is missing or does not decode cleanly (decode_frame: e.g. a JPEG with damaged
entropy-coded data) raises FrameDecodeError naming the file; the sample is then replaced deterministically
(loaders.samples.EpochRecords.render_with_replacement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.processing import BatchField, FrameSet, SampleRecord

from .crop_windows import executable_window
from .normalize import normalize_images_lut
from .private_api import shared_empty
from .window_decode import decode_window, replicate_border
from .samples import EpochRecords, brightness_field, collate_records, sample_tensors

def crop_frame(image: np.ndarray, window: np.ndarray, output_size: int, padding: str) -> np.ndarray:
    """The window (x1y1x2y2, frame coordinates) of an HxWx3 image resampled to output_size^2 (uint8);
    sampled through its loaders.crop_windows.executable_window (cv2's fixed point overflows on far
    windows). A mirrored window (x1 > x2: a flipped frame) gives the mirror image of the crop of the window
    with x1 and x2 swapped, in the same cv2.warpAffine call (its matrix maps output column u to the mirrored
    source column)."""
    import cv2

    window, mirrored = geometry.unmirror_windows(window)
    window = executable_window(window, image.shape[0], image.shape[1], output_size)
    if padding == "replicate":  # the same pixels; cv2's per-pixel border path costs it 2-3x
        image, window = replicate_border(image, window, output_size)
    window = geometry.mirror_windows(window, mirrored)
    matrix = geometry.affine_to_cv2(geometry.window_to_affine(window, output_size, allow_mirrored=True))
    border = cv2.BORDER_REPLICATE if padding == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix, (output_size, output_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=(0, 0, 0))


def crop_planes(crop: np.ndarray, grayscale: bool, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 HxWx3 BGR crop -> uint8 3xHxW RGB planes (grayscale: cv2 BGR2GRAY in all three), written into
    `out` when given."""
    import cv2

    if out is None:
        out = np.empty((3, *crop.shape[:2]), dtype=np.uint8)
    if grayscale:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY, dst=out[0])
        if not np.shares_memory(gray, out[0]):
            out[0] = gray
        out[1] = out[0]
        out[2] = out[0]
    else:
        planes = cv2.split(crop, [out[2], out[1], out[0]])  # B, G, R into the R, G, B planes' places
        if not np.shares_memory(planes[0], out[2]):  # an OpenCV whose split allocates its own planes
            out[2], out[1], out[0] = planes
    return out


def render_frames(frames: FrameSet, record: SampleRecord, out: np.ndarray, reduce: bool = False) -> None:
    """Render one frame set of `record` into `out` [n, 3, S, S] uint8 (crop_planes: RGB, grayscale applied, no
    brightness). Each frame is decoded only where its crop reads it (loaders.window_decode.decode_window), at
    a DCT-domain reduced size when `reduce` and the crop shrinks the frame 2x or more; without `reduce` the
    crops are bit-identical to crop_frame(decode_frame(path), ...)."""
    for i, (path, window) in enumerate(zip(frames.paths, frames.windows)):
        image, shifted = decode_window(path, window, record.output_size, reduce=reduce)
        crop = crop_frame(image, shifted, record.output_size, record.padding)
        crop_planes(crop, record.grayscale, out=out[i])


def worker_empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised tensor; in a DataLoader worker, in shared memory (sent to the main process
    without a copy, as torch's default_collate does)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    return shared_empty(shape, dtype)


def render_record(record: SampleRecord, fields: Mapping[str, BatchField], reduce: bool = False) -> dict:
    """One sample, not batched: train_images [n_train, 3, S, S], test_images [n_test, 3, S, S] (float32,
    normalised as the float batches) and the declared `fields` (the processing's batch_fields()) as tensors;
    FrameDecodeError on unreadable frames."""
    size, sample = record.output_size, {}
    for key, frames in (("train_images", record.train), ("test_images", record.test)):
        planes = torch.empty((len(frames.paths), 1, 3, size, size), dtype=torch.uint8)
        render_frames(frames, record, planes[:, 0].numpy(), reduce=reduce)
        brightness = torch.full((len(frames.paths), 1), frames.brightness, dtype=torch.float64)
        sample[key] = normalize_images_lut(planes, brightness)[:, 0]
    return {**sample, **sample_tensors(record, fields)}


def render_sample(records: EpochRecords, index: int, reduce: bool = False) -> dict:
    """Local sample `index` (replaced when unreadable) as render_record does, plus its dataset, sequence,
    index (global) and replaced (count)."""
    rendered: dict = {}
    fields = records.processing.batch_fields()
    record, replaced = records.render_with_replacement(index, lambda r: rendered.update(render_record(r, fields, reduce)))
    return {**rendered, "dataset": record.dataset, "sequence": record.sequence, "index": record.index,
            "replaced": replaced}


def render_batch(records: EpochRecords, indices: Sequence[int], reduce: bool = False) -> dict:
    """The raw batch of local samples `indices` (layout of loaders.samples: uint8 train_images / test_images
    [n, B, 3, S, S], float64 train_brightness / test_brightness [n, B], then the fields), rendered straight
    into its tensors (in shared memory inside a DataLoader worker): no per-sample tensors, no stacking copy.
    loaders.normalize.normalize_batch turns it into the float batch."""
    size, count = records.processing.output_size, len(indices)
    n_train, n_test = records.sampler.num_train_frames, records.sampler.num_test_frames
    train = worker_empty((n_train, count, 3, size, size), dtype=torch.uint8)
    test = worker_empty((n_test, count, 3, size, size), dtype=torch.uint8)
    done, replaced = [], []
    for slot, index in enumerate(indices):
        def render(record: SampleRecord, slot: int = slot) -> None:
            render_frames(record.train, record, train[:, slot].numpy(), reduce)
            render_frames(record.test, record, test[:, slot].numpy(), reduce)

        record, attempts = records.render_with_replacement(index, render)
        done.append(record)
        replaced.append(attempts)
    brightness = {"train_brightness": brightness_field(done, "train", allocate=worker_empty),
                  "test_brightness": brightness_field(done, "test", allocate=worker_empty)}
    fields = collate_records(done, records.processing.batch_fields(), replaced, allocate=worker_empty)
    return {"train_images": train, "test_images": test, **brightness, **fields}
