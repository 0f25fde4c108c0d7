"""The dataset base class and the helpers the dataset classes share: directories, frame files, split files,
and sequence selection (the parsed-index cache: :mod:`.index_cache`).

A dataset class parses its annotation files once, in its constructor, into a list of
:class:`~tracking.data.sequence.SequenceInfo` (annotation I/O: :mod:`tracking.data.annotations`; roots:
:mod:`tracking.data.roots`); nothing here decodes an image.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from ..annotations import AnnotationError, read_list
from ..roots import DatasetNotFoundError, find_spec_file
from ..sequence import SequenceInfo

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class SplitFileNotFoundError(DatasetNotFoundError):
    """A split file (e.g. the official GOT-10k vottrain list) is not where it was looked for."""


# ----------------------------------------------------------------------------------------------- files


def require_dir(dataset_name: str, path: str, what: str) -> str:
    """``path`` if it is a directory, else a DatasetNotFoundError naming the dataset and what was expected."""
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"{dataset_name}: {what} {path!r} does not exist")
    return path


def natural_key(name: str) -> list:
    """Sort key comparing the digit runs of a name as numbers ("frame2" < "frame10", "2.jpg" < "10.jpg")."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def list_images(directory: str) -> list[str]:
    """The image files directly in ``directory`` (:data:`IMAGE_EXTENSIONS`), in natural order; [] when the
    directory does not exist."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    files = [f for f in entries if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(directory, f))]
    return [os.path.join(directory, f) for f in sorted(files, key=natural_key)]


def count_files(directory: str, extension: str) -> int:
    """How many files in ``directory`` end with ``extension`` (case-insensitive)."""
    with os.scandir(directory) as it:
        return sum(1 for e in it if e.name.lower().endswith(extension))


def missing_error(dataset_name: str, what: str, paths: Sequence[str]) -> DatasetNotFoundError:
    """One DatasetNotFoundError listing up to five missing paths (and how many in all)."""
    shown = ", ".join(paths[:5]) + (f" ... ({len(paths)} in all)" if len(paths) > 5 else "")
    return DatasetNotFoundError(f"{dataset_name}: {what} not found: {shown}")


# ----------------------------------------------------------------------------------------------- selection


def resolve_split_file(split_file: str | os.PathLike, dataset_name: str = "") -> str:
    """A split file given as a path, or as a file name in the split-list directories
    (:func:`tracking.data.roots.spec_dirs`)."""
    path = os.path.expanduser(os.fspath(split_file))
    if os.path.isfile(path):
        return os.path.abspath(path)
    found = find_spec_file([path])
    if found is not None:
        return found
    raise SplitFileNotFoundError(f"{dataset_name + ': ' if dataset_name else ''}split file {os.fspath(split_file)!r} "
                                 f"not found (tried {os.path.abspath(path)!r} and the split-list directories)")


def select_sequences(dataset_name: str, names: Sequence[str], split_path: str) -> list[str]:
    """The names a split file selects, in its order: sequence names, or 0-based indices into ``names``.

    Raises:
        AnnotationError: an index is out of range or a name is not in ``names`` (the message lists a few).
    """
    known = set(names)
    selected, missing = [], []
    for entry in read_list(split_path):
        if entry.isdigit():
            index = int(entry)
            if not 0 <= index < len(names):
                raise AnnotationError(split_path, f"index {index} out of range for the {len(names)} sequences of "
                                                  f"{dataset_name}")
            selected.append(names[index])
        elif entry in known:
            selected.append(entry)
        else:
            missing.append(entry)
    if missing:
        raise AnnotationError(split_path, f"{len(missing)} sequence(s) not found in {dataset_name}, e.g. "
                                          f"{', '.join(missing[:5])}")
    return selected


def select_names(dataset_name: str, available: Sequence[str], requested: str | Iterable[str] | None,
                 where: str) -> list[str]:
    """``requested`` sequence names (all of ``available`` when None), each of which must be available.

    Raises:
        DatasetNotFoundError: names not in ``available`` (a few are listed, with ``where`` they were looked
            for).
    """
    if requested is None:
        return list(available)
    requested = [requested] if isinstance(requested, str) else list(requested)
    known = set(available)
    missing = [n for n in requested if n not in known]
    if missing:
        raise missing_error(dataset_name, f"sequence(s) in {where}", missing)
    return requested


# ----------------------------------------------------------------------------------------------- base class


class TrackingDataset(Sequence[SequenceInfo]):
    """An indexed list of :class:`SequenceInfo`, built once by the subclass constructor; used by training
    (samplers) and by evaluation (the OPE runner and the report) alike.

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
        """A sequence by position (int), positions (slice: a list) or name (str)."""
        if isinstance(index, str):
            if self._by_name is None:
                self._by_name = {s.name: i for i, s in enumerate(self.sequences)}
            try:
                return self.sequences[self._by_name[index]]
            except KeyError:
                raise KeyError(f"{self.name}: no sequence named {index!r}") from None
        return self.sequences[index]

    @property
    def names(self) -> list[str]:
        """The sequence names, in order."""
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
