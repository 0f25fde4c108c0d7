"""The network a tracker runs: loaded from a weights file, checked against the parameter set, on its device.

    net = load_tracker_network("dimp50.pth", "dimpnet50", "auto")   # eval mode, on cuda when there is one

Any file ``tracking.models.safetensors_io.load_weights`` reads is accepted, recognised by content: our
safetensors export (``python -m tracking.export``), a training checkpoint of ``python -m tracking.train``, a
network file of ``checkpoints.save_network`` and pytracking's released ``.pth`` / ``.pth.tar`` files. The file
rebuilds its own network (its registered name and constructor kwargs); that network must be the one the
parameter set names (``network:`` in ``configs/trackers/<name>.yaml``): the same registered name, or the same
architecture under another name (pytracking's ``super_dimp.pth.tar`` rebuilds as ``dimpnet50`` with
SuperDiMP's settings, which is our ``super_dimp``). Anything else is a :class:`WeightsMismatchError` naming both.

Nothing is downloaded: a missing file is a :class:`WeightsNotFoundError` saying where pytracking publishes its
weights and how to use a network trained here.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import torch
from torch import nn

from tracking.models.checkpoints import CheckpointError
from tracking.models.devices import resolve_device  # noqa: F401  (re-exported: the trackers' device resolver)

__all__ = ["PYTRACKING_MODEL_ZOO", "PYTRACKING_WEIGHT_FILES", "WeightsMismatchError", "WeightsNotFoundError",
           "build_untrained_network", "check_weights_file", "load_tracker_network", "resolve_device"]

PYTRACKING_MODEL_ZOO = "https://github.com/visionml/pytracking/blob/master/MODEL_ZOO.md"
"""Where pytracking links its released networks (Google Drive)."""

PYTRACKING_WEIGHT_FILES: dict[str, str] = {
    "dimpnet18": "dimp18.pth",
    "dimpnet50": "dimp50.pth",
    "klcedimpnet18": "prdimp18.pth.tar",
    "klcedimpnet50": "prdimp50.pth.tar",
    "super_dimp": "super_dimp.pth.tar",
    "atom_resnet18": "atom_default.pth",
}
"""Our registered network -> the file name of pytracking's released weights for it (the names its parameter
files load: ``pytracking/parameter/{dimp,atom}/*.py``)."""


class WeightsNotFoundError(FileNotFoundError):
    """No weights file was given, or it does not exist; the message says where weights come from."""


class WeightsMismatchError(CheckpointError, ValueError):
    """The weights file holds another network than the parameter set expects (the message names both)."""


def _where_weights_come_from(network: str | None) -> str:
    files = ", ".join(PYTRACKING_WEIGHT_FILES.values())
    this = PYTRACKING_WEIGHT_FILES.get(network or "")
    hint = f"; the network {network} is {this}" if this else ""
    return (f"this tool does not download weights. pytracking's released weights are linked from its model zoo, "
            f"{PYTRACKING_MODEL_ZOO} (files {files}{hint}): download one and pass its path. For a network "
            "trained here, pass its training checkpoint or export it first: "
            "python -m tracking.export RUN_DIR --out net.safetensors")


def check_weights_file(weights: str | os.PathLike | None, network: str | None = None) -> str:
    """``weights`` as a path when it is an existing file, else a :class:`WeightsNotFoundError` naming it (or
    saying that none was given) and where weights come from (for ``network``, pytracking's file name)."""
    if weights is None or os.fspath(weights) == "":
        raise WeightsNotFoundError(f"no weights file given (--weights FILE){' for ' + network if network else ''}: "
                                   + _where_weights_come_from(network))
    path = os.fspath(weights)
    if not os.path.isfile(path):
        what = "is a directory, not a weights file" if os.path.isdir(path) else "not found"
        raise WeightsNotFoundError(f"weights file {path!r} {what}: " + _where_weights_come_from(network))
    return path


def _buildable_kwargs(network: str) -> dict[str, Any]:
    """``backbone_pretrained=False`` when the constructor of ``network`` takes it (no ImageNet download)."""
    from tracking.models.registry import lookup

    try:
        params = inspect.signature(lookup(network)).parameters
    except (TypeError, ValueError):
        return {}
    takes = "backbone_pretrained" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {"backbone_pretrained": False} if takes else {}


def build_untrained_network(network: str, device: str | torch.device = "cpu") -> nn.Module:
    """The registered ``network`` with random initialisation (``backbone_pretrained=False`` where the
    constructor takes it: nothing is downloaded), in eval mode on ``device`` (``"meta"``: shapes only, no
    memory). For benchmarks and checks; ValueError listing the known networks when ``network`` is unknown."""
    from tracking.models import build_network, network_names

    known = network_names()  # imports the network modules, which register the built-in networks
    if network not in known:
        raise ValueError(f"the parameter set names the network {network!r}, which is not registered; known: "
                         f"{', '.join(known)}")
    with torch.device(device):
        return build_network(network, **_buildable_kwargs(network)).eval()


def _architecture(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def _expected_architecture(network: str) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of the registered ``network``, built on the meta device (no memory, no weights)."""
    return _architecture(build_untrained_network(network, "meta"))


def _parameter_sets_for(network: str) -> list[str]:
    """The parameter sets of ``configs/trackers`` whose ``network`` is ``network``."""
    from .params import ParamsError, load_params, tracker_names

    names = []
    for name in tracker_names():
        try:
            if load_params(name).get("network") == network:
                names.append(name)
        except ParamsError:
            continue
    return names


def _check_network(path: str, net: nn.Module, meta: dict[str, Any], network: str) -> None:
    found = meta.get("network")
    if found == network:
        return
    if _architecture(net) == _expected_architecture(network):
        return  # the same network under another name (pytracking's SuperDiMP file names dimpnet50)
    sets = _parameter_sets_for(found) if isinstance(found, str) else []
    use = f"the parameter set {' or '.join(sets)}" if sets else f"a parameter set whose network is {found}"
    expected_file = PYTRACKING_WEIGHT_FILES.get(network)
    pytracking = f" (pytracking's {expected_file})" if expected_file else ""
    raise WeightsMismatchError(
        f"weights file {path!r} holds the network {found!r} ({meta.get('format')}), but the parameter set expects "
        f"{network!r}: pass weights of {network}{pytracking}, or use {use} with these weights")


def load_tracker_network(weights: str | os.PathLike | None, network: str, device: str | torch.device = "auto"
                         ) -> nn.Module:
    """The network of the weights file ``weights`` (see the module docstring), checked to be ``network`` (the
    parameter set's registered name), in eval mode on ``device`` (auto | cpu | cuda[:N], see
    :func:`resolve_device`).

    Raises :class:`WeightsNotFoundError` (a ``FileNotFoundError``: no file; the message says where weights come
    from), :class:`WeightsMismatchError` (another network), ``ValueError`` (bad device, unregistered
    ``network``) and the loader's ``CheckpointError`` subclasses (not a weights file, unsafe pickle, keys that
    do not fit), all naming the file.
    """
    from tracking.models.safetensors_io import load_weights

    target = resolve_device(device)
    path = check_weights_file(weights, network)
    net, meta = load_weights(path)
    _check_network(path, net, meta, network)
    return net.to(target).eval()
