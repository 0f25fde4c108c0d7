"""Checkpoint I/O: pytracking's ``.pth.tar`` files (read safely), readable state_dict loading, our own files.

- ``load_pytracking_checkpoint(path)`` reads a checkpoint written by pytracking's trainer
  (``ltr/trainers/base_trainer.py``: a dict ``epoch, actor_type, net_type, net, net_info, constructor,
  optimizer, stats, settings``) without ``ltr`` installed and without running code from the file: it goes
  through ``torch.load(weights_only=True)`` (torch's restricted unpickler: tensors, storages, containers and
  plain values only) with pytracking's five bookkeeping classes mapped to inert placeholders that just keep
  their attributes. Any other global in the file is refused with ``UnsafeCheckpointError`` naming it.
- ``load_into(net, state_dict_or_checkpoint)``: ``load_state_dict`` with a short listing of missing /
  unexpected keys and shape mismatches.
- ``save_network`` / ``load_network``: our format, a dict of plain values and tensors (loads with
  ``torch.load(weights_only=True)``) naming the registered constructor and its kwargs, so the network is rebuilt
  through ``tracking.models.build_network``.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..data.atomic import atomic_path

NETWORK_FORMAT = "tracking.network/1"
"""The ``format`` entry of the files written by ``save_network``."""

_MAX_LISTED = 8
_PYTRACKING_USED = ("epoch", "actor_type", "net_type", "net", "net_info", "constructor")


class CheckpointError(Exception):
    """Base of the errors of this module; messages name the file."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file references a global (function or class) outside the allow-list; nothing from it was run."""


class NotACheckpointError(CheckpointError, ValueError):
    """The file is not a checkpoint of the expected kind (unreadable, or other content)."""


class CheckpointMismatchError(CheckpointError, RuntimeError):
    """A state_dict does not fit the network: missing / unexpected keys or shape mismatches (listed)."""


# ---- pytracking's bookkeeping classes, as inert placeholders ------------------------------------------------

class _PytrackingObject:
    """Stands for an object of an ``ltr`` class: keeps the pickled attributes, has no behaviour."""

    ltr_class = ""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state), as pickle's BUILD
            state, slots = state
            self.__dict__.update(slots or {})
        if not isinstance(state, (dict, type(None))):
            raise pickle.UnpicklingError(f"{self.ltr_class}: unexpected pickled state {type(state).__name__}")
        self.__dict__.update(state or {})

    def __repr__(self) -> str:
        return f"<{self.ltr_class} placeholder {self.__dict__!r}>"


def _placeholder(ltr_class: str) -> type[_PytrackingObject]:
    return type(ltr_class.rpartition(".")[2], (_PytrackingObject,), {"ltr_class": ltr_class,
                                                                     "__module__": __name__})


PYTRACKING_CLASSES: dict[str, type[_PytrackingObject]] = {name: _placeholder(name) for name in (
    "ltr.admin.local.EnvironmentSettings", "ltr.admin.model_constructor.NetConstructor",
    "ltr.admin.settings.Settings", "ltr.admin.stats.AverageMeter", "ltr.admin.stats.StatValue")}
"""The ``ltr`` classes a pytracking checkpoint may pickle, each mapped to an inert placeholder class."""


@dataclass
class PytrackingCheckpoint:
    """What a pytracking checkpoint holds, as plain values.

    ``net``: the network's state_dict (keys as pytracking's, e.g. ``feature_extractor.conv1.weight``).
    ``constructor_*``: pytracking's ``NetConstructor`` (``fun_name`` e.g. ``"dimpnet18"``, ``fun_module`` e.g.
    ``"ltr.models.tracking.dimpnet"``, ``args``, ``kwds``). ``unknown``: top-level entries not read (optimizer,
    stats, settings, anything else), by name.
    """

    path: str
    net: dict[str, Tensor]
    epoch: int | None = None
    net_type: str | None = None
    actor_type: str | None = None
    constructor_name: str | None = None
    constructor_module: str | None = None
    constructor_args: tuple = ()
    constructor_kwargs: dict[str, Any] = field(default_factory=dict)
    net_info: Any = None
    unknown: list[str] = field(default_factory=list)


def _refused_global(message: str) -> str | None:
    found = re.search(r"GLOBAL (\S+)", message) or re.search(r"unrecognized function (.+?)(?: which|$)", message)
    if not found:
        return None
    name = found.group(1)
    if "." not in name:  # torch writes builtins.eval as "eval"
        return f"builtins.{name}"
    # Protocol-2 pickles store Python 2 module names (subprocess.Popen as commands.Popen), which torch reports
    # as such: name the Python 3 global, as pickle itself would resolve it.
    import _compat_pickle

    module, _, attr = name.rpartition(".")
    module, attr = _compat_pickle.NAME_MAPPING.get((module, attr), (module, attr))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attr}"


def _safe_torch_load(path: str) -> Any:
    """``torch.load(weights_only=True)`` of ``path``, pytracking's classes as placeholders; errors name the file.

    (``safe_globals`` extends torch's process-wide allow-list while the load runs; the placeholders are inert.)
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file {path!r} does not exist")
    try:
        with torch.serialization.safe_globals([(cls, name) for name, cls in PYTRACKING_CLASSES.items()]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(str(exc))
        if refused is not None:
            raise UnsafeCheckpointError(
                f"refused to load {path!r}: it references the global {refused!r}, which is not allowed (only "
                "tensors, plain values and pytracking's ltr.admin bookkeeping classes are); nothing from the file "
                "was run") from None
        raise NotACheckpointError(f"{path!r} is not a readable checkpoint: {_first_line(exc)}") from None
    except Exception as exc:  # garbage bytes can make the unpickler fail in any way (IndexError, KeyError, ...)
        raise NotACheckpointError(f"{path!r} is not a readable checkpoint: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]


def _check_state_dict(path: str, net: Any, what: str) -> dict[str, Tensor]:
    if not isinstance(net, Mapping) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in net.items()):
        raise NotACheckpointError(f"{path!r}: {what} is not a state_dict (a mapping of names to tensors)")
    return dict(net)


def load_pytracking_checkpoint(path: str | os.PathLike) -> PytrackingCheckpoint:
    """Read a pytracking ``.pth.tar`` checkpoint safely (no code from the file runs; ``ltr`` not needed).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file references a global outside the allow-list (named in the message).
        NotACheckpointError: unreadable by torch, or not a dict with a ``net`` state_dict.
    """
    path = os.fspath(path)
    data = _safe_torch_load(path)
    if not isinstance(data, dict) or "net" not in data:
        held = f"a dict with entries {sorted(map(str, data))[:10]}" if isinstance(data, dict) else \
            f"a {type(data).__name__}"
        raise NotACheckpointError(f"{path!r} is not a pytracking checkpoint (expected a dict with a 'net' "
                                  f"state_dict, found {held})")
    constructor = data.get("constructor")
    if constructor is not None and not isinstance(constructor, PYTRACKING_CLASSES[
            "ltr.admin.model_constructor.NetConstructor"]):
        raise NotACheckpointError(f"{path!r}: 'constructor' is a {type(constructor).__name__}, not a NetConstructor")
    state = vars(constructor) if constructor is not None else {}
    kwargs = state.get("kwds") or {}
    if not isinstance(kwargs, dict):
        raise NotACheckpointError(f"{path!r}: the constructor's kwds are a {type(kwargs).__name__}, not a dict")
    return PytrackingCheckpoint(
        path=path, net=_check_state_dict(path, data["net"], "'net'"), epoch=data.get("epoch"),
        net_type=data.get("net_type"), actor_type=data.get("actor_type"), constructor_name=state.get("fun_name"),
        constructor_module=state.get("fun_module"), constructor_args=tuple(state.get("args") or ()),
        constructor_kwargs=dict(kwargs), net_info=data.get("net_info"),
        unknown=[str(k) for k in data if k not in _PYTRACKING_USED])


# ---- loading a state_dict with a readable error -------------------------------------------------------------

class LoadResult(NamedTuple):
    """Keys of a non-strict ``load_into`` that were missing from the state_dict or not used from it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _listing(title: str, items: list[str]) -> str:
    more = f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"{len(items)} {title}: {', '.join(items[:_MAX_LISTED])}{more}"


def _state_dict_of(checkpoint_or_state_dict: Any) -> Mapping[str, Any]:
    if isinstance(checkpoint_or_state_dict, PytrackingCheckpoint):
        return checkpoint_or_state_dict.net
    if isinstance(checkpoint_or_state_dict, Mapping):
        inner = checkpoint_or_state_dict.get("state_dict")
        if isinstance(inner, Mapping) and checkpoint_or_state_dict.get("format") == NETWORK_FORMAT:
            return inner
        return checkpoint_or_state_dict
    raise TypeError(f"expected a state_dict (mapping) or a checkpoint, got {type(checkpoint_or_state_dict).__name__}")


def load_into(net: nn.Module, checkpoint_or_state_dict: Any, strict: bool = True,
              source: str | os.PathLike | None = None) -> LoadResult:
    """Copy a state_dict (or a ``PytrackingCheckpoint``'s, or one of our files' dict) into ``net``.

    Shape mismatches always raise; with ``strict=True`` missing or unexpected keys raise too. The
    ``CheckpointMismatchError`` lists a few of each (and names ``source``, e.g. the file, when given) instead of
    torch's full dump. Returns the missing and unexpected keys (both empty when strict).
    """
    if source is None and isinstance(checkpoint_or_state_dict, PytrackingCheckpoint):
        source = checkpoint_or_state_dict.path
    state_dict = _state_dict_of(checkpoint_or_state_dict)
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = []
    for key, value in state_dict.items():
        if key in own and not isinstance(value, Tensor):
            mismatched.append(f"{key} (file holds a {type(value).__name__}, not a tensor)")
        elif key in own and value.shape != own[key].shape:
            mismatched.append(f"{key} (file {list(value.shape)}, net {list(own[key].shape)})")
    problems = [_listing("shape mismatch(es)", mismatched)] if mismatched else []
    if strict and missing:
        problems.append(_listing("missing key(s)", missing))
    if strict and unexpected:
        problems.append(_listing("unexpected key(s)", unexpected))
    if problems:
        where = f" from {os.fspath(source)!r}" if source is not None else ""
        raise CheckpointMismatchError(
            f"cannot load the state_dict{where} into {type(net).__name__} ({len(state_dict)} entries, net has "
            f"{len(own)}): " + "; ".join(problems))
    net.load_state_dict(state_dict, strict=strict)
    return LoadResult(missing, unexpected)


def load_pytracking_network(path: str | os.PathLike, name: str | None = None, strict: bool = True,
                            **overrides: Any) -> tuple[nn.Module, PytrackingCheckpoint]:
    """Build the network of a pytracking checkpoint through the registry and load its weights.

    ``name`` defaults to the checkpoint's constructor name (e.g. ``"dimpnet50"``); the constructor gets the
    checkpoint's kwargs with ``backbone_pretrained=False`` (the checkpoint holds the backbone) and
    ``overrides`` on top.
    """
    from . import build_network

    checkpoint = load_pytracking_checkpoint(path)
    name = name or checkpoint.constructor_name
    if not name:
        raise NotACheckpointError(f"{checkpoint.path!r} names no constructor; pass name=")
    kwargs = {**checkpoint.constructor_kwargs, **overrides}
    if "backbone_pretrained" in kwargs and "backbone_pretrained" not in overrides:
        kwargs["backbone_pretrained"] = False
    net = build_network(name, **kwargs)
    load_into(net, checkpoint, strict=strict)
    return net, checkpoint


# ---- our own network files ----------------------------------------------------------------------------------

_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` unless ``value`` is made of str/int/float/bool/None, lists, tuples, str-keyed dicts."""
    if type(value) in _PLAIN_SCALARS:  # exact types: subclasses (numpy floats, TorchVersion) do not load back
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where}: dict keys must be strings, got {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} must hold only plain values (str, int, float, bool, None, list, tuple, dict), "
                    f"got a {type(value).__name__}")


def save_network(path: str | os.PathLike, net: nn.Module, name: str, kwargs: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
    """Write ``net`` (built as ``build_network(name, **kwargs)``) to ``path`` in our format.

    The file is a dict ``{"format", "network", "kwargs", "state_dict", "extra", "torch"}`` of plain values and
    CPU tensors, readable by ``torch.load(weights_only=True)``; ``extra`` is plain metadata (epoch, settings...).
    Written to a temporary file first, then renamed, so a crash never leaves a truncated file at ``path``.
    """
    from . import network_names
    from .registry import registered_names

    if name not in registered_names() and name not in network_names():
        raise ValueError(f"save_network: {name!r} is not a registered network, the file could not be rebuilt; "
                         f"known networks: {', '.join(network_names())}")
    kwargs = dict(kwargs or {})
    extra = dict(extra or {})
    _check_plain(kwargs, "save_network: kwargs")
    _check_plain(extra, "save_network: extra")
    data = {"format": NETWORK_FORMAT, "network": name, "kwargs": kwargs, "torch": str(torch.__version__),
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "extra": extra}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def load_network(path: str | os.PathLike, strict: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild and load a network written by ``save_network``; returns ``(net, meta)``.

    ``meta`` holds ``network``, ``kwargs``, ``extra``, ``format`` and ``torch`` (the version that wrote it).
    The network is as its constructor returns it (train mode); call ``.eval()`` for inference.
    """
    from . import build_network

    path = os.fspath(path)
    data = _safe_torch_load(path)
    if not isinstance(data, dict) or data.get("format") != NETWORK_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise NotACheckpointError(f"{path!r} is not a network file of format {NETWORK_FORMAT!r} (found {found!r}); "
                                  "for pytracking's .pth.tar use load_pytracking_checkpoint")
    for key, kind in (("network", str), ("kwargs", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(data.get(key), kind):
            raise NotACheckpointError(f"{path!r}: entry {key!r} is missing or not a {kind.__name__}")
    net = build_network(data["network"], **data["kwargs"])
    load_into(net, _check_state_dict(path, data["state_dict"], "'state_dict'"), strict=strict, source=path)
    meta = {k: data.get(k) for k in ("network", "kwargs", "extra", "format", "torch")}
    return net, meta
