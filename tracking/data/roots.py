"""Where datasets, split lists, the workspace and pretrained weights live: the one root resolver of every
dataset class, and the reader of the user settings file.

A dataset root is looked up, in this order:

1. the ``root`` argument (or ``--data-root`` of a CLI);
2. the environment variable ``TRACKING_<KEY>_ROOT`` (``TRACKING_GOT10K_ROOT``, ``TRACKING_LASOT_ROOT``, ...);
3. the user settings file: ``$TRACKING_SETTINGS``, else ``~/.config/tracking/local.yaml``, a YAML mapping::

       workspace_dir: ~/tracking-workspace         # training runs, checkpoints, TensorBoard logs
       datasets:
         got10k: /data/GOT-10k
         lasot: /data/LaSOT/LaSOTBenchmark
       specs_dir: ~/pytracking/ltr/data_specs      # pytracking's split lists (optional)
       pretrained_dir: ~/tracking-workspace/pretrained   # ImageNet backbone weights (optional)

   ``python -m tracking.settings --init`` writes a commented template of it and ``python -m tracking.settings``
   shows what is set and where it came from (:mod:`tracking.settings`); this module only reads it. Paths may
   start with ``~``; relative paths are taken relative to the current directory. Every key is optional; a key
   with an empty value counts as unset. The types are checked when the file is read (a ``ValueError`` naming
   the file and the key); an unknown top-level key is a warning (a typo would otherwise be ignored silently).

A missing root is a :class:`DatasetNotFoundError` (a ``FileNotFoundError``) naming the dataset, the path
tried and where it came from, and the three ways to set it.

Split lists (GOT-10k vottrain/votval, LaSOT train, ...) are looked up by file name in ``specs_dir`` of the
settings file, then ``$TRACKING_SPECS_DIR``, then ``tracking/data/specs/`` (:func:`find_spec_file`).

The workspace directory (:func:`workspace_dir`) is ``$TRACKING_WORKSPACE``, else ``workspace_dir`` of the
settings file, else ``./workspace`` in the current directory. ``pretrained_dir`` of the settings file
(:func:`pretrained_dir`) is searched for ImageNet backbone weights after ``$TRACKING_PRETRAINED_DIR``
(:mod:`tracking.models.backbones.pretrained`).

What the package writes for itself (parsed dataset indices, the synthetic dataset) goes under the user cache
directory :func:`cache_dir`: ``$TRACKING_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracking``, else
``~/.cache/tracking``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

SETTINGS_ENV = "TRACKING_SETTINGS"
CACHE_ENV = "TRACKING_CACHE_DIR"
SPECS_ENV = "TRACKING_SPECS_DIR"
WORKSPACE_ENV = "TRACKING_WORKSPACE"
DEFAULT_WORKSPACE = "workspace"
"""The workspace directory when neither ``$TRACKING_WORKSPACE`` nor ``workspace_dir`` is set (relative to the
current directory)."""
SETTINGS_KEYS = ("workspace_dir", "datasets", "specs_dir", "pretrained_dir")
"""The top-level keys of the settings file; any other key is warned about."""
SPECS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")
"""``tracking/data/specs/``: split files shipped with (or placed into) the package (see its README.md)."""

__all__ = ["DatasetNotFoundError", "SETTINGS_KEYS", "SPECS_DIR", "cache_dir", "configured_root", "env_var",
           "find_spec_file", "load_settings", "pretrained_dir", "resolve_root", "settings_path", "spec_dirs",
           "workspace_dir", "workspace_source"]


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


def _check_settings(path: str, data: object) -> dict:
    """``data`` (the parsed file) if its keys have the right types; warns about unknown top-level keys."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the settings file must be a YAML mapping (keys {', '.join(SETTINGS_KEYS)}), "
                         f"got a {type(data).__name__}")
    for key in data:
        if key not in SETTINGS_KEYS:
            warnings.warn(f"{path}: unknown key {key!r} in the settings file (ignored; known keys: "
                          f"{', '.join(SETTINGS_KEYS)})", UserWarning, stacklevel=3)
    for key in ("workspace_dir", "specs_dir", "pretrained_dir"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{path}: {key} must be a directory path (a string), got {type(value).__name__} "
                             f"{value!r}")
    datasets = data.get("datasets")
    if datasets is not None and not isinstance(datasets, dict):
        raise ValueError(f"{path}: datasets must be a mapping of dataset key to root directory (e.g. "
                         f"'got10k: /data/GOT-10k'), got {type(datasets).__name__} {datasets!r}")
    for key, value in (datasets or {}).items():
        if not isinstance(key, str):
            raise ValueError(f"{path}: datasets: the key {key!r} must be a dataset key string such as 'got10k'")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{path}: datasets.{key} must be a directory path (a string), got "
                             f"{type(value).__name__} {value!r}")
    return data


def load_settings() -> dict:
    """The user settings file as a dict ({} when it does not exist); re-read when the file changes.

    The keys of :data:`SETTINGS_KEYS` are type-checked (``datasets`` a mapping of str to str,
    ``workspace_dir`` / ``specs_dir`` / ``pretrained_dir`` strings; a null value is "not set"); another
    top-level key is a ``UserWarning`` naming the key and the file (once per change of the file).

    Raises:
        ValueError: the file cannot be read, is not a YAML mapping, or a key has the wrong type (the message
            names the file and the key).
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
                data = yaml.safe_load(f)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read the settings file ({str(e).splitlines()[0]})") from None
        data = _check_settings(path, data)
        _settings_cache.clear()
        _settings_cache[key] = data
    return _settings_cache[key]


def _setting(key: str) -> str | None:
    """A path-valued top-level setting (``specs_dir``, ...), None when unset or empty."""
    return load_settings().get(key) or None


def configured_root(key: str, root: str | os.PathLike | None = None) -> tuple[str, str] | None:
    """``(root, where it came from)`` of dataset ``key`` as configured, not checked: the ``root`` argument,
    else ``$TRACKING_<KEY>_ROOT``, else ``datasets.<key>`` of the settings file; None when none is set.

    Sources read: "the root argument", "$TRACKING_GOT10K_ROOT", "datasets.got10k in <settings file>".
    """
    var = env_var(key)
    if root is not None:
        return os.fspath(root), "the root argument"
    if os.environ.get(var):
        return os.environ[var], f"${var}"
    value = (load_settings().get("datasets") or {}).get(key)
    if value:
        return value, f"datasets.{key} in {settings_path()}"
    return None


def resolve_root(key: str, root: str | os.PathLike | None = None, display_name: str | None = None) -> str:
    """The absolute root directory of dataset ``key`` (see the module docstring for the lookup order).

    Args:
        key: the dataset key ("got10k", "lasot", "otb", ...): names the environment variable and the
            settings entry.
        root: an explicit root; wins over everything else.
        display_name: the dataset's name in messages (default: ``key``).

    Raises:
        DatasetNotFoundError: no root is set anywhere, or the one found is not a directory.
        ValueError: the settings file is malformed.
    """
    name = display_name or key
    found = configured_root(key, root)
    hint = (f"pass the root (--data-root DIR / root=...), set the environment variable {env_var(key)}, or set "
            f"datasets.{key} in {settings_path()}")
    if found is None:
        raise DatasetNotFoundError(f"{name}: no dataset root given; {hint}")
    path = os.path.abspath(os.path.expanduser(found[0]))
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"{name}: dataset root {path!r} (from {found[1]}) is not a directory; {hint}")
    return path


def workspace_source() -> tuple[str, str]:
    """``(absolute workspace directory, where it came from)``: see :func:`workspace_dir`."""
    if os.environ.get(WORKSPACE_ENV):
        path, source = os.environ[WORKSPACE_ENV], f"${WORKSPACE_ENV}"
    elif _setting("workspace_dir"):
        path, source = _setting("workspace_dir"), f"workspace_dir in {settings_path()}"
    else:
        path, source = DEFAULT_WORKSPACE, "the default: ./workspace in the current directory"
    return os.path.abspath(os.path.expanduser(path)), source


def workspace_dir(*parts: str) -> str:
    """A directory under the workspace (training runs, checkpoints, TensorBoard logs), e.g.
    ``workspace_dir("runs")``; not created here. The workspace is ``$TRACKING_WORKSPACE``, else
    ``workspace_dir`` of the settings file, else ``./workspace`` relative to the current directory (made
    absolute when called)."""
    return os.path.join(workspace_source()[0], *parts)


def pretrained_dir() -> str | None:
    """``pretrained_dir`` of the settings file (absolute), searched for ImageNet backbone weights after
    ``$TRACKING_PRETRAINED_DIR``; None when unset."""
    value = _setting("pretrained_dir")
    return os.path.abspath(os.path.expanduser(value)) if value else None


def spec_dirs() -> list[str]:
    """Directories searched for split files, in order: settings ``specs_dir``, ``$TRACKING_SPECS_DIR``,
    ``tracking/data/specs/``."""
    dirs = [d for d in (_setting("specs_dir"), os.environ.get(SPECS_ENV)) if d]
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
