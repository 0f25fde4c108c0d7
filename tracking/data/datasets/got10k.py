"""GOT-10k (Huang et al., TPAMI 2019): training (train / vottrain / votval) and evaluation (val, test).

Layout::

    root/train/list.txt                   sequence directory names, one per line (optional)
    root/train/GOT-10k_Train_000001/00000001.jpg ...
                                  /groundtruth.txt    x,y,w,h per frame (floats, 0-based, top-left corner)
                                  /absence.label      one 0/1 per frame, 1 = target absent
                                  /cover.label        one 0..8 per frame, visible fraction in eighths
                                  /meta_info.ini      optional: [METAINFO] object_class: ..., resolution: (w, h)
    root/val/...  root/test/...       the same, each with its own list.txt

``root`` may also be the split directory itself (e.g. ``.../GOT-10k/test``). Without list.txt the sequences
are the sorted sub-directories holding a groundtruth.txt.

Conventions: boxes are used as they are (0-based xywh, ``box_base`` 0; the GOT-10k toolkit scores the file
values). ``visible = not absent and cover > 0 and the box is plausible``
(:func:`tracking.data.sequence.plausible_boxes`, with ``meta_info.ini``'s resolution when it has one); a
missing absence.label / cover.label means "no information"; a label file with the wrong length is an
AnnotationError. Frames are ``FramePaths(seq_dir, "{:08d}.jpg", 1, T)``. In the test split ``groundtruth.txt`` has
the first frame only: T is then the number of ``.jpg`` files in the directory, the other boxes are NaN and
``first_frame_only`` is set (results are scored by the GOT-10k server).

Splits: "train", "val", "test" are the directories of that name; "vottrain" / "votval" are the subsets of
train that the VOT challenge excludes / uses for validation, read from the split file ``got10k_vottrain.txt``
/ ``got10k_votval.txt`` (or pytracking's ``got10k_vot_train_split.txt`` / ``got10k_vot_val_split.txt``) in
the split-list directories (:func:`tracking.data.roots.spec_dirs`). Any split can be narrowed with
``split_file=`` (names or 0-based indices into the split's list) or ``sequences=`` (names).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import numpy as np

from ..annotations import AnnotationError, check_length, read_boxes, read_flags, read_ints, read_list
from ..roots import find_spec_file, resolve_root, spec_dirs
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import (SplitFileNotFoundError, TrackingDataset, count_files, require_dir, resolve_split_file,
                   select_names, select_sequences)

KEY = "got10k"
SPLITS = ("train", "val", "test", "vottrain", "votval")
SPEC_FILES = {"vottrain": ("got10k_vottrain.txt", "got10k_vot_train_split.txt"),
              "votval": ("got10k_votval.txt", "got10k_vot_val_split.txt")}


def read_meta_info(path: str) -> dict[str, str]:
    """``key: value`` pairs of a GOT-10k meta_info.ini ({} if absent). Parsed by hand: the files are not always
    strict INI (duplicate keys, values with '%')."""
    meta: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return meta
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("[", "#", ";")):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        if sep:
            meta.setdefault(key.strip().lower(), value.strip())
    return meta


def _split_dir(root: str, directory: str) -> str:
    """``root/<directory>``, or ``root`` itself when it is already a split directory."""
    path = os.path.join(root, directory)
    if os.path.isdir(path):
        return path
    if os.path.isfile(os.path.join(root, "list.txt")) or any(
            os.path.isfile(os.path.join(e.path, "groundtruth.txt")) for e in os.scandir(root) if e.is_dir()):
        return root
    return require_dir("GOT-10k", path, f"{directory} split directory")


def _list_sequences(split_dir: str) -> list[str]:
    """Sequence names from list.txt, or (without one) the sorted sub-directories holding a groundtruth.txt."""
    list_file = os.path.join(split_dir, "list.txt")
    if os.path.isfile(list_file):
        return read_list(list_file)
    return sorted(e.name for e in os.scandir(split_dir)
                  if e.is_dir() and os.path.isfile(os.path.join(e.path, "groundtruth.txt")))


class Got10k(TrackingDataset):
    """GOT-10k: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding train/ val/ test/) or one split directory; default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_GOT10K_ROOT``).
        split: "train", "val", "test", "vottrain" or "votval".
        split_file: optional split file selecting sequences (names or 0-based indices into the split's
            list); for "vottrain" / "votval" it replaces the default split file.
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: no root, the split's directory or a requested sequence is missing.
        SplitFileNotFoundError: the vottrain / votval split file (or ``split_file``) is missing.
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, split: str = "train", split_file: str | None = None,
                 sequences: Iterable[str] | None = None):
        if split not in SPLITS:
            raise ValueError(f"GOT-10k: unknown split {split!r}, expected one of {SPLITS}")
        root = resolve_root(KEY, root, "GOT-10k")
        directory = "train" if split in SPEC_FILES else split
        split_dir = _split_dir(root, directory)
        names = _list_sequences(split_dir)

        if split_file is None and split in SPEC_FILES:
            split_file = find_spec_file(SPEC_FILES[split])
            if split_file is None:
                raise SplitFileNotFoundError(
                    f"GOT-10k split {split!r} needs the official split file {SPEC_FILES[split][0]} (or pytracking's "
                    f"{SPEC_FILES[split][1]}: sequence names or 0-based indices into train/list.txt, one per line), "
                    f"looked for in {', '.join(spec_dirs())}: place it there, set specs_dir in the settings file, "
                    "or pass split_file=...")
        if split_file is not None:
            path = resolve_split_file(split_file, "GOT-10k")
            names = select_sequences("GOT-10k", names, path)
        names = select_names("GOT-10k", names, sequences, split_dir)

        super().__init__(KEY, root, [self._load_sequence(split_dir, n) for n in names])
        self.split = split

    def _load_sequence(self, split_dir: str, name: str) -> SequenceInfo:
        seq_dir = os.path.join(split_dir, name)
        gt_path = os.path.join(seq_dir, "groundtruth.txt")
        if not os.path.isfile(gt_path):
            raise AnnotationError(gt_path, f"GOT-10k sequence {name!r} has no groundtruth.txt")
        boxes = read_boxes(gt_path, allow_empty=False)
        first_only = False
        if len(boxes) == 1:  # test split: the first frame is annotated only
            T = max(count_files(seq_dir, ".jpg"), 1)
            first_only = T > 1
            boxes = np.concatenate([boxes, np.full((T - 1, 4), np.nan)])
        T = len(boxes)
        meta = read_meta_info(os.path.join(seq_dir, "meta_info.ini"))
        image_size = None
        m = re.fullmatch(r"\(?\s*(\d+)\s*,\s*(\d+)\s*\)?", meta.get("resolution", ""))
        if m:  # "(width, height)"
            image_size = (int(m.group(2)), int(m.group(1)))
        visible = plausible_boxes(boxes, image_size)
        extra: dict = {}

        absence_path = os.path.join(seq_dir, "absence.label")
        if os.path.isfile(absence_path):
            visible &= ~check_length(absence_path, read_flags(absence_path), T)
        cover_path = os.path.join(seq_dir, "cover.label")
        if os.path.isfile(cover_path):
            cover = check_length(cover_path, read_ints(cover_path), T)
            visible &= cover > 0
            extra["cover"] = cover.astype(np.uint8)

        class_name = meta.get("object_class") or None
        for key in ("motion_class", "major_class", "root_class", "motion_adverb"):
            if meta.get(key):
                extra[key] = meta[key]

        return SequenceInfo(dataset=KEY, name=name, frames=FramePaths(seq_dir, "{:08d}.jpg", 1, T), boxes=boxes,
                            visible=visible, class_name=class_name, image_size=image_size, extra=extra,
                            first_frame_only=first_only)
