"""Network weights as safetensors, and one loader for every weights file a tracker may be given.

The safetensors file (``save_safetensors`` / ``load_safetensors``) holds the network's state_dict, one
contiguous CPU tensor per key, and str -> str metadata::

    format    "tracking.network/1"   (the same format name as ``checkpoints.save_network``'s .pth files)
    network   the registered name for ``tracking.models.build_network`` (absent: weights only)
    kwargs    JSON of the constructor's keyword arguments (``backbone_pretrained`` written as false: the
              file holds the backbone; tuples become lists)
    extra     JSON of plain metadata (epoch, global step, the checkpoint it came from, ...)

Safetensors files hold no code and no pickles: reading one runs nothing from it.

``load_weights(path)`` accepts, recognised by content (never by extension):

- a safetensors file written by ``save_safetensors`` (``python -m tracking.export``);
- a network file of ``checkpoints.save_network`` (``.pth``, format ``"tracking.network/1"``);
- a training checkpoint of ``python -m tracking.train`` (format ``"tracking.train/1"``: the network is rebuilt
  from its ``network`` entry and gets its ``model`` state_dict);
- a pytracking ``.pth.tar`` checkpoint (``checkpoints.load_pytracking_network``).

safetensors is imported inside the functions that use it, so importing this module does not need it.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..data.atomic import atomic_path
from .checkpoints import (NETWORK_FORMAT, CheckpointError, NotACheckpointError, _check_state_dict,
                          _safe_torch_load, load_into, load_network, load_pytracking_network)

TRAIN_FORMAT = "tracking.train/1"
"""The ``format`` of the training checkpoints (``tracking.train.checkpoint.FORMAT``; this layer may not import
``tracking.train``, a test keeps the two equal)."""

_HOW_TO_BUILD = ("build the network yourself and load the weights with tracking.models.checkpoints.load_into(net, "
                 "tracking.models.safetensors_io.read_safetensors({path!r})[0])")

__all__ = ["TRAIN_FORMAT", "NetworkNotBuildableError", "load_safetensors", "load_weights", "read_safetensors",
           "network_from_training_checkpoint", "save_safetensors", "training_checkpoint_extra"]


class NetworkNotBuildableError(CheckpointError, LookupError):
    """The file names no network, or one that is not registered: the message says how to build it yourself."""


# ---- writing ------------------------------------------------------------------------------------------------

def _rebuild_kwargs(name: str | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor kwargs that rebuild a network whose weights come from a file: ``backbone_pretrained``
    set to False (no ImageNet weights needed) when given, or when the constructor of ``name`` takes it."""
    kwargs = dict(kwargs)
    if "backbone_pretrained" in kwargs or _takes_backbone_pretrained(name):
        kwargs["backbone_pretrained"] = False
    return kwargs


def _takes_backbone_pretrained(name: str | None) -> bool:
    from . import network_names
    from .registry import lookup

    if not isinstance(name, str) or name not in network_names():
        return False
    try:
        return "backbone_pretrained" in inspect.signature(lookup(name)).parameters
    except (TypeError, ValueError):  # a callable without a signature
        return False


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)  # inf / nan as Infinity / NaN, which json.loads reads back
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_safetensors: {what} must be JSON-serialisable plain values ({exc})") from None


def _tensors_for_saving(state_dict: Mapping[str, Any]) -> dict[str, Tensor]:
    """Detached, contiguous CPU tensors; a tensor sharing storage with an earlier one is cloned (safetensors
    refuses shared storage: tied weights are written twice and loaded as two tensors)."""
    tensors: dict[str, Tensor] = {}
    seen: set[int] = set()
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise TypeError(f"save_safetensors: state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
        tensor = value.detach().cpu().contiguous()
        ptr = tensor.untyped_storage().data_ptr()
        if ptr in seen:
            tensor = tensor.clone()
        elif ptr != 0:
            seen.add(ptr)
        tensors[key] = tensor
    return tensors


def save_safetensors(path: str | os.PathLike, net_or_state_dict: nn.Module | Mapping[str, Tensor],
                     network: str | None, kwargs: Mapping[str, Any] | None = None,
                     extra: Mapping[str, Any] | None = None) -> None:
    """Write a network's state_dict to ``path`` as safetensors with the metadata of the module docstring.

    ``network``: the registered name (``build_network(network, **kwargs)`` rebuilds it), or None for a
    weights-only file (``load_safetensors`` then refuses it; ``read_safetensors`` still reads it). ``kwargs``
    and ``extra`` must be JSON-serialisable. Written to a temporary file beside ``path`` and renamed, so a crash
    never leaves a truncated file under ``path`` (its directory is created if needed).

    Raises ``ValueError`` when ``network`` is not registered, ``TypeError`` for a non-tensor state_dict entry
    or non-JSON kwargs / extra.
    """
    from safetensors.torch import save_file

    from . import network_names
    from .registry import registered_names

    if network is not None and network not in registered_names() and network not in network_names():
        raise ValueError(f"save_safetensors: {network!r} is not a registered network, the file could not be "
                         f"rebuilt; known networks: {', '.join(network_names())} (pass network=None to write the "
                         "weights alone)")
    state_dict = net_or_state_dict.state_dict() if isinstance(net_or_state_dict, nn.Module) else net_or_state_dict
    metadata = {"format": NETWORK_FORMAT, "kwargs": _to_json(_rebuild_kwargs(network, kwargs or {}), "kwargs"),
                "extra": _to_json(dict(extra or {}), "extra")}
    if network is not None:
        metadata["network"] = network
    tensors = _tensors_for_saving(state_dict)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with atomic_path(path, durable=True) as tmp:
        with open(tmp, "wb"):  # created as the umask says; safetensors' writer makes its files 0600
            pass
        mode = os.stat(tmp).st_mode & 0o777
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, mode)


# ---- reading ------------------------------------------------------------------------------------------------

def _is_safetensors(path: str) -> bool:
    """Whether the file starts as safetensors does: an 8-byte little-endian header length, then a JSON object
    that fits in the file. (Torch's zip files start with ``PK``, its legacy pickles with ``0x80``.)"""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < size <= os.path.getsize(path) - 8


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors (CPU) and metadata of any safetensors file; our metadata's ``kwargs`` / ``extra`` JSON is
    decoded, ``network`` is None when absent, other keys are returned as stored.

    Raises ``FileNotFoundError``, or ``NotACheckpointError`` when the file is not safetensors (or corrupt).
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    if not _is_safetensors(path):
        raise NotACheckpointError(f"{path!r} is not a safetensors file (for torch checkpoints, ours or "
                                  "pytracking's, use tracking.models.safetensors_io.load_weights)")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            stored = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise NotACheckpointError(f"{path!r} is not a readable safetensors file ({exc})") from None
    meta: dict[str, Any] = {**stored, "network": stored.get("network")}
    for key in ("kwargs", "extra"):
        try:
            meta[key] = json.loads(stored[key]) if key in stored else {}
        except json.JSONDecodeError as exc:
            raise NotACheckpointError(f"{path!r}: the metadata entry {key!r} is not JSON ({exc})") from None
        if not isinstance(meta[key], dict):
            raise NotACheckpointError(f"{path!r}: the metadata entry {key!r} is not a JSON object")
    return tensors, meta


def _build(name: Any, kwargs: Mapping[str, Any], path: str) -> nn.Module:
    """``build_network(name, **kwargs)`` (no ImageNet download); errors name the file and say what to do."""
    from . import build_network, network_names
    from .registry import UnknownNetworkError

    if not isinstance(name, str) or not name:
        raise NetworkNotBuildableError(f"{path!r} names no network to build; " + _HOW_TO_BUILD.format(path=path))
    try:
        return build_network(name, **_rebuild_kwargs(name, kwargs))
    except UnknownNetworkError:
        raise NetworkNotBuildableError(
            f"{path!r} names the network {name!r}, which is not registered (known: {', '.join(network_names())}); "
            "import the module that registers it first, or " + _HOW_TO_BUILD.format(path=path)) from None
    except TypeError as exc:
        raise NetworkNotBuildableError(f"{path!r}: build_network({name!r}, **kwargs) failed with the file's kwargs "
                                       f"({exc}); " + _HOW_TO_BUILD.format(path=path)) from None


def load_safetensors(path: str | os.PathLike, strict: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network of a ``save_safetensors`` file and load its weights; returns ``(net, meta)``.

    ``meta``: ``format``, ``network``, ``kwargs``, ``extra`` (decoded). The network is as its constructor
    returns it (train mode): call ``.eval()`` for inference. Raises ``FileNotFoundError``,
    ``NotACheckpointError`` (not safetensors, or not of format ``"tracking.network/1"``),
    ``NetworkNotBuildableError`` (no or unknown network name) and ``CheckpointMismatchError`` (missing /
    unexpected keys with ``strict``, mis-shaped keys always; listed).
    """
    path = os.fspath(path)
    tensors, meta = read_safetensors(path)
    if meta.get("format") != NETWORK_FORMAT:
        raise NotACheckpointError(f"{path!r} is a safetensors file without our metadata (format "
                                  f"{meta.get('format')!r}, expected {NETWORK_FORMAT!r}); "
                                  + _HOW_TO_BUILD.format(path=path))
    net = _build(meta["network"], meta["kwargs"], path)
    load_into(net, tensors, strict=strict, source=path)
    return net, {k: meta[k] for k in ("format", "network", "kwargs", "extra")}


def _plain(value: Any) -> Any:
    """``value`` as JSON-friendly plain data (tensors as lists, unknown objects as their repr)."""
    if isinstance(value, (str, int, bool, type(None))):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def training_checkpoint_extra(checkpoint: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The plain metadata of a training checkpoint worth keeping with its weights: ``epoch`` (the epoch the
    next batch belongs to), ``next_batch``, ``global_step``, ``best`` (``{"value", "epoch", "metric"}`` or
    None), ``run`` (the config's ``name``) and ``source`` (the file, when given)."""
    metrics = checkpoint.get("metrics") or {}
    best = (metrics.get("extra") or {}).get("best", metrics.get("best")) if isinstance(metrics, Mapping) else None
    config = checkpoint.get("config") or {}
    extra = {"epoch": checkpoint.get("epoch"), "next_batch": checkpoint.get("next_batch"),
             "global_step": checkpoint.get("global_step"), "best": best,
             "run": config.get("name") if isinstance(config, Mapping) else None}
    if source is not None:
        extra["source"] = source
    return _plain(extra)


def network_from_training_checkpoint(checkpoint: Mapping[str, Any], path: str,
                                     strict: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network of a training checkpoint (already read, e.g. by ``tracking.train.checkpoint.
    load_checkpoint``) from its ``network`` entry and load its ``model`` state_dict; returns ``(net, meta)``
    with ``meta`` as ``load_safetensors``'s (``extra``: ``training_checkpoint_extra``). ``path`` names the file
    in errors. A run whose network came from a user's ``_target_`` raises ``NetworkNotBuildableError``."""
    info = checkpoint.get("network")
    if not isinstance(info, Mapping) or not isinstance(info.get("kwargs", {}), Mapping):
        raise NotACheckpointError(f"{path!r}: the training checkpoint has no valid 'network' entry")
    name, target, kwargs = info.get("name"), info.get("target"), dict(info.get("kwargs") or {})
    if not name and target:
        raise NetworkNotBuildableError(
            f"{path!r}: the run built its network with the user's model._target_={target!r}, not a registered "
            f"name, so it cannot be rebuilt here; export with your own builder: net = {target}(**kwargs); "
            "tracking.models.checkpoints.load_into(net, checkpoint['model']); then "
            "tracking.models.safetensors_io.save_safetensors(out, net, None, kwargs, extra) (or register the "
            "builder with tracking.models.register_network and train with model.name)")
    state_dict = _check_state_dict(path, checkpoint.get("model"), "'model'")
    net = _build(name, kwargs, path)
    load_into(net, state_dict, strict=strict, source=path)
    meta = {"format": TRAIN_FORMAT, "network": name, "kwargs": _rebuild_kwargs(name, kwargs),
            "extra": training_checkpoint_extra(checkpoint, path)}
    return net, meta


def load_weights(path: str | os.PathLike, strict: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild and load the network of any weights file we know, recognised by content; returns ``(net, meta)``.

    The kinds (see the module docstring) and their ``meta["format"]``: our safetensors export and our
    ``save_network`` file (``"tracking.network/1"``), a training checkpoint (``"tracking.train/1"``), a pytracking
    checkpoint (``"pytracking"``; ``extra`` holds its epoch, net_type, actor_type and constructor module).
    ``meta`` always has ``format``, ``network``, ``kwargs`` and ``extra``. Torch files are read with
    ``torch.load(weights_only=True)`` (nothing in them runs); ours and pytracking's are read twice (once to
    recognise them, once by their loader). The network is in train mode: call ``.eval()`` for inference.

    Raises ``FileNotFoundError``, ``UnsafeCheckpointError``, ``NotACheckpointError`` (none of the kinds),
    ``NetworkNotBuildableError`` and ``CheckpointMismatchError`` (see ``load_safetensors``).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    if _is_safetensors(path):
        return load_safetensors(path, strict=strict)
    if path.endswith(".safetensors"):  # torch.load (2.13) hands such paths to safetensors, whatever they hold
        raise NotACheckpointError(f"{path!r} is named .safetensors but is not a safetensors file; if it is a torch "
                                  "checkpoint, rename it (e.g. to .pth): torch.load reads .safetensors paths as "
                                  "safetensors")
    data = _safe_torch_load(path)
    kind = data.get("format") if isinstance(data, dict) else None
    if kind == NETWORK_FORMAT:
        del data
        return load_network(path, strict=strict)
    if kind == TRAIN_FORMAT:
        return network_from_training_checkpoint(data, path, strict=strict)
    if isinstance(data, dict) and kind is None and "net" in data:
        del data
        net, ckpt = load_pytracking_network(path, strict=strict)
        kwargs = _rebuild_kwargs(ckpt.constructor_name, ckpt.constructor_kwargs)
        extra = _plain({"epoch": ckpt.epoch, "net_type": ckpt.net_type, "actor_type": ckpt.actor_type,
                        "constructor_module": ckpt.constructor_module})
        return net, {"format": "pytracking", "network": ckpt.constructor_name, "kwargs": kwargs, "extra": extra}
    found = f"format {kind!r}" if kind is not None else (
        f"a dict with entries {sorted(map(str, data))[:10]}" if isinstance(data, dict) else f"a {type(data).__name__}")
    raise NotACheckpointError(
        f"{path!r} is not a weights file this loader knows (found {found}); it accepts a safetensors export "
        f"(python -m tracking.export), a {NETWORK_FORMAT!r} .pth (save_network), a {TRAIN_FORMAT!r} training "
        "checkpoint and a pytracking .pth.tar")
