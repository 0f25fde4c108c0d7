"""Build script for the ``tracking`` package, its compiled operators ``tracking._C`` and its JPEG region
decoder ``tracking.data._jpeg``.

``tracking.data._jpeg`` (csrc/jpeg/region_decode.c, plain C) links the system libjpeg-turbo (Debian:
libjpeg62-turbo-dev, i.e. ``jpeglib.h``); it is built when that header is found (TRACKING_JPEG_INCLUDE /
TRACKING_JPEG_LIB name other directories) and is optional: without it, tracking.data.frames decodes
DCT-scaled whole frames with simplejpeg instead of regions (slower, same pixels).

CPU kernels (``csrc/*.cpp``, ``csrc/cpu/*.cpp``) are always compiled. CUDA kernels (``csrc/cuda/*.cu``)
are added when the installed torch is a CUDA build and nvcc is found, or when ``FORCE_CUDA=1``;
``FORCE_CUDA=0`` disables them. With no visible GPU, ``TORCH_CUDA_ARCH_LIST`` defaults to
``DEFAULT_CUDA_ARCHS`` (torch's own arch detection fails without a device).

Environment switches:
    FORCE_CUDA=1|0          force the CUDA kernels on / off
    TORCH_CUDA_ARCH_LIST    architectures for nvcc (default below when no GPU is visible)
    NVCC_FLAGS              extra nvcc flags, space separated
    TRACKING_DEBUG=1        -O0 -g, for debugging the kernels
    TRACKING_JPEG_INCLUDE   directory of jpeglib.h (default: the compiler's, e.g. /usr/include)
    TRACKING_JPEG_LIB       directory of libjpeg.so (default: the linker's)
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


def _jpeg_extension():
    """The optional JPEG region decoder, when libjpeg-turbo's jpeglib.h is found; else None (and a note)."""
    from setuptools import Extension

    include = os.environ.get("TRACKING_JPEG_INCLUDE")
    candidates = [include] if include else ["/usr/include", "/usr/local/include", os.path.join(sys.prefix, "include")]
    found = next((d for d in candidates if d and os.path.isfile(os.path.join(d, "jpeglib.h"))), None)
    if found is None:
        print("[tracking] jpeglib.h not found (Debian: apt install libjpeg62-turbo-dev): building without the JPEG "
              "region decoder; frames are decoded DCT-scaled whole with simplejpeg", file=sys.stderr)
        return None
    lib = os.environ.get("TRACKING_JPEG_LIB")
    return Extension("tracking.data._jpeg", [os.path.join("csrc", "jpeg", "region_decode.c")], include_dirs=[found],
                     library_dirs=[lib] if lib else [], libraries=["jpeg"], extra_compile_args=["-O3", "-Wall"],
                     optional=True)


def _build_ext_class():
    from torch.utils.cpp_extension import BuildExtension

    return BuildExtension.with_options(no_python_abi_suffix=False)


setup(ext_modules=[e for e in (_extension(), _jpeg_extension()) if e is not None],
      cmdclass={"build_ext": _build_ext_class()})
