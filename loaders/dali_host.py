"""The DALI backend's host side: the records of a batch, their checked frame bytes, DALI's per-frame inputs.

Per batch k of the epoch (this rank's local samples k*B .. k*B+B-1) the host makes the B records through
loaders.samples.EpochRecords (the replacement of unreadable samples both backends share), reads and checks
the frames' encoded bytes (file exists and is non-empty; JPEG: SOI, a frame header, EOI; other formats:
decoded once with cv2) and lists, per frame, in batch order (sample-major, each sample's train frames then
its test frames): the bytes, the 2x3 output->source warp matrix (tracking.data.geometry.window_to_affine is
exactly DALI's convention, pixel centres at +0.5), the grayscale flag, the brightness and, for ROI decoding,
the anchor/shape of the decoded region (the in-bounds part of the window plus a 1-pixel margin for the
bilinear taps; the matrix is shifted by the anchor). assemble_batch turns DALI's flat output back into the
batch layout of loaders.samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.frames import FrameDecodeError
from tracking.data.processing import BatchField, SampleRecord

from .samples import EpochRecords, collate_records

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


# ------------------------------------------------------------------------------------------ frame bytes


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header, or None when `data` is not a well-formed JPEG up to it."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            return None
        length = (data[i + 2] << 8) | data[i + 3]
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if i + 9 > n:
                return None
            height = (data[i + 5] << 8) | data[i + 6]
            width = (data[i + 7] << 8) | data[i + 8]
            return (height, width) if height > 0 and width > 0 else None
        i += 2 + length
    return None


def load_encoded(path: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The encoded bytes of a frame (uint8 array) and its (height, width), after cheap checks; raises
    FrameDecodeError (as the OpenCV backend's decode_frame would) when the file is missing or unreadable."""
    if not os.path.isfile(path):
        raise FrameDecodeError(path, "file not found")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    if data[:2] == b"\xff\xd8":
        size = jpeg_size(data)
        # EOI at the end (a few trailing padding bytes are tolerated, as decoders do)
        if size is None or data.rfind(b"\xff\xd9", max(0, len(data) - 64)) < 0:
            raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
        return np.frombuffer(data, dtype=np.uint8), size
    import cv2  # other formats (PNG, ...): decode once to check, DALI decodes them again

    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)
    if image is None:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    return array, image.shape[:2]


def roi_for_window(window: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer region to decode for cropping `window`: its in-bounds part plus a 1-pixel
    margin for the bilinear taps, clipped to the image and never empty."""
    x0 = min(max(math.floor(window[0]) - 1, 0), width - 1)
    y0 = min(max(math.floor(window[1]) - 1, 0), height - 1)
    x1 = min(max(math.ceil(window[2]) + 1, x0 + 1), width)
    y1 = min(max(math.ceil(window[3]) + 1, y0 + 1), height)
    return x0, y0, x1, y1


# -------------------------------------------------------------------------------------------- host side


@dataclass
class HostBatch:
    """One batch as prepared on the host: the records and DALI's per-frame inputs."""

    position: int  # batch number within the epoch
    indices: list[int]  # local sample indices
    records: list[SampleRecord]
    replaced: list[int]
    inputs: tuple  # lists, one entry per frame: encoded, matrix, gray, brightness[, anchor, shape]


def _frames(record: SampleRecord):
    for frames in (record.train, record.test):
        for path, window in zip(frames.paths, frames.windows):
            yield path, window, frames.brightness


def prepare_batch(records: EpochRecords, position: int, batch_size: int, mode: str) -> HostBatch:
    """Records, checked frame bytes and per-frame inputs (for pipeline `mode`, see
    loaders.dali_pipeline.MODES) of batch `position`, unreadable samples replaced through
    EpochRecords.render_with_replacement."""
    roi, resize = mode != "warp", mode == "roi_resize"
    roi_start, roi_end = [], []
    indices = list(range(position * batch_size, (position + 1) * batch_size))
    done, replaced = [], []
    encoded, matrices, grays, brightness, anchors, shapes = [], [], [], [], [], []
    for index in indices:
        loaded: list = []

        def load(record: SampleRecord) -> None:
            loaded[:] = [(load_encoded(path), window, b) for path, window, b in _frames(record)]

        record, attempt = records.render_with_replacement(index, load)
        done.append(record)
        replaced.append(attempt)
        gray = np.float32(1.0 if record.grayscale else 0.0)
        for (data, (height, width)), window, b in loaded:
            matrix = geometry.window_to_affine(window, record.output_size)
            if roi:
                x0, y0, x1, y1 = roi_for_window(window, height, width)
                if resize:  # the window relative to the ROI, (y, x) order: fn.resize's roi_start / roi_end
                    roi_start.append(np.array([window[1] - y0, window[0] - x0], dtype=np.float32))
                    roi_end.append(np.array([window[3] - y0, window[2] - x0], dtype=np.float32))
                matrix[0, 2] -= x0
                matrix[1, 2] -= y0
                anchors.append(np.array([x0, y0], dtype=np.int32))
                shapes.append(np.array([x1 - x0, y1 - y0], dtype=np.int32))
            encoded.append(data)
            matrices.append(matrix.astype(np.float32))
            grays.append(gray)
            brightness.append(np.float32(b))
    # order of build_pipeline's external source: encoded, gray, brightness, then the mode's geometry
    geometry_inputs = {"warp": (matrices,), "roi_warp": (matrices, anchors, shapes),
                       "roi_resize": (anchors, shapes, roi_start, roi_end)}[mode]
    inputs = (encoded, grays, brightness) + geometry_inputs
    return HostBatch(position, indices, done, replaced, inputs)


def assemble_batch(host: HostBatch, images: torch.Tensor, fields: Mapping[str, BatchField]) -> dict:
    """The batch layout of loaders.samples from the [B * F, 3, S, S] flat frame images of `host` and the
    processing's declared `fields` (its batch_fields())."""
    n_train = len(host.records[0].train.paths)
    frames = images.reshape(len(host.records), -1, *images.shape[1:])  # [B, F, 3, S, S]
    batch = {"train_images": frames[:, :n_train].transpose(0, 1).contiguous(),
             "test_images": frames[:, n_train:].transpose(0, 1).contiguous()}
    batch.update(collate_records(host.records, fields, host.replaced))
    return batch
