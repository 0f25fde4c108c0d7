"""Annotation I/O: every text file format of the datasets and the evaluation, read and written in one place.

Formats (one parser each):

- **box files** (:func:`read_boxes`): one box per line, ``num_fields`` numbers separated by commas, tabs or
  whitespace (GOT-10k / LaSOT / TrackingNet / OTB ground truth, tracker results). Values are returned exactly
  as in the file: no 0/1-based shift (the dataset classes do that and say so).
- **region files** (:func:`read_regions`): VOT-style lines of 4 values (``x, y, w, h``), of an even number
  >= 6 (polygon corners ``x1, y1, x2, y2, ...``, turned into their axis-aligned box by
  :func:`polygon_to_aabb`), or of a single value (VOT's status codes, a NaN row). Tracker results are read
  with it too (4-value or 8-value lines).
- **integer and flag files** (:func:`read_ints`, :func:`read_flags`): one value per line or comma /
  whitespace separated on one line (GOT-10k ``absence.label`` / ``cover.label``, LaSOT
  ``full_occlusion.txt`` / ``out_of_view.txt``); flags must be exactly 0 or 1.
- **list files** (:func:`read_list`): one entry per line, blank lines and ``#`` comments skipped
  (``list.txt``, split files, ``testing_set.txt``).
- **result files** (:func:`write_boxes`, :func:`write_times`, :func:`read_times`): ``x,y,w,h`` lines with
  commas (the GOT-10k server rejects spaces) and 4-decimal floats, one per-frame time in seconds per line;
  written atomically.

Text encodings: UTF-8, UTF-8 with a byte-order mark (as Windows tools write it) and UTF-16 with a byte-order
mark are decoded; anything else is an :class:`AnnotationError` naming the file.

Errors: every problem is an :class:`AnnotationError` (a ``ValueError``) whose message starts with the file
and, where one applies, the 1-based line: ``"<path>, line <n>: <what>"``.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Sequence

import numpy as np

from .atomic import atomic_path

__all__ = ["AnnotationError", "check_length", "polygon_to_aabb", "read_boxes", "read_flags", "read_ints",
           "read_list", "read_regions", "read_text", "read_times", "write_boxes", "write_times"]


class AnnotationError(ValueError):
    """An annotation, list or result file that cannot be used.

    Attributes:
        path: the file.
        line: the 1-based line, or None when the problem is the whole file.
    """

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None) -> None:
        self.path = os.fspath(path)
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


# ----------------------------------------------------------------------------------------------- text


def read_text(path: str | os.PathLike) -> str:
    """The text of a file: UTF-8 (with or without a BOM) or UTF-16 with a BOM.

    Raises:
        AnnotationError: the file is missing or unreadable, holds NUL bytes without a UTF-16 BOM, or is not
            valid text in the detected encoding (naming the line and the byte offset of the first bad byte).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise AnnotationError(path, "file not found") from None
    except OSError as e:
        raise AnnotationError(path, f"cannot read the file ({e.strerror or e})") from None
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in data:
        raise AnnotationError(path, "holds NUL bytes: UTF-16 text without a byte-order mark, or not a text file; "
                                    "save it as UTF-8")
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[:e.start].decode(encoding, errors="replace").count("\n") + 1
        raise AnnotationError(path, f"not valid {encoding.upper().replace('-SIG', '')} text (byte {e.start}: "
                                    f"{data[e.start:e.end]!r}); save it as UTF-8", line) from None


def _lines(path: str) -> list[str]:
    """The file's lines without trailing blank lines."""
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _split_fields(line: str) -> list[str]:
    if "," in line:
        return [s.strip() for s in line.split(",")]
    return line.split()  # tabs and / or spaces


def _numbers(path: str, number: int, line: str) -> np.ndarray:
    if not line.strip():
        raise AnnotationError(path, "empty line before the last one", number)
    try:
        return np.array([float(s) for s in _split_fields(line)], dtype=np.float64)
    except ValueError:
        raise AnnotationError(path, f"not a number in {line!r}", number) from None


def _require_rows(path: str, rows: int, allow_empty: bool) -> None:
    if rows == 0 and not allow_empty:
        raise AnnotationError(path, "empty file")


# ----------------------------------------------------------------------------------------------- boxes


def read_boxes(path: str | os.PathLike, num_fields: int = 4, allow_empty: bool = True) -> np.ndarray:
    """``[T, num_fields]`` float64: one box per line, fields separated by commas, tabs or whitespace.

    Values are exactly those of the file (no base conversion). ``NaN`` fields are kept (such boxes are
    invalid: :func:`tracking.data.sequence.valid_boxes`); blank lines at the end are ignored.

    Raises:
        AnnotationError: a line has the wrong number of fields, a field is not a number, a blank line is
            followed by more boxes, or (``allow_empty=False``) the file holds no box.
    """
    path = os.fspath(path)
    text = read_text(path)
    lines = text.rstrip().splitlines()
    _require_rows(path, len(lines), allow_empty)
    if not lines:
        return np.zeros((0, num_fields), dtype=np.float64)
    # Fast path: numpy's C parser with the first line's separator; it skips blank lines, so the row count is
    # checked. Anything unusual (mixed separators, errors) takes the line-by-line path, which names the line.
    delimiter = "," if "," in lines[0] else None
    try:
        boxes = np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, comments=None, dtype=np.float64)
        if boxes.shape == (len(lines), num_fields):
            return boxes
    except ValueError:
        pass
    boxes = np.empty((len(lines), num_fields), dtype=np.float64)
    for i, line in enumerate(lines):
        values = _numbers(path, i + 1, line)
        if values.size != num_fields:
            raise AnnotationError(path, f"expected {num_fields} numbers, got {values.size} in {line!r}", i + 1)
        boxes[i] = values
    return boxes


def polygon_to_aabb(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """[4] xywh of one region line: 4 values are already xywh; an even number >= 6 are polygon corners
    ``x1, y1, x2, y2, ...`` whose axis-aligned box is their min / max (``w = max_x - min_x``, no +1).

    Raises:
        ValueError: any other number of values.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 4:
        return v.copy()
    if v.size < 6 or v.size % 2:
        raise ValueError(f"expected 4 values (x,y,w,h) or an even number >= 6 (polygon), got {v.size}")
    xs, ys = v[0::2], v[1::2]
    x0, y0 = xs.min(), ys.min()
    return np.array([x0, y0, xs.max() - x0, ys.max() - y0])


def read_regions(path: str | os.PathLike, allow_empty: bool = True) -> np.ndarray:
    """``[T, 4]`` xywh from a region file (VOT ground truth, tracker results).

    Lines hold 4 values (xywh, kept as they are, NaN included), an even number >= 6 (a polygon: its
    axis-aligned box; a polygon with a NaN is a NaN row) or 1 value (a VOT status code: a NaN row).
    Separators: commas, tabs or spaces. VOT2020 mask lines (``m...``) are not supported.

    Raises:
        AnnotationError: a malformed line, a mask line, or (``allow_empty=False``) an empty file.
    """
    path = os.fspath(path)
    lines = _lines(path)
    _require_rows(path, len(lines), allow_empty)
    rows = np.empty((len(lines), 4), dtype=np.float64)
    for i, line in enumerate(lines):
        if line.lstrip().startswith("m"):
            raise AnnotationError(path, "mask annotations are not supported", i + 1)
        values = _numbers(path, i + 1, line)
        if values.size == 1 or (values.size > 4 and not np.isfinite(values).all()):
            rows[i] = np.nan
            continue
        try:
            rows[i] = polygon_to_aabb(values)
        except ValueError as e:
            raise AnnotationError(path, f"{e} in {line!r}", i + 1) from None
    return rows


# ----------------------------------------------------------------------------------------------- integers


def read_ints(path: str | os.PathLike) -> np.ndarray:
    """[N] int64: integers one per line, or comma / whitespace separated ("1.0" is accepted, "0.7" is not)."""
    path = os.fspath(path)
    values = []
    for i, line in enumerate(read_text(path).splitlines()):
        for s in re.split(r"[,\s]+", line.strip()):
            if not s:
                continue
            try:
                values.append(int(s))
            except ValueError:
                try:
                    v = float(s)
                except ValueError:
                    v = float("nan")
                if not v.is_integer():
                    raise AnnotationError(path, f"not an integer: {s!r}", i + 1) from None
                values.append(int(v))
    return np.asarray(values, dtype=np.int64)


def read_flags(path: str | os.PathLike) -> np.ndarray:
    """[N] bool from a 0/1 flag file (one flag per line, or one comma-separated line)."""
    values = read_ints(path)
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        raise AnnotationError(path, f"flag {int(bad[0])} (0-based) is {int(values[bad[0]])}, expected 0 or 1")
    return values.astype(bool)


def check_length(path: str | os.PathLike, values: np.ndarray, expected: int, what: str = "frame") -> np.ndarray:
    """``values`` if it has ``expected`` entries, else an AnnotationError naming the file and both counts."""
    if len(values) != expected:
        raise AnnotationError(path, f"{len(values)} entries, expected {expected} (one per {what})")
    return values


def read_list(path: str | os.PathLike) -> list[str]:
    """The entries of a list file: stripped lines, without blank lines and ``#`` comments."""
    entries = []
    for line in read_text(path).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append(line)
    return entries


# ----------------------------------------------------------------------------------------------- results


def write_boxes(path: str | os.PathLike, boxes: np.ndarray) -> None:
    """Write [T, 4] boxes, one ``x,y,w,h`` line each (4 decimals; NaN as ``nan``), atomically."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"write_boxes: boxes must be [T, 4], got {boxes.shape}")
    _atomic_write(path, "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes))


def write_times(path: str | os.PathLike, seconds: Sequence[float]) -> None:
    """Write one per-frame time in seconds per line, atomically."""
    _atomic_write(path, "".join(f"{t:.6f}\n" for t in seconds))


def read_times(path: str | os.PathLike) -> np.ndarray:
    """[T] float64 per-frame seconds (one per line, or comma / whitespace separated)."""
    path = os.fspath(path)
    values = []
    for i, line in enumerate(read_text(path).splitlines()):
        for s in re.split(r"[,\s]+", line.strip()):
            if s:
                try:
                    values.append(float(s))
                except ValueError:
                    raise AnnotationError(path, f"not a number: {s!r}", i + 1) from None
    return np.asarray(values, dtype=np.float64)


def _atomic_write(path: str | os.PathLike, text: str) -> None:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
