"""The parsed-index cache: a dataset's list of :class:`~tracking.data.sequence.SequenceInfo`, stored in a
format that cannot execute code when it is read.

Where: ``index/<dataset>-<key>.npz`` under the user cache directory (:func:`tracking.data.roots.cache_dir`),
never in the dataset directory (which may be shared or read-only, and whose files we did not write).

Key: a SHA-256 over the cache format, the dataset name, the parse parameters (e.g. the image directory, the
split) and the sources: the bytes of each source file, and for a source directory the relative path, size and
modification time of every file under it (hashing the content of ImageNet VID's ~1.1M XML files would cost
as much as parsing them). A changed annotation file therefore misses the cache; nothing is ever compared by
modification time alone.

Format: an ``.npz`` read with ``allow_pickle=False``: ``boxes`` [N, 4] float64 and ``visible`` [N] bool of
all sequences concatenated, ``lengths`` [S] int64, one flat array per array-valued ``extra`` key, and
``meta``, UTF-8 JSON (as uint8) with the key and each sequence's name, frames, class, image size, scalar
extras and flags. A file that does not match this layout or key is ignored (with a logged warning) and
rebuilt; values that the format cannot hold make :func:`save_index` raise TypeError.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..atomic import atomic_path
from ..roots import cache_dir
from ..sequence import FramePaths, SequenceInfo

__all__ = ["FORMAT_VERSION", "index_cache_path", "index_key", "load_index", "save_index"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
"""Bumped whenever the stored layout or what the dataset classes parse changes."""

_SCALARS = (str, int, float, bool, type(None))


def _hash_file(h: "hashlib._Hash", path: str) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def _hash_tree(h: "hashlib._Hash", root: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            h.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def index_key(dataset: str, sources: Iterable[str], params: Mapping[str, object]) -> str:
    """The hex SHA-256 cache key of a dataset parsed from ``sources`` (files: their bytes; directories: the
    path, size and mtime of every file below) with the JSON-able ``params``.

    Raises:
        OSError: a source cannot be read.
    """
    h = hashlib.sha256(json.dumps({"format": FORMAT_VERSION, "dataset": dataset, "params": dict(params)},
                                  sort_keys=True, default=str).encode())
    for source in sources:
        h.update(f"\0source\0{os.path.abspath(source)}\0".encode())
        if os.path.isdir(source):
            _hash_tree(h, source)
        else:
            _hash_file(h, source)
    return h.hexdigest()


def index_cache_path(dataset: str, key: str) -> str:
    """Where the index of ``dataset`` with cache key ``key`` is stored."""
    return cache_dir("index", f"{dataset}-{key[:32]}.npz")


def _frames_meta(frames) -> dict | list[str]:
    if isinstance(frames, FramePaths):
        return {"directory": frames.directory, "pattern": frames.pattern, "start": frames.start,
                "count": frames.count}
    return [str(p) for p in frames]


def save_index(path: str, key: str, sequences: list[SequenceInfo]) -> None:
    """Write ``sequences`` to ``path`` (atomically: a temporary file, then a rename).

    Raises:
        TypeError: an ``extra`` value is neither a JSON scalar nor a numpy array.
        OSError: the file cannot be written.
    """
    arrays: dict[str, list[np.ndarray]] = {}
    entries = []
    for s in sequences:
        scalars, shapes = {}, {}
        for name, value in s.extra.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, _SCALARS):
                scalars[name] = value
            elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                arrays.setdefault(name, []).append(value.reshape(-1))
                shapes[name] = [list(value.shape), value.dtype.str]
            else:
                raise TypeError(f"{s.dataset}/{s.name}: extra[{name!r}] of type {type(value).__name__} cannot be "
                                f"stored in the index cache")
        entries.append({"name": s.name, "frames": _frames_meta(s.frames), "class_name": s.class_name,
                        "image_size": list(s.image_size) if s.image_size is not None else None,
                        "box_base": s.box_base, "first_frame_only": s.first_frame_only, "extra": scalars,
                        "extra_arrays": shapes})
    dataset = sequences[0].dataset if sequences else ""
    meta = json.dumps({"format": FORMAT_VERSION, "key": key, "dataset": dataset, "sequences": entries})
    payload = {
        "meta": np.frombuffer(meta.encode(), dtype=np.uint8),
        "lengths": np.array([len(s) for s in sequences], dtype=np.int64),
        "boxes": np.concatenate([s.boxes for s in sequences]) if sequences else np.zeros((0, 4)),
        "visible": np.concatenate([s.visible for s in sequences]) if sequences else np.zeros(0, dtype=bool),
    }
    for name, parts in arrays.items():
        payload[f"extra.{name}"] = np.concatenate([p.astype(parts[0].dtype) for p in parts])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(buffer.getvalue())


def _load(path: str, key: str) -> list[SequenceInfo]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            raise ValueError("written for other sources or by another version")
        lengths, boxes, visible = z["lengths"], z["boxes"], z["visible"]
        extras = {name[len("extra."):]: z[name] for name in z.files if name.startswith("extra.")}
    entries = meta["sequences"]
    if len(entries) != len(lengths) or boxes.shape != (int(lengths.sum()), 4) or visible.shape != (len(boxes),):
        raise ValueError("inconsistent array sizes")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    extra_offsets = dict.fromkeys(extras, 0)
    sequences = []
    for i, e in enumerate(entries):
        frames = e["frames"]
        frames = FramePaths(**frames) if isinstance(frames, dict) else tuple(frames)
        extra = dict(e["extra"])
        for name, (shape, dtype) in e["extra_arrays"].items():
            n = int(np.prod(shape))
            start = extra_offsets[name]
            extra[name] = extras[name][start:start + n].astype(np.dtype(dtype)).reshape(shape)
            extra_offsets[name] = start + n
        a, b = offsets[i], offsets[i + 1]
        sequences.append(SequenceInfo(
            dataset=meta["dataset"], name=e["name"], frames=frames, boxes=boxes[a:b].copy(),
            visible=visible[a:b].copy(), class_name=e["class_name"],
            image_size=tuple(e["image_size"]) if e["image_size"] is not None else None, extra=extra,
            box_base=int(e["box_base"]), first_frame_only=bool(e["first_frame_only"])))
    return sequences


def load_index(path: str, key: str) -> list[SequenceInfo] | None:
    """The sequences stored at ``path`` under ``key``; None when there is no such file. A file that is
    damaged, of another format or written for another key is ignored with a logged warning."""
    if not os.path.isfile(path):
        return None
    try:
        return _load(path, key)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        log.warning("ignoring the dataset index cache %s (%s: %s); rebuilding it", path, type(e).__name__, e)
        return None


def cached_build(dataset: str, sources: Iterable[str], params: Mapping[str, object],
                 build: Callable[[], list[SequenceInfo]]) -> list[SequenceInfo]:
    """``build()``, or the index cached for exactly these sources and parameters (then stored for next
    time). A cache that cannot be written (read-only cache directory) is skipped with a logged warning."""
    sources = list(sources)
    key = index_key(dataset, sources, params)
    path = index_cache_path(dataset, key)
    sequences = load_index(path, key)
    if sequences is not None:
        return sequences
    sequences = build()
    try:
        save_index(path, key, sequences)
    except (OSError, TypeError) as e:
        log.warning("could not write the dataset index cache %s (%s)", path, e)
    return sequences
