"""The DALI backend: the records of loaders.samples, rendered by a DALI pipeline (loaders.dali_pipeline).

Per batch the host prepares the records and frame bytes (loaders.dali_host.prepare_batch) and feeds all
B * (n_train + n_test) frames of the batch, flat, to one pipeline through ``fn.external_source``; the
output is cut back into the batch layout of loaders.samples, with the non-image fields the processing
declares collated from the records. Same records, same fields, same replacements as the OpenCV backend;
the pixels are equivalent to the OpenCV backend's within DALI's bilinear rounding (loaders.dali_pipeline).
cfg.images="float" (default): the graph ends with brightness, clamp and the ImageNet normalisation (float32);
"uint8": it ends with the uint8 crop after the gray blend and the host adds the records' brightness fields,
the raw batch layout of the OpenCV backend (loaders.normalize.normalize_batch normalises it).
cfg.pin_memory (with CUDA only): CPU batches are copied into pinned memory.

Prefetch: the pipeline is built with DALI's default pipelined asynchronous executor and
``prefetch_queue_depth=2``. The external source is a callback DALI calls from ``pipeline.run()`` in the
consumer's thread, so making the records (and reading the files) of batch k+2 overlaps DALI's work on
batches k and k+1 in its own threads. No Python thread is started.

Bad data: a sample with an unreadable frame (missing, empty, or not decoding cleanly:
loaders.dali_host.load_encoded checks each file as the OpenCV backend's decode_frame would, e.g. a JPEG with
damaged entropy-coded data) is replaced on the host exactly as in the OpenCV backend. If DALI still fails on
a batch, the failure is logged, that batch is rendered by the OpenCV backend's code and the pipeline is
rebuilt; the batches already fed are fed again, so nothing is lost or reordered.

Shutdown: ``close()`` stops an unfinished iteration and shuts the pipeline down (its C++ worker threads end
there). Breaking out of an epoch leaves at most two fed batches in flight; the next ``__iter__`` drains them
(or rebuilds the pipeline if draining fails).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

from tracking.data.processing import Processing
from tracking.data.sampler import Sampler

from .config import LoaderConfig
from .cursor import EpochCursor
from .dali_host import HostBatch, assemble_batch, prepare_batch
from .dali_pipeline import Feeder, build_pipeline, check_mode, resolve_device, to_torch
from .normalize import normalize_batch
from .opencv_render import render_batch
from .private_api import close_dali_pipeline
from .samples import EpochRecords, pin_batch, pin_memory_enabled

logger = logging.getLogger(__name__)


class DaliLoader(EpochCursor):
    """The DALI backend behind the Loader protocol (epoch / resume / state semantics of loaders.cursor).

    mode: the pipeline variant (loaders.dali_pipeline.MODES). Default: "warp" on the GPU; on the CPU the
    fastest measured one, "roi_resize" for replicate padding and "roi_warp" for zero padding. mode="warp"
    runs the GPU variant's graph on the CPU. device: overrides cfg.device.
    """

    def __init__(self, sampler: Sampler, processing: Processing, cfg: LoaderConfig, mode: str | None = None,
                 device: str | None = None) -> None:
        super().__init__(sampler, cfg)
        self.processing = processing
        self.device = resolve_device(device or cfg.device)
        if mode is None:
            mode = "warp" if self.device == "gpu" else (
                "roi_resize" if processing.padding == "replicate" else "roi_warp")
        check_mode(mode, processing.padding)
        self.mode = mode
        self.fields = processing.batch_fields()
        self.frames_per_batch = cfg.batch_size * (sampler.num_train_frames + sampler.num_test_frames)
        self.fallback_batches = 0  # batches rendered by the OpenCV backend's code after a DALI failure
        self.raw = cfg.images == "uint8"
        self.pin_memory = pin_memory_enabled(cfg.pin_memory)
        self._feeder = Feeder()
        self._pipe = None
        self._dirty = False  # the pipeline may hold outputs of an unfinished epoch
        self._active: Iterator[dict] | None = None  # the generator of the current iteration

    # ----------------------------------------------------------------------------------- Loader protocol
    def __iter__(self) -> Iterator[dict]:
        self._stop_active()
        start = self._begin()
        generator = self._iterate(self.draw_epoch, start)
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

    # ---------------------------------------------------------------------------------------- internals
    def _stop_active(self) -> None:
        active, self._active = self._active, None
        if active is not None:
            active.close()

    def _pipeline(self):
        if self._pipe is None:
            self._pipe = build_pipeline(self._feeder, self.frames_per_batch, self.processing.output_size,
                                        self.processing.padding, self.device, self.mode,
                                        num_threads=self.cfg.workers or 1,
                                        device_id=torch.cuda.current_device() if self.device == "gpu" else None,
                                        images=self.cfg.images)
            self._pipe.build()
            self._dirty = False
        return self._pipe

    def _discard_pipeline(self) -> None:
        pipe, self._pipe = self._pipe, None
        self._feeder.inflight.clear()
        self._feeder.replay.clear()
        self._dirty = False
        if pipe is not None:
            close_dali_pipeline(pipe)

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

    def _host_batches(self, records: EpochRecords, start: int) -> Iterator[HostBatch]:
        for position in range(start, len(self)):
            yield prepare_batch(records, position, self.cfg.batch_size, self.mode, raw=self.raw)

    def _fallback_batch(self, records: EpochRecords, host: HostBatch) -> dict:
        self.fallback_batches += 1
        batch = render_batch(records, host.indices)  # raw
        return self._deliver(batch if self.raw else normalize_batch(batch))

    def _deliver(self, batch: dict) -> dict:
        return pin_batch(batch) if self.pin_memory else batch

    def _iterate(self, epoch: int, start: int) -> Iterator[dict]:
        records = EpochRecords(self.sampler, self.processing, seed=self.cfg.seed, epoch=epoch)
        feeder = self._feeder
        if self._dirty and self._pipe is not None:
            self._drain()
        pipe = self._pipeline()
        feeder.batches, feeder.error = self._host_batches(records, start), None
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
                logger.warning("DALI loader: batch %d of epoch %d failed in DALI (%s); rendering it with the "
                               "OpenCV backend", host.position, epoch,
                               str(exc).splitlines()[0] if str(exc) else exc)
                replay = list(feeder.inflight)
                self._discard_pipeline()
                feeder.replay.extend(replay)
                pipe = self._pipeline()
                self._dirty = True
                batch = self._fallback_batch(records, host)
                self._advance(host.position + 1)
                yield batch
                continue
            host = feeder.inflight.popleft()
            batch = self._deliver(assemble_batch(host, to_torch(images), self.fields, raw=self.raw))
            del images
            self._advance(host.position + 1)
            yield batch
