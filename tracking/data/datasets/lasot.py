"""LaSOT (Fan et al., CVPR 2019): training (the 1120 train sequences) and evaluation (the 280 test ones).

Layout::

    root/<class>/<class>-<n>/img/00000001.jpg ...      (root/<class>-<n>/... is accepted too)
                            /groundtruth.txt      x,y,w,h per frame, integers, 1-based (first pixel is 1)
                            /full_occlusion.txt   one line of comma-separated 0/1, 1 = fully occluded
                            /out_of_view.txt      the same, 1 = out of view

Conventions: boxes are converted to 0-based by subtracting 1 from x and y (w, h unchanged; ``box_base`` 1, so
``ground_truth`` gives the file values that the LaSOT toolkit scores). ``visible = not fully occluded and not out
of view and the box is plausible`` (:func:`tracking.data.sequence.plausible_boxes`); a missing flag file means "no
information". Frames are ``FramePaths(seq/img, "{:08d}.jpg", 1, T)``. The class name is the part before the last
'-'.

Which sequences, in this order of precedence:

- ``split_file``: exactly the sequences it names (``<class>-<n>``, or 0-based indices into the sorted list of
  all sequences found);
- ``split="train"`` / ``"test"`` / any other name: the split file ``lasot_<split>.txt`` (or pytracking's
  ``lasot_<split>_split.txt``) in the split-list directories; for "test" also ``root/testing_set.txt`` (as the
  LaSOT release ships it);
- otherwise EVERY ``<class>-<n>`` directory found under root (sorted by class, then number), with a warning
  for "train" and "test": the LaSOT archive holds both, so a list avoids training on the test set (or scoring
  the training set); ``split=None`` (or "all") indexes everything without a warning.

``classes=`` keeps only those classes, ``sequences=`` only those names.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable

from ..annotations import AnnotationError, check_length, read_boxes, read_flags, read_list
from ..roots import find_spec_file, resolve_root
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import TrackingDataset, missing_error, resolve_split_file, select_names, select_sequences

KEY = "lasot"
_SEQ_RE = re.compile(r"^(.+)-(\d+)$")


def class_of(name: str) -> str:
    """The class of a LaSOT sequence name ``<class>-<n>``."""
    m = _SEQ_RE.match(name)
    if not m:
        raise ValueError(f"LaSOT: sequence name {name!r} is not of the form <class>-<n>")
    return m.group(1)


def _find_sequences(root: str) -> list[str]:
    """Every ``<class>-<n>`` directory under root (in class directories or flat), by class then number."""
    found = []
    for entry in os.scandir(root):
        if not entry.is_dir():
            continue
        m = _SEQ_RE.match(entry.name)
        if m and os.path.isfile(os.path.join(entry.path, "groundtruth.txt")):
            found.append((m.group(1), int(m.group(2)), entry.name))
            continue
        for sub in os.scandir(entry.path):
            m = _SEQ_RE.match(sub.name)
            if m and m.group(1) == entry.name and sub.is_dir():
                found.append((entry.name, int(m.group(2)), sub.name))
    return [name for _, _, name in sorted(found)]


class Lasot(TrackingDataset):
    """LaSOT: see the module docstring for layout, conventions and how sequences are selected.

    Args:
        root: dataset root (holding the class directories); default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_LASOT_ROOT``).
        split: "train", "test", another split-file name, or None / "all" (every sequence found).
        split_file: split file of sequence names ``<class>-<n>`` (or 0-based indices into the sorted list).
        classes: optional class names to keep.
        sequences: optional sequence names to keep (each must exist).

    Raises:
        DatasetNotFoundError: no root, or selected sequences are missing (a few are listed).
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, split: str | None = "train", split_file: str | None = None,
                 classes: Iterable[str] | None = None, sequences: Iterable[str] | None = None):
        root = resolve_root(KEY, root, "LaSOT")
        self.root = root
        if split_file is None and split not in (None, "all"):
            split_file = find_spec_file([f"lasot_{split}.txt", f"lasot_{split}_split.txt"])
            if split_file is None and split == "test" and os.path.isfile(os.path.join(root, "testing_set.txt")):
                split_file = os.path.join(root, "testing_set.txt")
            if split_file is None and split in ("train", "test"):
                warnings.warn(f"LaSOT: no list of the {split} sequences (lasot_{split}.txt in the split-list "
                              f"directories{' or testing_set.txt in the root' if split == 'test' else ''}): "
                              f"indexing every sequence under {root}, which includes the "
                              f"{'test' if split == 'train' else 'training'} sequences if they are there",
                              stacklevel=2)
        if split_file is None:
            names = _find_sequences(root)
        else:
            path = resolve_split_file(split_file, "LaSOT")
            entries = read_list(path)
            names = (select_sequences("LaSOT", _find_sequences(root), path) if any(e.isdigit() for e in entries)
                     else entries)
            missing = [self._seq_dir(n) for n in names if not os.path.isdir(self._seq_dir(n))]
            if missing:
                raise missing_error("LaSOT", f"{len(missing)} of the {len(names)} sequences of split file {path}",
                                    missing)
        if classes is not None:
            keep = set(classes)
            names = [n for n in names if class_of(n) in keep]
        names = select_names("LaSOT", names, sequences, root)
        super().__init__(KEY, root, [self._load_sequence(n) for n in names])
        self.split = split

    def _seq_dir(self, name: str) -> str:
        nested = os.path.join(self.root, class_of(name), name)
        flat = os.path.join(self.root, name)
        return flat if not os.path.isdir(nested) and os.path.isdir(flat) else nested

    def _load_sequence(self, name: str) -> SequenceInfo:
        seq_dir = self._seq_dir(name)
        gt_path = os.path.join(seq_dir, "groundtruth.txt")
        boxes = read_boxes(gt_path, allow_empty=False)
        boxes[:, :2] -= 1.0  # 1-based -> 0-based
        T = len(boxes)
        visible = plausible_boxes(boxes)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            path = os.path.join(seq_dir, flag_file)
            if os.path.isfile(path):
                visible &= ~check_length(path, read_flags(path), T)
        try:
            class_name = class_of(name)
        except ValueError as e:
            raise AnnotationError(gt_path, str(e)) from None
        return SequenceInfo(dataset=KEY, name=name, frames=FramePaths(os.path.join(seq_dir, "img"), "{:08d}.jpg", 1, T),
                            boxes=boxes, visible=visible, class_name=class_name, box_base=1)
