"""Reading frame images: the one decoder of training loaders, the OPE runner and trackers.

Frames are decoded into ``H x W x 3`` uint8 arrays: OpenCV's BGR order by default (what the OpenCV loader
crops), RGB with ``rgb=True`` (what trackers get); grayscale files are expanded to 3 channels. A missing,
empty or undecodable file is a :class:`FrameDecodeError` naming it.

JPEG files (recognised by their first two bytes, FF D8, whatever their extension) are decoded by
libjpeg-turbo through simplejpeg in strict mode: a warning of libjpeg is an error. A JPEG whose
entropy-coded data is cut short or damaged but which still parses (e.g. it ends with an EOI marker) makes
libjpeg warn "Corrupt JPEG data: ..." and fill the missing blocks with grey; OpenCV only prints that
warning and returns the grey image. Here it is a FrameDecodeError carrying libjpeg's message. The EXIF
orientation is applied as OpenCV's ``imread`` does, and the pixels are OpenCV's (both decoders are
libjpeg-turbo with the same settings: islow IDCT, fancy upsampling). Other formats (PNG, BMP, ...) are
decoded by OpenCV.

:func:`decode_frame_region` decodes only part of a JPEG, at a DCT-domain scale (1/2, 1/4, 1/8): what a crop
that shrinks the frame needs (loaders.window_decode plans it). It has the same strict verdict as decode_frame.

:func:`check_frame` is the cheaper check of the same verdict, for loaders that decode elsewhere (DALI): for
JPEGs all of the entropy-coded data is decoded (where libjpeg detects damage) but only the luma, at 1/8
scale. :func:`frame_size` gives the size decode_frame's image will have (EXIF orientation applied) from a
JPEG's header alone.

OpenCV and simplejpeg are imported on first use.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np

#: EXIF orientation values whose transform swaps height and width.
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


class FrameDecodeError(RuntimeError):
    """A frame file is missing or is not a decodable image (``path`` names it)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot decode frame {path}: {reason}")
        self.path = path


def is_jpeg(data: bytes | np.ndarray) -> bool:
    """True when the encoded bytes start with a JPEG SOI marker (FF D8)."""
    return len(data) >= 2 and data[0] == 0xFF and data[1] == 0xD8


def read_frame_bytes(path: str) -> bytes:
    """The encoded bytes of a frame file; FrameDecodeError when it is missing, unreadable or empty."""
    if not os.path.isfile(path):
        raise FrameDecodeError(path, "file not found")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FrameDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not data:
        raise FrameDecodeError(path, "empty file")
    return data


def jpeg_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of a JPEG, 1 when it has none (or an unreadable or out-of-range one).

    Reads the first APP1 "Exif" segment before the first scan: the orientation tag (0x0112) of IFD0.
    """
    n, i = len(data), 2
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan: no EXIF segment before the image data
            return 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            i += 2
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[i + 10:i + 2 + length])
        i += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    """The orientation tag of IFD0 of an EXIF TIFF block, 1 when absent or malformed."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for k in range(count):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(tiff):
            return 1
        tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, entry)
        if tag == 0x0112:
            return value if kind == 3 and 1 <= value <= 8 else 1
    return 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` [H, W, C] as displayed under EXIF `orientation` (1: as stored; 2: mirrored; 3: rotated 180;
    4: flipped; 5: transposed; 6: rotated 90 clockwise; 7: transverse; 8: rotated 90 anticlockwise);
    a contiguous array."""
    if orientation in TRANSPOSING_ORIENTATIONS:
        image = image.transpose(1, 0, 2)
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    flipped = {1: image, 2: image[:, ::-1], 3: image[::-1, ::-1], 4: image[::-1]}.get(orientation, image)
    return np.ascontiguousarray(flipped)


def _libjpeg_error(path: str, exc: ValueError) -> FrameDecodeError:
    message = re.sub(r"^tj\w+\(\): ", "", str(exc))  # TurboJPEG's function name
    return FrameDecodeError(path, f"corrupt or unsupported JPEG (libjpeg: {message})")


def check_frame(path: str, data: bytes) -> tuple[int, int]:
    """The (height, width) that `data` (the bytes of frame file `path`) decodes to, after checking that it
    decodes as decode_frame would; FrameDecodeError (with libjpeg's message for JPEGs) otherwise.

    JPEG: a strict libjpeg decode of the luma at 1/8 scale (all entropy-coded data is still decoded; ~0.45x
    the time of a full decode); the size is the EXIF-oriented one. Other formats: a full OpenCV decode.
    """
    if not is_jpeg(data):
        return _decode_other(path, data, rgb=False).shape[:2]
    import simplejpeg

    try:
        _, _, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        target = "CMYK" if colorspace in ("CMYK", "YCCK") else "GRAY"
        simplejpeg.decode_jpeg(data, colorspace=target, min_height=1, min_width=1, strict=True)
    except ValueError as exc:
        raise _libjpeg_error(path, exc) from None
    return _jpeg_size(path, data)


def _jpeg_size(path: str, data: bytes) -> tuple[int, int]:
    """The (height, width) a JPEG decodes to, from its header: the frame size with the EXIF orientation
    applied (a transposing orientation swaps the sides, as decode_frame's apply_orientation does)."""
    import simplejpeg

    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise _libjpeg_error(path, exc) from None
    return (width, height) if jpeg_orientation(data) in TRANSPOSING_ORIENTATIONS else (height, width)


def frame_size(path: str, data: bytes | None = None) -> tuple[int, int]:
    """The (height, width) of the image decode_frame(path) returns, without decoding it where that is cheap:
    for JPEGs from the header and the EXIF orientation (no entropy-coded data is decoded, so a JPEG damaged
    after its header still gets a size here and fails in decode_frame); other formats are decoded.
    FrameDecodeError when the file is missing, empty or its header does not parse. `data`: the file's bytes
    when already read."""
    data = read_frame_bytes(path) if data is None else data
    if is_jpeg(data):
        return _jpeg_size(path, data)
    return _decode_other(path, data, rgb=False).shape[:2]


def _decode_other(path: str, data: bytes, rgb: bool) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image


def decode_frame(path: str, rgb: bool = False) -> np.ndarray:
    """``[H, W, 3]`` uint8 image of ``path``, BGR (``rgb=False``) or RGB; FrameDecodeError when missing,
    empty, undecodable, or a JPEG on which libjpeg reports corrupt data (module docstring)."""
    return _decode_bytes(path, read_frame_bytes(path), rgb)


def _decode_bytes(path: str, data: bytes, rgb: bool) -> np.ndarray:
    """decode_frame of the bytes `data` of frame file `path` (already read)."""
    if not is_jpeg(data):
        return _decode_other(path, data, rgb)
    import simplejpeg

    try:
        image = simplejpeg.decode_jpeg(data, colorspace="RGB" if rgb else "BGR", strict=True)
    except ValueError as exc:
        raise _libjpeg_error(path, exc) from None
    return apply_orientation(image, jpeg_orientation(data))


#: DCT-domain scale denominators libjpeg decodes at (1/1, 1/2, 1/4, 1/8).
JPEG_SCALES = (1, 2, 4, 8)


def _region_decoder():
    """tracking.data._jpeg.decode_region (csrc/jpeg/region_decode.c), or None where it is not built or
    TRACKING_DISABLE_EXTENSION=1 disables the compiled code (the simplejpeg fallback then runs)."""
    if os.environ.get("TRACKING_DISABLE_EXTENSION") == "1":
        return None
    try:
        from tracking.data import _jpeg
    except ImportError:
        return None
    return _jpeg.decode_region


def decode_frame_region(path: str, scale: int, region: tuple[int, int, int, int],
                        data: bytes | None = None) -> tuple[np.ndarray, int, int, int]:
    """Part of frame `path` decoded at 1/`scale` of its size: ``(image, scale_used, left, top)``.

    The reduced image (``ceil(W / scale) x ceil(H / scale)``; its pixel j covers frame pixels
    ``[j * scale, (j + 1) * scale)``, so a frame coordinate x is x / scale there) is decoded only over `region`
    ``(x0, y0, x1, y1)``, in reduced pixels, end-exclusive; ``image`` ``[rows, cols, 3]`` uint8 BGR covers at
    least that region clipped to the image (an axis wanted wholly outside gets its nearest row / column) and
    starts at reduced pixel (left, top). The pixels equal those of the whole frame decoded at that scale
    (libjpeg's islow IDCT, fancy upsampling: decode_frame's at scale 1).

    JPEGs: libjpeg-turbo in tracking.data._jpeg skips the IDCT and colour conversion of the rows and columns
    outside the region (their entropy-coded data is still read: damaged data anywhere raises, as in
    decode_frame); without that module, simplejpeg decodes the whole frame at the scale. CMYK JPEGs, JPEGs with
    an EXIF orientation other than 1 and other formats are decoded whole by decode_frame (``scale_used`` 1,
    left = top = 0). FrameDecodeError as decode_frame. `data`: the file's bytes when already read.
    """
    if scale not in JPEG_SCALES:
        raise ValueError(f"decode_frame_region: scale must be one of {JPEG_SCALES}, got {scale}")
    data = read_frame_bytes(path) if data is None else data
    if not is_jpeg(data) or jpeg_orientation(data) != 1:
        return _decode_bytes(path, data, rgb=False), 1, 0, 0
    import simplejpeg

    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise _libjpeg_error(path, exc) from None
    if colorspace in ("CMYK", "YCCK"):
        return _decode_bytes(path, data, rgb=False), 1, 0, 0
    rows, cols = -(-height // scale), -(-width // scale)
    decode = _region_decoder()
    if decode is None:
        try:
            image = simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True, min_height=rows, min_width=cols)
        except ValueError as exc:
            raise _libjpeg_error(path, exc) from None
        x0, y0, x1, y1 = (int(v) for v in region)
        x0, x1 = _clip_range(x0, x1, cols)
        y0, y1 = _clip_range(y0, y1, rows)
        return image[y0:y1, x0:x1], scale, x0, y0
    out = np.empty(rows * cols * 3, dtype=np.uint8)
    try:
        got_rows, got_cols, left, top, _, _ = decode(data, out, scale, *(int(v) for v in region))
    except ValueError as exc:
        raise _libjpeg_error(path, exc) from None
    return out[:got_rows * got_cols * 3].reshape(got_rows, got_cols, 3), scale, left, top


def _clip_range(lo: int, hi: int, n: int) -> tuple[int, int]:
    """[lo, hi) clipped to [0, n); a range wholly outside gives the nearest index (as decode_region does)."""
    a, b = max(0, min(lo, n)), max(0, min(hi, n))
    if b <= a:
        a = n - 1 if lo >= n else 0
        b = a + 1
    return a, b
