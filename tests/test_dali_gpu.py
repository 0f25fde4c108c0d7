"""The DALI backend on the GPU against the OpenCV backend: same records, (almost) the same pixels.

build_loader(LoaderConfig(backend="dali", device="gpu")) and build_loader(LoaderConfig(backend="opencv",
workers=0)) over one small synthetic GOT-10k dataset with one seed must yield the same batches: identical
records, annotations, labels and proposals, and images within the bounds of tests/test_dali_loader.py's CPU
equivalence tests. The DALI loader runs in a subprocess (tests/test_dali_border_crops.py's runner), so that a
crash of DALI fails the test instead of the test run; its batches come back moved to the CPU.

Skipped when nvidia-dali is not installed or DALI sees no CUDA device (GetCUDADeviceCount() == 0).
benchmarks/gpu_check.sh runs this file on a lent GPU machine. TRACKING_DALI_TEST_DEVICE=cpu runs the same
comparison with device="cpu" (a check of this file's own logic on a machine without a GPU).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from loaders import LoaderConfig, build_loader
from tracking.data.datasets import Got10k
from tracking.data.processing import ProcessingConfig
from tracking.data.synthetic import SyntheticSpec, ensure_dataset

DEVICE = os.environ.get("TRACKING_DALI_TEST_DEVICE", "gpu")
SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96)  # as tests/test_dali_loader.py
BATCH, SAMPLES, SEED = 4, 16, 3


def _skip_reason() -> str | None:
    if importlib.util.find_spec("nvidia.dali") is None:
        return "nvidia-dali is not installed"
    if DEVICE == "gpu":
        from nvidia.dali.backend import GetCUDADeviceCount

        if GetCUDADeviceCount() == 0:
            return "no CUDA device visible to DALI (nvidia.dali.backend.GetCUDADeviceCount() == 0)"
    return None


REASON = _skip_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def processing(padding: str) -> ProcessingConfig:
    """tests/test_dali_loader.py's COLOUR (labels, proposals, grayscale half the time) with `padding`."""
    return ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.5, num_proposals=4,
                            padding=padding)


def config(backend: str) -> LoaderConfig:
    # the OpenCV side decodes at full resolution (decode="full"), as DALI does: its default DCT-reduced decode
    # is anti-aliased differently (tests/test_window_decode.py)
    device = {"device": DEVICE, "workers": 2} if backend == "dali" else {"workers": 0, "decode": "full"}
    return LoaderConfig(backend=backend, batch_size=BATCH, samples_per_epoch=SAMPLES, seed=SEED, **device)


def write_dali_batches(root: str, padding: str, out: str) -> None:
    """Run by the subprocess: the DALI loader's batches over `root`, tensors moved to the CPU, and what the
    loader ran (device, mode, fallbacks, the device of its images), saved to `out`."""
    loader = build_loader(config("dali"), datasets=[Got10k(root)], processing=processing(padding))
    batches, image_devices = [], set()
    for batch in loader:
        image_devices.update(str(v.device) for k, v in batch.items() if k.endswith("_images"))
        batches.append({k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
    info = {"backend": type(loader).__name__, "device": getattr(loader, "device", None),
            "mode": getattr(loader, "mode", None), "fallback_batches": getattr(loader, "fallback_batches", None),
            "image_devices": sorted(image_devices)}
    loader.close()
    torch.save((info, batches), out)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("dali_gpu") / "got10k", "got10k", SPEC)


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
def test_dali_gpu_matches_the_opencv_backend(dataset_root, tmp_path, padding, record_property):
    from test_dali_border_crops import batches_in_subprocess
    from test_dali_loader import assert_same_batches, image_diff_255

    out = str(tmp_path / "dali.pt")
    info, dali = batches_in_subprocess("test_dali_gpu", f"write_dali_batches({dataset_root!r}, {padding!r}, "
                                                        f"{out!r})", out)
    opencv_loader = build_loader(config("opencv"), datasets=[Got10k(dataset_root)], processing=processing(padding))
    opencv = list(opencv_loader)
    opencv_loader.close()
    record_property("dali", info)
    # The pixel differences, recorded before any assertion (benchmarks/gpu_check.sh reports them either way).
    diffs = [image_diff_255(a[k], b[k]) for a, b in zip(dali, opencv) for k in a
             if k.endswith("_images") and k in b and a[k].shape == b[k].shape]
    if diffs:
        record_property("mean_diff_255", round(max(d.mean().item() for d in diffs), 4))
        record_property("max_diff_255", round(max(d.max().item() for d in diffs), 4))
    assert info["backend"] == "DaliLoader" and info["device"] == DEVICE, info
    if DEVICE == "gpu":
        assert info["mode"] == "warp", info  # the GPU graph: decode on the GPU ("mixed"), warp_affine
        assert info["image_devices"] and all(d.startswith("cuda") for d in info["image_devices"]), info
    assert info["fallback_batches"] == 0, info
    assert len(dali) == SAMPLES // BATCH and tuple(dali[0]["train_images"].shape) == (3, BATCH, 3, 64, 64)
    worst_mean, worst_max = assert_same_batches(dali, opencv)
    print(f"DALI {DEVICE} vs OpenCV ({padding}): worst mean |diff| {worst_mean:.4f}, max {worst_max:.3f} "
          "(0..255 units)")
