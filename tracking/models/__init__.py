"""Tracking networks (DiMP, PrDiMP, ATOM), their backbones and layers, and checkpoint I/O.

Networks are built by name: ``build_network("dimpnet18", **kwargs)``; ``network_names()`` lists the names.
The network modules register their constructors (``tracking.models.registry.register_network``) when imported;
importing this package imports none of them (no import-time side effects): ``build_network`` and
``network_names`` import the modules in ``NETWORK_MODULES`` on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from .registry import UnknownNetworkError, lookup, register_network, registered_names

NETWORK_MODULES: tuple[str, ...] = ("tracking.models.dimpnet", "tracking.models.bbreg.atom")
"""Modules whose import registers the built-in networks."""


def _import_network_modules() -> None:
    for module in NETWORK_MODULES:
        importlib.import_module(module)


def network_names() -> list[str]:
    """Sorted names of all networks that ``build_network`` accepts."""
    _import_network_modules()
    return registered_names()


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` with the constructor's keyword arguments.

    Raises ``UnknownNetworkError`` (a ``KeyError``) listing the known names when ``name`` is not registered.
    """
    _import_network_modules()
    return lookup(name)(**kwargs)


__all__ = ["NETWORK_MODULES", "UnknownNetworkError", "build_network", "network_names", "register_network"]
