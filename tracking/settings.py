"""The user settings file (pytracking's ``ltr/admin/local.py``): write a template, show what is set.

The file is ``$TRACKING_SETTINGS``, else ``~/.config/tracking/local.yaml`` (:func:`tracking.data.roots.settings_path`),
read by :mod:`tracking.data.roots` (its keys: ``workspace_dir``, ``datasets``, ``specs_dir``,
``pretrained_dir``). Command line::

    python -m tracking.settings --init [--force]   # write a commented template (never over a file without --force)
    python -m tracking.settings [--show]           # the file, the workspace, every dataset root and where it
                                                   # came from, the split-list and pretrained-weights directories

Errors (a malformed settings file, an existing file on ``--init``) are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from .data import roots
from .data.datasets import DATASETS

__all__ = ["DATASET_LAYOUTS", "main", "settings_template", "show_settings", "write_template"]

DATASET_LAYOUTS: dict[str, tuple[str, str]] = {
    "got10k": ("/data/GOT-10k", "GOT-10k: the directory holding train/ val/ test/ (each with list.txt)"),
    "lasot": ("/data/LaSOT/LaSOTBenchmark", "LaSOT: the LaSOTBenchmark directory (<class>/<class>-<n>/img/)"),
    "trackingnet": ("/data/TrackingNet", "TrackingNet: the directory holding TRAIN_0 ... TRAIN_11 and TEST"),
    "coco": ("/data/coco", "COCO: holds annotations/instances_train2017.json and images/train2017/"),
    "imagenetvid": ("/data/ILSVRC2015", "ImageNet VID: holds Annotations/VID/train/ and Data/VID/train/"),
    "otb": ("/data/OTB100", "OTB-100: one directory per sequence (<Seq>/img/, <Seq>/groundtruth_rect.txt)"),
    "uav123": ("/data/UAV123", "UAV123: holds data_seq/UAV123/ and anno/UAV123/"),
    "nfs": ("/data/NFS", "NfS: one directory per sequence (<seq>/30/<seq>/*.jpg, <seq>/30/<seq>.txt)"),
    "vot": ("/data/vot2018", "VOT: one directory per sequence (<seq>/color/, <seq>/groundtruth.txt)"),
    "folder": ("/data/my-sequences", "your own sequences: <seq>/groundtruth.txt + frames, one directory each"),
}
"""Dataset key -> (example root, what the root holds), for the template's ``datasets:`` lines."""

_HEADER = """\
# tracking settings: where the datasets, split lists, workspace and pretrained weights are.
# Read from $TRACKING_SETTINGS, else ~/.config/tracking/local.yaml; check it with `python -m tracking.settings`.
# Paths may start with ~ (relative paths are taken relative to the directory you run from); a key left
# commented out or empty is not set. The environment variables TRACKING_<KEY>_ROOT (TRACKING_GOT10K_ROOT, ...),
# TRACKING_WORKSPACE, TRACKING_SPECS_DIR and TRACKING_PRETRAINED_DIR override / add to what is set here.

# Where training runs, checkpoints and TensorBoard logs go (default without this key: ./workspace).
workspace_dir: ~/tracking-workspace

# Dataset roots: uncomment the line of each dataset you have and set its directory.
datasets:
"""

_FOOTER = """
# pytracking's split lists (GOT-10k vottrain/votval: got10k_vot_train_split.txt, got10k_vot_val_split.txt;
# LaSOT train: lasot_train_split.txt; ...): e.g. your pytracking checkout's ltr/data_specs. Searched before
# $TRACKING_SPECS_DIR and the package's tracking/data/specs/.
# specs_dir: ~/pytracking/ltr/data_specs

# ImageNet backbone weights (torchvision's resnet18-f37072fd.pth, resnet50-0676ba61.pth), searched after
# $TRACKING_PRETRAINED_DIR and before the torch hub cache.
# pretrained_dir: ~/tracking-workspace/pretrained
"""


def _layout(key: str) -> tuple[str, str]:
    """(example root, description) of a dataset key; for a key without an entry in DATASET_LAYOUTS, the first
    line of its class docstring."""
    if key in DATASET_LAYOUTS:
        return DATASET_LAYOUTS[key]
    doc = (DATASETS[key].__doc__ or DATASETS[key].__name__).strip().splitlines()[0]
    return f"/data/{key}", doc


def settings_template() -> str:
    """The commented settings-file template that ``--init`` writes: parses (``yaml.safe_load``) to a valid
    settings mapping with ``workspace_dir`` set and no dataset root set."""
    lines = []
    for key in DATASETS:
        example, what = _layout(key)
        lines.append(f"  # {f'{key}: {example}':<40}  # {what}")
    return _HEADER + "\n".join(lines) + "\n" + _FOOTER


def write_template(path: str, force: bool = False) -> None:
    """Write :func:`settings_template` to ``path``, creating its directory.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is False.
        OSError: it cannot be written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w" if force else "x", encoding="utf-8") as f:
        f.write(settings_template())


def _fill_in_message(path: str) -> str:
    return (f"wrote the settings template to {path}\n"
            "fill in:\n"
            "  workspace_dir   where training runs, checkpoints and TensorBoard logs go (now ~/tracking-workspace)\n"
            "  datasets:       uncomment the line of each dataset you have and set its root directory\n"
            "  specs_dir       pytracking's split lists, e.g. ~/pytracking/ltr/data_specs (GOT-10k vottrain/votval,"
            " LaSOT train)\n"
            "  pretrained_dir  a directory holding the ImageNet weights (resnet18-f37072fd.pth, "
            "resnet50-0676ba61.pth)\n"
            "then check it with: python -m tracking.settings")


def _label(directory: str, candidates: Sequence[tuple[str | None, str]], default: str) -> str:
    """The label of the first candidate (path, label) whose path is ``directory``, else ``default``."""
    for path, label in candidates:
        if path and os.path.abspath(os.path.expanduser(path)) == os.path.abspath(directory):
            return label
    return default


def _existence(directory: str) -> str:
    return "" if os.path.isdir(directory) else " (does not exist)"


def show_settings(out: TextIO) -> None:
    """Write the settings report to ``out``: the settings file, the workspace, every dataset key's root and
    its source, the split-list directories and the pretrained-weights directories (each in search order).

    Raises:
        ValueError: the settings file is malformed.
    """
    path = roots.settings_path()
    settings = roots.load_settings()
    state = "exists" if os.path.isfile(path) else "not found; `python -m tracking.settings --init` writes a template"
    print(f"settings file: {path} ({state})", file=out)
    workspace, source = roots.workspace_source()
    print(f"workspace:     {workspace}{_existence(workspace)}  (from {source})", file=out)

    print("dataset roots ($TRACKING_<KEY>_ROOT, else datasets.<key> in the settings file):", file=out)
    for key in DATASETS:
        found = roots.configured_root(key)
        if found is None:
            print(f"  {key:<12} not set  (set datasets.{key} in the settings file or ${roots.env_var(key)})",
                  file=out)
            continue
        try:
            root, problem = roots.resolve_root(key), ""
        except roots.DatasetNotFoundError:
            root, problem = found[0], " (not a directory)"
        print(f"  {key:<12} {root}{problem}  (from {found[1]})", file=out)
    unknown = [k for k in (settings.get("datasets") or {}) if k not in DATASETS]
    if unknown:
        print(f"  unknown dataset keys in the settings file (ignored): {', '.join(unknown)}; known: "
              f"{', '.join(DATASETS)}", file=out)

    print("split-list directories (searched in this order):", file=out)
    spec_sources = [(settings.get("specs_dir"), f"specs_dir in {path}"),
                    (os.environ.get(roots.SPECS_ENV), f"${roots.SPECS_ENV}")]
    for directory in roots.spec_dirs():
        print(f"  {directory}{_existence(directory)}  ({_label(directory, spec_sources, 'built in')})", file=out)

    from .models.backbones import pretrained  # imports torch: only here

    print("pretrained-weights directories (searched in this order):", file=out)
    weight_sources = [(os.environ.get(pretrained.ENV_VAR), f"${pretrained.ENV_VAR}"),
                      (roots.pretrained_dir(), f"pretrained_dir in {path}")]
    if roots.pretrained_dir() is None:
        print("  (pretrained_dir not set in the settings file)", file=out)
    for directory in pretrained.search_dirs():
        files = [name for names in pretrained.IMAGENET_WEIGHT_FILES.values() for name in names
                 if os.path.isfile(os.path.join(directory, name))]
        held = f"; holds {', '.join(files)}" if files else ""
        label = _label(directory, weight_sources, "the torch hub cache")
        print(f"  {directory}{_existence(directory)}  ({label}{held})", file=out)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tracking.settings",
        description="Write or show the user settings file (dataset roots, split lists, workspace, pretrained "
                    f"weights): {roots.settings_path()} ($TRACKING_SETTINGS overrides the path).")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--init", action="store_true", help="write a commented template of the settings file")
    action.add_argument("--show", action="store_true", help="show the settings and where each came from (default)")
    parser.add_argument("--force", action="store_true", help="with --init: overwrite an existing file")
    args = parser.parse_args(argv)
    if args.force and not args.init:
        parser.error("--force only goes with --init")

    path = roots.settings_path()
    if args.init:
        try:
            write_template(path, force=args.force)
        except FileExistsError:
            print(f"error: {path} exists; not overwriting it (edit it, or pass --force to replace it with the "
                  "template)", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"error: cannot write {path}: {_one_line(e)}", file=sys.stderr)
            return 2
        print(_fill_in_message(path))
        return 0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            roots.load_settings()
        except ValueError as e:
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"warning: {_one_line(w.message)}", file=sys.stderr)
    try:
        show_settings(sys.stdout)
    except (ValueError, OSError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
