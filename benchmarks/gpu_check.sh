#!/usr/bin/env bash
# The GPU checks of this project in one run, sized for a short lease of a GPU machine (< 8 minutes):
#
#     bash benchmarks/gpu_check.sh [OUT.json]
#
# OUT.json defaults to $OUT/gpu_check.json when $OUT is set, else benchmarks/results/gpu_check.json; the full
# log is written beside it (OUT.log). Steps, each under its own timeout and all within one time budget
# (GPU_CHECK_BUDGET_S, default 450 s), each one run whatever the earlier ones gave:
#   setup               install carried wheels (.whl/*.whl) into $WORK/site; torch must be a CUDA build; a
#                       carried setuptools (.whl/setuptools/) only if the machine's is older than 77
#   build               FORCE_CUDA=1 python setup.py build_ext --inplace (TORCH_CUDA_ARCH_LIST: the GPU's,
#                       else 9.0), timed; then tracking._C must load with CUDA kernels for every op
#   cuda_tests          pytest tests/test_cuda_ops.py tests/test_cuda_ops_checks.py: every op on the GPU against
#                       its reference, gradcheck, opcheck
#   dali_gpu_test       pytest tests/test_dali_gpu.py: the DALI GPU loader against the OpenCV loader
#   loader_benchmark    python benchmarks/loader_speed.py --quick [--dali-device gpu]
#   cuda_kernel_timing  python benchmarks/kernels_cuda.py: kernels.py's workloads on the GPU
#   kernel_benchmark    python benchmarks/kernels.py (CPU kernels: it has no CUDA option) [--device cuda if added]
# and write ONE JSON: the machine (nvidia-smi, driver, torch/CUDA versions), each step's status (ok / failed
# / skipped with a reason), duration, pytest counts and summary lines, the benchmark JSONs embedded with
# their key figures. Exit status 1 when a step failed, else 0.
#
# Without an NVIDIA GPU (no nvidia-smi, or torch.cuda.is_available() False) every step is "skipped" with
# that reason, in a few seconds (tests/test_gpu_check.py checks this).
#
# The lent machines (/work/.library/device/KINDS.md) have python3 3.12 with a CUDA torch, nvcc, pytest,
# hypothesis and OpenCV, but no simplejpeg (needed by the loaders) and no DALI (its ~200 MB wheel is over
# what a call can carry, so the DALI GPU rows and test are skipped there). Before the lease, on a machine
# with network access, fetch the missing wheels into .whl/ (git-ignored through .git/info/exclude):
#     bash benchmarks/gpu_check.sh --fetch-wheels
# and give the device call carry [".whl"]; e.g. command:
#     bash benchmarks/gpu_check.sh   (with $OUT set there: $OUT/gpu_check.json and $OUT/gpu_check.log come back)
#
# Environment: PYTHON (default python3), GPU_CHECK_BUDGET_S (450), GPU_CHECK_WORK (scratch folder; default a new
# /tmp/gpu_check.XXXXXX), GPU_CHECK_WHEELS (default .whl), GPU_CHECK_STEPS (comma-separated subset of the steps),
# TORCH_CUDA_ARCH_LIST, CUDA_HOME. For testing this script on a machine without a GPU: GPU_CHECK_ASSUME_GPU=1
# runs the steps anyway, and the steps selftest_fail / selftest_sleep (only when named in GPU_CHECK_STEPS)
# fail at once / outlast their timeout (GPU_CHECK_SELFTEST_TIMEOUT_S, default 2).

# shellcheck disable=SC2329  # the step_* functions are called indirectly, as "step_$name"
set -uo pipefail  # no -e: a failing step must not stop the later ones

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
REPORT_PY="$REPO/benchmarks/harness/gpu_report.py"
PYTHON=${PYTHON:-python3}
STEPS_ALL=(setup build cuda_tests dali_gpu_test loader_benchmark cuda_kernel_timing kernel_benchmark)
PYTEST_ARGS=(-q -rfEs -p no:cacheprovider -p no:randomly -o junit_family=xunit1)

# ---- step bodies: run as `bash gpu_check.sh __step NAME` under timeout(1), in $REPO, with the exported
# WORK, STEP_DIR, PYTHON, PYTHONPATH. Exit 0 = ok; a step may write $STEP_DIR/NAME.skip (reason: skipped)
# or $STEP_DIR/NAME.note (one note per line) before exiting 0. ----

dali_gpu_reason() {  # "" when DALI imports and sees a CUDA device, else why not
    "$PYTHON" - <<'EOF' 2>/dev/null || echo "nvidia-dali check failed"
try:
    from nvidia.dali.backend import GetCUDADeviceCount
except Exception as exc:
    print(f"nvidia-dali not importable ({type(exc).__name__}: {exc})")
else:
    if GetCUDADeviceCount() == 0:
        print("DALI sees no CUDA device (GetCUDADeviceCount() == 0)")
EOF
}

pytest_timeout_args() {
    if "$PYTHON" -c 'import pytest_timeout' 2>/dev/null; then echo "--timeout=$1"; fi
}

step_setup() {
    local wheels=${GPU_CHECK_WHEELS:-$REPO/.whl}
    echo "python: $(command -v "$PYTHON") ($("$PYTHON" --version 2>&1))"
    if compgen -G "$wheels/*.whl" >/dev/null; then
        echo "installing carried wheels into $WORK/site: $(cd "$wheels" && echo *.whl)"
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
            "$wheels"/*.whl || echo "warning: the carried wheels did not install (see above); going on without them"
    else
        echo "no carried wheels ($wheels/*.whl)"
    fi
    # pyproject.toml's PEP 639 license string needs setuptools >= 77 to build
    if ! "$PYTHON" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null; then
        echo "setuptools $("$PYTHON" -c 'import setuptools; print(setuptools.__version__)' 2>&1) is older than 77"
        if compgen -G "$wheels/setuptools/*.whl" >/dev/null; then
            "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
                "$wheels"/setuptools/*.whl || return 1
        else
            echo "warning: no carried setuptools wheel ($wheels/setuptools/*.whl): the build may fail"
        fi
    fi
    "$PYTHON" - <<'EOF'
import importlib.util, sys
try:
    import torch
except Exception as exc:
    sys.exit(f"torch does not import: {type(exc).__name__}: {exc}")
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) from {torch.__file__}; "
      f"cuda available: {torch.cuda.is_available()}")
if torch.version.cuda is None:
    sys.exit(f"torch {torch.__version__} is not a CUDA build: carry a CUDA torch wheel in .whl/ or run with a "
             "PYTHON whose torch is one")
missing = [m for m in ("numpy", "cv2", "simplejpeg", "pytest", "hypothesis", "psutil")
           if importlib.util.find_spec(m) is None]
if missing:
    print(f"warning: missing Python modules {missing} (bash benchmarks/gpu_check.sh --fetch-wheels, then carry .whl)")
EOF
}

step_build() {
    export FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-$(nproc)}
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-${GPU_ARCH:-9.0}}
    if [[ -z ${CUDA_HOME:-} ]]; then
        if [[ -x /usr/local/cuda/bin/nvcc ]]; then
            CUDA_HOME=/usr/local/cuda
        elif command -v nvcc >/dev/null; then
            CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
        fi
    fi
    if [[ -z ${CUDA_HOME:-} || ! -x $CUDA_HOME/bin/nvcc ]]; then
        echo "no nvcc found (set CUDA_HOME)"
        return 1
    fi
    export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
    echo "CUDA_HOME=$CUDA_HOME ($("$CUDA_HOME/bin/nvcc" --version | tail -n 1)); TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST;" \
         "MAX_JOBS=$MAX_JOBS"
    local start end
    start=$(date +%s.%N)
    "$PYTHON" setup.py build_ext --inplace || return 1
    end=$(date +%s.%N)
    echo "compile: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s" | tee "$STEP_DIR/build.note"
    "$PYTHON" - <<'EOF'
import sys
import torch
import tracking.ops as ops
if not ops.extension_available():
    sys.exit(f"tracking._C does not load: {ops.extension_unavailable_reason()}")
names = ("prroi_pool2d", "_prroi_pool2d_backward", "correlation", "_correlation_backward", "crop_and_resize",
         "_crop_and_resize_backward")
missing = [n for n in names if not torch._C._dispatch_has_kernel_for_dispatch_key(f"tracking::{n}", "CUDA")]
if missing:
    sys.exit(f"tracking._C has no CUDA kernels for {missing}")
x = torch.randn(1, 2, 8, 8, device="cuda")
boxes = torch.tensor([[0.0, 1, 1, 6, 6]], device="cuda")
ops.prroi_pool2d(x, boxes, 2, 2, 1.0), ops.crop_and_resize(x, boxes, 4), ops.correlation(x, x, 1, 3)
torch.cuda.synchronize()
print(f"tracking._C loads with CUDA kernels for every op; smoke calls ran on {torch.cuda.get_device_name(0)}")
EOF
}

step_cuda_tests() {
    local timeout_arg
    timeout_arg=$(pytest_timeout_args 90)
    "$PYTHON" -m pytest tests/test_cuda_ops.py tests/test_cuda_ops_checks.py "${PYTEST_ARGS[@]}" ${timeout_arg:+"$timeout_arg"} \
        --junitxml="$STEP_DIR/cuda_tests.xml"
}

step_dali_gpu_test() {
    local reason timeout_arg
    reason=$(dali_gpu_reason)
    if [[ -n $reason ]]; then
        echo "$reason" >"$STEP_DIR/dali_gpu_test.skip"
        echo "skipped: $reason"
        return 0
    fi
    timeout_arg=$(pytest_timeout_args 100)
    "$PYTHON" -m pytest tests/test_dali_gpu.py "${PYTEST_ARGS[@]}" ${timeout_arg:+"$timeout_arg"} \
        --junitxml="$STEP_DIR/dali_gpu_test.xml"
}

step_loader_benchmark() {
    local args=(--quick --out "$STEP_DIR/loader_speed.json" --data-root "$WORK/data") reason
    if ! grep -q -- '--dali-device' benchmarks/loader_speed.py; then
        echo "loader_speed.py has no --dali-device option: DALI rows on the CPU" | tee -a "$STEP_DIR/loader_benchmark.note"
    else
        reason=$(dali_gpu_reason)
        if [[ -z $reason ]]; then
            args+=(--dali-device gpu)
        else  # loader_speed.py refuses --dali-device gpu then; its DALI rows run on the CPU or are skipped
            echo "without --dali-device gpu: $reason" | tee -a "$STEP_DIR/loader_benchmark.note"
        fi
    fi
    echo "$PYTHON benchmarks/loader_speed.py ${args[*]}"
    "$PYTHON" benchmarks/loader_speed.py "${args[@]}"
}

step_kernel_benchmark() {
    local args=(--out "$STEP_DIR/kernels.json" --repeats 3 --budget 1)
    if grep -qE -- "[\"']--device[\"']" benchmarks/kernels.py; then
        args+=(--device cuda)
    else
        echo "kernels.py has no device option: it times the CPU kernels" | tee -a "$STEP_DIR/kernel_benchmark.note"
    fi
    echo "$PYTHON benchmarks/kernels.py ${args[*]}"
    "$PYTHON" benchmarks/kernels.py "${args[@]}"
}

step_cuda_kernel_timing() {
    "$PYTHON" benchmarks/kernels_cuda.py --out "$STEP_DIR/kernels_cuda.json" --budget 1
}

step_selftest_fail() {
    echo "selftest: failing on purpose"
    return 3
}

step_selftest_sleep() {
    echo "selftest: sleeping past the timeout"
    sleep 60
}

if [[ ${1:-} == __step ]]; then
    cd "$REPO" || exit 1
    "step_$2"
    exit $?
fi

# ---- preparation on a machine with network access ----

if [[ ${1:-} == --fetch-wheels ]]; then
    dest=${2:-$REPO/.whl}
    mkdir -p "$dest"
    if [[ $dest == "$REPO/.whl" ]] && ! grep -qx '/.whl/' "$REPO/.git/info/exclude" 2>/dev/null; then
        mkdir -p "$REPO/.git/info" && echo '/.whl/' >>"$REPO/.git/info/exclude"
    fi
    # What the lent machines' image lacks (KINDS.md): simplejpeg (tracking.data.frames), for their Python 3.12;
    # and setuptools >= 77 (pyproject.toml's license string), installed there only if theirs is older.
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$dest" "simplejpeg>=1.7" || exit 1
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d "$dest/setuptools" \
        "setuptools>=77" || exit 1
    ls -lR "$dest"
    exit 0
fi

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^$/p' "$SELF" | sed 's/^# \{0,1\}//'
    exit 0
fi

# ---- the run ----

if [[ -n ${1:-} ]]; then
    JSON=$1
elif [[ -n ${OUT:-} ]]; then
    JSON=$OUT/gpu_check.json
else
    JSON=$REPO/benchmarks/results/gpu_check.json
fi
mkdir -p "$(dirname "$JSON")" || exit 2
JSON=$(readlink -f "$JSON")
LOG=${JSON%.json}.log
WORK=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
STEP_DIR=$WORK/steps
mkdir -p "$STEP_DIR" "$WORK/site" || exit 2
rm -f "$STEP_DIR"/*
BUDGET=${GPU_CHECK_BUDGET_S:-450}
RESERVE=15  # kept for the report at the end
MIN_STEP=15  # a step that would get less is skipped
STARTED=$(date +%s)
STARTED_NS=$(date +%s.%N)
DEADLINE=$((STARTED + BUDGET - RESERVE))
export WORK STEP_DIR PYTHON PYTHONPATH="$WORK/site:$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$LOG") 2>&1
TEE_PID=$!

if [[ -n ${GPU_CHECK_STEPS:-} ]]; then
    IFS=, read -r -a STEPS <<<"$GPU_CHECK_STEPS"
else
    STEPS=("${STEPS_ALL[@]}")
fi
declare -A CAP=([setup]=90 [build]=240 [cuda_tests]=150 [dali_gpu_test]=120 [loader_benchmark]=120
                [kernel_benchmark]=120 [cuda_kernel_timing]=90 [selftest_fail]=30
                [selftest_sleep]=${GPU_CHECK_SELFTEST_TIMEOUT_S:-2})
declare -A NEEDS=([cuda_tests]=build [kernel_benchmark]=build [cuda_kernel_timing]=build)
declare -A STATUS=()

report() {  # record NAME STATUS REASON [more gpu_report.py record arguments]
    local name=$1 status=$2 reason=$3
    shift 3
    INDEX=$((INDEX + 1))
    "$PYTHON" "$REPORT_PY" record --steps "$STEP_DIR" --index "$INDEX" --name "$name" --status "$status" \
        --reason "$reason" "$@" ||
        python3 "$REPORT_PY" record --steps "$STEP_DIR" --index "$INDEX" --name "$name" --status "$status" \
            --reason "$reason" "$@"
    STATUS[$name]=$status
}

run_step() {  # run_step NAME: header, timeout, log, record
    local name=$1 now left limit log start end rc status reason extra=() line
    if ! declare -F "step_$name" >/dev/null; then
        report "$name" failed "unknown step (steps: ${STEPS_ALL[*]})"
        return
    fi
    # A step needing another that ran and did not succeed is skipped; one run without it (GPU_CHECK_STEPS) uses
    # what an earlier run left (e.g. the build of a first call on the same machine).
    if [[ -n ${NEEDS[$name]:-} && -n ${STATUS[${NEEDS[$name]}]:-} && ${STATUS[${NEEDS[$name]}]} != ok ]]; then
        report "$name" skipped "needs step ${NEEDS[$name]}, which is ${STATUS[${NEEDS[$name]}]}"
        return
    fi
    now=$(date +%s)
    left=$((DEADLINE - now))
    limit=${CAP[$name]:-120}
    ((left < limit)) && limit=$left
    if ((limit < MIN_STEP && limit < ${CAP[$name]:-120})); then
        report "$name" skipped "out of time: ${left} s left of the ${BUDGET} s budget"
        return
    fi
    log=$WORK/$name.log
    echo
    echo "==== [$((INDEX + 1))] $name (timeout ${limit} s, $((now - STARTED)) s elapsed) ===="
    start=$(date +%s.%N)
    timeout -k 10 "$limit" bash "$SELF" __step "$name" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    end=$(date +%s.%N)
    if [[ -f $STEP_DIR/$name.skip ]]; then
        status=skipped reason=$(head -c 500 "$STEP_DIR/$name.skip")
    elif ((rc == 0)); then
        status=ok reason=""
    elif ((rc == 124 || rc == 137)); then
        status=failed reason="timed out after ${limit} s"
    else
        status=failed reason="exit code $rc"
    fi
    if [[ $status != skipped && ( $name == cuda_tests || $name == dali_gpu_test ) ]]; then
        extra+=(--pytest-xml "$STEP_DIR/$name.xml" --require-passed)
    fi
    case $name in
        loader_benchmark) extra+=(--bench-json "$STEP_DIR/loader_speed.json") ;;
        cuda_kernel_timing) extra+=(--bench-json "$STEP_DIR/kernels_cuda.json") ;;
        kernel_benchmark) extra+=(--bench-json "$STEP_DIR/kernels.json") ;;
    esac
    if [[ -f $STEP_DIR/$name.note ]]; then
        while IFS= read -r line; do extra+=(--note "$line"); done <"$STEP_DIR/$name.note"
    fi
    report "$name" "$status" "$reason" --duration "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
        --timeout "$limit" --rc "$rc" --log "$log" "${extra[@]}"
}

INDEX=0
echo "gpu_check: repo $REPO, work $WORK, budget ${BUDGET} s; JSON $JSON"

# Is there an NVIDIA GPU? nvidia-smi first (free), then what torch says (machine.json, after setup).
SMI_REASON=""
if ! command -v nvidia-smi >/dev/null; then
    SMI_REASON="nvidia-smi not found"
elif ! timeout 30 nvidia-smi -L 2>&1 | grep -q '^GPU '; then
    SMI_REASON="nvidia-smi lists no GPU"
else
    timeout 30 nvidia-smi -L
fi
if ! command -v "$PYTHON" >/dev/null; then
    echo "PYTHON=$PYTHON not found; using python3"
    PYTHON=python3
fi

GPU_REASON=""
if [[ -z $SMI_REASON || ${GPU_CHECK_ASSUME_GPU:-0} == 1 ]]; then
    [[ " ${STEPS[*]} " == *" setup "* ]] && run_step setup
fi
"$PYTHON" "$REPORT_PY" machine --python "$PYTHON" --out "$WORK/machine.json" ||
    python3 "$REPORT_PY" machine --python "$PYTHON" --out "$WORK/machine.json"
GPU_REASON=$("$PYTHON" "$REPORT_PY" gpu-reason --machine "$WORK/machine.json" --smi-reason "$SMI_REASON" 2>&1)
ASSUMED=()
if [[ ${GPU_CHECK_ASSUME_GPU:-0} == 1 && -n $GPU_REASON ]]; then
    echo "GPU_CHECK_ASSUME_GPU=1: running the steps anyway ($GPU_REASON)"
    ASSUMED=(--gpu-assumed "$GPU_REASON")
    GPU_REASON=""
fi
GPU_ARCH=$("$PYTHON" "$REPORT_PY" field --machine "$WORK/machine.json" cuda_arch 2>/dev/null)
export GPU_ARCH

for name in "${STEPS[@]}"; do
    [[ $name == setup && -n ${STATUS[setup]:-} ]] && continue  # already run, before the probe
    if [[ -n $GPU_REASON ]]; then
        report "$name" skipped "$GPU_REASON"
    elif [[ ${STATUS[setup]:-ok} != ok ]]; then
        report "$name" skipped "setup failed"
    else
        run_step "$name"
    fi
done

echo
echo "==== report ===="
"$PYTHON" "$REPORT_PY" finish --steps "$STEP_DIR" --machine "$WORK/machine.json" --out "$JSON" --log "$LOG" \
    --budget "$BUDGET" --started "$STARTED_NS" --gpu-reason "$GPU_REASON" "${ASSUMED[@]}"
rc=$?
echo "work folder (step logs, benchmark JSONs): $WORK"
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit "$rc"
