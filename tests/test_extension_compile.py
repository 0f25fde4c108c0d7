"""The ops' first call may be inside torch.compile(fullgraph=True): the extension loader must not break tracing.

Each case runs in a fresh interpreter, so that the op's first call (hence the extension's loading) really
happens inside the compiled function.
"""

import os
import subprocess
import sys

import torch
from conftest import requires_extension

from tracking.ops import _extension

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PRROI = """
import torch
from tracking import ops
@torch.compile(fullgraph=True, backend="aot_eager")
def f(x, r):
    return ops.prroi_pool2d(x, r, 2, 2, 1.0)
x = torch.rand(1, 2, 6, 6, requires_grad=True)
r = torch.tensor([[0., 0.5, 0.5, 4.0, 3.5]])
out = f(x, r)
out.sum().backward()
assert ops.extension_available()
torch.testing.assert_close(out, ops.prroi_pool2d(x, r, 2, 2, 1.0))
assert x.grad is not None and x.grad.abs().sum() > 0
print("OK")
"""

CROP_REFERENCE = """
import warnings, torch
from tracking import ops
@torch.compile(fullgraph=True, backend="aot_eager")
def f(x, b):
    return ops.crop_and_resize(x, b, 2)
x = torch.rand(1, 2, 6, 6)
b = torch.tensor([[0., 1, 1, 4, 4]])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out = f(x, b)
assert not ops.extension_available()
torch.testing.assert_close(out, ops.crop_and_resize(x, b, 2))
assert any("reference implementation" in str(w.message) for w in caught), caught
print("OK")
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != _extension.DISABLE_ENV_VAR}
    environ["PYTHONPATH"] = REPO + os.pathsep + environ.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**environ, **env}, timeout=300)


@requires_extension
def test_first_prroi_pool2d_call_inside_fullgraph_compile():
    result = _run(PRROI)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr[-3000:]


def test_first_reference_op_call_inside_fullgraph_compile_warns():
    # Extension disabled: the loader and the fallback warning both run at trace time.
    result = _run(CROP_REFERENCE, **{_extension.DISABLE_ENV_VAR: "1"})
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr[-3000:]


def test_the_constant_result_mark_is_torchs():
    # _extension sets dynamo's mark by hand (to keep torch._dynamo out of `import tracking.ops`); it must be
    # the attribute that torch.compiler.assume_constant_result sets.
    def probe():
        return 1

    marked = torch.compiler.assume_constant_result(probe)
    marks = {k for k in vars(marked) if "dynamo" in k}
    assert marks and all(getattr(_extension.load_extension, k) == getattr(marked, k) for k in marks)
    assert all(getattr(_extension.warn_reference_fallback, k) == getattr(marked, k) for k in marks)
