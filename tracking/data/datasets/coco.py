"""COCO detection annotations as single-frame tracking 'sequences' (image dataset: ``is_video_dataset`` False).

Layout::

    root/annotations/instances_<split><version>.json      e.g. instances_train2017.json
    root/images/<split><version>/<file_name>              or root/<split><version>/<file_name>

Conventions: every annotation with ``iscrowd == 0`` and a plausible box
(:func:`tracking.data.sequence.plausible_boxes`: positive, at least 1e-3 px, within 100 image sizes) is a
sequence of one frame; its box is the COCO ``bbox`` as it is (x, y, w, h, 0-based floats, top-left corner),
visible.
``class_name`` is the category name, ``image_size`` the image's (height, width); ``extra`` holds
``image_id``, ``annotation_id``, ``category_id`` and ``area``. Sequence names are ``<image_id>_<annotation_id>``.
The frame path uses ``root/images/<split><version>/`` unless only ``root/<split><version>/`` exists.

Parsing the real instances_train2017.json (~450 MB, ~860k annotations) with the json module takes tens of
seconds and a few GB of memory, once per construction: pass ``cache=True`` to keep the parsed index in the
user cache directory (:mod:`tracking.data.datasets.index_cache`: an npz without pickles, keyed by a hash of
the json's bytes and the image directory; hashing the json takes about a second).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..annotations import AnnotationError
from ..roots import DatasetNotFoundError, resolve_root
from ..sequence import SequenceInfo, plausible_boxes
from .base import TrackingDataset
from .index_cache import cached_build

KEY = "coco"


def _image_size(image: dict) -> tuple[int, int] | None:
    """(height, width) of a COCO image entry, when it has them."""
    return (int(image["height"]), int(image["width"])) if "height" in image and "width" in image else None


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
        annotations = [a for a in data["annotations"] if not a.get("iscrowd", 0)]
        boxes = np.array([[float(v) for v in a["bbox"]] for a in annotations], dtype=np.float64).reshape(
            len(annotations), 4)
        sizes = [_image_size(images[a["image_id"]]) for a in annotations]
        known = np.array([s or (np.nan, np.nan) for s in sizes], dtype=np.float64).reshape(-1, 2)
        keep = plausible_boxes(boxes, known)
        sequences = []
        for i in np.flatnonzero(keep):
            ann, box, size = annotations[i], boxes[i], sizes[i]
            image = images[ann["image_id"]]
            w, h = box[2], box[3]
            sequences.append(SequenceInfo(
                dataset="coco", name=f"{ann['image_id']}_{ann['id']}",
                frames=(os.path.join(image_dir, image["file_name"]),),
                boxes=box[None].copy(), visible=np.ones(1, dtype=bool),
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
        cache: keep the parsed index in the user cache directory (see the module docstring).

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
        if cache:
            sequences = cached_build(KEY, [ann_file], {"image_dir": os.path.abspath(image_dir)},
                                     lambda: _parse(ann_file, image_dir))
        else:
            sequences = _parse(ann_file, image_dir)
        super().__init__("coco", root, sequences)
        self.split, self.version = split, version
