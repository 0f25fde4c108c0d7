"""Tracker result files: one ``x,y,w,h`` line per frame (``<seq>.txt``), per-frame times (``<seq>_time.txt``).

Boxes are xywh in the benchmark's own pixel coordinates, written with commas (the GOT-10k server rejects
spaces) and as floats with 4 decimals (never truncated to ints). Reading accepts commas, tabs or spaces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


class ResultFileError(ValueError):
    """A result file that cannot be used (missing, empty, malformed line), with the file and line named."""


def write_boxes(path: str | os.PathLike, boxes: np.ndarray) -> None:
    """Write [T, 4] boxes, one ``x,y,w,h`` line each (4 decimals; NaN written as ``nan``). Atomic."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"write_boxes: boxes must be [T, 4], got {boxes.shape}")
    _atomic_write(path, "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes))


def write_times(path: str | os.PathLike, seconds: Sequence[float]) -> None:
    """Write one per-frame time in seconds per line. Atomic."""
    _atomic_write(path, "".join(f"{t:.6f}\n" for t in seconds))


def read_boxes(path: str | os.PathLike, num_fields: int = 4) -> np.ndarray:
    """[T, num_fields] float64 from a result or ground-truth file (commas, tabs or spaces).

    Raises ResultFileError for a missing or empty file or a malformed line (naming file and line); ``nan``
    fields are kept as NaN (the metrics decide what they mean).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ResultFileError(f"{path}: no such file")
    rows = []
    with open(path) as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        fields = line.replace(",", " ").replace("\t", " ").split()
        if len(fields) != num_fields:
            raise ResultFileError(f"{path}:{number}: expected {num_fields} values, got {len(fields)}: {line!r}")
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise ResultFileError(f"{path}:{number}: not a number in {line!r}") from None
    if not rows:
        raise ResultFileError(f"{path}: empty file")
    return np.asarray(rows, dtype=np.float64)


def _atomic_write(path: str | os.PathLike, text: str) -> None:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
