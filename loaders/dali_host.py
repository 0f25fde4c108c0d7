"""The DALI backend's host side: the records of a batch, their checked frame bytes, DALI's per-frame inputs.

Per batch k of the epoch (this rank's local samples k*B .. k*B+B-1) the host makes the B records through
loaders.samples.EpochRecords (the replacement of unreadable samples both backends share), reads and checks
the frames' encoded bytes (load_encoded: the verdict of the OpenCV backend's decode_frame, through
tracking.data.frames.check_frame, remembered per file) and lists, per frame, in batch order (sample-major,
each sample's train frames then its test frames): the bytes, the 2x3 output->source warp matrix
(tracking.data.geometry.window_to_affine is exactly DALI's convention, pixel centres at +0.5), the grayscale
flag, the brightness and, for ROI decoding, the anchor/shape of the decoded region (the in-bounds part of
the window plus a 1-pixel margin for the bilinear taps; the matrix is shifted by the anchor) or, for
fn.resize, the window relative to it (resize_roi). The window is the frame's
loaders.crop_windows.executable_window (bounded coordinates, the same pixels). A flipped frame (mirrored
window, x1 > x2) is cropped as its unmirrored window, mirrored: its matrix maps output column u to the
mirrored source column (warp_affine), its fn.resize ROI has roi_start > roi_end on x (fn.resize then mirrors
that axis). assemble_batch turns DALI's flat output back into the batch layout of loaders.samples (for a raw
batch, with the brightness fields from the records).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.frames import check_frame, read_frame_bytes
from tracking.data.processing import BatchField, SampleRecord

from .crop_windows import executable_window
from .samples import EpochRecords, brightness_field, collate_records

#: Entries of the process's cache of frames that passed check_frame (cleared when full; ~90 bytes each).
CHECK_CACHE_ENTRIES = 1 << 20
_checked: dict[int, tuple[int, int]] = {}  # hash((path, size, mtime_ns)) -> (height, width)
_sizes: dict[tuple[int, int], tuple[int, int]] = {}  # one tuple object per distinct frame size


# ------------------------------------------------------------------------------------------ frame bytes


def load_encoded(path: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The encoded bytes of a frame (uint8 array) and its (height, width) as decoded, after
    tracking.data.frames.check_frame (the verdict of decode_frame, cheaper; DALI's decoder, like OpenCV's,
    would use a damaged JPEG without an error). FrameDecodeError (as the OpenCV backend's decode_frame)
    when the file is missing, empty or does not decode cleanly.

    A frame that passed is remembered per (path, size, mtime) for the life of the process, so later
    epochs only read it; a damaged one is checked again each time it is drawn."""
    data = read_frame_bytes(path)  # FrameDecodeError when missing or empty
    try:
        key = hash((path, len(data), os.stat(path).st_mtime_ns))
    except OSError:  # gone since it was read: checked, not remembered
        key = None
    size = _checked.get(key)
    if size is None:
        size = check_frame(path, data)
        if key is not None:
            if len(_checked) >= CHECK_CACHE_ENTRIES:
                _checked.clear()
            _checked[key] = _sizes.setdefault(size, size)
    return np.frombuffer(data, dtype=np.uint8), size


def roi_for_window(window: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer region to decode for cropping `window`: its in-bounds part plus a 1-pixel
    margin for the bilinear taps, clipped to the image and never empty."""
    x0 = min(max(math.floor(window[0]) - 1, 0), width - 1)
    y0 = min(max(math.floor(window[1]) - 1, 0), height - 1)
    x1 = min(max(math.ceil(window[2]) + 1, x0 + 1), width)
    y1 = min(max(math.ceil(window[3]) + 1, y0 + 1), height)
    return x0, y0, x1, y1


def resize_roi(window: np.ndarray, region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """fn.resize's roi_start and roi_end ((y, x) order, float32, relative to the decoded `region` (x0, y0,
    x1, y1)) for cropping `window` (x1y1x2y2, frame coordinates), with the pixels of fn.resize's clamping
    of source coordinates to the region (= replicating the image border).

    DALI's CPU resize crashes (segfault, DALI 2.4) on a ROI lying more than about a pixel outside its input,
    which a window wholly beyond the image border on an axis is. On such an axis every output sample falls
    beyond the centre of the border pixel and takes its value, so the ROI is replaced by the half pixel
    between that centre and the border ([n - 0.5, n] or [0, 0.5] for a region n pixels long): the same
    pixels, and a ROI inside the region.
    """
    x0, y0, x1, y1 = region
    start, end = [], []
    for lo, hi, origin, n in ((window[1], window[3], y0, y1 - y0), (window[0], window[2], x0, x1 - x0)):
        a, b = lo - origin, hi - origin
        if a >= n - 0.5:  # every sample at or beyond the centre of the last pixel (the region ends at the image's)
            a, b = n - 0.5, n
        elif b <= 0.5:  # every sample before the centre of the first pixel (the region starts at the image's)
            a, b = 0.0, 0.5
        start.append(a)
        end.append(b)
    return np.array(start, dtype=np.float32), np.array(end, dtype=np.float32)


# -------------------------------------------------------------------------------------------- host side


@dataclass
class HostBatch:
    """One batch as prepared on the host: the records and DALI's per-frame inputs."""

    position: int  # batch number within the epoch
    indices: list[int]  # local sample indices
    records: list[SampleRecord]
    replaced: list[int]
    inputs: tuple  # lists, one entry per frame: encoded, gray, brightness (not for raw), the mode's geometry


def _frames(record: SampleRecord):
    for frames in (record.train, record.test):
        for path, window in zip(frames.paths, frames.windows):
            yield path, window, frames.brightness


def prepare_batch(records: EpochRecords, position: int, batch_size: int, mode: str, raw: bool = False) -> HostBatch:
    """Records, checked frame bytes and per-frame inputs (for pipeline `mode`, see
    loaders.dali_pipeline.MODES; `raw`: for the uint8 graph, which takes no brightness) of batch `position`,
    unreadable samples replaced through EpochRecords.render_with_replacement."""
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
            window, mirrored = geometry.unmirror_windows(window)  # a flipped frame: x1 > x2
            window = executable_window(window, height, width, record.output_size)
            matrix = geometry.window_to_affine(geometry.mirror_windows(window, mirrored), record.output_size,
                                               allow_mirrored=True)
            if roi:
                x0, y0, x1, y1 = region = roi_for_window(window, height, width)
                if resize:
                    start, end = resize_roi(window, region)
                    if mirrored:  # fn.resize mirrors an axis whose roi_start > roi_end ((y, x) order)
                        start[1], end[1] = end[1], start[1]
                    roi_start.append(start)
                    roi_end.append(end)
                matrix[0, 2] -= x0
                matrix[1, 2] -= y0
                anchors.append(np.array([x0, y0], dtype=np.int32))
                shapes.append(np.array([x1 - x0, y1 - y0], dtype=np.int32))
            encoded.append(data)
            matrices.append(matrix.astype(np.float32))
            grays.append(gray)
            brightness.append(np.float32(b))
    # order of build_pipeline's external source: encoded, gray, brightness (not for raw), the mode's geometry
    geometry_inputs = {"warp": (matrices,), "roi_warp": (matrices, anchors, shapes),
                       "roi_resize": (anchors, shapes, roi_start, roi_end)}[mode]
    inputs = (encoded, grays) + (() if raw else (brightness,)) + geometry_inputs
    return HostBatch(position, indices, done, replaced, inputs)


def assemble_batch(host: HostBatch, images: torch.Tensor, fields: Mapping[str, BatchField], raw: bool = False) -> dict:
    """The batch layout of loaders.samples from the [B * F, 3, S, S] flat frame images of `host` (float32
    normalised, or uint8 crops for `raw`, which adds the records' train_brightness / test_brightness [n, B]) and
    the processing's declared `fields` (its batch_fields())."""
    n_train = len(host.records[0].train.paths)
    frames = images.reshape(len(host.records), -1, *images.shape[1:])  # [B, F, 3, S, S]
    batch = {"train_images": frames[:, :n_train].transpose(0, 1).contiguous(),
             "test_images": frames[:, n_train:].transpose(0, 1).contiguous()}
    if raw:
        batch["train_brightness"] = brightness_field(host.records, "train")
        batch["test_brightness"] = brightness_field(host.records, "test")
    batch.update(collate_records(host.records, fields, host.replaced))
    return batch
