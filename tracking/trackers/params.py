"""Tracker parameter sets: ``configs/trackers/<name>.yaml`` (pytracking's ``pytracking/parameter/`` files as
YAML), loaded as plain nested dicts and overridable with dotted ``key=value`` strings.

A file may name a base with ``_base_: other.yaml`` (merged first). Which keys a tracker accepts is its own
business: each tracker class validates its parameters and names unknown keys in its error.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["PARAMS_DIR", "load_params", "tracker_names", "ParamsError"]

PARAMS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs",
                          "trackers")
"""``configs/trackers/`` of this checkout (the parameter files are not package data: an installed wheel does
not carry them; pass a path instead of a name there)."""


class ParamsError(ValueError):
    """A parameter file or override is malformed (the message names it)."""


def tracker_names() -> list[str]:
    """Names of the parameter sets in :data:`PARAMS_DIR` (file stems, bases excluded)."""
    if not os.path.isdir(PARAMS_DIR):
        return []
    return sorted(f[:-5] for f in os.listdir(PARAMS_DIR) if f.endswith(".yaml") and not f.startswith("_"))


def _read(path: str, seen: tuple[str, ...] = ()) -> dict:
    import yaml

    path = os.path.abspath(path)
    if path in seen:
        raise ParamsError(f"{path}: _base_ cycle")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such parameter file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ParamsError(f"{path}: cannot read the parameter file ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: a parameter file must be a YAML mapping")
    base = data.pop("_base_", None)
    if base is None:
        return data
    merged = _read(os.path.join(os.path.dirname(path), base), seen + (path,))
    return _merge(merged, data)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_params(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The parameter set ``name`` (``configs/trackers/<name>.yaml``) or the YAML file at a path, with
    ``overrides`` (``["net_opt_iter=5", "augmentation.fliplr=false"]``, values parsed as YAML) applied.
    The result's ``name`` is the set's name."""
    import yaml

    path = name_or_path if name_or_path.endswith((".yaml", ".yml")) else os.path.join(PARAMS_DIR, f"{name_or_path}.yaml")
    if not os.path.isfile(path) and not name_or_path.endswith((".yaml", ".yml")):
        raise ParamsError(f"unknown tracker {name_or_path!r}; known: {', '.join(tracker_names()) or 'none'} "
                          f"(in {PARAMS_DIR}), or a path to a parameter .yaml file")
    params = _read(path)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ParamsError(f"parameter override {item!r}: write key=value (e.g. net_opt_iter=5)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ParamsError(f"parameter override {item!r}: {str(e).splitlines()[0]}") from None
        node = params
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"parameter override {item!r}: {part!r} is not a mapping")
        node[parts[-1]] = value
    params.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    return params
