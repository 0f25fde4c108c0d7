"""The DALI backend: executes the same sample records as the reference loader, with the image work in DALI.

Per batch k of the epoch (this rank's local samples k*B .. k*B+B-1) the host makes the B records with the
reference code (``TrainingSamples.record``), reads and checks the frames' encoded bytes, and feeds all
B * (n_train + n_test) frames of the batch, flat, to one DALI pipeline through ``fn.external_source``:

    encoded bytes --decoders.image / decoders.image_slice (ROI)--> RGB uint8 HWC
      --warp_affine(matrix, size S, bilinear, fill 0 | clamp)--> S x S uint8 crop
      --color_space_conversion(GRAY), blended per frame: x + g * (gray - x), g in {0, 1}-->
      --x * brightness, clamp to [0, 255]--> --crop_mirror_normalize(255 * ImageNet mean/std, CHW)--> float32

Per-frame CPU inputs: the 2x3 output->source warp matrix (``tracking.data.geometry.window_to_affine`` is
exactly DALI's convention, pixel centres at +0.5), the grayscale flag, the brightness and, for ROI decoding,
the anchor/shape of the decoded region (the in-bounds part of the window plus a 1-pixel margin for the
bilinear taps; the matrix is shifted by the anchor). Outside the image the ROI is the image border itself,
so clamping ("replicate") and zero fill give the same pixels as the full decode.

Variants (MODES), one graph definition: "warp" (full decode + warp_affine) is the GPU variant: the decoder
runs with ``device="mixed"`` and the rest on the GPU; with ``mode="warp"`` on the CPU it runs the same graph
there. On the CPU the default decodes only the ROI: "roi_resize" (fn.resize with the window as a continuous
ROI; resize clamps source coordinates, i.e. replicates the border, so replicate padding only) or, for zero
padding, "roi_warp" (warp_affine with fill_value 0). Measured (2 threads, 640x360, 288 crops, ms/frame):
ROI decode 0.46 vs full 0.65; resize ~1.0 vs warp_affine ~2.1; the colour ops ~2 (cast, gray blend, clamp,
normalise). cv2's warpAffine takes ~0.5 ms, so on 2 CPU cores the reference loader is faster than DALI.

Equivalence with the reference: decoding is bit-identical to cv2 (both libjpeg-turbo); DALI's float
bilinear weights differ from cv2's 5-bit fixed-point ones by at most 2 grey levels per pixel (mean ~0.05);
grayscale is bit-identical to cv2's RGB2GRAY. Boxes, labels, proposals, indices are the records' own.

Prefetch: the pipeline is built with DALI's default pipelined asynchronous executor and
``prefetch_queue_depth=2``. The external source is a callback DALI calls from ``pipeline.run()`` in the
consumer's thread, so making the records (and reading the files) of batch k+2 overlaps DALI's work on
batches k and k+1 in its own threads. No Python thread is started.

Bad data: every frame is checked on the host before it is fed (file exists and is non-empty; JPEG: SOI,
a frame header, EOI; other formats: decoded once with cv2). A sample with an unreadable frame is replaced
exactly like the reference does (``TrainingSamples.__getitem__``: attempt + 1, a warning naming the file,
counted in ``replaced``). If DALI still fails on a batch (e.g. corrupt entropy-coded data), the failure is
logged, that batch is computed by the reference path and the pipeline is rebuilt; the batches already fed
are fed again, so nothing is lost or reordered.

Shutdown: ``close()`` stops an unfinished iteration and shuts the pipeline down (its C++ worker threads end
there). Breaking out of an epoch leaves at most two fed batches in flight; the next ``__iter__`` drains them
(or rebuilds the pipeline if draining fails).
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from tracking.data import geometry
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, ProcessingConfig, SampleRecord
from tracking.data.sampler import TrackingSampler

from .api import EpochCursor, LoaderConfig
from .reference import FrameDecodeError, TrainingSamples, collate_stack1, sample_fields

logger = logging.getLogger(__name__)

#: Pipeline modes: "warp" (full decode + warp_affine: the GPU variant), "roi_warp" (ROI decode +
#: warp_affine), "roi_resize" (ROI decode + fn.resize with a continuous ROI; replicate padding only).
MODES = ("warp", "roi_warp", "roi_resize")
#: DALI's prefetch queue depth (batches in flight).
PREFETCH_DEPTH = 2

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
    FrameDecodeError (as the reference's decode_frame would) when the file is missing or unreadable."""
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


def prepare_batch(samples: TrainingSamples, position: int, batch_size: int, mode: str) -> HostBatch:
    """Records, checked frame bytes and per-frame inputs (for pipeline `mode`, see MODES) of batch
    `position`, unreadable samples replaced through TrainingSamples.render_with_replacement."""
    roi, resize = mode != "warp", mode == "roi_resize"
    roi_start, roi_end = [], []
    indices = list(range(position * batch_size, (position + 1) * batch_size))
    records, replaced = [], []
    encoded, matrices, grays, brightness, anchors, shapes = [], [], [], [], [], []
    for index in indices:
        loaded: list = []

        def load(record: SampleRecord) -> None:
            loaded[:] = [(load_encoded(path), window, b) for path, window, b in _frames(record)]

        record, attempt = samples.render_with_replacement(index, load)
        records.append(record)
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
    return HostBatch(position, indices, records, replaced, inputs)


def assemble_batch(host: HostBatch, images: torch.Tensor) -> dict:
    """The reference batch layout from the [B * F, 3, S, S] flat frame images of `host`."""
    n_train = len(host.records[0].train.paths)
    frames = images.reshape(len(host.records), -1, *images.shape[1:])  # [B, F, 3, S, S]
    batch = {"train_images": frames[:, :n_train].transpose(0, 1).contiguous(),
             "test_images": frames[:, n_train:].transpose(0, 1).contiguous()}
    batch.update(collate_stack1([{**sample_fields(r), "replaced": k} for r, k in zip(host.records, host.replaced)]))
    return batch


# --------------------------------------------------------------------------------------------- pipeline


class _Feeder:
    """The external source callback: serves host batches to DALI and remembers which ones are in flight."""

    def __init__(self) -> None:
        self.batches: Iterator[HostBatch] = iter(())
        self.replay: deque[HostBatch] = deque()  # fed to a pipeline that failed; fed again first
        self.inflight: deque[HostBatch] = deque()  # fed, outputs not yet taken, oldest first
        self.error: BaseException | None = None  # a host-side error, raised after the batches before it

    def __call__(self):
        if self.replay:
            host = self.replay.popleft()
        else:
            try:
                host = next(self.batches)
            except StopIteration:
                raise
            except Exception as exc:  # end DALI's epoch here; the loader re-raises after the earlier batches
                self.error = exc
                self.batches = iter(())
                raise StopIteration from exc
        self.inflight.append(host)
        return host.inputs


def resolve_device(device: str) -> str:
    """"cpu" or "gpu" for LoaderConfig.device ("auto": GPU when DALI sees a CUDA device)."""
    from nvidia.dali.backend import GetCUDADeviceCount

    count = GetCUDADeviceCount()
    if device == "auto":
        return "gpu" if count > 0 else "cpu"
    if device == "gpu" and count == 0:
        raise RuntimeError("LoaderConfig.device='gpu' but DALI sees no CUDA device (use 'cpu' or 'auto')")
    return device


def build_pipeline(source, frames_per_batch: int, output_size: int, padding: str, device: str, mode: str,
                   num_threads: int, device_id: int | None = None, prefetch: int = PREFETCH_DEPTH):
    """The DALI pipeline (not yet built) of the module docstring for `mode` (see MODES). `device` places the
    decoder ("mixed" for "gpu") and hence everything after it; the per-frame parameters stay CPU inputs."""
    from nvidia.dali import fn, types
    from nvidia.dali import math as dmath
    from nvidia.dali.pipeline import Pipeline

    if mode not in MODES or (mode == "roi_resize" and padding != "replicate"):
        raise ValueError(f"pipeline mode {mode!r} with padding {padding!r} is not supported")
    gpu = device == "gpu"
    decoder_device = "mixed" if gpu else "cpu"
    pipe = Pipeline(batch_size=frames_per_batch, num_threads=num_threads,
                    device_id=(device_id or 0) if gpu else None, prefetch_queue_depth=prefetch)
    with pipe:
        inputs = fn.external_source(source=source, num_outputs={"warp": 4, "roi_warp": 6, "roi_resize": 7}[mode],
                                    batch=True)
        encoded, gray, brightness = inputs[:3]
        if mode == "warp":
            images = fn.decoders.image(encoded, device=decoder_device, output_type=types.RGB)
        else:
            anchor, shape = inputs[-2:] if mode == "roi_warp" else inputs[3:5]
            images = fn.decoders.image_slice(encoded, anchor, shape, axis_names="WH", normalized_anchor=False,
                                             normalized_shape=False, device=decoder_device, output_type=types.RGB)
        if mode == "roi_resize":  # replicate padding only: resize clamps source coordinates to the ROI = image
            crops = fn.resize(images, size=[output_size, output_size], roi_start=inputs[5], roi_end=inputs[6],
                              roi_relative=False, antialias=False, interp_type=types.INTERP_LINEAR)
        else:
            matrix = inputs[3]
            fill = {"fill_value": 0.0} if padding == "zeros" else {}  # no fill value: clamp = replicate
            crops = fn.warp_affine(images, matrix=matrix, size=[output_size, output_size],
                                   interp_type=types.INTERP_LINEAR, **fill)
        luma = fn.color_space_conversion(crops, image_type=types.RGB, output_type=types.GRAY)  # H x W x 1
        if gpu:
            gray, brightness = gray.gpu(), brightness.gpu()
        rgb = fn.cast(crops, dtype=types.FLOAT)
        mixed = rgb + gray * (fn.cast(luma, dtype=types.FLOAT) - rgb)
        scaled = dmath.clamp(mixed * brightness, 0.0, 255.0)
        out = fn.crop_mirror_normalize(scaled, dtype=types.FLOAT, output_layout="CHW",
                                       mean=[255.0 * m for m in IMAGENET_MEAN],
                                       std=[255.0 * s for s in IMAGENET_STD])
        pipe.set_outputs(out)
    return pipe


def _to_torch(tensor_list) -> torch.Tensor:
    """A DALI output batch of equal-shaped samples as one torch tensor (CPU, or CUDA for GPU outputs)."""
    if hasattr(tensor_list, "as_cpu") and type(tensor_list).__name__ == "TensorListGPU":
        from nvidia.dali.plugin.pytorch import feed_ndarray

        dense = tensor_list.as_tensor()
        out = torch.empty(dense.shape(), dtype=torch.float32, device="cuda")
        feed_ndarray(dense, out)
        return out
    return torch.from_numpy(tensor_list.as_array())


def _shutdown(pipe) -> None:
    # Pipeline has no public close; _shutdown is what its __del__ calls (stops the executor's threads).
    shutdown = getattr(pipe, "_shutdown", None)
    if shutdown is not None:
        shutdown()


# ------------------------------------------------------------------------------------------------ loader


class DaliLoader(EpochCursor):
    """The DALI backend behind the Loader protocol (epoch / resume semantics of ReferenceLoader).

    mode: the pipeline variant (MODES). Default: "warp" on the GPU; on the CPU the fastest measured one,
    "roi_resize" for replicate padding and "roi_warp" for zero padding. mode="warp" runs the GPU variant's
    graph on the CPU.
    """

    def __init__(self, sampler: TrackingSampler, processing: ProcessingConfig, cfg: LoaderConfig,
                 mode: str | None = None, device: str | None = None) -> None:
        super().__init__(sampler, processing, cfg)
        self.device = resolve_device(device or cfg.device)
        if mode is None:
            mode = "warp" if self.device == "gpu" else (
                "roi_resize" if processing.padding == "replicate" else "roi_warp")
        if mode not in MODES or (mode == "roi_resize" and processing.padding != "replicate"):
            raise ValueError(f"DaliLoader: mode {mode!r} is not one of {MODES} or does not support padding "
                             f"{processing.padding!r}")
        self.mode = mode
        self.frames_per_batch = cfg.batch_size * (sampler.num_train_frames + sampler.num_test_frames)
        self.fallback_batches = 0  # batches computed by the reference path after a DALI failure
        self._feeder = _Feeder()
        self._pipe = None
        self._dirty = False  # the pipeline may hold outputs of an unfinished epoch
        self._active = None  # the generator of the current iteration

    # ------------------------------------------------------------------------------- Loader protocol
    def __iter__(self) -> Iterator[dict]:
        start = self._take_start()
        self._stop_active()
        generator = self._iterate(self.epoch, start)
        self._active = generator
        return generator

    def close(self) -> None:
        """Stop an unfinished iteration and release the pipeline (the loader can still be iterated: the
        pipeline is then built again)."""
        self._stop_active()
        self._discard_pipeline()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -------------------------------------------------------------------------------------- internals
    def _stop_active(self) -> None:
        active, self._active = self._active, None
        if active is not None:
            active.close()

    def _pipeline(self):
        if self._pipe is None:
            self._pipe = build_pipeline(self._feeder, self.frames_per_batch, self.processing.output_size,
                                        self.processing.padding, self.device, self.mode,
                                        num_threads=self.cfg.workers or 1,
                                        device_id=torch.cuda.current_device() if self.device == "gpu" else None)
            self._pipe.build()
            self._dirty = False
        return self._pipe

    def _discard_pipeline(self) -> None:
        pipe, self._pipe = self._pipe, None
        self._feeder.inflight.clear()
        self._feeder.replay.clear()
        self._dirty = False
        if pipe is not None:
            _shutdown(pipe)

    def _drain(self) -> None:
        """Take the outputs an unfinished epoch left in flight and end DALI's epoch (or rebuild)."""
        feeder = self._feeder
        feeder.batches, feeder.error = iter(()), None
        feeder.replay.clear()
        try:
            while True:
                self._pipe.run()
        except StopIteration:
            self._pipe.reset()
            feeder.inflight.clear()
            self._dirty = False
        except Exception as exc:  # noqa: BLE001 - whatever DALI raises, start afresh
            logger.info("DALI loader: draining the pipeline failed (%s); rebuilding it", exc)
            self._discard_pipeline()

    def _host_batches(self, samples: TrainingSamples, start: int) -> Iterator[HostBatch]:
        for position in range(start, len(self)):
            yield prepare_batch(samples, position, self.cfg.batch_size, self.mode)

    def _reference_batch(self, samples: TrainingSamples, host: HostBatch) -> dict:
        self.fallback_batches += 1
        return collate_stack1([samples[i] for i in host.indices])

    def _iterate(self, epoch: int, start: int) -> Iterator[dict]:
        samples = TrainingSamples(self.sampler, self.processing, seed=self.cfg.seed, epoch=epoch)
        feeder = self._feeder
        if self._dirty and self._pipe is not None:
            self._drain()
        pipe = self._pipeline()
        feeder.batches, feeder.error = self._host_batches(samples, start), None
        feeder.replay.clear()
        feeder.inflight.clear()
        self._dirty = True
        while True:
            try:
                (images,) = pipe.run()
            except StopIteration:
                pipe.reset()
                self._dirty = False
                error, feeder.error = feeder.error, None
                if error is not None:
                    raise error
                return
            except Exception as exc:  # noqa: BLE001 - a DALI error: the oldest batch in flight failed
                if not feeder.inflight:
                    self._discard_pipeline()
                    raise
                host = feeder.inflight.popleft()
                logger.warning("DALI loader: batch %d of epoch %d failed in DALI (%s); computing it with the "
                               "reference path", host.position, epoch, str(exc).splitlines()[0] if str(exc) else exc)
                replay = list(feeder.inflight)
                self._discard_pipeline()
                feeder.replay.extend(replay)
                pipe = self._pipeline()
                self._dirty = True
                yield self._reference_batch(samples, host)
                continue
            host = feeder.inflight.popleft()
            batch = assemble_batch(host, _to_torch(images))
            del images
            yield batch
