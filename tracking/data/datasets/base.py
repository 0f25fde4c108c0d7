"""Base class, root resolution, split files and annotation parsers shared by the dataset classes.

A dataset class parses its annotation files once, in its constructor, into a list of
:class:`~tracking.data.sequence.SequenceInfo`; nothing here opens an image.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..sequence import SequenceInfo

SPECS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")
"""``tracking/data/specs/``: split files referred to by name (see its README.md)."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root (or a directory / split file a dataset needs) does not exist."""


class SplitFileNotFoundError(DatasetNotFoundError):
    """A split file (e.g. the official GOT-10k vottrain list) is not where it was looked for."""


class AnnotationError(ValueError):
    """An annotation file is malformed; the message names the file (and the 1-based line where one applies)."""


# ----------------------------------------------------------------------------------------------- roots


def resolve_root(dataset_name: str, root: str | os.PathLike | None, env_var: str | None) -> str:
    """The dataset root: ``root`` if given, else the environment variable ``env_var``.

    Raises:
        DatasetNotFoundError: neither is set, or the directory does not exist. The message names the dataset,
            the path tried and the variable to set.
    """
    source = "the root argument"
    if root is None and env_var is not None:
        value = os.environ.get(env_var)
        if value:
            root, source = value, f"${env_var}"
    if root is None:
        hint = f"set the environment variable {env_var} or pass root=..." if env_var else "pass root=..."
        raise DatasetNotFoundError(f"{dataset_name}: no dataset root given; {hint}")
    path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(path):
        hint = f"set the environment variable {env_var} to the dataset directory or pass root=..." if env_var \
            else "pass root=... pointing to the dataset directory"
        raise DatasetNotFoundError(f"{dataset_name}: dataset root {path!r} (from {source}) is not a directory; {hint}")
    return path


def require_dir(dataset_name: str, path: str, what: str) -> str:
    """``path`` if it is a directory, else a DatasetNotFoundError naming the dataset and what was expected."""
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"{dataset_name}: {what} {path!r} does not exist")
    return path


# ----------------------------------------------------------------------------------------------- parsers


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as f:  # utf-8-sig: tolerate a BOM (files written on Windows)
            return f.read()
    except FileNotFoundError:
        raise AnnotationError(f"{path}: annotation file not found") from None


def _split_fields(line: str) -> list[str]:
    if "," in line:
        return [s.strip() for s in line.split(",")]
    return line.split()  # tabs and / or spaces


def read_boxes(path: str | os.PathLike, num_fields: int = 4) -> np.ndarray:
    """Parse a box file: one box per line, fields separated by commas, tabs or whitespace.

    Returns a ``[T, num_fields]`` float64 array, exactly as in the file (no base conversion). ``NaN`` fields
    are accepted (such boxes are invalid, hence not visible); empty lines at the end are ignored.

    Raises:
        AnnotationError: a line has the wrong number of fields, a field is not a number, or an empty line is
            followed by more boxes. The message names the file and the 1-based line number.
    """
    path = os.fspath(path)
    text = _read_text(path)
    lines = text.rstrip().splitlines()
    if not lines:
        return np.zeros((0, num_fields), dtype=np.float64)
    # Fast path: numpy's C parser, with the separator of the first line; it would skip blank lines, so the row
    # count is checked. Anything unusual (mixed separators, errors) takes the line-by-line path below.
    delimiter = "," if "," in lines[0] else None
    try:
        boxes = np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, comments=None, dtype=np.float64)
        if boxes.shape == (len(lines), num_fields):
            return boxes
    except ValueError:
        pass
    boxes = np.empty((len(lines), num_fields), dtype=np.float64)
    for i, line in enumerate(lines):
        if not line.strip():
            raise AnnotationError(f"{path}, line {i + 1}: empty line before the last box")
        fields = _split_fields(line)
        if len(fields) != num_fields:
            raise AnnotationError(f"{path}, line {i + 1}: expected {num_fields} numbers, got {len(fields)} in {line!r}")
        try:
            boxes[i] = [float(s) for s in fields]
        except ValueError:
            raise AnnotationError(f"{path}, line {i + 1}: not a number in {line!r}") from None
    return boxes


def read_ints(path: str | os.PathLike) -> np.ndarray:
    """Parse a file of integers, one per line or comma / whitespace separated on one line. Empty file -> [0]."""
    path = os.fspath(path)
    values = []
    for i, line in enumerate(_read_text(path).splitlines()):
        for s in re.split(r"[,\s]+", line.strip()):
            if not s:
                continue
            try:
                values.append(int(s))
            except ValueError:
                try:  # "1.0" / "0.000" as written by some tools
                    v = float(s)
                    if not v.is_integer():
                        raise ValueError
                    values.append(int(v))
                except ValueError:
                    raise AnnotationError(f"{path}, line {i + 1}: not an integer: {s!r}") from None
    return np.asarray(values, dtype=np.int64)


def read_flags(path: str | os.PathLike) -> np.ndarray:
    """Parse a 0/1 flag file (one flag per line, or one comma-separated line) into a [T] bool array."""
    values = read_ints(path)
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        raise AnnotationError(f"{os.fspath(path)}: flag {int(bad[0])} (0-based) is {int(values[bad[0]])}, "
                              "expected 0 or 1")
    return values.astype(bool)


def check_length(path: str, values: np.ndarray, expected: int, what: str = "frames") -> np.ndarray:
    """``values`` if it has ``expected`` entries, else an AnnotationError naming the file and the counts."""
    if len(values) != expected:
        raise AnnotationError(f"{path}: {len(values)} entries, expected {expected} (one per {what[:-1]})")
    return values


# ----------------------------------------------------------------------------------------------- split files


def resolve_split_file(split_file: str | os.PathLike, dataset_name: str = "") -> str:
    """A split file given as a path, or as a file name under ``tracking/data/specs/``."""
    path = os.path.expanduser(os.fspath(split_file))
    if os.path.isfile(path):
        return os.path.abspath(path)
    in_specs = os.path.join(SPECS_DIR, path)
    if os.path.isfile(in_specs):
        return in_specs
    raise SplitFileNotFoundError(f"{dataset_name + ': ' if dataset_name else ''}split file {os.fspath(split_file)!r} "
                                 f"not found (tried {os.path.abspath(path)!r} and {in_specs!r})")


def read_split_file(path: str) -> list[str | int]:
    """Entries of a split file: one sequence name or 0-based index per line; blank lines and '#' comments skipped."""
    entries: list[str | int] = []
    for line in _read_text(path).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append(int(line) if line.isdigit() else line)
    return entries


def select_sequences(dataset_name: str, names: Sequence[str], entries: Iterable[str | int],
                     split_path: str) -> list[str]:
    """The names a split file selects, in its order: names, or 0-based indices into ``names``.

    Raises:
        AnnotationError: an index is out of range or a name is not in ``names`` (the message lists a few).
    """
    known = set(names)
    selected, missing = [], []
    for e in entries:
        if isinstance(e, int):
            if not 0 <= e < len(names):
                raise AnnotationError(f"{split_path}: index {e} out of range for the {len(names)} sequences of "
                                      f"{dataset_name}")
            selected.append(names[e])
        elif e in known:
            selected.append(e)
        else:
            missing.append(e)
    if missing:
        raise AnnotationError(f"{dataset_name}: {len(missing)} sequence(s) of split file {split_path} not found in "
                              f"the dataset, e.g. {', '.join(missing[:5])}")
    return selected


# ----------------------------------------------------------------------------------------------- caching


_CACHE_VERSION = 1


def cached_index(cache_path: str | None, sources: Sequence[str], build: Callable[[], list[SequenceInfo]]
                 ) -> list[SequenceInfo]:
    """``build()``, or its result pickled at ``cache_path`` when that file is newer than every source file.

    A cache that cannot be written (read-only dataset directory) is silently skipped. Only load caches you
    wrote yourself: they are pickles.
    """
    if cache_path is None:
        return build()
    try:
        newest = max(os.path.getmtime(s) for s in sources)
        if os.path.getmtime(cache_path) >= newest:
            with open(cache_path, "rb") as f:
                version, sequences = pickle.load(f)
            if version == _CACHE_VERSION:
                return sequences
    except (OSError, ValueError, pickle.UnpicklingError, EOFError):
        pass
    sequences = build()
    try:
        tmp = f"{cache_path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump((_CACHE_VERSION, sequences), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache_path)
    except OSError:
        pass
    return sequences


# ----------------------------------------------------------------------------------------------- base class


class TrackingDataset(Sequence[SequenceInfo]):
    """An indexed list of :class:`SequenceInfo`, built once by the subclass constructor.

    Attributes:
        name: dataset name (e.g. "got10k"), also ``SequenceInfo.dataset`` of its sequences.
        root: dataset root directory.
        sequences: the sequences, in a deterministic order.
    """

    is_video_dataset: bool = True
    """False for image datasets (COCO), whose 'sequences' are single frames."""

    def __init__(self, name: str, root: str, sequences: list[SequenceInfo]):
        self.name = name
        self.root = root
        self.sequences = list(sequences)
        self._by_name: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index):  # type: ignore[override]
        """A sequence by position (int or slice) or by name (str)."""
        if isinstance(index, str):
            if self._by_name is None:
                self._by_name = {s.name: i for i, s in enumerate(self.sequences)}
            try:
                return self.sequences[self._by_name[index]]
            except KeyError:
                raise KeyError(f"{self.name}: no sequence named {index!r}") from None
        return self.sequences[index]

    @property
    def sequence_names(self) -> list[str]:
        return [s.name for s in self.sequences]

    @property
    def class_names(self) -> list[str]:
        """Sorted object classes of the sequences that have one (empty if the dataset has no class labels)."""
        return sorted({s.class_name for s in self.sequences if s.class_name is not None})

    def sequences_per_class(self) -> dict[str, list[int]]:
        """Class name -> indices of its sequences (sequences without a class are left out)."""
        out: dict[str, list[int]] = {}
        for i, s in enumerate(self.sequences):
            if s.class_name is not None:
                out.setdefault(s.class_name, []).append(i)
        return out

    @property
    def num_frames(self) -> int:
        return sum(len(s) for s in self.sequences)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, root={self.root!r}, sequences={len(self)})"
