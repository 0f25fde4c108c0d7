"""GOT-10k (Huang et al., TPAMI 2019).

Layout::

    root/train/list.txt                   sequence directory names, one per line
    root/train/GOT-10k_Train_000001/00000001.jpg ...
                                  /groundtruth.txt    x,y,w,h per frame (floats, 0-based, top-left corner)
                                  /absence.label      one 0/1 per frame, 1 = target absent
                                  /cover.label        one 0..8 per frame, visible fraction in eighths
                                  /meta_info.ini      optional: [METAINFO] object_class: ..., resolution: (w, h)
    root/val/...  root/test/...       the same, each with its own list.txt

Conventions: boxes are used as they are (already 0-based xywh). ``visible = not absent and cover > 0 and the box
is valid``; a missing absence.label / cover.label (test split) means "no information" (not used). Frames are
``FramePaths(seq_dir, "{:08d}.jpg", 1, T)``. In the test split ``groundtruth.txt`` has the first frame only:
T is then the number of ``.jpg`` files in the directory and the other boxes are NaN (not visible).

Splits: "train", "val", "test" are the directories of that name; "vottrain" / "votval" are the subsets of
train that the VOT challenge excludes / uses for validation, read from the split files
``tracking/data/specs/got10k_vottrain.txt`` / ``got10k_votval.txt`` (not shipped, see specs/README.md). Any
split can be narrowed with ``split_file=`` (a path, or a file name under ``tracking/data/specs/``).
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..sequence import FramePaths, SequenceInfo, valid_boxes
from .base import (SPECS_DIR, AnnotationError, SplitFileNotFoundError, TrackingDataset, check_length,
                   read_boxes, read_flags, read_ints, read_split_file, require_dir, resolve_root,
                   resolve_split_file, select_sequences)

ENV_VAR = "TRACKING_GOT10K_ROOT"
SPLITS = ("train", "val", "test", "vottrain", "votval")
_SPEC_FILES = {"vottrain": "got10k_vottrain.txt", "votval": "got10k_votval.txt"}


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


def _count_files(directory: str, ext: str) -> int:
    with os.scandir(directory) as it:
        return sum(1 for e in it if e.name.lower().endswith(ext))


def _list_sequences(split_dir: str) -> list[str]:
    """Sequence names from list.txt, or (without one) the sorted sub-directories holding a groundtruth.txt."""
    list_file = os.path.join(split_dir, "list.txt")
    if os.path.isfile(list_file):
        with open(list_file, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    return sorted(e.name for e in os.scandir(split_dir)
                  if e.is_dir() and os.path.isfile(os.path.join(e.path, "groundtruth.txt")))


class Got10k(TrackingDataset):
    """GOT-10k: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding train/ val/ test/); default ``$TRACKING_GOT10K_ROOT``.
        split: "train", "val", "test", "vottrain" or "votval".
        split_file: optional split file selecting sequences (names or 0-based indices into the split's
            list.txt); for "vottrain" / "votval" it replaces the default spec file.

    Raises:
        DatasetNotFoundError: no root, or the split's directory is missing.
        SplitFileNotFoundError: the vottrain / votval spec file (or ``split_file``) is missing.
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, split: str = "train", split_file: str | None = None):
        if split not in SPLITS:
            raise ValueError(f"GOT-10k: unknown split {split!r}, expected one of {SPLITS}")
        root = resolve_root("GOT-10k", root, ENV_VAR)
        directory = "train" if split in _SPEC_FILES else split
        split_dir = require_dir("GOT-10k", os.path.join(root, directory), f"{directory} split directory")
        names = _list_sequences(split_dir)

        if split_file is None and split in _SPEC_FILES:
            spec = os.path.join(SPECS_DIR, _SPEC_FILES[split])
            if not os.path.isfile(spec):
                raise SplitFileNotFoundError(
                    f"GOT-10k split {split!r} needs the official split file {spec!r} (sequence names or 0-based "
                    f"indices into train/list.txt, one per line), which cannot be downloaded here: place it there "
                    f"(see {os.path.join(SPECS_DIR, 'README.md')}) or pass split_file=...")
            split_file = spec
        if split_file is not None:
            path = resolve_split_file(split_file, "GOT-10k")
            names = select_sequences("GOT-10k", names, read_split_file(path), path)

        super().__init__("got10k", root, [self._load_sequence(split_dir, n) for n in names])
        self.split = split

    def _load_sequence(self, split_dir: str, name: str) -> SequenceInfo:
        seq_dir = os.path.join(split_dir, name)
        gt_path = os.path.join(seq_dir, "groundtruth.txt")
        if not os.path.isfile(gt_path):
            raise AnnotationError(f"GOT-10k: sequence {name!r} has no {gt_path}")
        boxes = read_boxes(gt_path)
        if len(boxes) == 1:  # test split: the first frame is annotated only
            T = max(_count_files(seq_dir, ".jpg"), 1)
            boxes = np.concatenate([boxes, np.full((T - 1, 4), np.nan)])
        T = len(boxes)
        visible = valid_boxes(boxes)
        extra: dict = {}

        absence_path = os.path.join(seq_dir, "absence.label")
        if os.path.isfile(absence_path):
            absent = check_length(absence_path, read_flags(absence_path), T)
            visible &= ~absent
        cover_path = os.path.join(seq_dir, "cover.label")
        if os.path.isfile(cover_path):
            cover = check_length(cover_path, read_ints(cover_path), T)
            visible &= cover > 0
            extra["cover"] = cover.astype(np.uint8)

        meta = read_meta_info(os.path.join(seq_dir, "meta_info.ini"))
        class_name = meta.get("object_class") or None
        image_size = None
        m = re.fullmatch(r"\(?\s*(\d+)\s*,\s*(\d+)\s*\)?", meta.get("resolution", ""))
        if m:  # "(width, height)"
            image_size = (int(m.group(2)), int(m.group(1)))
        for key in ("motion_class", "major_class", "root_class", "motion_adverb"):
            if meta.get(key):
                extra[key] = meta[key]

        return SequenceInfo(dataset="got10k", name=name, frames=FramePaths(seq_dir, "{:08d}.jpg", 1, T),
                            boxes=boxes, visible=visible, class_name=class_name, image_size=image_size, extra=extra)
