"""Package-level guarantees: a cheap import, and the extension's loading rules."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import requires_extension

HEAVY_MODULES = ("nvidia.dali", "cv2", "tensorboard", "torch.utils.tensorboard", "tracking._C")


def test_import_tracking_loads_no_optional_dependency():
    code = ("import sys, tracking, tracking.ops; "
            f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"`import tracking` imported {loaded}"


def test_disable_switch_selects_the_reference_path_with_a_warning():
    code = ("import warnings, torch; warnings.simplefilter('error'); from tracking import ops; "
            "assert not ops.extension_available(); print(ops.extension_unavailable_reason()); "
            "ops.prroi_pool2d(torch.ones(1, 1, 4, 4), torch.tensor([[0., 0, 0, 2, 2]]), 1, 1, 1.0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TRACKING_DISABLE_EXTENSION": "1"})
    assert result.returncode != 0 and "RuntimeWarning" in result.stderr and "reference" in result.stderr
    assert "disabled by TRACKING_DISABLE_EXTENSION=1" in result.stdout


def test_missing_extension_falls_back_with_the_reason():
    # tracking._C made unimportable, as when it was never built: the ops still run, on the references.
    code = ("import sys, torch; sys.modules['tracking._C'] = None; from tracking import ops; "
            "assert not ops.extension_available(); print(ops.extension_unavailable_reason()); "
            "print(ops.crop_and_resize(torch.ones(1, 1, 4, 4), torch.tensor([[0., 0, 4, 4]]), 2).sum().item())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "TRACKING_DISABLE_EXTENSION"})
    assert result.returncode == 0, result.stderr
    reason, total = result.stdout.strip().splitlines()
    assert "import of tracking._C failed" in reason and "pip install -e ." in reason
    assert float(total) == 4.0


@requires_extension
@pytest.mark.parametrize("name", ["prroi_pool2d", "correlation", "crop_and_resize"])
def test_compiled_ops_have_cpu_kernels(name):
    for op_name in (f"tracking::{name}", f"tracking::_{name}_backward"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op_name, "CPU"), f"{op_name} has no CPU kernel"


@requires_extension
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_extension_is_linked_with_openmp():
    # Without -fopenmp at link time at::parallel_for silently runs on one thread.
    import tracking._C

    with open(f"/proc/{os.getpid()}/maps") as maps:
        assert tracking._C.__file__ in maps.read()
    out = subprocess.run(["ldd", tracking._C.__file__], capture_output=True, text=True).stdout
    assert "gomp" in out or "libomp" in out or "iomp" in out, out
