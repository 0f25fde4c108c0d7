"""Where the time of one sample goes (ms per stage, one process, one cv2/torch thread as in a loader worker),
for our OpenCV loader (loaders.opencv_render: record, read, decode, warpAffine, planes, normalise, proposals,
labels, collate) and for the pytracking-style baseline (harness.baseline).

This is the one module of the harness that imports our loader's internals (in profile_opencv).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .baseline import PytrackingStyleSamples, stack1_collate


class StageTimer:
    """Accumulates the time between consecutive lap() calls under the given stage names (seconds)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.last = time.perf_counter()

    def reset(self) -> None:
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.totals[name] = self.totals.get(name, 0.0) + now - self.last
        self.last = now


def profile_opencv(sampler, processing, samples: int, batch_size: int, reduce: bool = True) -> dict:
    """Mean ms per sample of each stage of the OpenCV loader, in this process with one thread: record
    (jitter, windows), proposals, labels, read (the file's bytes), decode (loaders.window_decode.decode_window:
    the JPEG header, then only the region the crop reads, DCT-reduced when `reduce`), warpAffine (crop_frame), planes (uint8 RGB
    planes, grayscale: the worker's last step), normalise (brightness + ImageNet normalisation, one cv2.LUT
    per channel: done by the consumer's process since batches travel as uint8) and collate."""
    from loaders.normalize import normalisation_table, normalise_planes
    from loaders.opencv_render import crop_frame, crop_planes, render_record
    from loaders.samples import collate_records
    from loaders.window_decode import decode_window
    from tracking.data import geometry
    from tracking.data.frames import read_frame_bytes
    from tracking.data.processing import make_record

    def one(index: int, timer: StageTimer) -> dict:
        timer.reset()
        spec = sampler.sample(index, 0)
        record = make_record(sampler.sequence(spec), spec, processing, 0, 0, sampler.global_index(index))
        timer.lap("record")
        # proposals and labels again on the record's boxes, to split them out of make_record's time
        rng = np.random.default_rng(index)
        for box in record.test.boxes:
            geometry.sample_proposals(box, processing.num_proposals, processing.proposal_sigma_factors,
                                      processing.proposal_min_iou, rng)
        timer.lap("proposals")
        for frames in (record.train, record.test):
            centres = frames.boxes[:, :2] + frames.boxes[:, 2:] / 2
            np.stack([geometry.gaussian_label(c, processing.output_size, processing.label_feature_size,
                                              processing.label_kernel_size, processing.label_sigma_factor)
                      for c in centres]).astype(np.float32)
        timer.lap("labels")
        size = record.output_size
        for frames in (record.train, record.test):
            table = normalisation_table(frames.brightness)
            timer.lap("normalise")
            for path, window in zip(frames.paths, frames.windows):
                data = read_frame_bytes(path)
                timer.lap("read")
                image, shifted = decode_window(path, window, size, reduce=reduce, data=data)
                timer.lap("decode")
                crop = crop_frame(image, shifted, size, record.padding)
                timer.lap("warpAffine")
                planes = crop_planes(crop, record.grayscale)
                timer.lap("planes")
                normalise_planes(planes, table)
                timer.lap("normalise")
        render_record(record, fields, reduce)  # the real thing (its time is not counted)
        timer.reset()
        return record

    # the loader renders the images in place and collates only the records' declared fields
    fields = processing.batch_fields()
    return _profile(one, samples, batch_size, lambda records: collate_records(records, fields, [0] * len(records)),
                    subtract={"record": ("proposals", "labels")})


def profile_baseline(sampler, processing, samples: int, batch_size: int) -> dict:
    """Mean ms per sample of each stage of the pytracking-style baseline, in this process with one thread."""
    dataset = PytrackingStyleSamples(sampler, processing)

    def one(index: int, timer: StageTimer) -> dict:
        timer.reset()
        return dataset.sample(index, timer)

    return _profile(one, samples, batch_size, stack1_collate, subtract={})


def _profile(one: Callable[[int, StageTimer], dict], samples: int, batch_size: int, collate,
             subtract: dict[str, tuple[str, ...]]) -> dict:
    """Time `samples` calls one(i, timer) after one warm-up, plus collating `batch_size` of their outputs;
    stages in `subtract` have the time of the listed stages (timed again separately) taken out."""
    import cv2
    import torch

    cv2_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)  # as in a loader worker: one core per sample
    torch.set_num_threads(1)
    try:
        one(0, StageTimer())  # warm-up
        timer = StageTimer()
        outputs = [one(i + 1, timer) for i in range(samples)]
        group = [outputs[i % len(outputs)] for i in range(batch_size)]
        collate(group)
        rounds = 5
        start = time.perf_counter()
        for _ in range(rounds):
            collate(group)
        timer.totals["collate"] = (time.perf_counter() - start) / (rounds * batch_size) * samples
    finally:
        cv2.setNumThreads(cv2_threads)
        torch.set_num_threads(torch_threads)
    totals = dict(timer.totals)
    for stage, parts in subtract.items():  # make_record includes proposals + labels, timed separately too
        totals[stage] = max(0.0, totals[stage] - sum(totals.get(p, 0.0) for p in parts))
    stages = {k: round(v / samples * 1e3, 3) for k, v in totals.items()}
    total = sum(stages.values())
    return {"samples": samples, "threads": 1, "stages_ms": stages, "total_ms": round(total, 3),
            "share": {k: round(v / total, 3) for k, v in stages.items()},
            "cpu_samples_per_s": round(1e3 / total, 1)}

