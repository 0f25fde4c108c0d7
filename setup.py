"""Build script for the ``tracking`` package and its compiled operators ``tracking._C``.

CPU kernels (``csrc/*.cpp``, ``csrc/cpu/*.cpp``) are always compiled. CUDA kernels (``csrc/cuda/*.cu``)
are added when the installed torch is a CUDA build and nvcc is found, or when ``FORCE_CUDA=1``;
``FORCE_CUDA=0`` disables them. With no visible GPU, ``TORCH_CUDA_ARCH_LIST`` defaults to
``DEFAULT_CUDA_ARCHS`` (torch's own arch detection fails without a device).

Environment switches:
    FORCE_CUDA=1|0          force the CUDA kernels on / off
    TORCH_CUDA_ARCH_LIST    architectures for nvcc (default below when no GPU is visible)
    NVCC_FLAGS              extra nvcc flags, space separated
    TRACKING_DEBUG=1        -O0 -g, for debugging the kernels
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

from setuptools import setup

DEFAULT_CUDA_ARCHS = "7.5;8.0;8.6;9.0+PTX"
ROOT = os.path.dirname(os.path.abspath(__file__))


def _cuda_requested(torch_module) -> bool:
    force = os.environ.get("FORCE_CUDA")
    if force is not None:
        return force == "1"
    if torch_module.version.cuda is None:
        return False
    from torch.utils.cpp_extension import CUDA_HOME

    return CUDA_HOME is not None or shutil.which("nvcc") is not None


def _extension():
    import torch
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")) + glob.glob(os.path.join("csrc", "cpu", "*.cpp")))
    debug = os.environ.get("TRACKING_DEBUG") == "1"
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # -fopenmp at compile AND link time, or at::parallel_for silently runs on one thread.
    cxx_flags = opt + ["-fopenmp", "-Wall", "-Wno-unused-function"]
    define_macros = [("TORCH_EXTENSION_NAME", "_C")]
    extra_link = ["-fopenmp"]

    if _cuda_requested(torch):
        if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
            os.environ["TORCH_CUDA_ARCH_LIST"] = DEFAULT_CUDA_ARCHS
        sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
        define_macros.append(("WITH_CUDA", None))
        nvcc_flags = opt + ["--expt-relaxed-constexpr"] + os.environ.get("NVCC_FLAGS", "").split()
        print(f"[tracking] building CPU + CUDA kernels (archs {os.environ.get('TORCH_CUDA_ARCH_LIST')})",
              file=sys.stderr)
        return CUDAExtension(
            "tracking._C", sources, include_dirs=[os.path.join(ROOT, "csrc")], define_macros=define_macros,
            extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags}, extra_link_args=extra_link)
    print("[tracking] building CPU kernels only", file=sys.stderr)
    return CppExtension(
        "tracking._C", sources, include_dirs=[os.path.join(ROOT, "csrc")], define_macros=define_macros,
        extra_compile_args={"cxx": cxx_flags}, extra_link_args=extra_link)


def _build_ext_class():
    from torch.utils.cpp_extension import BuildExtension

    return BuildExtension.with_options(no_python_abi_suffix=False)


setup(ext_modules=[_extension()], cmdclass={"build_ext": _build_ext_class()})
