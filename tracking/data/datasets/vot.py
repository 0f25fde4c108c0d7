"""VOT-style sequences (VOT2013-2019 short-term): ``<seq>/color/%08d.jpg`` (or ``img/``, ``imgs/``,
``images/``, ``frames/`` or ``<seq>/`` itself, natural order) with ``<seq>/groundtruth.txt``.

Conventions: ground-truth lines of 4 values (xywh) or 8 values (a rotated rectangle's corners) are read by
:func:`tracking.data.annotations.read_regions`; polygons become their axis-aligned box (min / max of the
corners, ``w = max - min``). Values are VOT's 0-based pixel coordinates, kept as in the file (``box_base``
0). Lines with NaN or a single status value are frames without a box (not visible). Sequences come from
``root/list.txt``, else the sub-directories; root may itself be a sequence directory. There must be at
least as many images as ground-truth lines; the first ``len(groundtruth)`` images are the frames. Mask
ground truth (VOT2020+) is not supported.
"""

from __future__ import annotations

import numpy as np

from ..annotations import AnnotationError
from .folder import ImageFolderDataset


class Vot(ImageFolderDataset):
    """VOT-style sequences: see the module docstring. Arguments as :class:`ImageFolderDataset` (``root``
    defaults to ``$TRACKING_VOT_ROOT``)."""

    key = "vot"
    display_name = "VOT"
    groundtruth_files = ("groundtruth.txt",)

    def _fit(self, boxes: np.ndarray, frames: list[str], source: str) -> tuple[np.ndarray, list[str]]:
        if len(frames) < len(boxes):
            raise AnnotationError(source, f"{len(boxes)} ground-truth lines but {len(frames)} images")
        return boxes, frames[:len(boxes)]
