#!/usr/bin/env bash
# Compile-check every csrc/cuda/*.cu with nvcc against the installed (CPU) torch's headers. Nothing can run
# on this GPU-less machine, but a CUDA syntax or type error turns this script (and CI) red.
# Recipe (ARCHITECTURE.md section 4): the CPU wheel ships c10/cuda and ATen/cuda headers but not the
# generated c10/cuda/impl/cuda_cmake_macros.h; a one-line stub stands in for it. Kernels may include
# c10/cuda/* and ATen/cuda/Atomic.cuh, not ATen/cuda/CUDAContext.h.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
ARCH=${CUDA_CHECK_ARCH:-sm_80}
if [ ! -x "$NVCC" ]; then
  echo "cuda_compile_check: nvcc not found (set NVCC=...); cannot check the CUDA sources" >&2
  exit 1
fi
TORCH_DIR=$(python -c "import os, torch; print(os.path.dirname(torch.__file__))")
PY_INC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
STUB=$(mktemp -d)
trap 'rm -rf "$STUB"' EXIT
mkdir -p "$STUB/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$STUB/c10/cuda/impl/cuda_cmake_macros.h"

check_one() {
  local src=$1
  "$NVCC" -c "$src" -o "$STUB/$(basename "$src").o" -arch="$ARCH" -std=c++20 -O1 -Xcompiler -fPIC \
    --expt-relaxed-constexpr -DWITH_CUDA -DTORCH_EXTENSION_NAME=_C -D_GLIBCXX_USE_CXX11_ABI=1 \
    -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ \
    -D__CUDA_NO_HALF2_OPERATORS__ \
    -I csrc -I "$STUB" -I "$TORCH_DIR/include" -I "$TORCH_DIR/include/torch/csrc/api/include" -I "$PY_INC" \
    && echo "ok    $src"
}
export -f check_one
export NVCC ARCH STUB TORCH_DIR PY_INC

shopt -s nullglob
sources=(csrc/cuda/*.cu)
if [ ${#sources[@]} -eq 0 ]; then
  echo "cuda_compile_check: no csrc/cuda/*.cu files found" >&2
  exit 1
fi
start=$(date +%s)
printf '%s\n' "${sources[@]}" | xargs -P 2 -I{} bash -c 'check_one "$1"' _ {}
echo "cuda_compile_check: ${#sources[@]} file(s) compiled for $ARCH in $(( $(date +%s) - start )) s"
