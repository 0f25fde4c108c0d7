"""Shared test helpers: the marker for tests of the compiled extension itself, and where the real data is."""

import os

import pytest

from tracking.ops import extension_available, extension_unavailable_reason

# Tests that compare the compiled kernels with the references, or check their registration, skip when the
# extension is absent (or disabled with TRACKING_DISABLE_EXTENSION=1): the reference path is then the
# code under test, and comparing it with itself would prove nothing.
requires_extension = pytest.mark.skipif(
    not extension_available(), reason=f"tracking._C not in use: {extension_unavailable_reason()}")

def _dali_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nvidia.dali") is not None


# Tests of the DALI backend skip when the optional package is not installed; LOADER_BACKENDS parametrises a
# test over both loader backends.
requires_dali = pytest.mark.skipif(not _dali_available(), reason="nvidia-dali is not installed")
LOADER_BACKENDS = ["opencv", pytest.param("dali", marks=requires_dali)]

# Real data nobody here made (../shared/data beside the checkout, as in CI); tests using it skip when absent.
SHARED_DATA = os.environ.get("TRACKING_SHARED_DATA") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
SHARED_SEQUENCES = os.path.join(SHARED_DATA, "sequences")


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch, tmp_path_factory):
    """Tests never read the developer's own settings file (dataset roots, split lists) nor write into the
    user cache directory (parsed dataset indices)."""
    monkeypatch.setenv("TRACKING_SETTINGS", str(tmp_path_factory.getbasetemp() / "no-settings.yaml"))
    monkeypatch.setenv("TRACKING_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "user-cache"))
    monkeypatch.delenv("TRACKING_SPECS_DIR", raising=False)
