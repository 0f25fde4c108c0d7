"""One dataset layer for training and evaluation: one class per benchmark, one module each.

Each class parses its annotation files once, in its constructor, into a list of
:class:`~tracking.data.sequence.SequenceInfo` (frames, 0-based xywh boxes, visibility; ``ground_truth`` and
``init_box`` in the benchmark's own coordinates for evaluation). No image is decoded. Training samplers and the
evaluation runner / report consume the same objects.

=============  ==========================  =====================================================
key            class                       splits / selection
=============  ==========================  =====================================================
got10k         :class:`Got10k`             train, val, test, vottrain, votval; split_file=
lasot          :class:`Lasot`              train, test (split lists), None = all; split_file=
trackingnet    :class:`TrackingNet`        sets= chunks, split train / test
coco           :class:`Coco`               train / val, version 2014 / 2017 (1-frame sequences)
imagenetvid    :class:`ImagenetVID`        train / val
otb            :class:`OTB`                the 100 official sequences, or sequences=
uav123         :class:`UAV123`
nfs            :class:`NFS`                fps 30 / 240
vot            :class:`Vot`                VOT-style polygon sequences
folder         :class:`ImageFolderDataset`  your own images + groundtruth.txt
=============  ==========================  =====================================================

Every class also takes ``sequences=`` (names to keep). Roots: the ``root`` argument, then
``TRACKING_<KEY>_ROOT``, then the user settings file (:mod:`tracking.data.roots`).
"""

from __future__ import annotations

import inspect

from ..annotations import AnnotationError
from ..roots import DatasetNotFoundError, resolve_root
from .base import SplitFileNotFoundError, TrackingDataset
from .coco import Coco
from .folder import ImageFolderDataset
from .got10k import Got10k
from .imagenetvid import ImagenetVID
from .lasot import Lasot
from .nfs import NFS
from .otb import OTB
from .trackingnet import TrackingNet
from .uav123 import UAV123
from .vot import Vot

DATASETS: dict[str, type[TrackingDataset]] = {
    "got10k": Got10k,
    "lasot": Lasot,
    "trackingnet": TrackingNet,
    "coco": Coco,
    "imagenetvid": ImagenetVID,
    "otb": OTB,
    "uav123": UAV123,
    "nfs": NFS,
    "vot": Vot,
    "folder": ImageFolderDataset,
}
_ALIASES = {"vid": "imagenetvid", "imagenet_vid": "imagenetvid", "ilsvrc_vid": "imagenetvid", "otb100": "otb",
            "otb2015": "otb", "uav": "uav123", "image_folder": "folder"}


def dataset_key(name: str) -> tuple[str, str | None]:
    """(key, split) of a dataset name: case, '-' and '_' are ignored, aliases resolved, and a trailing split
    ("got10k-test", "lasot_test", "trackingnet-test") is split off. Raises ValueError for an unknown name."""
    plain = name.lower().replace("-", "").replace("_", "")
    plain = _ALIASES.get(plain, plain)
    if plain in DATASETS:
        return plain, None
    for key in DATASETS:
        if plain.startswith(key) and plain[len(key):]:
            return key, plain[len(key):]
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (a split may follow: got10k-test)")


def build_dataset(name: str, root: str | None = None, split: str | None = None, **kw) -> TrackingDataset:
    """Construct a dataset by name (see :func:`dataset_key`; e.g. "got10k", "got10k-test", "otb", "folder").

    ``split`` (or the name's split suffix) is passed only when given; datasets without a split argument reject
    it. Other keyword arguments (``sequences=``, ``split_file=``, ...) go to the constructor.
    """
    key, name_split = dataset_key(name)
    split = split if split is not None else name_split
    cls = DATASETS[key]
    if split is not None:
        if "split" not in inspect.signature(cls.__init__).parameters:
            raise TypeError(f"dataset {name!r} ({cls.__name__}) has no split argument")
        kw["split"] = split
    return cls(root=root, **kw)


__all__ = ["AnnotationError", "Coco", "DATASETS", "DatasetNotFoundError", "Got10k", "ImageFolderDataset",
           "ImagenetVID", "Lasot", "NFS", "OTB", "SplitFileNotFoundError", "TrackingDataset", "TrackingNet",
           "UAV123", "Vot", "build_dataset", "dataset_key", "resolve_root"]
