"""The table of network constructors by name (``"dimpnet50"``, ``"atom_resnet18"``, ...).

Only the table lives here, so network modules can register themselves without import cycles:

    @register_network("dimpnet18")
    def dimpnet18(...) -> nn.Module: ...

``tracking.models.build_network`` / ``network_names`` import the known network modules first (lazily) and
then use this table; ``lookup`` / ``registered_names`` here see only what has been imported so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

Constructor = Callable[..., nn.Module]
F = TypeVar("F", bound=Constructor)

_REGISTRY: dict[str, Constructor] = {}


class UnknownNetworkError(KeyError):
    """No constructor is registered under the name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError's str() would quote the whole message
        return str(self.args[0]) if self.args else ""


def register_network(name: str) -> Callable[[F], F]:
    """Decorator registering a constructor under ``name``; registering another object under a taken name
    raises ``ValueError`` (re-registering the same function, as on a module reload, is allowed)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"network name must be a non-empty string, got {name!r}")

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"register_network({name!r}) must decorate a callable, got {fn!r}")
        old = _REGISTRY.get(name)
        if old is not None and old is not fn and _qualname(old) != _qualname(fn):
            raise ValueError(f"network name {name!r} is already registered to {_qualname(old)}")
        _REGISTRY[name] = fn
        return fn

    return decorate


def unregister_network(name: str) -> None:
    """Remove ``name`` from the table (for tests); no error when absent."""
    _REGISTRY.pop(name, None)


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def registered_names() -> list[str]:
    """Sorted names registered so far (without importing any network module)."""
    return sorted(_REGISTRY)


def lookup(name: str) -> Constructor:
    """The constructor registered under ``name``; ``UnknownNetworkError`` listing the known names if none."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNetworkError(
            f"unknown network {name!r}; known networks: {', '.join(registered_names()) or '(none)'}") from None
