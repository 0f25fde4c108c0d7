"""The decode floor: decoding the frames of the timed samples from bytes in memory, with cv2.imdecode (in this
thread or a thread pool; cv2 releases the GIL) and with DALI's decoder (fn.decoders.image over an
external_source: device "cpu", or "mixed" = nvJPEG on GPU 0 for device="gpu"). cv2, DALI and torch are imported
by the pass that uses them."""

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
                     frames_per_sample: int, device: str = "cpu") -> dict:
    """DALI decoding of the same buffers, `group` per pipeline batch, over an external_source; one untimed
    batch first. device "cpu": the CPU decoder (no GPU used); "gpu": the "mixed" decoder (host Huffman decoding
    on `threads` threads / the hardware decoder, the rest on GPU 0), and the timed window ends after the GPU has
    finished (torch.cuda.synchronize() when torch has CUDA, else a copy of the last batch to the host)."""
    from nvidia.dali import fn, pipeline_def, types

    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    gpu = device == "gpu"

    class Source:
        def __init__(self) -> None:
            self.position = 0

        def __call__(self) -> list[np.ndarray]:
            out = [data[(self.position + k) % len(data)] for k in range(group)]
            self.position += group
            return out

    @pipeline_def(batch_size=group, num_threads=threads, device_id=0 if gpu else None, prefetch_queue_depth=1)
    def decoder():
        encoded = fn.external_source(source=Source(), batch=True, dtype=types.UINT8)
        return fn.decoders.image(encoded, device="mixed" if gpu else "cpu", output_type=types.RGB)

    def wait_for_gpu(images) -> None:
        if not gpu:
            return
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
                return
        except ImportError:
            pass
        images.as_cpu()  # ordered after the decoding on DALI's stream

    pipe = decoder()
    pipe.build()
    try:
        (images,) = pipe.run()  # warm-up: the first batch
        wait_for_gpu(images)
        runs = max(1, len(data) // group)
        done = 0
        start = Clock()
        for _ in range(runs):
            (images,) = pipe.run()
            done += len(images)
            if duration is not None and time.perf_counter() - start.wall > duration:
                break
        wait_for_gpu(images)
        end = Clock()
    finally:
        del pipe
    return end.stats(start, done / frames_per_sample)
