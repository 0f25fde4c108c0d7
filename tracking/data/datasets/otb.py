"""OTB-100 (OTB-2015, Wu et al., TPAMI 2015): ``root/<Seq>/img/%04d.jpg`` + ``root/<Seq>/groundtruth_rect.txt``.

Conventions: the annotation files are 1-based (x, y of the top-left pixel, first pixel 1): ``boxes`` are converted
to 0-based and ``box_base`` is 1, so ``ground_truth`` holds the file values the official MATLAB toolkit scores.
``visible = the box is plausible`` (:func:`tracking.data.sequence.plausible_boxes`: a 0 or negative width/height or
NaN makes a frame invalid; the OTB protocol of :mod:`tracking.eval.metrics` adds the toolkit's own rule).

``sequences=None`` means the 100 official sequences (each must exist); explicit names may be any OTB-style
folder. Multi-target sequences: ``Jogging-1``/``-2``, ``Skating2-1``/``-2`` (``groundtruth_rect.1.txt`` /
``.2.txt``), ``Human4-2``. Frame ranges and ``Board``'s 5-digit names come from :data:`OTB_SPECIAL`. If an
annotation file has one line per image from frame 1 (as Tiger1's original file), the lines of the range are
taken; if it has one line per frame of the range, it is used as is. Frames are not checked at construction
(the report needs the annotations only); the OPE runner reports a missing frame for its sequence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ..annotations import AnnotationError, read_boxes
from ..roots import DatasetNotFoundError, resolve_root
from ..sequence import FramePaths, SequenceInfo, plausible_boxes
from .base import TrackingDataset, missing_error

KEY = "otb"

# Special cases of OTB-100, facts of the official toolkit's sequence configuration (configSeqs.m of the
# Wu et al. tracker_benchmark): name -> folder, annotation file, first frame, last frame (1-based image
# numbers; None = as many as annotation lines) and digits of the image names.
OTB_SPECIAL: dict[str, dict] = {
    "Board": {"digits": 5},
    "David": {"start": 300, "end": 770},
    "Diving": {"end": 215},
    "Football1": {"end": 74},
    "Freeman3": {"end": 460},
    "Freeman4": {"end": 283},
    "Tiger1": {"start": 6, "end": 354},  # the distributed file annotates 1..354; frames 1-5 are skipped
    "BlurCar1": {"start": 247, "end": 988},
    "BlurCar3": {"start": 3, "end": 359},
    "BlurCar4": {"start": 18, "end": 397},
    "Jogging-1": {"folder": "Jogging", "anno": "groundtruth_rect.1.txt"},
    "Jogging-2": {"folder": "Jogging", "anno": "groundtruth_rect.2.txt"},
    "Skating2-1": {"folder": "Skating2", "anno": "groundtruth_rect.1.txt"},
    "Skating2-2": {"folder": "Skating2", "anno": "groundtruth_rect.2.txt"},
    "Human4-2": {"folder": "Human4", "anno": "groundtruth_rect.2.txt"},
}

OTB100_SEQUENCES = (
    "Basketball Biker Bird1 Bird2 BlurBody BlurCar1 BlurCar2 BlurCar3 BlurCar4 BlurFace BlurOwl Board Bolt "
    "Bolt2 Box Boy Car1 Car2 Car24 Car4 CarDark CarScale ClifBar Coke Couple Coupon Crossing Crowds Dancer "
    "Dancer2 David David2 David3 Deer Diving Dog Dog1 Doll DragonBaby Dudek FaceOcc1 FaceOcc2 Fish FleetFace "
    "Football Football1 Freeman1 Freeman3 Freeman4 Girl Girl2 Gym Human2 Human3 Human4-2 Human5 Human6 Human7 "
    "Human8 Human9 Ironman Jogging-1 Jogging-2 Jump Jumping KiteSurf Lemming Liquor Man Matrix Mhyang "
    "MotorRolling MountainBike Panda RedTeam Rubik Shaking Singer1 Singer2 Skater Skater2 Skating1 Skating2-1 "
    "Skating2-2 Skiing Soccer Subway Surfer Suv Sylvester Tiger1 Tiger2 Toy Trans Trellis Twinnings Vase "
    "Walking Walking2 Woman").split()


def otb_sequence_spec(name: str) -> dict:
    """Folder, annotation file, frame range and digits of an OTB sequence name (``X-2`` -> folder X,
    ``groundtruth_rect.2.txt`` for names not in the table)."""
    spec = {"folder": name, "anno": "groundtruth_rect.txt", "start": 1, "end": None, "digits": 4}
    m = re.fullmatch(r"(.+)-(\d+)", name)
    if m:
        spec.update(folder=m.group(1), anno=f"groundtruth_rect.{m.group(2)}.txt")
    spec.update(OTB_SPECIAL.get(name, {}))
    return spec


class OTB(TrackingDataset):
    """OTB-100: see the module docstring.

    Args:
        root: the directory holding the sequence folders; default: see
            :func:`tracking.data.roots.resolve_root` (``$TRACKING_OTB_ROOT``).
        sequences: names to index; None = the 100 official sequences.

    Raises:
        DatasetNotFoundError: no root, or annotation files of requested sequences are missing (listed).
        AnnotationError: a malformed annotation file, or one whose length does not fit the frame range.
    """

    def __init__(self, root: str | None = None, sequences: str | Iterable[str] | None = None):
        root = resolve_root(KEY, root, "OTB")
        names = list(OTB100_SEQUENCES) if sequences is None else (
            [sequences] if isinstance(sequences, str) else list(sequences))
        paths = {n: os.path.join(root, otb_sequence_spec(n)["folder"], otb_sequence_spec(n)["anno"]) for n in names}
        missing = [p for p in paths.values() if not os.path.isfile(p)]
        if missing:
            error = missing_error("OTB", "sequence annotation(s)", missing)
            raise error if sequences is not None else DatasetNotFoundError(
                f"{error}; to use only some of the 100 sequences pass sequences=[...] (--sequences)")
        super().__init__(KEY, root, [self._load_sequence(root, n, paths[n]) for n in names])

    @staticmethod
    def _load_sequence(root: str, name: str, anno_path: str) -> SequenceInfo:
        spec = otb_sequence_spec(name)
        boxes = read_boxes(anno_path, allow_empty=False)
        start = spec["start"]
        end = spec["end"] if spec["end"] is not None else start + len(boxes) - 1
        n = end - start + 1
        if len(boxes) >= end and len(boxes) != n:  # annotated from image 1: take the range
            boxes = boxes[start - 1:end]
        elif len(boxes) != n:
            raise AnnotationError(anno_path, f"{len(boxes)} annotation lines for frames {start}-{end} of {name}")
        boxes[:, :2] -= 1.0  # 1-based -> 0-based
        frames = FramePaths(os.path.join(root, spec["folder"], "img"), f"{{:0{spec['digits']}d}}.jpg", start, n)
        return SequenceInfo(dataset=KEY, name=name, frames=frames, boxes=boxes, visible=plausible_boxes(boxes),
                            box_base=1)
