"""Where datasets and split lists live: the one root resolver of every dataset class.

A dataset root is looked up, in this order:

1. the ``root`` argument (or ``--data-root`` of a CLI);
2. the environment variable ``TRACKING_<KEY>_ROOT`` (``TRACKING_GOT10K_ROOT``, ``TRACKING_LASOT_ROOT``, ...);
3. the user settings file: ``$TRACKING_SETTINGS``, else ``~/.config/tracking/local.yaml``, a YAML mapping::

       datasets:
         got10k: /data/GOT-10k
         lasot: /data/LaSOT/LaSOTBenchmark
       specs_dir: ~/pytracking/ltr/data_specs    # pytracking's split lists (optional)

   (the training CLI writes a template of it; this module only reads it).

A missing root is a :class:`DatasetNotFoundError` (a ``FileNotFoundError``) naming the dataset, the path
tried and where it came from, and the three ways to set it.

Split lists (GOT-10k vottrain/votval, LaSOT train, ...) are looked up by file name in ``specs_dir`` of the
settings file, then ``$TRACKING_SPECS_DIR``, then ``tracking/data/specs/`` (:func:`find_spec_file`).

What the package writes for itself (parsed dataset indices, the synthetic dataset) goes under the user cache
directory :func:`cache_dir`: ``$TRACKING_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracking``, else
``~/.cache/tracking``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

SETTINGS_ENV = "TRACKING_SETTINGS"
CACHE_ENV = "TRACKING_CACHE_DIR"
SPECS_ENV = "TRACKING_SPECS_DIR"
SPECS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")
"""``tracking/data/specs/``: split files shipped with (or placed into) the package (see its README.md)."""

__all__ = ["DatasetNotFoundError", "SPECS_DIR", "cache_dir", "env_var", "find_spec_file", "load_settings",
           "resolve_root", "settings_path", "spec_dirs"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root, or a directory / split file / sequence a dataset needs, does not exist."""


def env_var(key: str) -> str:
    """``TRACKING_<KEY>_ROOT`` for a dataset key such as "got10k"."""
    return f"TRACKING_{key.upper()}_ROOT"


def cache_dir(*parts: str) -> str:
    """A directory under the user cache directory (``$TRACKING_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracking``,
    else ``~/.cache/tracking``), e.g. ``cache_dir("index")``; not created here."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tracking")
    return os.path.join(os.path.expanduser(root), *parts)


def settings_path() -> str:
    """The user settings file: ``$TRACKING_SETTINGS``, else ``~/.config/tracking/local.yaml``."""
    return os.path.expanduser(os.environ.get(SETTINGS_ENV) or os.path.join("~", ".config", "tracking", "local.yaml"))


_settings_cache: dict[tuple[str, int, int], dict] = {}


def load_settings() -> dict:
    """The user settings file as a dict ({} when it does not exist); re-read when the file changes.

    Raises:
        ValueError: the file is not a YAML mapping (the message names the file).
    """
    path = settings_path()
    try:
        stat = os.stat(path)
    except OSError:
        return {}
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _settings_cache:
        import yaml  # only when a settings file exists

        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read the settings file ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("datasets", {}) or {}, dict):
            raise ValueError(f"{path}: the settings file must be a YAML mapping with a 'datasets' mapping")
        _settings_cache.clear()
        _settings_cache[key] = data
    return _settings_cache[key]


def _setting_root(key: str) -> str | None:
    value = (load_settings().get("datasets") or {}).get(key)
    return str(value) if value else None


def resolve_root(key: str, root: str | os.PathLike | None = None, display_name: str | None = None) -> str:
    """The absolute root directory of dataset ``key`` (see the module docstring for the lookup order).

    Args:
        key: the dataset key ("got10k", "lasot", "otb", ...): names the environment variable and the
            settings entry.
        root: an explicit root; wins over everything else.
        display_name: the dataset's name in messages (default: ``key``).

    Raises:
        DatasetNotFoundError: no root is set anywhere, or the one found is not a directory.
    """
    name = display_name or key
    var = env_var(key)
    if root is not None:
        source = "the root argument"
    elif os.environ.get(var):
        root, source = os.environ[var], f"${var}"
    elif _setting_root(key):
        root, source = _setting_root(key), f"datasets.{key} in {settings_path()}"
    hint = (f"pass the root (--data-root DIR / root=...), set the environment variable {var}, or set "
            f"datasets.{key} in {settings_path()}")
    if root is None:
        raise DatasetNotFoundError(f"{name}: no dataset root given; {hint}")
    path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"{name}: dataset root {path!r} (from {source}) is not a directory; {hint}")
    return path


def spec_dirs() -> list[str]:
    """Directories searched for split files, in order: settings ``specs_dir``, ``$TRACKING_SPECS_DIR``,
    ``tracking/data/specs/``."""
    dirs = [str(d) for d in (load_settings().get("specs_dir"), os.environ.get(SPECS_ENV)) if d]
    return [os.path.abspath(os.path.expanduser(d)) for d in dirs] + [SPECS_DIR]


def find_spec_file(names: Iterable[str]) -> str | None:
    """The first existing split file among ``names`` (file names, e.g. our name and pytracking's) in
    :func:`spec_dirs`, or None."""
    names = list(names)
    for directory in spec_dirs():
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
    return None
