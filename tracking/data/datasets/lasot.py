"""LaSOT (Fan et al., CVPR 2019).

Layout::

    root/<class>/<class>-<n>/img/00000001.jpg ...
                            /groundtruth.txt      x,y,w,h per frame, integers, 1-based (first pixel is 1)
                            /full_occlusion.txt   one line of comma-separated 0/1, 1 = fully occluded
                            /out_of_view.txt      the same, 1 = out of view

Conventions: boxes are converted to 0-based by subtracting 1 from x and y (w, h unchanged).
``visible = not fully occluded and not out of view and the box is valid``. Frames are
``FramePaths(seq/img, "{:08d}.jpg", 1, T)``. The class name is the class directory.

Which sequences: with ``split_file`` (a path, or a file name under ``tracking/data/specs/``) exactly the
sequences it names (``<class>-<n>`` or 0-based indices into the sorted list of all sequences found). Without
one, the spec file ``tracking/data/specs/lasot_<split>.txt`` is used if it exists; otherwise EVERY
``<class>-<n>`` directory found under root is indexed (sorted by class, then number), with a warning for
split="train": the official LaSOT archive holds the test sequences too, so place the official train list in
specs/ (see specs/README.md) to avoid training on the test set. ``split=None`` (or "all") indexes everything
without a warning.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable

from ..sequence import FramePaths, SequenceInfo, valid_boxes
from .base import (SPECS_DIR, AnnotationError, DatasetNotFoundError, TrackingDataset, check_length, read_boxes,
                   read_flags, read_split_file, resolve_root, resolve_split_file, select_sequences)

ENV_VAR = "TRACKING_LASOT_ROOT"
_SEQ_RE = re.compile(r"^(.+)-(\d+)$")


def _find_sequences(root: str, classes: set[str] | None) -> list[str]:
    names = []
    for cls in sorted(os.listdir(root)):
        cls_dir = os.path.join(root, cls)
        if (classes is not None and cls not in classes) or not os.path.isdir(cls_dir):
            continue
        seqs = []
        for e in os.scandir(cls_dir):
            m = _SEQ_RE.match(e.name)
            if m and m.group(1) == cls and e.is_dir():
                seqs.append((int(m.group(2)), e.name))
        names.extend(n for _, n in sorted(seqs))
    return names


class Lasot(TrackingDataset):
    """LaSOT: see the module docstring for layout, conventions and how sequences are selected.

    Args:
        root: dataset root (holding the class directories); default ``$TRACKING_LASOT_ROOT``.
        split: names the default spec file ``lasot_<split>.txt``; None or "all" = every sequence found.
        split_file: split file of sequence names ``<class>-<n>`` (or 0-based indices into the sorted list).
        classes: optional class names to keep.

    Raises:
        DatasetNotFoundError: no root, or sequences named by the split file are missing (a few are listed).
        AnnotationError: a malformed annotation file.
    """

    def __init__(self, root: str | None = None, split: str | None = "train", split_file: str | None = None,
                 classes: Iterable[str] | None = None):
        root = resolve_root("LaSOT", root, ENV_VAR)
        class_set = set(classes) if classes is not None else None
        if split_file is None and split not in (None, "all"):
            spec = os.path.join(SPECS_DIR, f"lasot_{split}.txt")
            if os.path.isfile(spec):
                split_file = spec
            elif split == "train":
                warnings.warn(f"LaSOT: no split file ({spec} missing): indexing every sequence under {root}, "
                              "which includes the test sequences if they are there", stacklevel=2)

        if split_file is None:
            names = _find_sequences(root, class_set)
        else:
            path = resolve_split_file(split_file, "LaSOT")
            entries = read_split_file(path)
            if any(isinstance(e, int) for e in entries):
                names = select_sequences("LaSOT", _find_sequences(root, None), entries, path)
            else:
                names = [str(e) for e in entries]
            missing = [n for n in names if not os.path.isdir(self._seq_dir(root, n))]
            if missing:
                raise DatasetNotFoundError(
                    f"LaSOT: {len(missing)} of the {len(names)} sequences of split file {path} are not under "
                    f"{root}, e.g. {', '.join(self._seq_dir(root, n) for n in missing[:5])}")
            if class_set is not None:
                names = [n for n in names if self._class_of(n) in class_set]

        super().__init__("lasot", root, [self._load_sequence(root, n) for n in names])
        self.split = split

    @staticmethod
    def _class_of(name: str) -> str:
        m = _SEQ_RE.match(name)
        if not m:
            raise AnnotationError(f"LaSOT: sequence name {name!r} is not of the form <class>-<n>")
        return m.group(1)

    @classmethod
    def _seq_dir(cls, root: str, name: str) -> str:
        return os.path.join(root, cls._class_of(name), name)

    def _load_sequence(self, root: str, name: str) -> SequenceInfo:
        seq_dir = self._seq_dir(root, name)
        gt_path = os.path.join(seq_dir, "groundtruth.txt")
        boxes = read_boxes(gt_path)
        boxes[:, :2] -= 1.0  # 1-based -> 0-based
        T = len(boxes)
        visible = valid_boxes(boxes)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            path = os.path.join(seq_dir, flag_file)
            visible &= ~check_length(path, read_flags(path), T)
        return SequenceInfo(dataset="lasot", name=name, frames=FramePaths(os.path.join(seq_dir, "img"), "{:08d}.jpg",
                                                                         1, T),
                            boxes=boxes, visible=visible, class_name=self._class_of(name))
