"""ImageNet VID (ILSVRC2015 VID): one sequence per (video, track id).

Layout::

    root/Annotations/VID/train/<chunk>/<video>/000000.xml ...    (val: root/Annotations/VID/val/<video>/...)
    root/Data/VID/train/<chunk>/<video>/000000.JPEG ...

Each frame's PASCAL-VOC style XML has ``<size><width><height>`` and, per object, ``<trackid>``, ``<name>``
(WordNet synset id, e.g. n02691156), ``<bndbox><xmin><ymin><xmax><ymax>`` and ``<occluded>``.

Conventions: the box is ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin`` (the xml corners taken as
continuous 0-based coordinates, no +1). Every track that appears in at least 2 frames is a sequence spanning
the frames from its first to its last appearance; frames in between where the track is missing have a NaN box
and are not visible. ``visible = the track is annotated in the frame and its box is plausible``
(:func:`tracking.data.sequence.plausible_boxes`, with the XML's image size); the
``<occluded>`` flags (partial occlusion) are kept in ``extra["occluded"]`` and make frames not visible only
with ``occluded_visible=False``. Frames are ``FramePaths(Data/VID/<split>/.../<video>, "{:06d}.JPEG",
first, T)``. ``class_name`` is the synset id of the track's first appearance; sequence names are
``<video>_<trackid>``.

Parsing the ~1.1M training XML files takes minutes: pass ``cache=True`` to keep the parsed index in the user
cache directory (:mod:`tracking.data.datasets.index_cache`: an npz without pickles, keyed by the path, size
and modification time of every XML file, the split and the flags).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

from ..annotations import AnnotationError
from ..roots import resolve_root
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import TrackingDataset, require_dir
from .index_cache import cached_build

KEY = "imagenetvid"


def _text(element: ET.Element, tag: str, path: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None:
        raise AnnotationError(path, f"missing <{tag}>")
    return child.text.strip()


def _parse_video(ann_dir: str, data_dir: str, video: str, occluded_visible: bool) -> list[SequenceInfo]:
    files = sorted(f for f in os.listdir(ann_dir) if f.endswith(".xml"))
    tracks: dict[int, dict[int, tuple]] = {}  # trackid -> frame number -> (box, occluded, synset)
    image_size = None
    for file in files:
        path = os.path.join(ann_dir, file)
        try:
            frame = int(file[:-4])
            root = ET.parse(path).getroot()
            size = root.find("size")
            if size is not None and image_size is None:
                image_size = (int(_text(size, "height", path)), int(_text(size, "width", path)))
            for obj in root.iter("object"):
                bb = obj.find("bndbox")
                if bb is None:
                    raise AnnotationError(path, "object without <bndbox>")
                x0, y0, x1, y1 = (float(_text(bb, t, path)) for t in ("xmin", "ymin", "xmax", "ymax"))
                occ = obj.find("occluded")
                occluded = occ is not None and occ.text is not None and occ.text.strip() not in ("", "0")
                tracks.setdefault(int(_text(obj, "trackid", path)), {})[frame] = (
                    (x0, y0, x1 - x0, y1 - y0), occluded, _text(obj, "name", path))
        except ET.ParseError as e:
            raise AnnotationError(path, f"invalid XML ({e})") from None
        except ValueError as e:
            if isinstance(e, AnnotationError):
                raise
            raise AnnotationError(path, f"not a number ({e})") from None

    sequences = []
    for trackid in sorted(tracks):
        frames = tracks[trackid]
        if len(frames) < 2:
            continue
        first, last = min(frames), max(frames)
        T = last - first + 1
        boxes = np.full((T, 4), np.nan)
        occluded = np.zeros(T, dtype=bool)
        for f, (box, occ, _) in frames.items():
            boxes[f - first] = box
            occluded[f - first] = occ
        visible = plausible_boxes(boxes, image_size)
        if not occluded_visible:
            visible &= ~occluded
        sequences.append(SequenceInfo(
            dataset="imagenetvid", name=f"{video}_{trackid}", frames=FramePaths(data_dir, "{:06d}.JPEG", first, T),
            boxes=boxes, visible=visible, class_name=frames[first][2], image_size=image_size,
            extra={"video": video, "trackid": trackid, "occluded": occluded}))
    return sequences


class ImagenetVID(TrackingDataset):
    """ImageNet VID: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding Annotations/ and Data/); default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_IMAGENETVID_ROOT``).
        split: "train" or "val".
        occluded_visible: False makes frames flagged ``<occluded>`` not visible.
        cache: keep the parsed index in the user cache directory (see the module docstring).

    Raises:
        DatasetNotFoundError: no root, or no Annotations/VID/<split> directory.
        AnnotationError: a malformed XML file.
    """

    def __init__(self, root: str | None = None, split: str = "train", occluded_visible: bool = True,
                 cache: bool = False):
        root = resolve_root(KEY, root, "ImageNet VID")
        ann_root = require_dir("ImageNet VID", os.path.join(root, "Annotations", "VID", split),
                               "annotation directory")
        data_root = os.path.join(root, "Data", "VID", split)

        def build() -> list[SequenceInfo]:
            sequences = []
            for dirpath, dirnames, filenames in os.walk(ann_root):
                dirnames.sort()
                if any(f.endswith(".xml") for f in filenames):
                    rel = os.path.relpath(dirpath, ann_root)
                    sequences += _parse_video(dirpath, os.path.join(data_root, rel), os.path.basename(dirpath),
                                              occluded_visible)
            return sequences

        if cache:
            params = {"split": split, "occluded_visible": occluded_visible, "data_root": os.path.abspath(data_root)}
            sequences = cached_build(KEY, [ann_root], params, build)
        else:
            sequences = build()
        super().__init__("imagenetvid", root, sequences)
        self.split = split
