"""Evaluation sequence readers for the OPE benchmarks: OTB-100, LaSOT (test), GOT-10k (val/test),
TrackingNet (test), UAV123, NfS, VOT-style polygon sequences and generic folders.

Every reader yields :class:`EvalSequence` objects:

- ``frames``: absolute image paths, frame 0 first (the tracker gets frame 0 and ``init_box``);
- ``ground_truth``: float64 ``[T, 4]`` ``x, y, w, h`` in *the benchmark's own convention* (the values of
  its annotation file; no 0/1-based shift is applied anywhere, since each benchmark's metrics were computed on
  the file values); rows that are unknown (first-frame-only benchmarks) are NaN;
- ``valid``: ``[T]`` bool, True where the ground truth is present and usable (finite, w > 0, h > 0, and not
  flagged absent / fully occluded / out of view by the benchmark's own labels);
- ``init_box``: the first frame's box (``ground_truth[0]``);
- ``first_frame_only``: True when only the first frame is annotated (GOT-10k test, TrackingNet test,
  folders with a single ground-truth line); such results can only be scored by the benchmark's server.

Readers behave like read-only sequences of EvalSequence (``len``, ``[i]``, ``[name]``, iteration,
``names``). A missing dataset root or sequence raises one ``FileNotFoundError`` naming the dataset, the path
and the environment variable that can supply the root (``TRACKING_<NAME>_ROOT``, used when ``root`` is
None).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from tracking.eval.results_io import ResultFileError, read_boxes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class EvalSequence:
    name: str
    frames: list[str]
    ground_truth: np.ndarray  # [T, 4] float64 xywh, NaN where unknown
    valid: np.ndarray  # [T] bool
    init_box: np.ndarray  # [4] float64
    dataset: str
    first_frame_only: bool = False
    attributes: dict = field(default_factory=dict)  # reader-specific extras (e.g. object class)

    def __post_init__(self):
        self.ground_truth = np.asarray(self.ground_truth, dtype=np.float64).reshape(-1, 4)
        self.valid = np.asarray(self.valid, dtype=bool).reshape(-1)
        self.init_box = np.asarray(self.init_box, dtype=np.float64).reshape(4)
        n = len(self.frames)
        if self.ground_truth.shape[0] != n or self.valid.shape[0] != n:
            raise ValueError(f"{self.dataset}/{self.name}: {n} frames but ground truth {self.ground_truth.shape} "
                             f"and valid {self.valid.shape}")
        if n == 0:
            raise ValueError(f"{self.dataset}/{self.name}: no frames")
        if not (np.all(np.isfinite(self.init_box)) and self.init_box[2] > 0 and self.init_box[3] > 0):
            raise ValueError(f"{self.dataset}/{self.name}: unusable first-frame box {self.init_box.tolist()}")

    def __len__(self) -> int:
        return len(self.frames)


# ----------------------------------------------------------------------------------------------- helpers

def _resolve_root(root, dataset: str, env_var: str) -> str:
    if root is None:
        root = os.environ.get(env_var)
        if not root:
            raise FileNotFoundError(f"{dataset}: no dataset root given and {env_var} is not set")
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{dataset} dataset root not found: {root} (pass root= or set {env_var})")
    return root


def _missing(dataset: str, what: str, paths: Sequence[str], env_var: str | None = None) -> FileNotFoundError:
    shown = ", ".join(paths[:5]) + (f" ... ({len(paths)} in all)" if len(paths) > 5 else "")
    hint = f" (root from {env_var} or root=)" if env_var else ""
    return FileNotFoundError(f"{dataset}: {what} not found: {shown}{hint}")


def box_validity(gt: np.ndarray) -> np.ndarray:
    """True where a xywh row is finite with positive width and height."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def polygon_to_aabb(values: np.ndarray) -> np.ndarray:
    """[K] values of one annotation line -> xywh. 4 values are already xywh; 2n >= 6 values are polygon
    points x1,y1,x2,y2,...: the axis-aligned box is their min/max (w = max_x - min_x, no +1)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 4:
        return v.copy()
    if v.size < 6 or v.size % 2:
        raise ValueError(f"expected 4 values (xywh) or an even number >= 6 (polygon), got {v.size}")
    xs, ys = v[0::2], v[1::2]
    x0, y0 = xs.min(), ys.min()
    return np.array([x0, y0, xs.max() - x0, ys.max() - y0])


def read_region_file(path: str) -> np.ndarray:
    """[T, 4] xywh from a VOT-style file whose lines hold 4 values (xywh) or polygons (8+ values),
    separated by commas, tabs or spaces. Lines with NaN or a single value (VOT's 0/1/2 status codes) become NaN
    rows. VOT2020 mask lines (``m...``) are not supported."""
    if not os.path.isfile(path):
        raise ResultFileError(f"{path}: no such file")
    with open(path) as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = []
    for number, line in enumerate(lines, start=1):
        s = line.strip()
        if s.startswith("m"):
            raise ResultFileError(f"{path}:{number}: mask annotations are not supported")
        fields = s.replace(",", " ").replace("\t", " ").split()
        try:
            v = np.array([float(x) for x in fields], dtype=np.float64)
        except ValueError:
            raise ResultFileError(f"{path}:{number}: not a number in {line!r}") from None
        if v.size <= 1 or not np.all(np.isfinite(v)):
            rows.append(np.full(4, np.nan))
            continue
        try:
            rows.append(polygon_to_aabb(v))
        except ValueError as e:
            raise ResultFileError(f"{path}:{number}: {e}: {line!r}") from None
    if not rows:
        raise ResultFileError(f"{path}: empty file")
    return np.stack(rows)


def _read_flags(path: str) -> np.ndarray:
    """Integer labels, comma- or newline-separated (LaSOT's one-line files, GOT-10k's one-per-line files)."""
    with open(path) as f:
        text = f.read()
    return np.array([int(float(t)) for t in re.split(r"[,\s]+", text.strip()) if t], dtype=np.int64)


def _natural_key(path: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", os.path.basename(path))]


def list_images(directory: str) -> list[str]:
    """Image files directly in ``directory``, in natural (numeric-aware) order."""
    files = [os.path.join(directory, f) for f in os.listdir(directory)
             if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(directory, f))]
    return sorted(files, key=_natural_key)


def _first_frame_only_gt(first: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    gt = np.full((n, 4), np.nan)
    gt[0] = first
    valid = np.zeros(n, dtype=bool)
    valid[0] = True
    return gt, valid


class _Reader(Sequence):
    """Base: a list of names and a loader; sequences are built (and cached) on first access."""

    dataset = "?"

    def __init__(self):
        self._names: list[str] = []
        self._cache: dict[str, EvalSequence] = {}

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        name = self._names[key] if isinstance(key, (int, np.integer)) else key
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(f"{self.dataset}: no sequence {name!r}")
            self._cache[name] = self._load(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[EvalSequence]:
        for name in self._names:
            yield self[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} sequences)"

    def _select(self, available: list[str], sequences, where: str) -> list[str]:
        if sequences is None:
            return available
        if isinstance(sequences, str):
            sequences = [sequences]
        missing = [s for s in sequences if s not in available]
        if missing:
            raise _missing(self.dataset, "sequence(s)", [f"{s} (in {where})" for s in missing])
        return list(sequences)

    def _load(self, name: str) -> EvalSequence:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------- OTB

# Special cases of OTB-100 (OTB-2015), facts taken from the official toolkit's sequence configuration
# (configSeqs.m of the Wu et al. tracker_benchmark; also in ZhouYzzz/otb-toolkit configs/config_sequences.m
# and in pytracking's OTB table): name -> (image folder, annotation file, first frame, last frame, digits).
# Frame numbers are 1-based image numbers; None = 1 / "as many as annotation lines".
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


class OTB(_Reader):
    """OTB-100: ``<root>/<Seq>/img/%04d.jpg`` + ``groundtruth_rect.txt`` (commas, tabs or spaces).

    Boxes are kept exactly as in the files (1-based pixel coordinates, x, y of the top-left pixel), which is
    what the official MATLAB toolkit scores. ``sequences=None`` means the 100 official sequences (each must
    exist); explicit names may also be any OTB-style folder. Multi-target sequences: ``Jogging-1``/``-2``,
    ``Skating2-1``/``-2`` (``groundtruth_rect.1.txt``/``.2.txt``), ``Human4-2``. Frame ranges and ``Board``'s
    5-digit names come from :data:`OTB_SPECIAL`. If an annotation file has one line per image from frame 1
    (as Tiger1's original file), the lines of the range are taken; if it has one line per frame of the range,
    it is used as is. Rows with w or h <= 0 (or non-finite) are kept but marked invalid.
    """

    dataset = "OTB"
    env_var = "TRACKING_OTB_ROOT"

    def __init__(self, root=None, sequences=None):
        super().__init__()
        self.root = _resolve_root(root, self.dataset, self.env_var)
        names = list(OTB100_SEQUENCES) if sequences is None else (
            [sequences] if isinstance(sequences, str) else list(sequences))
        missing = [os.path.join(self.root, otb_sequence_spec(n)["folder"], otb_sequence_spec(n)["anno"])
                   for n in names
                   if not os.path.isfile(os.path.join(self.root, otb_sequence_spec(n)["folder"],
                                                      otb_sequence_spec(n)["anno"]))]
        if missing:
            raise _missing(self.dataset, "sequence annotation(s)", missing, self.env_var)
        self._names = names

    def _load(self, name: str) -> EvalSequence:
        spec = otb_sequence_spec(name)
        seq_dir = os.path.join(self.root, spec["folder"])
        gt = read_boxes(os.path.join(seq_dir, spec["anno"]))
        start = spec["start"]
        end = spec["end"] if spec["end"] is not None else start + len(gt) - 1
        n = end - start + 1
        if len(gt) == n:
            pass
        elif len(gt) >= end:  # annotation from image 1: take the range
            gt = gt[start - 1:end]
        else:
            raise ValueError(f"OTB/{name}: {len(gt)} annotation lines for frames {start}-{end}")
        frames = [os.path.join(seq_dir, "img", f"{i:0{spec['digits']}d}.jpg") for i in range(start, end + 1)]
        absent = [f for f in (frames[0], frames[-1]) if not os.path.isfile(f)]
        if absent:
            raise _missing(self.dataset, f"frames of {name}", absent)
        return EvalSequence(name, frames, gt, box_validity(gt), gt[0], self.dataset)


# ----------------------------------------------------------------------------------------------- LaSOT

class LaSOTTest(_Reader):
    """LaSOT test set: ``<root>/<class>/<class>-<n>/img/%08d.jpg`` (or flat ``<root>/<class>-<n>/``),
    ``groundtruth.txt`` (comma-separated integer xywh, kept as in the file, as the LaSOT toolkit does),
    ``full_occlusion.txt`` and ``out_of_view.txt`` (one line of comma-separated 0/1 flags).

    Sequences: ``<root>/testing_set.txt`` when present (one name per line), else every ``<class>-<n>``
    directory found (i.e. root is assumed to hold the test split only). valid = box usable and neither fully
    occluded nor out of view (absent flag files count as all-visible).
    """

    dataset = "LaSOT"
    env_var = "TRACKING_LASOT_ROOT"

    def __init__(self, root=None, sequences=None):
        super().__init__()
        self.root = _resolve_root(root, self.dataset, self.env_var)
        listing = os.path.join(self.root, "testing_set.txt")
        if os.path.isfile(listing):
            with open(listing) as f:
                available = [line.strip() for line in f if line.strip()]
        else:
            available = sorted({os.path.basename(os.path.dirname(p)) for pattern in ("*/*-*/groundtruth.txt",
                                                                                      "*-*/groundtruth.txt")
                                for p in glob.glob(os.path.join(self.root, pattern))}, key=_natural_key)
        if not available:
            raise _missing(self.dataset, "sequences (<class>/<class>-<n>/groundtruth.txt)", [self.root],
                           self.env_var)
        self._names = self._select(available, sequences, self.root)
        missing = [n for n in self._names if self._seq_dir(n) is None]
        if missing:
            raise _missing(self.dataset, "sequence dir(s)", [os.path.join(self.root, n.rsplit("-", 1)[0], n)
                                                             for n in missing], self.env_var)

    def _seq_dir(self, name: str) -> str | None:
        for d in (os.path.join(self.root, name.rsplit("-", 1)[0], name), os.path.join(self.root, name)):
            if os.path.isfile(os.path.join(d, "groundtruth.txt")):
                return d
        return None

    def _load(self, name: str) -> EvalSequence:
        d = self._seq_dir(name)
        gt = read_boxes(os.path.join(d, "groundtruth.txt"))
        n = len(gt)
        frames = [os.path.join(d, "img", f"{i:08d}.jpg") for i in range(1, n + 1)]
        valid = box_validity(gt)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            p = os.path.join(d, flag_file)
            if os.path.isfile(p):
                flags = _read_flags(p)
                if len(flags) != n:
                    raise ValueError(f"LaSOT/{name}: {p} has {len(flags)} flags for {n} frames")
                valid &= flags == 0
        return EvalSequence(name, frames, gt, valid, gt[0], self.dataset,
                            attributes={"class": name.rsplit("-", 1)[0]})


# ----------------------------------------------------------------------------------------------- GOT-10k

class Got10kEval(_Reader):
    """GOT-10k ``val`` or ``test``: ``<root>/<split>/<seq>/%08d.jpg`` (root may also be the split dir itself),
    sequences from ``list.txt`` (else the sorted sub-directories). Boxes kept as in ``groundtruth.txt``
    (0-based-ish float xywh, as the got10k toolkit reads them).

    val: every frame annotated; valid = box usable and ``absence.label`` == 0 and ``cover.label`` > 0 (label
    files optional). test: ``groundtruth.txt`` holds only the first frame -> first_frame_only, the frame count
    is the number of images.
    """

    dataset = "GOT-10k"
    env_var = "TRACKING_GOT10K_ROOT"

    def __init__(self, root=None, split: str = "val", sequences=None):
        super().__init__()
        if split not in ("val", "test"):
            raise ValueError(f"GOT-10k: split must be 'val' or 'test', got {split!r}")
        self.split = split
        root = _resolve_root(root, self.dataset, self.env_var)
        self.root = os.path.join(root, split) if os.path.isdir(os.path.join(root, split)) else root
        available = _read_list(os.path.join(self.root, "list.txt"))
        if available is None:
            available = sorted(e for e in os.listdir(self.root)
                               if os.path.isfile(os.path.join(self.root, e, "groundtruth.txt")))
        self._names = self._select(available, sequences, self.root)
        missing = [os.path.join(self.root, n, "groundtruth.txt") for n in self._names
                   if not os.path.isfile(os.path.join(self.root, n, "groundtruth.txt"))]
        if missing or not self._names:
            raise _missing(self.dataset, "sequence(s)", missing or [self.root], self.env_var)

    @property
    def dataset_label(self):
        return f"GOT-10k-{self.split}"

    def _load(self, name: str) -> EvalSequence:
        d = os.path.join(self.root, name)
        frames = list_images(d)
        if not frames:
            raise _missing(self.dataset, f"frames of {name}", [d])
        gt = read_boxes(os.path.join(d, "groundtruth.txt"))
        n = len(frames)
        if len(gt) == 1 and n > 1:
            gt, valid = _first_frame_only_gt(gt[0], n)
            return EvalSequence(name, frames, gt, valid, gt[0], self.dataset_label, first_frame_only=True)
        if len(gt) != n:
            raise ValueError(f"GOT-10k/{name}: {len(gt)} ground-truth lines for {n} images")
        valid = box_validity(gt)
        for label, ok in (("absence.label", lambda a: a == 0), ("cover.label", lambda c: c > 0)):
            p = os.path.join(d, label)
            if os.path.isfile(p):
                flags = _read_flags(p)
                if len(flags) == n:
                    valid &= ok(flags)
        return EvalSequence(name, frames, gt, valid, gt[0], self.dataset_label)


# ----------------------------------------------------------------------------------------------- TrackingNet

class TrackingNetTest(_Reader):
    """TrackingNet test: ``<root>/TEST/frames/<seq>/<i>.jpg`` (0-based, unpadded: sorted numerically) and
    ``<root>/TEST/anno/<seq>.txt`` (first frame only -> first_frame_only; if it has a line per frame it is
    used in full). root may also be the ``TEST`` dir. Boxes kept as in the file."""

    dataset = "TrackingNet"
    env_var = "TRACKING_TRACKINGNET_ROOT"

    def __init__(self, root=None, sequences=None):
        super().__init__()
        root = _resolve_root(root, self.dataset, self.env_var)
        self.root = os.path.join(root, "TEST") if os.path.isdir(os.path.join(root, "TEST")) else root
        anno_dir = os.path.join(self.root, "anno")
        if not os.path.isdir(anno_dir) or not os.path.isdir(os.path.join(self.root, "frames")):
            raise _missing(self.dataset, "TEST/anno and TEST/frames", [anno_dir], self.env_var)
        available = sorted((f[:-4] for f in os.listdir(anno_dir) if f.endswith(".txt")), key=_natural_key)
        self._names = self._select(available, sequences, anno_dir)
        missing = [os.path.join(self.root, "frames", n) for n in self._names
                   if not os.path.isdir(os.path.join(self.root, "frames", n))]
        if missing or not self._names:
            raise _missing(self.dataset, "sequence frame dir(s)", missing or [anno_dir], self.env_var)

    def _load(self, name: str) -> EvalSequence:
        frames = list_images(os.path.join(self.root, "frames", name))
        gt = read_boxes(os.path.join(self.root, "anno", f"{name}.txt"))
        n = len(frames)
        if len(gt) == n:
            return EvalSequence(name, frames, gt, box_validity(gt), gt[0], self.dataset)
        gt, valid = _first_frame_only_gt(gt[0], n)
        return EvalSequence(name, frames, gt, valid, gt[0], self.dataset, first_frame_only=n > 1)


# ----------------------------------------------------------------------------------------------- UAV123

# UAV123 sequences cut from a longer recording: name -> (image folder, first frame, last frame), 1-based
# image numbers. Facts from the benchmark's configSeqs (UAV123 toolkit), as also listed in pytracking's
# uavdataset.py. Every other sequence uses folder = name and frames 1..len(annotation).
UAV123_SUBSEQUENCES: dict[str, tuple[str, int, int]] = {
    "bird1_1": ("bird1", 1, 253), "bird1_2": ("bird1", 775, 1477), "bird1_3": ("bird1", 1573, 2437),
    "car1_1": ("car1", 1, 751), "car1_2": ("car1", 751, 1627), "car1_3": ("car1", 1627, 2629),
    "car16_1": ("car16", 1, 415), "car16_2": ("car16", 415, 1993),
    "car6_1": ("car6", 1, 487), "car6_2": ("car6", 487, 1807), "car6_3": ("car6", 1807, 2953),
    "car6_4": ("car6", 2953, 3925), "car6_5": ("car6", 3925, 4861),
    "car8_1": ("car8", 1, 1357), "car8_2": ("car8", 1357, 2575),
    "group1_1": ("group1", 1, 1333), "group1_2": ("group1", 1333, 2515), "group1_3": ("group1", 2515, 3925),
    "group1_4": ("group1", 3925, 4873),
    "group2_1": ("group2", 1, 907), "group2_2": ("group2", 907, 1771), "group2_3": ("group2", 1771, 2683),
    "group3_1": ("group3", 1, 1567), "group3_2": ("group3", 1567, 2827), "group3_3": ("group3", 2827, 4369),
    "group3_4": ("group3", 4369, 5527),
    "person12_1": ("person12", 1, 601), "person12_2": ("person12", 601, 1621),
    "person14_1": ("person14", 1, 847), "person14_2": ("person14", 847, 1813),
    "person14_3": ("person14", 1813, 2923),
    "person17_1": ("person17", 1, 1501), "person17_2": ("person17", 1501, 2347),
    "person19_1": ("person19", 1, 1243), "person19_2": ("person19", 1243, 2791),
    "person19_3": ("person19", 2791, 4357),
    "person2_1": ("person2", 1, 1189), "person2_2": ("person2", 1189, 2623),
    "person4_1": ("person4", 1, 1501), "person4_2": ("person4", 1501, 2743),
    "person5_1": ("person5", 1, 877), "person5_2": ("person5", 877, 2101),
    "person7_1": ("person7", 1, 1249), "person7_2": ("person7", 1249, 2065),
    "person8_1": ("person8", 1, 1075), "person8_2": ("person8", 1075, 1525),
    "truck4_1": ("truck4", 1, 577), "truck4_2": ("truck4", 577, 1261),
    "uav1_1": ("uav1", 1, 1555), "uav1_2": ("uav1", 1555, 2377), "uav1_3": ("uav1", 2473, 3469),
}


class UAV123(_Reader):
    """UAV123: ``<root>/data_seq/UAV123/<folder>/%06d.jpg``, ``<root>/anno/UAV123/<seq>.txt`` (comma xywh,
    ``NaN,NaN,NaN,NaN`` where the target is absent -> valid False; kept as in the file otherwise).
    Sequences = the annotation files. Sub-sequences (``bird1_2`` ...) use :data:`UAV123_SUBSEQUENCES`; a
    ``<name>_<k>`` sequence not in the table whose own folder does not exist is an error (its range is not
    derivable). The annotation length must equal the frame range length."""

    dataset = "UAV123"
    env_var = "TRACKING_UAV123_ROOT"

    def __init__(self, root=None, sequences=None):
        super().__init__()
        self.root = _resolve_root(root, self.dataset, self.env_var)
        self.anno_dir = os.path.join(self.root, "anno", "UAV123")
        self.data_dir = os.path.join(self.root, "data_seq", "UAV123")
        if not os.path.isdir(self.anno_dir) or not os.path.isdir(self.data_dir):
            raise _missing(self.dataset, "anno/UAV123 and data_seq/UAV123", [self.anno_dir, self.data_dir],
                           self.env_var)
        available = sorted((f[:-4] for f in os.listdir(self.anno_dir) if f.endswith(".txt")), key=_natural_key)
        self._names = self._select(available, sequences, self.anno_dir)

    def _load(self, name: str) -> EvalSequence:
        gt = read_boxes(os.path.join(self.anno_dir, f"{name}.txt"))
        if name in UAV123_SUBSEQUENCES:
            folder, start, end = UAV123_SUBSEQUENCES[name]
        else:
            folder, start, end = name, 1, len(gt)
        seq_dir = os.path.join(self.data_dir, folder)
        if not os.path.isdir(seq_dir):
            raise _missing(self.dataset, f"image folder of {name}", [seq_dir])
        if end - start + 1 != len(gt):
            raise ValueError(f"UAV123/{name}: {len(gt)} annotation lines for frames {start}-{end}")
        frames = [os.path.join(seq_dir, f"{i:06d}.jpg") for i in range(start, end + 1)]
        return EvalSequence(name, frames, gt, box_validity(gt), gt[0], self.dataset)


# ----------------------------------------------------------------------------------------------- NfS

class NFS(_Reader):
    """Need for Speed: ``<root>/<seq>/<fps>/<seq>/%05d.jpg`` with ``<root>/<seq>/<fps>/<seq>.txt``.

    Assumed annotation format (the NfS release, VATIC style): whitespace-separated
    ``track_id xmin ymin xmax ymax frame lost occluded generated "label"`` per line; box = ``xmin, ymin,
    xmax - xmin, ymax - ymin`` (no +1). ``lost`` == 1 -> valid False. The 30 fps folders often carry the 240 fps
    annotation (8x as many lines): then every 8th line from the first is taken (as the got10k toolkit does);
    a remaining difference of one line is resolved by truncating to the shorter of frames/annotations.
    """

    dataset = "NfS"
    env_var = "TRACKING_NFS_ROOT"

    def __init__(self, root=None, fps: int = 30, sequences=None):
        super().__init__()
        self.root = _resolve_root(root, self.dataset, self.env_var)
        self.fps = int(fps)
        available = sorted(e for e in os.listdir(self.root)
                           if os.path.isfile(os.path.join(self.root, e, str(self.fps), f"{e}.txt")))
        if not available:
            raise _missing(self.dataset, f"sequences (<seq>/{self.fps}/<seq>.txt)", [self.root], self.env_var)
        self._names = self._select(available, sequences, self.root)

    def _load(self, name: str) -> EvalSequence:
        base = os.path.join(self.root, name, str(self.fps))
        anno_path = os.path.join(base, f"{name}.txt")
        rows = []
        with open(anno_path) as f:
            for number, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    rows.append([float(v) for v in fields[1:7]])
                except (ValueError, IndexError):
                    raise ResultFileError(f"{anno_path}:{number}: expected 'id xmin ymin xmax ymax frame lost "
                                          f"...', got {line!r}") from None
        if not rows or any(len(r) < 4 for r in rows):
            raise ResultFileError(f"{anno_path}: empty or malformed annotation")
        a = np.array([r + [0.0] * (6 - len(r)) for r in rows])
        frames = list_images(os.path.join(base, name))
        if not frames:
            raise _missing(self.dataset, f"frames of {name}", [os.path.join(base, name)])
        if len(a) != len(frames) and abs(len(a) / len(frames) - 8) < 1:
            a = a[0::8]
        if abs(len(a) - len(frames)) > 1:
            raise ValueError(f"NfS/{name}: {len(a)} annotation lines for {len(frames)} frames")
        n = min(len(a), len(frames))
        a, frames = a[:n], frames[:n]
        gt = np.stack([a[:, 0], a[:, 1], a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]], axis=1)
        valid = box_validity(gt) & (a[:, 5] == 0)
        return EvalSequence(name, frames, gt, valid, gt[0], self.dataset)


# ----------------------------------------------------------------------------------------------- VOT / folders

_FRAME_SUBDIRS = ("color", "img", "imgs", "images", "frames")
_GT_NAMES = ("groundtruth.txt", "groundtruth_rect.txt")


def _frame_dir(seq_dir: str) -> str | None:
    for sub in _FRAME_SUBDIRS:
        d = os.path.join(seq_dir, sub)
        if os.path.isdir(d) and list_images(d):
            return d
    return seq_dir if list_images(seq_dir) else None


def _gt_file(seq_dir: str) -> str | None:
    for g in _GT_NAMES:
        if os.path.isfile(os.path.join(seq_dir, g)):
            return os.path.join(seq_dir, g)
    return None


class _DirSequences(_Reader):
    """A root that is one sequence dir (it has frames) or holds sequence dirs."""

    env_var = ""

    def __init__(self, root=None, sequences=None):
        super().__init__()
        self.root = _resolve_root(root, self.dataset, self.env_var)
        if self._is_sequence(self.root):
            self._dirs = {os.path.basename(self.root): self.root}
        else:
            entries = _read_list(os.path.join(self.root, "list.txt"))
            if entries is None:
                entries = sorted(e for e in os.listdir(self.root)
                                 if os.path.isdir(os.path.join(self.root, e))
                                 and self._is_sequence(os.path.join(self.root, e)))
            self._dirs = {e: os.path.join(self.root, e) for e in entries}
        if not self._dirs:
            raise _missing(self.dataset, "sequences (dirs with frames and ground truth)", [self.root],
                           self.env_var)
        self._names = self._select(list(self._dirs), sequences, self.root)
        missing = [self._dirs[n] for n in self._names if not os.path.isdir(self._dirs[n])]
        if missing:
            raise _missing(self.dataset, "sequence dir(s)", missing, self.env_var)

    def _is_sequence(self, d: str) -> bool:
        return _gt_file(d) is not None and _frame_dir(d) is not None


class VOTPolygons(_DirSequences):
    """VOT-style sequences: frames in ``<seq>/color/`` (or ``img``/``imgs``/... or ``<seq>/`` itself, natural
    order), ``groundtruth.txt`` lines of 4 values (xywh) or 8 values (rotated polygon -> axis-aligned box =
    min/max of the points, w = max - min). Values kept as in the file (VOT's 0-based pixel coordinates).
    Lines with NaN or a single status value are invalid frames. Sequences from ``<root>/list.txt`` else the
    sub-directories; root may itself be a sequence dir. There must be at least as many images as lines (the
    first ``len(groundtruth)`` images are used)."""

    dataset = "VOT"
    env_var = "TRACKING_VOT_ROOT"

    def _is_sequence(self, d: str) -> bool:
        return os.path.isfile(os.path.join(d, "groundtruth.txt")) and _frame_dir(d) is not None

    def _load(self, name: str) -> EvalSequence:
        d = self._dirs[name]
        gt = read_region_file(os.path.join(d, "groundtruth.txt"))
        fdir = _frame_dir(d)
        frames = list_images(fdir) if fdir else []
        if len(frames) < len(gt):
            raise ValueError(f"VOT/{name}: {len(gt)} ground-truth lines but {len(frames)} images in {fdir or d}")
        return EvalSequence(name, frames[:len(gt)], gt, box_validity(gt), gt[0], self.dataset)


class FolderSequences(_DirSequences):
    """Generic folders: root is one sequence dir or a dir of them (``list.txt`` or sub-directories).

    Frames: images in ``<seq>/img`` (``color``, ``imgs``, ``images``, ``frames``) or in ``<seq>/`` itself,
    natural order. Ground truth: ``groundtruth.txt`` or OTB-style ``groundtruth_rect.txt`` with 4-value (xywh)
    or polygon lines, either one line per frame or a single line (-> first_frame_only). A folder without
    ground truth needs ``init_box`` (xywh of frame 0, used for every such folder) -> first_frame_only. Values
    are kept as in the file."""

    dataset = "folder"
    env_var = "TRACKING_FOLDER_ROOT"

    def __init__(self, root=None, sequences=None, init_box=None):
        self.default_init_box = None if init_box is None else np.asarray(init_box, dtype=np.float64).reshape(4)
        super().__init__(root, sequences)

    def _is_sequence(self, d: str) -> bool:
        return _frame_dir(d) is not None and (_gt_file(d) is not None or self.default_init_box is not None)

    def _load(self, name: str) -> EvalSequence:
        d = self._dirs[name]
        fdir = _frame_dir(d)
        frames = list_images(fdir) if fdir else []
        if not frames:
            raise _missing(self.dataset, f"frames of {name}", [d])
        n = len(frames)
        gt_path = _gt_file(d)
        if gt_path is None:
            if self.default_init_box is None:
                raise _missing(self.dataset, f"ground truth of {name} (and no init_box given)",
                               [os.path.join(d, "groundtruth.txt")])
            gt = self.default_init_box[None]
        else:
            gt = read_region_file(gt_path)
        if len(gt) == n:
            return EvalSequence(name, frames, gt, box_validity(gt), gt[0], self.dataset)
        if len(gt) == 1:
            gt, valid = _first_frame_only_gt(gt[0], n)
            return EvalSequence(name, frames, gt, valid, gt[0], self.dataset, first_frame_only=n > 1)
        raise ValueError(f"folder/{name}: {len(gt)} ground-truth lines for {n} images (need 1 or {n})")


# ----------------------------------------------------------------------------------------------- by name

_READERS = {
    "otb": OTB, "otb100": OTB, "lasot": LaSOTTest, "got10k": Got10kEval, "trackingnet": TrackingNetTest,
    "uav123": UAV123, "nfs": NFS, "vot": VOTPolygons, "folder": FolderSequences,
}


def _read_list(path: str) -> list[str] | None:
    """The non-empty lines of a sequence list file (e.g. list.txt), or None when it does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def build_eval_dataset(name: str, root=None, **kw) -> _Reader:
    """A reader by name: otb, lasot, got10k (split="val"|"test"), trackingnet, uav123, nfs (fps=30), vot,
    folder; extra keywords go to the reader (e.g. ``sequences=[...]``)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in ("got10kval", "got10ktest"):
        kw.setdefault("split", key[len("got10k"):])
        key = "got10k"
    if key not in _READERS:
        raise ValueError(f"unknown evaluation dataset {name!r}; known: {sorted(set(_READERS))}")
    return _READERS[key](root, **kw)


def load_ground_truth(name: str, root=None, **kw) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{sequence name: (ground truth [T, 4] xywh, valid [T] bool)} of an evaluation dataset, for scoring
    (``python -m tracking.eval.report --dataset NAME --data-root DIR``)."""
    return {seq.name: (seq.ground_truth, seq.valid) for seq in build_eval_dataset(name, root, **kw)}
