"""The decode floor: decoding the frames of the timed samples from bytes in memory, with cv2.imdecode (in this
thread or a thread pool; cv2 releases the GIL) and with DALI's CPU decoder (fn.decoders.image over an
external_source). cv2 and DALI are imported by the pass that uses them."""

from __future__ import annotations

import concurrent.futures
import time

import numpy as np

from .monitor import Clock


def cv2_decode_pass(data: list[np.ndarray], group: int, threads: int, duration: float | None,
                    frames_per_sample: int) -> dict:
    """Decode every buffer with cv2.imdecode, in this thread (threads=1) or a pool of `threads` threads, `group`
    buffers at a time; the first `group` buffers are decoded once untimed first (warm-up). Rates are per
    sample of `frames_per_sample` frames."""
    import cv2

    def decode(buffer: np.ndarray) -> int:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError("cv2.imdecode failed")
        return image.shape[0]

    def decode_all(buffers: list[np.ndarray], pool) -> None:
        if pool is None:
            for b in buffers:
                decode(b)
        else:
            for _ in pool.map(decode, buffers):
                pass

    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        decode_all(data[:group], pool)
        done = 0
        start = Clock()
        for first in range(0, len(data), group):
            chunk = data[first:first + group]
            decode_all(chunk, pool)
            done += len(chunk)
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        end = Clock()
    finally:
        if pool is not None:
            pool.shutdown()
    return end.stats(start, done / frames_per_sample)


def dali_decode_pass(data: list[np.ndarray], group: int, threads: int, duration: float | None,
                     frames_per_sample: int) -> dict:
    """DALI CPU decoding of the same buffers, `group` per pipeline batch, over an external_source; one
    untimed batch first."""
    from nvidia.dali import fn, pipeline_def, types

    class Source:
        def __init__(self) -> None:
            self.position = 0

        def __call__(self) -> list[np.ndarray]:
            out = [data[(self.position + k) % len(data)] for k in range(group)]
            self.position += group
            return out

    @pipeline_def(batch_size=group, num_threads=threads, device_id=None, prefetch_queue_depth=1)
    def decoder():
        encoded = fn.external_source(source=Source(), batch=True, dtype=types.UINT8)
        return fn.decoders.image(encoded, device="cpu", output_type=types.RGB)

    pipe = decoder()
    pipe.build()
    try:
        pipe.run()  # warm-up: the first batch
        runs = max(1, len(data) // group)
        done = 0
        start = Clock()
        for _ in range(runs):
            (images,) = pipe.run()
            done += len(images)
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        end = Clock()
    finally:
        del pipe
    return end.stats(start, done / frames_per_sample)
