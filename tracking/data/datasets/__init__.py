"""Dataset annotation indexes: each class parses its annotation files once into a list of SequenceInfo.

Roots come from the ``root`` argument or an environment variable (``TRACKING_GOT10K_ROOT``,
``TRACKING_LASOT_ROOT``, ``TRACKING_TRACKINGNET_ROOT``, ``TRACKING_COCO_ROOT``, ``TRACKING_IMAGENETVID_ROOT``).
No image is decoded. Each module's docstring gives its layout, box base and visibility rule.
"""

from __future__ import annotations

import inspect

from .base import (AnnotationError, DatasetNotFoundError, SplitFileNotFoundError, TrackingDataset, read_boxes,
                   read_flags, resolve_root)
from .coco import Coco
from .folder import ImageFolderDataset
from .got10k import Got10k
from .imagenetvid import ImagenetVID
from .lasot import Lasot
from .trackingnet import TrackingNet

DATASETS: dict[str, type[TrackingDataset]] = {
    "got10k": Got10k,
    "lasot": Lasot,
    "trackingnet": TrackingNet,
    "coco": Coco,
    "imagenetvid": ImagenetVID,
    "folder": ImageFolderDataset,
}
_ALIASES = {"got-10k": "got10k", "vid": "imagenetvid", "imagenet_vid": "imagenetvid", "ilsvrc_vid": "imagenetvid",
            "image_folder": "folder"}


def build_dataset(name: str, root: str | None = None, split: str | None = None, **kw) -> TrackingDataset:
    """Construct a dataset by name ("got10k", "lasot", "trackingnet", "coco", "imagenetvid", "folder").

    ``split`` is passed only when given; datasets without a split argument (TrackingNet: use ``sets=``,
    folder) reject it. Other keyword arguments go to the constructor.
    """
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    cls = DATASETS[key]
    if split is not None:
        if "split" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"dataset {name!r} ({cls.__name__}) has no split argument")
        kw["split"] = split
    return cls(root=root, **kw)


__all__ = ["AnnotationError", "Coco", "DATASETS", "DatasetNotFoundError", "Got10k", "ImageFolderDataset",
           "ImagenetVID", "Lasot", "SplitFileNotFoundError", "TrackingDataset", "TrackingNet", "build_dataset",
           "read_boxes", "read_flags", "resolve_root"]
