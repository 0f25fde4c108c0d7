"""Decoding only what a crop needs (tracking.data.frames.decode_frame_region, loaders.window_decode).

- The compiled region decoder (tracking.data._jpeg) gives exactly the pixels of the whole frame decoded at the
  same DCT scale (simplejpeg), for every scale, chroma subsampling, progressive files, odd sizes, regions at
  and beyond the edges; the simplejpeg fallback gives the same.
- decode_window without reduction + crop_frame is bit-identical to crop_frame(decode_frame(...)).
- With reduction, the crop is compared with an area-filtered crop of the full decode (PSNR, max error): at
  least as close as full decode + bilinear crop (which aliases), and within stated bounds.
- Damaged data anywhere in the file is an error, as with decode_frame; bad arguments are Python errors.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
simplejpeg = pytest.importorskip("simplejpeg")

from loaders.opencv_render import crop_frame  # noqa: E402
from loaders.window_decode import decode_window, reduction_for  # noqa: E402
from tracking.data import frames  # noqa: E402
from tracking.data.frames import FrameDecodeError, decode_frame, decode_frame_region  # noqa: E402

S = 288


def _textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured synthetic frame (about 2.2 bits per pixel at quality 90)."""
    from tracking.data.synthetic.scene import SyntheticScene
    from tracking.data.synthetic.spec import SyntheticSpec

    spec = SyntheticSpec(num_sequences=1, num_frames=1, width=width, height=height, seed=seed, texture="textured")
    return SyntheticScene(spec, 0).render(0)


def _write(path, image: np.ndarray, *params: int) -> str:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])
    assert ok
    path = str(path)
    with open(path, "wb") as f:
        f.write(data.tobytes())
    return path


def _compiled_or_skip():
    decoder = frames._region_decoder()
    if decoder is None:
        pytest.skip("tracking.data._jpeg is not built or TRACKING_DISABLE_EXTENSION=1 (the fallback is tested)")
    return decoder


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory):
    """JPEGs of one textured 333x257 frame (a size that is no multiple of 8 or 16) in several encodings."""
    d = tmp_path_factory.mktemp("jpegs")
    image = _textured(336, 264)[:257, :333]
    return {
        "420": _write(d / "s420.jpg", image),
        "444": _write(d / "s444.jpg", image, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
        "422": _write(d / "s422.jpg", image, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
        "progressive": _write(d / "prog.jpg", image, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "gray": _write(d / "gray.jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)),
    }


REGIONS = [(0, 0, 10 ** 6, 10 ** 6), (13, 7, 150, 99), (100, 40, 333, 257), (1, 1, 2, 2), (-50, -20, 30, 40),
           (400, 10, 500, 60), (10, 300, 60, 400), (-9, -9, -1, -1)]


@pytest.mark.parametrize("kind", ["420", "444", "422", "progressive", "gray"])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_region_equals_the_whole_frame_decoded_at_that_scale(frame_files, kind, scale, monkeypatch):
    path = frame_files[kind]
    data = open(path, "rb").read()
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    rows, cols = -(-height // scale), -(-width // scale)
    whole = simplejpeg.decode_jpeg(data, colorspace="BGR", min_height=rows, min_width=cols)
    assert whole.shape[:2] == (rows, cols)
    decoders = [("fallback", lambda: None)]
    if frames._region_decoder() is not None:
        decoders.append(("compiled", frames._region_decoder))
    for name, decoder in decoders:
        monkeypatch.setattr(frames, "_region_decoder", decoder)
        for region in REGIONS:
            r = tuple(v // scale if abs(v) < 10 ** 5 else v for v in region)
            image, used, left, top = decode_frame_region(path, scale, r)
            assert used == scale
            # covers the wanted region clipped to the image (an axis wholly outside: its nearest row / column)
            x0, x1 = frames._clip_range(r[0], r[2], cols)
            y0, y1 = frames._clip_range(r[1], r[3], rows)
            assert left <= x0 and top <= y0 and left + image.shape[1] >= x1 and top + image.shape[0] >= y1, (name, r)
            expected = whole[top:top + image.shape[0], left:left + image.shape[1]]
            np.testing.assert_array_equal(image, expected, err_msg=f"{name} {kind} 1/{scale} region {r}")


def _plain_crop(image: np.ndarray, window: np.ndarray, size: int, padding: str) -> np.ndarray:
    """One cv2.warpAffine of the executable window, with cv2's own border handling (crop_frame before it
    decoded regions and padded borders itself)."""
    from loaders.crop_windows import executable_window
    from tracking.data import geometry

    unmirrored, mirrored = geometry.unmirror_windows(window)
    executable = geometry.mirror_windows(executable_window(unmirrored, image.shape[0], image.shape[1], size), mirrored)
    matrix = geometry.affine_to_cv2(geometry.window_to_affine(executable, size, allow_mirrored=True))
    border = cv2.BORDER_REPLICATE if padding == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border)


@pytest.mark.parametrize("kind", ["420", "progressive"])
def test_region_without_reduction_crops_bit_identically(frame_files, kind):
    """Random windows (inside, across and wholly beyond the borders, narrow, mirrored, far away), both
    paddings: decode_window(reduce=False) + crop_frame == one warpAffine of the whole decoded frame."""
    path = frame_files[kind]
    full = decode_frame(path)
    height, width = full.shape[:2]
    rng = np.random.default_rng(0)
    windows = [np.array([1e6, 5.0, 2e6, 100.0]), np.array([-4.3, -130.0, -598.6, 503.2])]
    for _ in range(300):
        side = rng.uniform(3, 2000)
        x, y = rng.uniform(-2 * side, width + side), rng.uniform(-2 * side, height + side)
        window = np.array([x, y, x + side, y + side * rng.uniform(0.7, 1.4)])
        windows.append(window[[2, 1, 0, 3]] if rng.random() < 0.5 else window)
    for i, window in enumerate(windows):
        size = 288 if i % 2 else 64
        image, shifted = decode_window(path, window, size, reduce=False)
        for padding in ("replicate", "zeros"):
            np.testing.assert_array_equal(crop_frame(image, shifted, size, padding),
                                          _plain_crop(full, window, size, padding),
                                          err_msg=f"window {window.tolist()} {padding} {size}")


def test_reduction_is_chosen_from_the_crop_scale():
    assert reduction_for(np.array([0, 0, 287.0, 287.0]), S) == 1
    assert reduction_for(np.array([0, 0, 576.0, 576.0]), S) == 2
    assert reduction_for(np.array([0, 0, 1151.0, 2000.0]), S) == 2  # the smaller side decides
    assert reduction_for(np.array([1200.0, 0, 0, 1200.0]), S) == 4  # mirrored
    assert reduction_for(np.array([0, 0, 1e5, 1e5]), S) == 8


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_reduced_decode_fidelity_against_an_area_filtered_crop(tmp_path):
    """Windows inside a textured 1920x1080 frame, shrinking it 1.5x to 3.7x: the reduced decode's crop vs
    cv2.INTER_AREA of the full decode (the anti-aliased ideal), beside the full decode's bilinear crop."""
    path = _write(tmp_path / "f.jpg", _textured(1920, 1080))
    full = decode_frame(path)
    rows = []
    for step in (1.5, 2.25, 3.0, 3.7):
        side = int(S * step)
        for x1, y1 in ((10, 5), (1910 - side, 1075 - side), (611, (1080 - side) // 2)):
            window = np.array([x1, y1, x1 + side, y1 + side], dtype=np.float64)
            ideal = cv2.resize(full[y1:y1 + side, x1:x1 + side], (S, S), interpolation=cv2.INTER_AREA)
            bilinear = crop_frame(full, window, S, "replicate")
            image, shifted = decode_window(path, window, S)
            reduced = crop_frame(image, shifted, S, "replicate")
            assert image.shape[0] * image.shape[1] < full.shape[0] * full.shape[1] / 2  # decoded less
            rows.append((step, _psnr(bilinear, ideal), _psnr(reduced, ideal),
                         int(np.abs(reduced.astype(int) - ideal).max())))
    for step, psnr_bilinear, psnr_reduced, max_error in rows:
        assert psnr_reduced >= min(psnr_bilinear, 60.0) - 0.5, rows  # never worse than what it replaces
        assert psnr_reduced > 38.0, rows  # measured 40.7 - 49.4 dB
        assert max_error <= 50, rows  # measured <= 46
    # where the crop shrinks the frame 3x or more the full-size bilinear crop aliases: reduced is clearly closer
    assert all(r[2] > r[1] + 2.0 for r in rows if r[0] >= 3.0), rows


def _damage(data: bytes, at: float) -> bytes:
    """The JPEG with a run of entropy-coded bytes at fraction `at` of the file replaced."""
    b = bytearray(data)
    i = int(len(b) * at)
    b[i:i + 400] = bytes((j * 37) % 256 if (j * 37) % 256 != 0xFF else 0 for j in range(400))
    return bytes(b)


def test_damage_below_the_window_is_still_an_error(tmp_path):
    path = _write(tmp_path / "ok.jpg", _textured(640, 360))
    data = open(path, "rb").read()
    top_window = np.array([10.0, 5.0, 200.0, 60.0])
    for name, damaged in (("bottom", _damage(data, 0.93)), ("truncated", data[:int(len(data) * 0.8)])):
        bad = tmp_path / f"{name}.jpg"
        bad.write_bytes(damaged)
        with pytest.raises(FrameDecodeError) as full_error:
            decode_frame(str(bad))
        for reduce in (False, True):
            with pytest.raises(FrameDecodeError) as region_error:
                decode_window(str(bad), top_window, S, reduce=reduce)
            assert str(bad) in str(region_error.value)
        assert "libjpeg" in str(full_error.value)


def test_exif_rotated_frames_fall_back_to_the_oriented_full_decode(tmp_path):
    from PIL import Image

    image = _textured(320, 240)
    pil = Image.fromarray(image[:, :, ::-1])
    exif = pil.getexif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    path = str(tmp_path / "rot.jpg")
    pil.save(path, quality=90, exif=exif)
    full = decode_frame(path)
    assert full.shape[:2] == (320, 240)
    window = np.array([-100.0, -50.0, 700.0, 750.0])
    image2, shifted = decode_window(path, window, S)
    np.testing.assert_array_equal(crop_frame(image2, shifted, S, "replicate"), crop_frame(full, window, S, "replicate"))


def test_bad_arguments_are_python_errors(frame_files, tmp_path):
    path = frame_files["420"]
    with pytest.raises(ValueError, match="scale must be one of"):
        decode_frame_region(path, 3, (0, 0, 10, 10))
    with pytest.raises(FrameDecodeError, match="file not found"):
        decode_window(str(tmp_path / "missing.jpg"), np.array([0, 0, 10.0, 10.0]), S)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(FrameDecodeError, match="empty"):
        decode_window(str(empty), np.array([0, 0, 10.0, 10.0]), S)
    decode = _compiled_or_skip()
    data = open(path, "rb").read()
    with pytest.raises(ValueError, match="scale_denom"):
        decode(data, np.empty(10, np.uint8), 3, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="smaller than"):
        decode(data, np.empty(10, np.uint8), 1, 0, 0, 100, 100)
    for garbage in (b"", b"\xff", b"\xff\xd8garbage" * 10, os.urandom(5000)):
        with pytest.raises(ValueError):
            decode(garbage, np.empty(1 << 20, np.uint8), 1, 0, 0, 10, 10)
    with pytest.raises(TypeError):
        decode(data, b"read-only bytes", 1, 0, 0, 1, 1)


def test_png_and_cmyk_frames_are_decoded_whole(tmp_path):
    """Formats the region decoder does not take (PNG; CMYK JPEG) go through decode_frame: same crops."""
    from PIL import Image

    image = _textured(320, 240)
    png = str(tmp_path / "f.png")
    cv2.imwrite(png, image)
    cmyk = str(tmp_path / "cmyk.jpg")
    Image.fromarray(image[:, :, ::-1]).convert("CMYK").save(cmyk, quality=90)
    window = np.array([-40.0, 10.0, 900.0, 950.0])  # shrinks the frame 3x: a reduced decode is asked for
    for path in (png, cmyk):
        full = decode_frame(path)
        decoded, used, left, top = decode_frame_region(path, 2, (0, 0, 5, 5))
        assert (used, left, top) == (1, 0, 0)
        np.testing.assert_array_equal(decoded, full)
        reduced, shifted = decode_window(path, window, S)
        np.testing.assert_array_equal(crop_frame(reduced, shifted, S, "replicate"),
                                      crop_frame(full, window, S, "replicate"))
