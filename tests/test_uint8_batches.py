"""Raw (uint8) batches and the one consumer-side normalisation: LoaderConfig.images / pin_memory,
loaders.normalize.normalize_batch, the OpenCV and DALI backends' raw layout, the trainer's move_batch."""

import logging
import os
import warnings

import numpy as np
import pytest
import torch
from conftest import requires_dali

from loaders.config import LoaderConfig
from loaders.normalize import batch_nbytes, is_raw_batch, normalize_batch
from loaders.opencv import OpenCVLoader
from loaders.opencv_render import crop_frame
from loaders.samples import EpochRecords
from tracking.data.datasets import Got10k
from tracking.data.frames import decode_frame
from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, ProcessingConfig
from tracking.data.sampler import dimp_sampler
from tracking.data.synthetic import SyntheticSpec, ensure_dataset
from tracking.ops import normalize_images

cv2 = pytest.importorskip("cv2")

SPEC = SyntheticSpec(num_sequences=3, num_frames=30, width=160, height=96)
# grayscale on about half the samples, brightness jitter (default 0.2), labels and proposals
PROCESSING = ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.5, num_proposals=4)
BATCH = 4
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("uint8") / "got10k", "got10k", SPEC)


def make_sampler(root: str, samples: int = 16):
    return dimp_sampler([Got10k(root)], samples_per_epoch=samples, max_gap=10)


def batches(root: str, workers: int = 0, **cfg) -> list[dict]:
    loader = OpenCVLoader(make_sampler(root), PROCESSING,
                          LoaderConfig(backend="opencv", batch_size=BATCH, workers=workers, seed=3, **cfg))
    out = list(loader)
    loader.close()
    return out


# ------------------------------------------------------------------ the worker-side code before raw batches
_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32)


def old_finish_crop(crop: np.ndarray, grayscale: bool, brightness: float) -> np.ndarray:
    """loaders.opencv_render.finish_crop and normalisation_table as they were when the workers normalised
    (verbatim): uint8 BGR crop -> float32 3xHxW through one cv2.LUT per channel."""
    levels = np.arange(256, dtype=np.float32)
    values = np.clip(levels * np.float32(brightness / 255.0), 0.0, 1.0)
    table = np.ascontiguousarray((values[None, :] - _MEAN[:, None]) / _STD[:, None])
    out = np.empty((3, *crop.shape[:2]), dtype=np.float32)
    if grayscale:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        planes = (gray, gray, gray)
    else:
        blue, green, red = cv2.split(crop)
        planes = (red, green, blue)
    for channel, plane in enumerate(planes):
        cv2.LUT(plane, table[channel], dst=out[channel])
    return out


def old_images(root: str, position: int, key: str) -> torch.Tensor:
    """[n, B, 3, S, S] float32 of batch `position` as the workers rendered it before raw batches."""
    records = EpochRecords(make_sampler(root), PROCESSING, seed=3, epoch=0)
    samples = []
    for index in range(position * BATCH, (position + 1) * BATCH):
        record = records.record(index)
        frames = record.train if key == "train_images" else record.test
        samples.append(np.stack([old_finish_crop(crop_frame(decode_frame(path), window, record.output_size,
                                                            record.padding), record.grayscale, frames.brightness)
                                 for path, window in zip(frames.paths, frames.windows)]))
    return torch.from_numpy(np.stack(samples, axis=1))


# --------------------------------------------------------------------------------------------- the config
def test_config_images_and_pin_memory():
    assert LoaderConfig().images == "float" and LoaderConfig().pin_memory is False
    assert LoaderConfig(images="uint8", pin_memory=True).images == "uint8"
    with pytest.raises(ValueError, match=r"LoaderConfig.images must be one of \('float', 'uint8'\).*'float16'"):
        LoaderConfig(images="float16")
    with pytest.raises(ValueError, match="pin_memory must be a bool"):
        LoaderConfig(pin_memory="yes")


# ------------------------------------------------------------------------------------------ OpenCV backend
@pytest.mark.parametrize("workers", [0, 2])
def test_float_batches_are_bit_identical_to_the_old_worker_normalisation(dataset_root, workers):
    float_batches = batches(dataset_root, workers, decode="full")  # the old path decoded whole frames
    assert len(float_batches) == 4
    grays = []
    for position, batch in enumerate(float_batches):
        assert "train_brightness" not in batch and "test_brightness" not in batch
        assert batch["replaced"].sum() == 0
        for key in ("train_images", "test_images"):
            assert batch[key].dtype == torch.float32
            assert torch.equal(batch[key], old_images(dataset_root, position, key)), (position, key)
        grays += [bool((batch["train_images"][0, j, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
                        - batch["train_images"][0, j, 1] * IMAGENET_STD[1] - IMAGENET_MEAN[1]).abs().max() < 1e-5)
                  for j in range(BATCH)]
    assert 0 < sum(grays) < len(grays)  # both grayscale and colour samples were compared


@pytest.mark.parametrize("workers", [0, 2])
def test_raw_batches_and_normalize_batch_give_the_float_batches(dataset_root, workers):
    raw_batches, float_batches = batches(dataset_root, workers, images="uint8"), batches(dataset_root, workers)
    records = EpochRecords(make_sampler(dataset_root), PROCESSING, seed=3, epoch=0)
    for position, (raw, ref) in enumerate(zip(raw_batches, float_batches)):
        assert is_raw_batch(raw) and not is_raw_batch(ref)
        keys = list(ref)
        assert list(raw) == keys[:2] + ["train_brightness", "test_brightness"] + keys[2:]
        for key, frames in (("train_images", 3), ("test_images", 3)):
            assert raw[key].dtype == torch.uint8 and raw[key].shape == ref[key].shape
            assert raw[key].shape[:2] == (frames, BATCH)
            brightness = raw[key.replace("images", "brightness")]
            assert brightness.dtype == torch.float64 and brightness.shape == (frames, BATCH)
            for j in range(BATCH):
                record = records.record(position * BATCH + j)
                expected = (record.train if key == "train_images" else record.test).brightness
                assert brightness[:, j].tolist() == [expected] * frames
        if workers:  # rendered into shared memory in the workers
            assert raw["train_images"].is_shared() and raw["test_brightness"].is_shared()
        images = sum(raw[k].numel() for k in ("train_images", "test_images"))
        assert batch_nbytes(ref) - batch_nbytes(raw) == 3 * images - 8 * 2 * 3 * BATCH  # a quarter of the pixels
        out = normalize_batch(raw)
        assert list(out) == keys
        for key in keys:
            if isinstance(ref[key], torch.Tensor):
                assert out[key].dtype == ref[key].dtype and torch.equal(out[key], ref[key]), key
            else:
                assert out[key] == ref[key], key
        # the arithmetic path (what normalize_batch runs on CUDA) gives the same values as the LUT, bit for bit
        for key in ("train_images", "test_images"):
            arithmetic = normalize_images(raw[key], brightness=raw[key.replace("images", "brightness")])
            assert torch.equal(arithmetic, ref[key]), key


def test_normalize_batch_float_batches_and_errors(dataset_root):
    (raw,) = batches(dataset_root, 0, images="uint8")[:1]
    ref = normalize_batch(raw)
    assert normalize_batch(ref) is ref  # a float batch is returned as it is
    moved = normalize_batch(ref, "cpu")
    assert list(moved) == list(ref) and torch.equal(moved["test_images"], ref["test_images"])
    assert torch.equal(normalize_batch(raw, torch.device("cpu"))["train_images"], ref["train_images"])
    with pytest.raises(TypeError, match="a batch is a dict"):
        normalize_batch([raw])
    with pytest.raises(ValueError, match=r"no \['test_images'\]"):
        normalize_batch({k: v for k, v in raw.items() if k != "test_images"})
    with pytest.raises(ValueError, match="has no test_brightness"):
        normalize_batch({k: v for k, v in raw.items() if k != "test_brightness"})
    with pytest.raises(ValueError, match=r"train_brightness must be a floating point tensor of shape \[3, 4\]"):
        normalize_batch({**raw, "train_brightness": raw["train_brightness"][:, :2]})
    with pytest.raises(ValueError, match="mixes raw and normalised"):
        normalize_batch({**ref, "test_images": raw["test_images"], "test_brightness": raw["test_brightness"]})
    with pytest.raises(ValueError, match="float32 .* but the batch also has train_brightness"):
        normalize_batch({**ref, "train_brightness": raw["train_brightness"]})
    with pytest.raises(TypeError, match="uint8 .* or float32 .* got torch.float64"):
        normalize_batch({**ref, "train_images": ref["train_images"].double()})
    with pytest.raises(ValueError, match=r"\[n, B, 3, S, S\]"):
        normalize_batch({**ref, "train_images": ref["train_images"][0]})


def test_pin_memory_without_cuda_is_a_logged_no_op(dataset_root, caplog):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: pinning is real (test_pin_memory_with_cuda)")
    import loaders.samples

    loaders.samples._pin_note.clear()
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="loaders.samples"):
        warnings.simplefilter("error")  # the DataLoader's "no accelerator" UserWarning would fail here
        pinned = batches(dataset_root, 2, images="uint8", pin_memory=True)
        pinned_float = batches(dataset_root, 0, pin_memory=True)
    assert sum("pin_memory=True without a CUDA device" in r.message for r in caplog.records) == 1
    for a, b in zip(pinned, batches(dataset_root, 2, images="uint8")):
        assert torch.equal(a["train_images"], b["train_images"]) and not a["train_images"].is_pinned()
    assert torch.equal(pinned_float[0]["test_images"], batches(dataset_root, 0)[0]["test_images"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_pin_memory_and_normalisation_on_cuda(dataset_root):
    for workers, images in ((2, "uint8"), (0, "uint8"), (0, "float")):
        batch = batches(dataset_root, workers, images=images, pin_memory=True)[0]
        assert batch["train_images"].is_pinned() and batch["index"].is_pinned()
    raw, ref = batches(dataset_root, 0, images="uint8")[0], batches(dataset_root, 0)[0]
    out = normalize_batch(raw, "cuda")
    assert out["train_images"].device.type == "cuda" and out["index"].device.type == "cpu"
    for key in ("train_images", "test_images"):
        assert torch.equal(out[key].cpu(), ref[key]), key


def test_trainer_move_batch_normalises_raw_batches(dataset_root):
    from tracking.train.trainer import move_batch

    raw, ref = batches(dataset_root, 0, images="uint8")[0], batches(dataset_root, 0)[0]
    moved = move_batch(raw, torch.device("cpu"))
    assert list(moved) == list(ref)
    assert all(torch.equal(moved[k], ref[k]) for k in ref if isinstance(ref[k], torch.Tensor))
    assert move_batch(ref, torch.device("cpu"))["train_images"] is ref["train_images"]


def test_the_trainer_builds_raw_loaders(monkeypatch):
    from omegaconf import OmegaConf

    import loaders
    from tracking.train import build

    cfg = OmegaConf.create({"data": {"loader": {"backend": "opencv", "workers": 0, "device": "auto",
                                                "decode": "full"}, "batch_size": 2}})
    seen = {}

    class Sampler:
        samples_per_epoch = 4

    def fake_build_loader(loader_cfg, processing=None, sampler=None):
        seen["cfg"] = loader_cfg
        return [None, None]

    monkeypatch.setattr(loaders, "build_loader", fake_build_loader)
    build._loader(cfg, Sampler(), PROCESSING, seed=0, validation=False, device=torch.device("cpu"))
    assert seen["cfg"].images == "uint8" and seen["cfg"].pin_memory is False and seen["cfg"].decode == "full"
    build._loader(cfg, Sampler(), PROCESSING, seed=0, validation=True, device="cuda:0")
    assert seen["cfg"].pin_memory is True and seen["cfg"].validation


# ------------------------------------------------------------------------------------------------ DALI
def write_dali_batches(root: str, out: str) -> None:
    """Run in a subprocess (a DALI crash fails the test, not the suite): the DALI loader's float and uint8
    batches over `root` for each padding / mode, saved to `out`."""
    from loaders.dali import DaliLoader

    results = {}
    for padding, mode in (("replicate", None), ("zeros", None), ("replicate", "warp")):
        processing = ProcessingConfig(**{**PROCESSING.__dict__, "padding": padding})
        for images in ("float", "uint8"):
            loader = DaliLoader(make_sampler(root), processing,
                                LoaderConfig(backend="dali", batch_size=BATCH, workers=2, device="cpu", seed=3,
                                             images=images), mode=mode)
            results[(padding, mode, images)] = list(loader)
            loader.close()
    torch.save(results, out)


@requires_dali
def test_dali_raw_batches(dataset_root, tmp_path):
    from test_dali_border_crops import batches_in_subprocess

    out = str(tmp_path / "dali.pt")
    results = batches_in_subprocess("test_uint8_batches", f"write_dali_batches({dataset_root!r}, {out!r})", out)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    for padding in ("replicate", "zeros"):
        processing = ProcessingConfig(**{**PROCESSING.__dict__, "padding": padding})
        loader = OpenCVLoader(make_sampler(dataset_root), processing,
                              LoaderConfig(backend="opencv", batch_size=BATCH, workers=0, seed=3, images="uint8", decode="full"))
        opencv = list(loader)
        for mode in ((None, "warp") if padding == "replicate" else (None,)):
            dali_float, dali_raw = results[(padding, mode, "float")], results[(padding, mode, "uint8")]
            assert len(dali_raw) == len(opencv) == 4
            for raw, ref, cv in zip(dali_raw, dali_float, opencv):
                assert list(raw) == list(cv)  # the OpenCV backend's raw layout
                assert torch.equal(raw["train_brightness"], cv["train_brightness"])
                assert torch.equal(raw["test_brightness"], cv["test_brightness"])
                normalised = normalize_batch(raw)
                assert list(normalised) == list(ref)
                for key in ("train_images", "test_images"):
                    assert raw[key].dtype == torch.uint8 and raw[key].shape == cv[key].shape
                    # the same crops as the OpenCV backend's within DALI's bilinear rounding (tests/test_dali_loader.py)
                    diff = (raw[key].int() - cv[key].int()).abs()
                    assert diff.float().mean() < 0.15 and diff.max() <= 4, (padding, mode, key)
                    # DALI's own float output: its graph computes x * brightness / (255 std) - mean / std in another
                    # order (crop_mirror_normalize), so the two differ by float32 rounding only: <= 2 ulp
                    gap = (normalised[key] - ref[key]).abs() * std * 255
                    assert gap.max() < 1e-3, (padding, mode, key, gap.max())
                    assert torch.allclose(normalised[key], ref[key], rtol=0, atol=4e-6)
