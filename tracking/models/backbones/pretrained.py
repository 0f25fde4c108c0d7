"""torchvision's ImageNet weights for the ResNet backbones, found on disk (never downloaded unless asked).

Search order for ``arch`` (``"resnet18"`` or ``"resnet50"``), first file found wins:

1. ``weights_path``: a weights file, or a directory searched for the file names below;
2. ``$TRACKING_PRETRAINED_DIR`` (a directory);
3. ``pretrained_dir`` of the user settings file (``$TRACKING_SETTINGS``, else ``~/.config/tracking/local.yaml``;
   :func:`tracking.data.roots.pretrained_dir`; ``python -m tracking.settings`` shows it);
4. the torch hub cache, ``torch.hub.get_dir()/checkpoints/`` (where torchvision's own download puts them).

In each directory the current torchvision file name is tried first, then the older one (both hold the same
parameter names). Files are read with ``torch.load(weights_only=True)`` and loaded with ``strict=True``, fc
included. When no file is found, ``PretrainedWeightsNotFoundError`` (a ``FileNotFoundError``) says where it
looked and how to provide the file; there is no silent random init and, unless ``download=True``, no network.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ...data.roots import pretrained_dir, settings_path

ENV_VAR = "TRACKING_PRETRAINED_DIR"
DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
IMAGENET_WEIGHT_FILES: dict[str, tuple[str, ...]] = {
    "resnet18": ("resnet18-f37072fd.pth", "resnet18-5c106cde.pth"),
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-19c8e357.pth"),
}


class PretrainedWeightsNotFoundError(FileNotFoundError):
    """No ImageNet weights file for the backbone was found; the message lists the places searched."""


class PretrainedWeightsError(RuntimeError):
    """A weights file was found but could not be read or does not fit the backbone (message names the file)."""


def _hub_checkpoint_dir() -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def search_dirs(weights_path: str | os.PathLike | None = None) -> list[str]:
    """The directories searched for the weight files, in order (``weights_path`` first if it is a directory,
    then ``$TRACKING_PRETRAINED_DIR``, ``pretrained_dir`` of the settings file, the torch hub cache).

    Raises:
        ValueError: the settings file is malformed.
    """
    dirs = []
    if weights_path is not None and os.path.isdir(weights_path):
        dirs.append(os.fspath(weights_path))
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(env)
    from_settings = pretrained_dir()
    if from_settings:
        dirs.append(from_settings)
    dirs.append(_hub_checkpoint_dir())
    return dirs


def _file_names(arch: str) -> tuple[str, ...]:
    try:
        return IMAGENET_WEIGHT_FILES[arch]
    except KeyError:
        raise ValueError(f"no ImageNet weights known for {arch!r}; known: {sorted(IMAGENET_WEIGHT_FILES)}") from None


def find_imagenet_weights(arch: str, weights_path: str | os.PathLike | None = None) -> str:
    """Path of the ImageNet weights file of ``arch``; raises ``PretrainedWeightsNotFoundError`` if none."""
    names = _file_names(arch)
    if weights_path is not None and not os.path.isdir(weights_path):
        if os.path.isfile(weights_path):
            return os.fspath(weights_path)
        raise PretrainedWeightsNotFoundError(
            f"weights_path={os.fspath(weights_path)!r} for {arch} does not exist (expected a file such as "
            f"{names[0]} or a directory holding one)")
    dirs = search_dirs(weights_path)
    for directory in dirs:
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
    places = "\n".join(f"  {d}" for d in dirs)
    raise PretrainedWeightsNotFoundError(
        f"ImageNet weights for {arch} not found: looked for {' or '.join(names)} in\n{places}\n"
        f"Download {DOWNLOAD_ROOT}{names[0]} (e.g. on a machine with network access) and put it in "
        f"the directory named by ${ENV_VAR} or by pretrained_dir in the settings file {settings_path()} "
        f"(python -m tracking.settings --init writes one), or in {_hub_checkpoint_dir()}; or pass "
        "weights_path=<file>; or pass pretrained=False (random init) / download=True.")


def load_imagenet_weights(model: nn.Module, arch: str, weights_path: str | os.PathLike | None = None,
                          download: bool = False) -> str:
    """Load torchvision's ImageNet weights of ``arch`` into ``model`` (strict); return the file used.

    With ``download=True`` and no file found, downloads ``DOWNLOAD_ROOT + name`` into the hub cache through
    ``torch.hub.load_state_dict_from_url`` (hash-checked).
    """
    try:
        path = find_imagenet_weights(arch, weights_path)
    except PretrainedWeightsNotFoundError:
        if not download or weights_path is not None:
            raise
        name = _file_names(arch)[0]
        state_dict = torch.hub.load_state_dict_from_url(DOWNLOAD_ROOT + name, model_dir=_hub_checkpoint_dir(),
                                                        check_hash=True, weights_only=True)
        path = os.path.join(_hub_checkpoint_dir(), name)
    else:
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise PretrainedWeightsError(f"cannot read ImageNet weights file {path!r} for {arch}: {exc}") from exc
    if not isinstance(state_dict, dict):
        raise PretrainedWeightsError(
            f"ImageNet weights file {path!r} for {arch} holds a {type(state_dict).__name__}, not a state_dict")
    from ..checkpoints import load_into

    load_into(model, state_dict, strict=True, source=path)
    return path
