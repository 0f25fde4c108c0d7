"""Training datasets from a config: ``data.datasets`` entries -> ``TrackingDataset`` objects and weights.

An entry (a mapping; after OmegaConf conversion every key may be present with ``None`` = not given)::

    {name: got10k, split: vottrain, weight: 1}            # any key of tracking.data.datasets.DATASETS
    {name: trackingnet, sets: [0, 1, 2, 3]}
    {name: coco, version: "2017", root: /data/coco}
    {name: lasot, split: train, kwargs: {classes: [airplane, bear]}}   # kwargs go to the constructor
    {name: synthetic, split: train}                       # the embedded synthetic data

Keys: ``name`` (required), ``weight`` (sampling weight, > 0, default 1.0), ``split``, ``root``, ``sets``,
``version``, ``kwargs``. Roots come from the entry's ``root``, else the resolver of
:mod:`tracking.data.roots` (``$TRACKING_<KEY>_ROOT``, then ``datasets.<key>`` of the settings file). Every
entry's root is resolved before any dataset is parsed: the missing ones are reported together in one
:class:`DatasetRootsMissingError`. Any other error of an entry (an unknown key, a wrong type, a missing split
file, a bad annotation file) keeps its type and gets the entry's config key and file in front of its message:
``data.datasets[1] in configs/dimp50.yaml: ...``.

``synthetic`` is :func:`tracking.data.defaults.default_dataset` (16 sequences, generated once into the user
cache): ``split: train`` is all sequences but the last ``val_sequences`` (``kwargs: {val_sequences: N}``,
default 2), ``split: val`` those last ones, no split all of them. ``kwargs`` may also change the spec
(``sequences``, ``frames``, ``width``, ``height``, ``seed``, ``jpeg_quality``, ``out_of_view_prob``,
``occlusion_prob``: :class:`tracking.data.synthetic.SyntheticSpec`); such a dataset is generated into
``root`` when given, else beside the default one (a directory named by the spec), never over it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..data.datasets import DATASETS, Got10k, TrackingDataset, build_dataset, dataset_key
from ..data.defaults import DEFAULT_SYNTHETIC_SPEC, default_dataset, synthetic_root
from ..data.roots import DatasetNotFoundError, configured_root, env_var, resolve_root, settings_path

__all__ = ["DEFAULT_VAL_SEQUENCES", "DatasetEntry", "DatasetRootsMissingError", "ENTRY_KEYS", "MissingRoot",
           "SYNTHETIC", "build_datasets", "check_roots", "parse_entries"]

log = logging.getLogger(__name__)

ENTRY_KEYS = ("name", "weight", "split", "root", "sets", "version", "kwargs")
SYNTHETIC = "synthetic"
DEFAULT_VAL_SEQUENCES = 2
"""Sequences of the synthetic data held out as ``split: val`` (the last ones)."""
_SPEC_KWARGS = {"sequences": "num_sequences", "frames": "num_frames", "width": "width", "height": "height",
                "seed": "seed", "jpeg_quality": "jpeg_quality", "out_of_view_prob": "out_of_view_prob",
                "occlusion_prob": "occlusion_prob"}
_SYNTHETIC_KWARGS = (*_SPEC_KWARGS, "val_sequences")


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """One validated config entry.

    Attributes:
        config_key: the entry's config key, e.g. ``"data.datasets[1]"``.
        where: its config key and file, e.g. ``"data.datasets[1] in configs/dimp50.yaml"`` (messages start so).
        index: its position in the list.
        name: the name as written (e.g. "got10k" or "got10k-vottrain").
        key: the dataset key ("got10k", ...) or "synthetic".
        weight, split, root, sets, version, kwargs: the entry's values (None / {} when not given).
    """

    config_key: str
    where: str
    index: int
    name: str
    key: str
    weight: float = 1.0
    split: str | None = None
    root: str | None = None
    sets: tuple[int | str, ...] | None = None
    version: str | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """The dataset and its selection, e.g. "got10k (split vottrain)"."""
        parts = [f"split {self.split}"] if self.split else []
        parts += [f"sets {', '.join(map(str, self.sets))}"] if self.sets else []
        parts += [f"version {self.version}"] if self.version else []
        return self.name + (f" ({', '.join(parts)})" if parts else "")


@dataclasses.dataclass(frozen=True)
class MissingRoot:
    """An entry whose dataset root is not set, or not a directory.

    Attributes:
        entry: the entry.
        path: the root tried (None: not set anywhere).
        source: where ``path`` came from ("root: in the entry", "$TRACKING_GOT10K_ROOT", "datasets.got10k in
            <settings file>"); None when not set.
    """

    entry: DatasetEntry
    path: str | None = None
    source: str | None = None


class DatasetRootsMissingError(DatasetNotFoundError):
    """The roots of one or more configured datasets are not set or not directories; ``missing`` lists them
    all, the message says how to set them."""

    def __init__(self, message: str, missing: Sequence[MissingRoot] = ()):
        super().__init__(message)
        self.missing = list(missing)


# ----------------------------------------------------------------------------------------------- entries


def _in_file(config_path: str | None) -> str:
    return f" in {config_path}" if config_path else ""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(where: str, field: str, value: object, ok: bool, expected: str) -> None:
    if not ok:
        raise ValueError(f"{where}: {field} must be {expected}, got {type(value).__name__} {value!r}")


def _parse_entry(entry: object, index: int, key: str, config_path: str | None) -> DatasetEntry:
    config_key = f"{key}[{index}]"
    where = config_key + _in_file(config_path)
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: the entry must be a mapping such as {{name: got10k}}, got "
                         f"{type(entry).__name__} {entry!r}")
    unknown = [k for k in entry if k not in ENTRY_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(ENTRY_KEYS)})")
    values = {k: entry.get(k) for k in ENTRY_KEYS}
    name = values["name"]
    _check_type(where, "name", name, isinstance(name, str) and bool(name), "a dataset name such as 'got10k'")
    weight = 1.0 if values["weight"] is None else values["weight"]
    _check_type(where, "weight", weight, _is_number(weight) and math.isfinite(weight) and weight > 0,
                "a positive number")
    for field in ("split", "root"):
        _check_type(where, field, values[field], values[field] is None or isinstance(values[field], str), "a string")
    version = values["version"]
    _check_type(where, "version", version, version is None or isinstance(version, str) or _is_number(version),
                "a string such as '2017'")
    sets = values["sets"]
    if isinstance(sets, (int, str)) and not isinstance(sets, bool):
        sets = [sets]
    _check_type(where, "sets", sets, sets is None or (isinstance(sets, Sequence) and all(
        isinstance(s, (int, str)) and not isinstance(s, bool) for s in sets)), "a list of ints or names")
    kwargs = values["kwargs"] if values["kwargs"] is not None else {}
    _check_type(where, "kwargs", kwargs, isinstance(kwargs, Mapping) and all(isinstance(k, str) for k in kwargs),
                "a mapping of argument names to values")

    split = values["split"]
    if name.lower() == SYNTHETIC:
        dataset = SYNTHETIC
    else:
        try:
            dataset, name_split = dataset_key(name)
        except ValueError as e:
            raise ValueError(f"{where}: {e}; or {SYNTHETIC} (the embedded synthetic data)") from None
        if name_split is not None and split is not None and split != name_split:
            raise ValueError(f"{where}: name {name!r} names split {name_split!r} but split is {split!r}")
        split = split if split is not None else name_split
    parsed = DatasetEntry(config_key=config_key, where=where, index=index, name=name, key=dataset,
                          weight=float(weight), split=split, root=values["root"],
                          sets=None if sets is None else tuple(sets),
                          version=None if version is None else str(version), kwargs=dict(kwargs))
    (_check_synthetic if dataset == SYNTHETIC else _check_arguments)(parsed)
    return parsed


def _check_arguments(entry: DatasetEntry) -> None:
    """The dataset class takes the entry's split / sets / version / kwargs (checked before anything is parsed)."""
    cls = DATASETS[entry.key]
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "name" in entry.kwargs:
        raise ValueError(f"{entry.where}: kwargs.name cannot be passed (the entry's name is the dataset's name)")
    for field in ("root", "split", "sets", "version"):
        if field in entry.kwargs:
            raise ValueError(f"{entry.where}: kwargs.{field}: give it as the entry's own key ({field}: ...)")
    given = [f for f in ("split", "sets", "version") if getattr(entry, f) is not None] + list(entry.kwargs)
    for field in given:
        if field not in params and not takes_any:
            accepted = [p for p in params if p not in ("self", "root")]
            raise ValueError(f"{entry.where}: {entry.name} ({cls.__name__}) takes no {field!r}; its arguments: "
                             f"{', '.join(accepted) or 'none'}")


def _check_synthetic(entry: DatasetEntry) -> None:
    if entry.split not in (None, "train", "val"):
        raise ValueError(f"{entry.where}: synthetic: split must be 'train', 'val' or not given, got {entry.split!r}")
    for field in ("sets", "version"):
        if getattr(entry, field) is not None:
            raise ValueError(f"{entry.where}: synthetic takes no {field!r}")
    for name, value in entry.kwargs.items():
        if name not in _SYNTHETIC_KWARGS:
            raise ValueError(f"{entry.where}: synthetic: unknown kwargs.{name} (known: {', '.join(_SYNTHETIC_KWARGS)})")
        if name.endswith("_prob"):
            _check_type(entry.where, f"kwargs.{name}", value, _is_number(value), "a number")
        else:
            _check_type(entry.where, f"kwargs.{name}", value, isinstance(value, int) and not isinstance(value, bool),
                        "an int")


def parse_entries(entries: Sequence[Mapping], *, config_path: str | None,
                  key: str = "data.datasets") -> list[DatasetEntry]:
    """Validate the entries (keys, types, names, the arguments each dataset class takes); nothing is read.

    Raises:
        ValueError: naming the entry's config key (``data.datasets[1]``), the file and the key at fault.
    """
    where = key + _in_file(config_path)
    if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Sequence):
        raise ValueError(f"{where}: must be a list of dataset entries such as [{{name: got10k, split: train}}], "
                         f"got {type(entries).__name__}")
    return [_parse_entry(entry, i, key, config_path) for i, entry in enumerate(entries)]


# ----------------------------------------------------------------------------------------------- roots


def _resolve_roots(entries: Sequence[DatasetEntry], key: str, config_path: str | None) -> list[str | None]:
    """The root of each entry (None for synthetic); raises one DatasetRootsMissingError for all missing."""
    found: list[str | None] = [None] * len(entries)
    missing: list[MissingRoot] = []
    for entry in entries:
        if entry.key == SYNTHETIC:
            continue
        try:
            found[entry.index] = resolve_root(entry.key, entry.root)
        except DatasetNotFoundError:
            configured = configured_root(entry.key, entry.root)
            if configured is None:
                missing.append(MissingRoot(entry))
            else:
                source = "root: in the entry" if entry.root is not None else configured[1]
                missing.append(MissingRoot(entry, os.path.abspath(os.path.expanduser(configured[0])), source))
    if missing:
        raise DatasetRootsMissingError(_missing_message([(key, missing)], config_path), missing)
    return found


def check_roots(entries: Sequence[Mapping], *, config_path: str | None, key: str = "data.datasets",
                more: Sequence[tuple[str, Sequence[Mapping]]] = ()) -> list[str | None]:
    """Validate the entries and resolve every root, parsing no dataset: the absolute root of each entry (None
    for synthetic). :func:`build_datasets` does this first. ``more``: further ``(key, entries)`` lists (e.g.
    ``("data.val.datasets", ...)``) checked too, so that one message names every missing root of all of them.

    Raises:
        DatasetRootsMissingError, ValueError: as :func:`build_datasets`.
    """
    groups = [(key, entries), *more]
    found, failures = None, []
    for group_key, group in groups:
        try:
            roots = _resolve_roots(parse_entries(group, config_path=config_path, key=group_key), group_key,
                                   config_path)
        except DatasetRootsMissingError as e:
            failures.append((group_key, e.missing))
            continue
        if found is None and group_key == key:
            found = roots
    if failures:
        missing = [m for _, group in failures for m in group]
        raise DatasetRootsMissingError(_missing_message(failures, config_path), missing)
    return found if found is not None else []


def _missing_message(groups: Sequence[tuple[str, Sequence[MissingRoot]]], config_path: str | None) -> str:
    """The message of DatasetRootsMissingError (see build_datasets): every missing root of every ``(config key,
    missing)`` group, then one block of ways to set them."""
    config = _in_file(config_path)
    missing = [m for _, group in groups for m in group]
    keys = list(dict.fromkeys(m.entry.key for m in missing))
    settings = settings_path()
    exists = "" if os.path.isfile(settings) else " (it does not exist yet)"
    lines = []
    for key, group in groups:
        lines.append(f"dataset root{'s' if len(group) > 1 else ''} missing for {len(group)} of the datasets of "
                     f"{key}{config}:")
        for m in group:
            what = "not set" if m.path is None else f"{m.path!r} (from {m.source}) is not a directory"
            lines.append(f"  {m.entry.config_key}: {m.entry.describe()}: root {what}")
    with_val = any("val" in key.split(".") for key, _ in groups)

    def split(key: str) -> str:  # the held-out tail for validation, the rest for training
        return ", split: val" if "val" in key.split(".") else ", split: train" if with_val else ""

    synthetic = " ".join(f"'{key}=[{{name: {SYNTHETIC}{split(key)}}}]'" for key, _ in groups)
    lines += ["Set each root in one of these ways:",
              f"  - in the settings file {settings}{exists}: {', '.join(f'datasets.{k}: DIR' for k in keys)} "
              "(`python -m tracking.settings --init` writes a template; `python -m tracking.settings` shows "
              "what is set);",
              f"  - the environment variable{'s' if len(keys) > 1 else ''} "
              f"{', '.join(env_var(k) for k in keys)};",
              f"  - root: DIR in the entry{config};",
              f"or train on the embedded synthetic data: override {synthetic}."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- building


def _with_context(exc: Exception, where: str) -> Exception:
    """``exc`` with ``where: `` in front of its message, of the same type and attributes when possible."""
    message = f"{where}: {exc}"
    try:
        new = type(exc).__new__(type(exc))
        new.__dict__.update(vars(exc))
        new.args = (message,)
        if str(new) == message:
            return new
    except Exception:  # an exception type that cannot be copied this way: its nearest built-in base
        pass
    for base in (OSError, ValueError, TypeError):
        if isinstance(exc, base):
            return base(message)
    return RuntimeError(message)


def _spec_root(spec: Any) -> str:
    """Where a non-default synthetic spec is generated without a root: beside the default synthetic data."""
    digest = hashlib.sha1(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    tag = f"{spec.num_sequences}x{spec.num_frames}-{spec.width}x{spec.height}-{digest}"
    return f"{synthetic_root().rstrip(os.sep)}-{tag}"


def _build_synthetic(entry: DatasetEntry) -> TrackingDataset:
    kwargs = dict(entry.kwargs)
    val = kwargs.pop("val_sequences", DEFAULT_VAL_SEQUENCES)
    spec = DEFAULT_SYNTHETIC_SPEC
    if kwargs:
        spec = dataclasses.replace(spec, **{_SPEC_KWARGS[k]: v for k, v in kwargs.items()})
    if entry.split is not None and not 1 <= val < spec.num_sequences:
        raise ValueError(f"synthetic: kwargs.val_sequences must be in [1, {spec.num_sequences - 1}] for "
                         f"{spec.num_sequences} sequences, got {val}")
    root = entry.root if entry.root is not None else (None if spec == DEFAULT_SYNTHETIC_SPEC else _spec_root(spec))
    full = default_dataset(root, spec)
    if entry.split is None:
        return full
    names = full.names[:-val] if entry.split == "train" else full.names[-val:]
    return Got10k(root=full.root, split="train", sequences=names)


def _build_one(entry: DatasetEntry, root: str | None) -> TrackingDataset:
    if entry.key == SYNTHETIC:
        return _build_synthetic(entry)
    kwargs = dict(entry.kwargs)
    if entry.sets is not None:
        kwargs["sets"] = list(entry.sets)
    if entry.version is not None:
        kwargs["version"] = entry.version
    return build_dataset(entry.name, root=root, split=entry.split, **kwargs)


def build_datasets(entries: Sequence[Mapping], *, config_path: str | None,
                   key: str = "data.datasets") -> tuple[list[TrackingDataset], list[float]]:
    """The datasets of config entries (see the module docstring) and their sampling weights, in order.

    All entries are validated and every root is resolved before any dataset is parsed; then each dataset is
    built through :func:`tracking.data.datasets.build_dataset` (or the synthetic data), with one INFO log line
    each (sequences, seconds). An empty list gives ``([], [])``.

    Args:
        entries: the entries (plain mappings, or OmegaConf containers).
        config_path: the config file, named in messages (None: not named).
        key: the entries' config key, named in messages (``data.datasets``, ``data.val.datasets``).

    Raises:
        DatasetRootsMissingError: roots not set (or not directories); one message for all, e.g.::

            dataset roots missing for 2 of the datasets of data.datasets in configs/dimp50.yaml:
              data.datasets[0]: lasot (split train): root not set
              data.datasets[1]: got10k (split vottrain): root '/nope' (from $TRACKING_GOT10K_ROOT) is not a directory
            Set each root in one of these ways:
              - in the settings file ~/.config/tracking/local.yaml: datasets.lasot: DIR, datasets.got10k: DIR
                (`python -m tracking.settings --init` writes a template; ...);
              - the environment variables TRACKING_LASOT_ROOT, TRACKING_GOT10K_ROOT;
              - root: DIR in the entry in configs/dimp50.yaml;
            or train on the embedded synthetic data: override 'data.datasets=[{name: synthetic}]'.

        ValueError: an invalid entry (unknown key, wrong type, unknown dataset, an argument its class does not
            take), naming the entry's config key and file.
        DatasetNotFoundError, SplitFileNotFoundError, AnnotationError, ...: from a dataset's construction, the
            same type with ``data.datasets[i] in <file>: `` in front of the message.
    """
    parsed = parse_entries(entries, config_path=config_path, key=key)
    roots = _resolve_roots(parsed, key, config_path)
    datasets: list[TrackingDataset] = []
    for entry, root in zip(parsed, roots):
        start = time.perf_counter()
        try:
            dataset = _build_one(entry, root)
        except (OSError, ValueError, TypeError) as e:
            raise _with_context(e, entry.where) from e
        log.info("%s: %s: %d sequences, %d frames (%.1f s)", entry.config_key, entry.describe(),
                 len(dataset), dataset.num_frames, time.perf_counter() - start)
        datasets.append(dataset)
    return datasets, [entry.weight for entry in parsed]
