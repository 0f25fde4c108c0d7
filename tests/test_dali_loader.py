"""The DALI backend against the OpenCV backend: same records, (almost) the same pixels, same epoch
semantics, bad data, shutdown. CPU-only DALI (device_id=None). The OpenCV side decodes at full resolution
(LoaderConfig(decode="full")), as DALI does; its default DCT-reduced decode is compared with an area-filtered
crop instead (tests/test_window_decode.py), the bounds here are unchanged."""

import logging
import os
import threading
import time

import numpy as np
import pytest
import torch

pytest.importorskip("nvidia.dali")

from loaders.config import LoaderConfig  # noqa: E402
from loaders.dali import DaliLoader  # noqa: E402
from loaders.dali_host import load_encoded  # noqa: E402
from loaders.dali_pipeline import MODES  # noqa: E402
from loaders.opencv import OpenCVLoader  # noqa: E402
from tracking.data.frames import FrameDecodeError  # noqa: E402
from tracking.data.datasets import Got10k  # noqa: E402
from tracking.data.processing import IMAGENET_STD, ProcessingConfig  # noqa: E402
from tracking.data.sampler import dimp_sampler  # noqa: E402
from tracking.data.synthetic import SyntheticSpec, ensure_dataset  # noqa: E402

SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96)
# Small crops keep the module fast; labels and proposals on; grayscale and brightness forced on/jittered.
COLOUR = ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.5, num_proposals=4)
# Measured on this data (all modes, both paddings): mean |diff| ~0.05 grey levels (0..255 units) and max
# 3.4 (replicate) / 4.1 (zeros): DALI's float bilinear weights vs cv2's 5-bit fixed point (<= 2 levels before
# the brightness factor, up to 1.2, and the grayscale rounding). The bounds leave a margin.
MEAN_BOUND_255, MAX_BOUND_255 = 0.15, 6.0


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("dali") / "got10k", "got10k", SPEC)


def make_sampler(root, samples=16, **kw):
    return dimp_sampler([Got10k(root)], samples_per_epoch=samples, max_gap=10, **kw)


def cfg(**kw):
    return LoaderConfig(backend="dali", batch_size=4, workers=2, device="cpu", **kw)


def image_diff_255(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| of normalised [n, B, 3, S, S] images in 0..255 units."""
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    return (a - b).abs() * std * 255


def assert_same_batches(dali, opencv):
    assert len(dali) == len(opencv)
    worst_mean, worst_max = 0.0, 0.0
    for a, b in zip(dali, opencv):
        assert list(a.keys()) == list(b.keys())
        for key in a:
            if key.endswith("_images"):
                assert a[key].shape == b[key].shape and a[key].dtype == b[key].dtype == torch.float32
                diff = image_diff_255(a[key], b[key])
                worst_mean, worst_max = max(worst_mean, diff.mean().item()), max(worst_max, diff.max().item())
            elif isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
            else:
                assert a[key] == b[key], key
    assert worst_mean < MEAN_BOUND_255 and worst_max < MAX_BOUND_255, (worst_mean, worst_max)
    return worst_mean, worst_max


@pytest.mark.parametrize("padding,mode", [("replicate", None), ("zeros", None), ("replicate", "roi_warp")])
def test_matches_the_opencv_backend(dataset_root, padding, mode):
    processing = ProcessingConfig(**{**COLOUR.__dict__, "padding": padding})
    sampler = make_sampler(dataset_root)
    loader = DaliLoader(sampler, processing, cfg(), mode=mode)
    dali = list(loader)
    loader.close()
    opencv = list(OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert len(dali) == 4 and tuple(dali[0]["train_images"].shape) == (3, 4, 3, 64, 64)
    assert_same_batches(dali, opencv)


def test_grayscale_and_brightness_forced_on(dataset_root):
    processing = ProcessingConfig(output_size=64, label_feature_size=None, num_proposals=0, grayscale_prob=1.0,
                                  brightness_jitter=0.5)
    sampler = make_sampler(dataset_root, samples=8)
    loader = DaliLoader(sampler, processing, cfg())
    dali = list(loader)
    loader.close()
    opencv = list(OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert "train_label" not in dali[0] and "test_proposals" not in dali[0]
    images = dali[0]["train_images"] * torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    # grey: the three channels equal up to the mean offsets
    assert (images[:, :, 0] - images[:, :, 1]).std() < 1e-3
    assert_same_batches(dali, opencv)


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
def test_gpu_variant_graph_runs_on_the_cpu(dataset_root, padding):
    processing = ProcessingConfig(**{**COLOUR.__dict__, "padding": padding})
    sampler = make_sampler(dataset_root, samples=8)
    loader = DaliLoader(sampler, processing, cfg(), mode="warp")  # full decode + warp_affine, as on the GPU
    dali = list(loader)
    loader.close()
    opencv = list(OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert_same_batches(dali, opencv)


def test_device_selection(dataset_root):
    from nvidia.dali.backend import GetCUDADeviceCount

    sampler = make_sampler(dataset_root, samples=8)
    loader = DaliLoader(sampler, COLOUR, LoaderConfig(backend="dali", batch_size=4, device="auto"))
    assert loader.device == ("gpu" if GetCUDADeviceCount() > 0 else "cpu")
    if GetCUDADeviceCount() == 0:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            DaliLoader(sampler, COLOUR, LoaderConfig(backend="dali", device="gpu"))
    with pytest.raises(ValueError):
        DaliLoader(sampler, ProcessingConfig(padding="zeros"), cfg(), mode="roi_resize")
    assert set(MODES) == {"warp", "roi_warp", "roi_resize"}


def test_determinism_resume_epochs_and_shards(dataset_root):
    sampler = make_sampler(dataset_root, seed=3)
    loader = DaliLoader(sampler, COLOUR, cfg(seed=5))
    first, second = list(loader), list(loader)  # iterating twice: same epoch, same batches
    assert len(first) == len(second) == len(loader) == 4
    for a, b in zip(first, second):
        assert torch.equal(a["train_images"], b["train_images"]) and torch.equal(a["test_anno"], b["test_anno"])
    loader.resume(0, 2)
    resumed = list(loader)
    assert [b["index"].tolist() for b in resumed] == [b["index"].tolist() for b in first[2:]]
    assert torch.equal(resumed[0]["test_images"], first[2]["test_images"])
    loader.set_epoch(1)
    other = list(loader)
    assert not torch.equal(other[0]["train_anno"], first[0]["train_anno"])
    with pytest.raises(ValueError):
        loader.resume(0, 5)
    loader.close()

    indices = []
    for rank in range(2):
        shard = DaliLoader(make_sampler(dataset_root, seed=3, rank=rank, world_size=2), COLOUR,
                           LoaderConfig(backend="dali", batch_size=2, workers=1, device="cpu", seed=5))
        indices.append(torch.cat([b["index"] for b in shard]).tolist())
        shard.close()
    assert set(indices[0]).isdisjoint(indices[1]) and sorted(indices[0] + indices[1]) == list(range(16))


def test_jpeg_checks(dataset_root, tmp_path):
    path = Got10k(dataset_root)[0].frames[0]
    data, size = load_encoded(path)
    assert size == (SPEC.height, SPEC.width) and data.tobytes() == open(path, "rb").read()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data.tobytes()[: len(data) // 2])
    for bad, reason in ((tmp_path / "missing.jpg", "file not found"), (truncated, "libjpeg")):
        with pytest.raises(FrameDecodeError, match=reason):
            load_encoded(str(bad))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(FrameDecodeError):
        load_encoded(str(empty))


def test_corrupt_and_missing_frames_are_replaced(dataset_root, tmp_path, caplog):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(dataset_root, root)
    sequence = Got10k(str(root))[0]
    with open(sequence.frames[5], "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 garbage, not a JPEG at all" * 10)
    os.remove(sequence.frames[12])
    sampler = dimp_sampler([("bad", [sequence])], samples_per_epoch=24, max_gap=10)
    processing = COLOUR
    with caplog.at_level(logging.WARNING):
        loader = DaliLoader(sampler, processing, LoaderConfig(backend="dali", batch_size=4, workers=2, device="cpu"))
        dali = list(loader)
        loader.close()
    replaced = torch.cat([b["replaced"] for b in dali])
    assert replaced.sum() > 0
    # replacements are logged by the mechanism both backends share (EpochRecords.render_with_replacement)
    messages = [r.message for r in caplog.records if r.name == "loaders.samples"]
    assert sum("drawing a replacement" in m for m in messages) == replaced.sum().item()
    assert any("00000006.jpg" in m or "00000013.jpg" in m for m in messages)
    assert loader.fallback_batches == 0
    opencv = list(OpenCVLoader(sampler, processing, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert_same_batches(dali, opencv)


def test_dali_decode_failure_falls_back_to_the_opencv_backend(dataset_root, tmp_path, caplog, monkeypatch):
    """JPEGs with a broken scan that reach DALI's decoder (the host check, which rejects them, is bypassed
    here): DALI fails on the batch, which is then rendered by the OpenCV backend's code (which replaces the
    samples); no crash, no hang."""
    import shutil

    import loaders.dali_host

    monkeypatch.setattr(loaders.dali_host, "check_frame", lambda path, data: (SPEC.height, SPEC.width))
    root = tmp_path / "subtle"
    shutil.copytree(dataset_root, root)
    sequence = Got10k(str(root))[1]
    for path in sequence.frames[2:10]:
        data = bytearray(open(path, "rb").read())
        sos = data.find(b"\xff\xda")
        data[sos + 2:sos + 4] = b"\x00\x01"  # broken scan header length
        data[sos + 20:-2] = b"\x00" * (len(data) - sos - 22)
        open(path, "wb").write(bytes(data))
    sampler = dimp_sampler([("subtle", [sequence])], samples_per_epoch=16, max_gap=10)
    loader = DaliLoader(sampler, COLOUR, cfg())
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        batches = list(loader)
    loader.close()
    assert time.monotonic() - start < 30
    assert loader.fallback_batches > 0
    assert any("failed in DALI" in r.message for r in caplog.records)
    opencv = list(OpenCVLoader(sampler, COLOUR, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    assert_same_batches(batches, opencv)
    assert sum(b["replaced"].sum().item() for b in batches) > 0


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else threading.active_count()


def test_break_early_close_and_no_leftover_threads(dataset_root):
    sampler = make_sampler(dataset_root, samples=24)
    python_threads, native = threading.active_count(), _native_threads()
    loader = DaliLoader(sampler, COLOUR, cfg())
    full = list(loader)
    start = time.monotonic()
    for i, batch in enumerate(loader):  # break with batches in flight
        if i == 1:
            break
    again = list(loader)  # the next iteration drains the abandoned one first
    assert [b["index"].tolist() for b in again] == [b["index"].tolist() for b in full]
    with pytest.raises(ZeroDivisionError):  # an exception in the consumer
        for batch in loader:
            1 / 0
    loader.set_epoch(0)
    assert next(iter(loader))["index"].tolist() == full[0]["index"].tolist()
    loader.close()
    assert time.monotonic() - start < 30
    assert threading.active_count() == python_threads  # the loader starts no Python thread
    # DALI's executor threads are native; they end when close() shuts the pipeline down
    deadline = time.monotonic() + 5
    while _native_threads() > native and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _native_threads() <= native
    # a closed loader can be iterated again (the pipeline is rebuilt)
    assert len(list(loader)) == len(full)
    loader.close()
