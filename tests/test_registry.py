"""The network registry: register by name, build by name, clear errors, and no import-time side effects."""

import subprocess
import sys

import pytest
import torch

import tracking.models as models
from tracking.models import registry


@pytest.fixture
def dummy(monkeypatch):
    """A registered dummy network, and no built-in network modules to import (they live on other branches)."""
    monkeypatch.setattr(models, "NETWORK_MODULES", ())

    @registry.register_network("test_dummy_net")
    def build(width: int = 2) -> torch.nn.Module:
        return torch.nn.Linear(width, 1)

    yield build
    registry.unregister_network("test_dummy_net")


def test_build_network_by_name_with_kwargs(dummy):
    net = models.build_network("test_dummy_net", width=5)
    assert isinstance(net, torch.nn.Linear) and net.in_features == 5
    assert "test_dummy_net" in models.network_names()
    assert models.network_names() == sorted(models.network_names())


def test_unknown_name_lists_the_known_ones(dummy):
    with pytest.raises(KeyError) as info:
        models.build_network("no_such_net")
    assert isinstance(info.value, registry.UnknownNetworkError)
    assert str(info.value) == "unknown network 'no_such_net'; known networks: " + ", ".join(
        registry.registered_names())
    assert "test_dummy_net" in str(info.value)


def test_a_taken_name_cannot_be_reused_by_another_constructor(dummy):
    registry.register_network("test_dummy_net")(dummy)  # the same function again (a reload): fine

    def other() -> torch.nn.Module:
        return torch.nn.Identity()

    with pytest.raises(ValueError, match="test_dummy_net.*already registered"):
        registry.register_network("test_dummy_net")(other)
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register_network("")
    with pytest.raises(TypeError, match="callable"):
        registry.register_network("test_not_callable")(3)


def test_build_network_imports_the_network_modules(monkeypatch, tmp_path):
    (tmp_path / "test_fake_netmod.py").write_text(
        "import torch\nfrom tracking.models.registry import register_network\n"
        "@register_network('test_fake_from_module')\ndef fake():\n    return torch.nn.Identity()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(models, "NETWORK_MODULES", ("test_fake_netmod",))
    try:
        assert "test_fake_from_module" in models.network_names()
        assert isinstance(models.build_network("test_fake_from_module"), torch.nn.Identity)
    finally:
        registry.unregister_network("test_fake_from_module")
        sys.modules.pop("test_fake_netmod", None)


def test_built_in_module_list():
    assert models.NETWORK_MODULES == ("tracking.models.dimpnet", "tracking.models.bbreg.atom")


def test_importing_the_package_imports_no_network_module():
    code = ("import sys, tracking.models; from tracking.models import registry; "
            "print(sorted(m for m in sys.modules if m.startswith('tracking.models.')), registry.registered_names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['tracking.models.registry'] []"
