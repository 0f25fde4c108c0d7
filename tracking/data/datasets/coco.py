"""COCO detection annotations as single-frame tracking 'sequences' (image dataset: ``is_video_dataset`` False).

Layout::

    root/annotations/instances_<split><version>.json      e.g. instances_train2017.json
    root/images/<split><version>/<file_name>              or root/<split><version>/<file_name>

Conventions: every annotation with ``iscrowd == 0`` and a positive width and height is a sequence of one
frame; its box is the COCO ``bbox`` as it is (x, y, w, h, 0-based floats, top-left corner), visible.
``class_name`` is the category name, ``image_size`` the image's (height, width); ``extra`` holds
``image_id``, ``annotation_id``, ``category_id`` and ``area``. Sequence names are ``<image_id>_<annotation_id>``.
The frame path uses ``root/images/<split><version>/`` unless only ``root/<split><version>/`` exists.

Parsing the real instances_train2017.json (~450 MB, ~860k annotations) with the json module takes tens of
seconds and a few GB of memory, once per construction: pass ``cache=True`` to pickle the parsed index next
to the annotation file (``<json>.index.pkl``, reused while newer than the json; skipped if not writable).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..annotations import AnnotationError
from ..roots import DatasetNotFoundError, resolve_root
from ..sequence import SequenceInfo
from .base import TrackingDataset, cached_index

KEY = "coco"


def _parse(ann_file: str, image_dir: str) -> list[SequenceInfo]:
    try:
        with open(ann_file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(ann_file, f"invalid JSON ({e.msg})", e.lineno) from None
    except UnicodeDecodeError:
        raise AnnotationError(ann_file, "not UTF-8 text") from None
    try:
        categories = {c["id"]: c["name"] for c in data.get("categories", [])}
        images = {im["id"]: im for im in data["images"]}
        sequences = []
        for ann in data["annotations"]:
            x, y, w, h = (float(v) for v in ann["bbox"])
            if ann.get("iscrowd", 0) or not (w > 0 and h > 0):
                continue
            image = images[ann["image_id"]]
            size = (int(image["height"]), int(image["width"])) if "height" in image and "width" in image else None
            sequences.append(SequenceInfo(
                dataset="coco", name=f"{ann['image_id']}_{ann['id']}",
                frames=(os.path.join(image_dir, image["file_name"]),),
                boxes=np.array([[x, y, w, h]], dtype=np.float64), visible=np.ones(1, dtype=bool),
                class_name=categories.get(ann["category_id"]), image_size=size,
                extra={"image_id": ann["image_id"], "annotation_id": ann["id"], "category_id": ann["category_id"],
                       "area": float(ann.get("area", w * h))}))
    except (KeyError, TypeError, ValueError) as e:
        raise AnnotationError(ann_file, f"not a COCO instances file ({type(e).__name__}: {e})") from None
    return sequences


class Coco(TrackingDataset):
    """COCO: see the module docstring for layout and conventions.

    Args:
        root: dataset root (holding annotations/); default: see :func:`tracking.data.roots.resolve_root`
            (``$TRACKING_COCO_ROOT``).
        version: "2017" or "2014".
        split: "train" or "val".
        cache: pickle the parsed index next to the json (see the module docstring).

    Raises:
        DatasetNotFoundError: no root, or the annotation file is missing.
        AnnotationError: the annotation file is not a valid COCO instances file.
    """

    is_video_dataset = False

    def __init__(self, root: str | None = None, version: str = "2017", split: str = "train", cache: bool = False):
        root = resolve_root(KEY, root, "COCO")
        ann_file = os.path.join(root, "annotations", f"instances_{split}{version}.json")
        if not os.path.isfile(ann_file):
            raise DatasetNotFoundError(f"COCO: annotation file {ann_file!r} does not exist")
        image_dir = os.path.join(root, "images", f"{split}{version}")
        if not os.path.isdir(image_dir) and os.path.isdir(os.path.join(root, f"{split}{version}")):
            image_dir = os.path.join(root, f"{split}{version}")
        self.annotation_file = ann_file
        self.image_dir = image_dir
        cache_path = f"{ann_file}.index.pkl" if cache else None
        sequences = cached_index(cache_path, [ann_file], lambda: _parse(ann_file, image_dir))
        # a cache written before the images were moved: re-point the frames
        if sequences and not sequences[0].frames[0].startswith(image_dir + os.sep):
            sequences = _parse(ann_file, image_dir)
        super().__init__("coco", root, sequences)
        self.split, self.version = split, version
