"""Writing synthetic sequences to disk: JPEG frames, the GOT-10k layout (``write_got10k``), the LaSOT layout
(``write_lasot``) and their sequence names.

Frames are encoded with OpenCV (imported by the function that writes them); text files are UTF-8 with LF
line ends, so the same spec gives byte-identical annotation files on every platform.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .scene import SyntheticScene
from .spec import DEFAULT_LASOT_CLASSES, ProgressFn, SyntheticSpec

__all__ = ["got10k_sequence_name", "lasot_sequence_name", "write_got10k", "write_lasot"]


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 with LF line ends."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _write_frames(scene: SyntheticScene, directory: str, quality: int) -> None:
    """The scene's T frames as ``directory/00000001.jpg`` ... (1-based, 8 digits), JPEG ``quality`` 0-100."""
    import cv2

    os.makedirs(directory, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    for t, frame in enumerate(scene.frames()):
        ok, data = cv2.imencode(".jpg", frame, params)
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {t} of {directory}")
        with open(os.path.join(directory, f"{t + 1:08d}.jpg"), "wb") as f:
            f.write(data.tobytes())


def got10k_sequence_name(split: str, index: int) -> str:
    """GOT-10k's name of sequence ``index`` (0-based) of a split, e.g. ``GOT-10k_Train_000001``."""
    return f"GOT-10k_{split.capitalize()}_{index + 1:06d}"


def lasot_sequence_name(classes: Sequence[str], index: int) -> tuple[str, str]:
    """``(class, "<class>-<n>")`` of sequence ``index``: classes are assigned round-robin, n counts from 1."""
    cls = classes[index % len(classes)]
    return cls, f"{cls}-{index // len(classes) + 1}"


def write_got10k(root: str | os.PathLike, spec: SyntheticSpec, split: str = "train", *,
                 progress: ProgressFn | None = None) -> list[str]:
    """Write ``spec`` in GOT-10k's layout under ``root/<split>/``; returns the sequence names.

    Layout (as the real GOT-10k train/val splits)::

        root/<split>/list.txt                          sequence names, one per line
        root/<split>/GOT-10k_Train_000001/00000001.jpg ... (T frames, 1-based 8-digit names, JPEG)
            groundtruth.txt    T lines "x,y,w,h", 0-based continuous coordinates, 4 decimals
                               ("347.0000,443.0000,429.0000,272.0000"); absent frames repeat the last
                               present frame's box (GOT-10k keeps a box on every line; frame 0 is never absent)
            absence.label      T lines "0"/"1" (1 = absent)
            cover.label        T lines 0..8 (see ``cover_label``)
            cut_by_image.label T lines "0"/"1" (1 = truncated by the image border)
            meta_info.ini      [METAINFO] with url, begin_time, end_time, anno_fps, object_class
                               (synthetic_ellipse / synthetic_rectangle), motion_class, major_class,
                               root_class, motion_adverb, resolution "(W, H)", in GOT-10k's line order (ltr
                               reads object_class..motion_adverb from lines 6-10 by position)

    The sequence directory names use ``split.capitalize()`` (``GOT-10k_Val_000001`` for "val"). Existing
    files are overwritten, other files are left alone (``ensure_dataset`` manages a clean cache).
    """
    split_dir = os.path.join(os.fspath(root), split)
    os.makedirs(split_dir, exist_ok=True)
    names = []
    for i in range(spec.num_sequences):
        name = got10k_sequence_name(split, i)
        seq_dir = os.path.join(split_dir, name)
        scene = SyntheticScene(spec, i)
        _write_frames(scene, seq_dir, spec.jpeg_quality)
        lines, last = [], None
        for t in range(spec.num_frames):
            if not scene.absent[t]:
                last = ",".join(f"{v:.4f}" for v in scene.boxes[t])
            lines.append(last)
        _write_text(os.path.join(seq_dir, "groundtruth.txt"), "\n".join(lines) + "\n")
        _write_text(os.path.join(seq_dir, "absence.label"), "".join(f"{int(a)}\n" for a in scene.absent))
        _write_text(os.path.join(seq_dir, "cover.label"), "".join(f"{int(c)}\n" for c in scene.cover))
        _write_text(os.path.join(seq_dir, "cut_by_image.label"),
                    "".join(f"{int(c)}\n" for c in scene.cut_by_image))
        _write_text(os.path.join(seq_dir, "meta_info.ini"), (
            "[METAINFO]\n"
            f"url: synthetic://seed={spec.seed}/index={i}\n"
            "begin_time: 0\n"
            f"end_time: {spec.num_frames}\n"
            "anno_fps: 10Hz\n"
            f"object_class: synthetic_{scene.shape}\n"
            "motion_class: synthetic_motion\n"
            "major_class: synthetic\n"
            "root_class: object\n"
            "motion_adverb: smoothly\n"
            f"resolution: ({spec.width}, {spec.height})\n"))
        names.append(name)
        if progress is not None:
            progress(i + 1, spec.num_sequences, name)
    _write_text(os.path.join(split_dir, "list.txt"), "".join(f"{n}\n" for n in names))
    return names


def write_lasot(root: str | os.PathLike, spec: SyntheticSpec, classes: Sequence[str] = DEFAULT_LASOT_CLASSES, *,
                progress: ProgressFn | None = None) -> list[str]:
    """Write ``spec`` in LaSOT's layout under ``root/<class>/<class>-<n>/``; returns the names ``<class>-<n>``.

    Sequence ``i`` goes to class ``classes[i % len(classes)]`` with ``n = i // len(classes) + 1`` (the class is
    a name only: it does not choose the shape). Layout (as the real LaSOT)::

        root/<class>/<class>-<n>/img/00000001.jpg ...  (T frames, 1-based 8-digit names, JPEG)
            groundtruth.txt    T lines "x,y,w,h" of ints, 1-BASED like the original LaSOT: x and y are the
                               0-based box's rounded corner + 1 (a reader subtracts 1); absent frames are
                               "0,0,0,0" (an invalid box)
            full_occlusion.txt ONE line of T comma-separated 0/1 flags
            out_of_view.txt    ONE line of T comma-separated 0/1 flags (absent frames are out of view, or
                               fully occluded in the rare case the occluder hides the target)
            nlp.txt            one sentence describing the target

    No split list is written (LaSOT's train/test split lists are a separate spec in this package).
    """
    if not classes:
        raise ValueError("write_lasot needs at least one class")
    root = os.fspath(root)
    names = []
    for i in range(spec.num_sequences):
        cls, name = lasot_sequence_name(classes, i)
        seq_dir = os.path.join(root, cls, name)
        scene = SyntheticScene(spec, i)
        _write_frames(scene, os.path.join(seq_dir, "img"), spec.jpeg_quality)
        lines = []
        for t in range(spec.num_frames):
            if scene.absent[t]:
                lines.append("0,0,0,0")
                continue
            x, y, w, h = scene.boxes[t]
            # Round the corners, not the size, so the box stays inside the image: 0 <= l < r <= W.
            left, right = int(np.floor(x + 0.5)), int(np.floor(x + w + 0.5))
            top, bottom = int(np.floor(y + 0.5)), int(np.floor(y + h + 0.5))
            left, top = min(left, spec.width - 1), min(top, spec.height - 1)
            right, bottom = max(right, left + 1), max(bottom, top + 1)
            lines.append(f"{left + 1},{top + 1},{right - left},{bottom - top}")
        _write_text(os.path.join(seq_dir, "groundtruth.txt"), "\n".join(lines) + "\n")
        _write_text(os.path.join(seq_dir, "full_occlusion.txt"),
                    ",".join(str(int(v)) for v in scene.full_occlusion) + "\n")
        _write_text(os.path.join(seq_dir, "out_of_view.txt"), ",".join(str(int(v)) for v in scene.out_of_view) + "\n")
        _write_text(os.path.join(seq_dir, "nlp.txt"), scene.description + "\n")
        names.append(name)
        if progress is not None:
            progress(i + 1, spec.num_sequences, name)
    return names
