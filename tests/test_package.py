"""Package-level guarantees: a cheap import, the extension's loading rules, and when the ops validate values."""

import importlib
import os
import subprocess
import sys

import pytest
import torch
from conftest import requires_extension
from torch.overrides import TorchFunctionMode

from tracking import ops
from tracking.ops import _checks

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


# ---- Value checks (roi/box batch indices): once per call, one host sync, CPU always, CUDA with the debug switch ----

@pytest.fixture
def debug_switch(monkeypatch):
    """The debug switch off and following the environment (unset) for the test, and reset afterwards."""
    monkeypatch.delenv(_checks.DEBUG_ENV_VAR, raising=False)
    ops.set_debug_checks(None)
    yield monkeypatch
    ops.set_debug_checks(None)


class HostSyncs(TorchFunctionMode):
    """Counts the Python-level calls that read a tensor value on the host (a device sync for CUDA tensors)."""

    NAMES = frozenset({"__bool__", "item", "__int__", "__float__", "__index__", "__complex__", "tolist", "numpy"})

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.NAMES:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def count_calls(monkeypatch, module, name):
    """Replace module.name by a wrapper that counts its calls; returns the list of calls."""
    calls, original = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_value_checks_decision_per_device(debug_switch):
    cuda, cuda1, cpu = torch.device("cuda"), torch.device("cuda", 1), torch.device("cpu")
    assert _checks.value_checks_enabled(cpu) and _checks.value_checks_enabled("cpu")
    assert not _checks.value_checks_enabled(cuda) and not _checks.value_checks_enabled(cuda1)
    assert not _checks.value_checks_enabled("meta")  # no values to read, switch or not
    debug_switch.setenv(_checks.DEBUG_ENV_VAR, "1")  # read at call time
    assert ops.debug_checks_enabled() and _checks.value_checks_enabled(cuda) and _checks.value_checks_enabled(cuda1)
    assert not _checks.value_checks_enabled("meta")
    ops.set_debug_checks(False)  # the setter overrides the variable ...
    assert not _checks.value_checks_enabled(cuda) and _checks.value_checks_enabled(cpu)  # ... CPU stays checked
    ops.set_debug_checks(None)  # ... until reset
    assert _checks.value_checks_enabled(cuda)
    debug_switch.setenv(_checks.DEBUG_ENV_VAR, "0")
    assert not _checks.value_checks_enabled(cuda)
    ops.set_debug_checks(True)
    assert ops.debug_checks_enabled() and _checks.value_checks_enabled(cuda)
    with pytest.raises(TypeError, match="bool"):
        ops.set_debug_checks("yes")


def test_batch_index_check_is_gated_by_the_decision(debug_switch):
    # check_batch_indices asks value_checks_enabled about the tensor's device; answered "no" (a CUDA tensor
    # without the debug switch), it reads no value, unless forced (the reference path, which does not clamp).
    bad = torch.tensor([5.0, 0.5])
    devices = []
    debug_switch.setattr(_checks, "value_checks_enabled", lambda device: devices.append(device) or False)
    reductions = count_calls(debug_switch, _checks, "_any_bad_batch_index")
    with HostSyncs() as syncs:
        _checks.check_batch_indices("op", "boxes", bad, 2)
    assert devices == [bad.device] and reductions == [] and syncs.calls == []
    with pytest.raises(ValueError, match="whole batch indices"):
        _checks.check_batch_indices("op", "boxes", bad, 2, force=True)
    debug_switch.setattr(_checks, "value_checks_enabled", lambda device: True)
    with pytest.raises(ValueError, match="whole batch indices"):
        _checks.check_batch_indices("op", "boxes", bad, 2)
    # An empty batch with rows to index is a size error, whatever the device.
    debug_switch.setattr(_checks, "value_checks_enabled", lambda device: False)
    with pytest.raises(ValueError, match=r"batch indices in \[0, 0\].*0 image"):
        _checks.check_batch_indices("op", "boxes", torch.zeros(2), 0)


@pytest.mark.parametrize("count", [4, _checks._HOST_CHECK_MAX + 1, 5000], ids=["few", "many", "lots"])
def test_batch_index_check_is_one_host_sync(debug_switch, count):
    # Few indices are copied to the host once; many are reduced on their device and read back once.
    reductions = count_calls(debug_switch, _checks, "_any_bad_batch_index")
    details = count_calls(debug_switch, _checks, "_raise_bad_batch_indices")
    good = torch.arange(count, dtype=torch.float32) % 2
    with HostSyncs() as syncs:
        _checks.check_batch_indices("op", "boxes", good, 2)
    assert len(reductions) == 1 and details == [] and len(syncs.calls) == 1, syncs.calls
    assert not _checks._any_bad_batch_index(good.double(), 2)
    for value, message in [(2.0, r"in \[0, 2\] .*2 image"), (-1.0, r"in \[-1, 1\]"), (0.5, "whole"),
                           (float("nan"), "whole"), (float("inf"), "whole"), (-float("inf"), "whole")]:
        bad = good.clone()
        bad[-1] = value
        assert _checks._any_bad_batch_index(bad, 2)
        with pytest.raises(ValueError, match=message):
            _checks.check_batch_indices("op", "boxes", bad, 2)
    assert _checks._any_bad_batch_index(good, 1)  # index 1 is out of range for one image


@pytest.mark.parametrize("call", ["crop_and_resize", "prroi_pool2d"])
def test_python_face_checks_values_once_per_call(debug_switch, call):
    # One face call on CPU tensors, forward and backward: the value check runs once (one fused reduction, one
    # host sync); the C++ kernels validate while reading the indices, with no separate pass or sync.
    reductions = count_calls(debug_switch, _checks, "_any_bad_batch_index")
    details = count_calls(debug_switch, _checks, "_raise_bad_batch_indices")
    images = torch.rand(2, 3, 24, 32, requires_grad=True)
    boxes = torch.tensor([[0.0, 1, 2, 20, 18], [1.0, 4, 3, 30, 22], [1.0, -5, -5, 10, 10]])
    with HostSyncs() as syncs:
        if call == "crop_and_resize":
            out = ops.crop_and_resize(images, boxes, (8, 6))
        else:
            out = ops.prroi_pool2d(images, boxes, 3, 3, 0.5)
    out.sum().backward()
    assert len(reductions) == 1 and details == []
    if ops.extension_available():  # the references read values themselves (e.g. torch.unique(...).tolist())
        assert len(syncs.calls) == 1, syncs.calls


@pytest.mark.parametrize("call", ["crop_and_resize", "prroi_pool2d"])
def test_reference_path_checks_values_whatever_the_device(debug_switch, call, recwarn):
    # The references index with the batch indices unclamped, so without the extension the check is forced,
    # even where the device alone would skip it (a CUDA tensor without the debug switch).
    module = importlib.import_module({"crop_and_resize": "tracking.ops.crop_and_resize",
                                      "prroi_pool2d": "tracking.ops.prroi_pool"}[call])
    debug_switch.setattr(module, "load_extension", lambda: False)
    debug_switch.setattr(_checks, "value_checks_enabled", lambda device: False)
    images, boxes = torch.rand(2, 3, 8, 8), torch.tensor([[2.0, 0, 0, 4, 4]])
    with pytest.raises(ValueError, match=r"batch indices in \[2, 2\].*2 image"):
        if call == "crop_and_resize":
            ops.crop_and_resize(images, boxes, 4)
        else:
            ops.prroi_pool2d(images, boxes, 2, 2, 1.0)


@requires_extension
@pytest.mark.parametrize("call", ["crop_and_resize", "prroi_pool2d"])
def test_compiled_path_skips_value_checks_where_the_decision_says_so(debug_switch, call):
    # With the extension and the decision "no" (what a CUDA tensor gets without the debug switch), the face
    # reads no value; on the CPU the raw op then still rejects the index (RuntimeError from the kernel).
    debug_switch.setattr(_checks, "value_checks_enabled", lambda device: False)
    images, boxes = torch.rand(2, 3, 8, 8), torch.tensor([[2.0, 0, 0, 4, 4]])
    with HostSyncs() as syncs, pytest.raises(RuntimeError, match="batch indices"):
        if call == "crop_and_resize":
            ops.crop_and_resize(images, boxes, 4)
        else:
            ops.prroi_pool2d(images, boxes, 2, 2, 1.0)
    assert syncs.calls == []
