"""Damaged JPEG frames (issue 9): decoded silently as grey by libjpeg/OpenCV, now a FrameDecodeError naming
the file (tracking.data.frames) and, in the loaders, a replaced sample with a warning, on both backends.

The damage is done to real textured frames (the synthetic GOT-10k generator's JPEGs): (i) the file cut right
after its SOS scan header and given an EOI marker, (ii) a block of entropy-coded bytes in the middle of the
scan XOR-ed (no 0xFF byte created or touched). Valid files must decode to OpenCV's pixels.
"""

import logging
import os
import shutil
import struct

import numpy as np
import pytest
import torch
from conftest import LOADER_BACKENDS, SHARED_SEQUENCES

import loaders.dali_host
from loaders.config import LoaderConfig
from loaders.opencv import OpenCVLoader
from loaders.samples import EpochRecords
from tracking.data.datasets import Got10k
from tracking.data.frames import FrameDecodeError, check_frame, decode_frame
from tracking.data.processing import ProcessingConfig
from tracking.data.sampler import dimp_sampler
from tracking.data.synthetic import SyntheticSpec, ensure_dataset

cv2 = pytest.importorskip("cv2")

SPEC = SyntheticSpec(num_sequences=2, num_frames=30, width=160, height=96)
PROCESSING = ProcessingConfig(output_size=64, label_feature_size=4, grayscale_prob=0.5, num_proposals=4)
DAMAGED = {3: "cut", 8: "scrambled", 15: "cut", 21: "scrambled"}  # frame index -> damage


BACKENDS = LOADER_BACKENDS


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    return ensure_dataset(tmp_path_factory.mktemp("corrupt") / "got10k", "got10k", SPEC)


def scan_start(data: bytes) -> int:
    """Offset of the first entropy-coded byte (just after the first SOS segment)."""
    sos = data.find(b"\xff\xda")
    assert sos > 0
    return sos + 2 + ((data[sos + 2] << 8) | data[sos + 3])


def cut_after_scan_header(data: bytes) -> bytes:
    return data[:scan_start(data)] + b"\xff\xd9"


def scramble_scan(data: bytes, length: int = 96) -> bytes:
    """XOR 0x5A into `length` entropy-coded bytes from the middle of the scan, leaving 0xFF bytes, the byte
    after each (stuffing / restart markers) and any byte that would become 0xFF alone."""
    out = bytearray(data)
    start = (scan_start(data) + len(data)) // 2
    changed = 0
    for i in range(start, len(data) - 2):
        if changed == length:
            break
        if out[i] == 0xFF or out[i - 1] == 0xFF or out[i] ^ 0x5A == 0xFF:
            continue
        out[i] ^= 0x5A
        changed += 1
    assert changed == length
    return bytes(out)


DAMAGE = {"cut": cut_after_scan_header, "scrambled": scramble_scan}


def damage(path: str, kind: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(DAMAGE[kind](data))


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_jpegs_are_errors_naming_the_file(dataset_root, tmp_path, kind):
    source = Got10k(dataset_root)[0].frames[5]
    path = str(tmp_path / "00000006.jpg")
    shutil.copy(source, path)
    damage(path, kind)
    original = cv2.imread(source)
    garbage = cv2.imread(path)  # what OpenCV makes of it: an image, only a warning on stderr
    assert garbage is not None and garbage.shape == original.shape
    assert np.abs(garbage.astype(int) - original).mean() > 5
    with pytest.raises(FrameDecodeError, match=r"00000006\.jpg.*libjpeg: Corrupt JPEG data") as info:
        decode_frame(path)
    assert info.value.path == path
    with pytest.raises(FrameDecodeError, match=r"00000006\.jpg.*Corrupt JPEG data"):
        decode_frame(path, rgb=True)
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(FrameDecodeError, match=r"00000006\.jpg.*Corrupt JPEG data"):
        check_frame(path, data)  # the cheap check the DALI host uses
    with pytest.raises(FrameDecodeError, match=r"00000006\.jpg.*Corrupt JPEG data"):
        loaders.dali_host.load_encoded(path)


def damaged_sequence(dataset_root, tmp_path):
    root = tmp_path / "damaged"
    shutil.copytree(dataset_root, root)
    sequence = Got10k(str(root))[0]
    for index, kind in DAMAGED.items():
        damage(sequence.frames[index], kind)
    return sequence, {sequence.frames[i] for i in DAMAGED}


def run_loader(backend: str, sampler):
    if backend == "opencv":
        return list(OpenCVLoader(sampler, PROCESSING, LoaderConfig(backend="opencv", batch_size=4, workers=0, decode="full")))
    from loaders.dali import DaliLoader

    loader = DaliLoader(sampler, PROCESSING, LoaderConfig(backend="dali", batch_size=4, workers=2, device="cpu"))
    batches = list(loader)
    loader.close()
    assert loader.fallback_batches == 0  # caught on the host, not by a failing DALI batch
    return batches


@pytest.mark.parametrize("backend", BACKENDS)
def test_loaders_replace_samples_with_damaged_frames(dataset_root, tmp_path, caplog, backend):
    sequence, damaged = damaged_sequence(dataset_root, tmp_path)
    sampler = dimp_sampler([("damaged", [sequence])], samples_per_epoch=16, max_gap=10)
    with caplog.at_level(logging.WARNING, logger="loaders.samples"):
        batches = run_loader(backend, sampler)
    replaced = torch.cat([b["replaced"] for b in batches])
    assert replaced.sum() > 0
    messages = [r.message for r in caplog.records if r.name == "loaders.samples"]
    assert sum("drawing a replacement" in m for m in messages) == replaced.sum().item()
    assert all("Corrupt JPEG data" in m and any(p in m for p in damaged) for m in messages)
    # no rendered sample uses a damaged frame
    records = EpochRecords(sampler, PROCESSING)
    for batch in batches:
        for index, attempts in zip(batch["index"].tolist(), batch["replaced"].tolist()):
            record = records.record(index, attempts)
            assert damaged.isdisjoint(record.train.paths + record.test.paths)
    if backend == "dali":
        from test_dali_loader import assert_same_batches

        assert_same_batches(batches, run_loader("opencv", sampler))


def test_the_dali_host_check_is_remembered_per_file(dataset_root, tmp_path, monkeypatch):
    calls = []

    def counting(path, data):
        calls.append(path)
        return check_frame(path, data)

    monkeypatch.setattr(loaders.dali_host, "check_frame", counting)
    path = str(tmp_path / "frame.jpg")
    shutil.copy(Got10k(dataset_root)[0].frames[0], path)
    first = loaders.dali_host.load_encoded(path)
    second = loaders.dali_host.load_encoded(path)
    assert calls == [path] and first[1] == second[1] == (SPEC.height, SPEC.width)
    damage(path, "scrambled")  # same size; a newer mtime
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    with pytest.raises(FrameDecodeError, match="Corrupt JPEG data"):
        loaders.dali_host.load_encoded(path)
    assert calls == [path, path]


# ------------------------------------------------------------------------------------ valid files decode


def cv2_decode(path: str, rgb: bool = False) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image


def textured(height: int = 48, width: int = 80) -> np.ndarray:
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (5, 5), 1.5)


def assert_decodes_as_opencv(path: str) -> None:
    for rgb in (False, True):
        image = decode_frame(path, rgb=rgb)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.flags.c_contiguous
        np.testing.assert_array_equal(image, cv2_decode(path, rgb))  # measured: bit-identical
    with open(path, "rb") as f:
        assert check_frame(path, f.read()) == image.shape[:2]


def test_valid_frames_decode_to_opencvs_pixels(dataset_root, tmp_path):
    for sequence in Got10k(dataset_root):
        for path in sequence.frames[::5]:
            assert_decodes_as_opencv(path)
    image = textured()
    variants = {
        "gray.jpg": (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), []),
        "progressive.jpg": (image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        "444.jpg": (image, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]),
        "422.jpg": (image, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]),
        "colour.png": (image, []),
        "gray.png": (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), []),
    }
    for name, (pixels, params) in variants.items():
        path = str(tmp_path / name)
        assert cv2.imwrite(path, pixels, params)
        assert_decodes_as_opencv(path)
    # the format is told by the bytes, not by the name
    os.rename(tmp_path / "444.jpg", tmp_path / "jpeg.png")
    os.rename(tmp_path / "colour.png", tmp_path / "png.jpg")
    for name in ("jpeg.png", "png.jpg"):
        assert_decodes_as_opencv(str(tmp_path / name))


def with_exif_orientation(data: bytes, orientation: int, byte_order: str = ">") -> bytes:
    """`data` with an APP1 Exif segment (IFD0 holding only the orientation tag) after its SOI marker."""
    mark = b"MM" if byte_order == ">" else b"II"
    tiff = mark + struct.pack(byte_order + "HI", 42, 8) + struct.pack(byte_order + "H", 1) + \
        struct.pack(byte_order + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(byte_order + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


@pytest.mark.parametrize("byte_order", [">", "<"])
def test_exif_orientation_is_applied_as_opencv_does(tmp_path, byte_order):
    ok, encoded = cv2.imencode(".jpg", textured(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    shapes = set()
    for orientation in range(1, 9):
        path = str(tmp_path / f"o{orientation}.jpg")
        with open(path, "wb") as f:
            f.write(with_exif_orientation(encoded.tobytes(), orientation, byte_order))
        assert_decodes_as_opencv(path)
        shapes.add(decode_frame(path).shape)
    assert shapes == {(48, 80, 3), (80, 48, 3)}  # OpenCV applies it (else this test would prove nothing)


def test_cmyk_jpegs_decode_as_opencv(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    path = str(tmp_path / "cmyk.jpg")
    image_module.fromarray(textured()[:, :, ::-1]).convert("CMYK").save(path, "JPEG", quality=95)
    assert_decodes_as_opencv(path)


@pytest.mark.skipif(not os.path.isdir(SHARED_SEQUENCES), reason="../shared not present")
def test_real_frames_decode_to_opencvs_pixels():
    """Real sequences (colour 4:2:0 and grayscale JPEGs from OTB, VOT, BoBoT)."""
    count = 0
    for directory, _, files in os.walk(SHARED_SEQUENCES):
        for name in sorted(f for f in files if f.lower().endswith(".jpg"))[::10]:
            assert_decodes_as_opencv(os.path.join(directory, name))
            count += 1
    assert count > 0


def test_an_unreadable_file_is_a_frame_decode_error(dataset_root, monkeypatch):
    import tracking.data.frames as frames

    def refuse(path, mode="r"):
        raise PermissionError(13, "Permission denied", path)

    path = Got10k(dataset_root)[0].frames[0]
    monkeypatch.setattr(frames, "open", refuse, raising=False)  # found before the builtin
    with pytest.raises(FrameDecodeError, match=r"00000001\.jpg: cannot read the file \(Permission denied\)"):
        decode_frame(path)
