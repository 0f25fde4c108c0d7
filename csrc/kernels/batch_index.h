// Batch indices stored as floats in column 0 of a roi/box tensor ([K,5] = (batch_index, x1, y1, x2, y2)),
// shared by prroi_pool and crop_and_resize.
//
// Who validates them (see tracking/ops/_checks.py for the Python side):
//   - The Python faces check them once per call with one fused reduction: always for CPU tensors, for
//     other devices only with the debug switch (TRACKING_DEBUG_CHECKS=1 / tracking.ops.set_debug_checks).
//   - The CPU kernels reject a bad index with checked_batch_index, inside the per-roi/per-box loop that
//     reads the index anyway (no separate pass), so direct calls of the raw CPU ops raise a RuntimeError.
//   - The CUDA kernels never check on the host (that would be a host sync per call): they read every index
//     through clamp_batch_index, so an unchecked out-of-range, fractional or NaN index selects a valid image
//     and memory access stays in bounds.
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>

namespace tracking {

// The image of a roi/box as an index in [0, batch): negative and NaN values give 0, values >= batch (+inf
// included) give batch - 1, fractional values are truncated; whole values in range are returned unchanged.
// Clamped in floating point before the conversion, so the conversion is always defined. Needs batch > 0:
// the ops' size checks reject rois/boxes given with an empty batch.
template <typename acc_t>
C10_HOST_DEVICE inline int64_t clamp_batch_index(acc_t value, int64_t batch) {
  const acc_t hi = static_cast<acc_t>(batch - 1);
  if (!(value >= acc_t(0))) return 0;  // also catches NaN
  return static_cast<int64_t>(value > hi ? hi : value);
}

// Host only (CPU kernels): `value` (column 0 of row `row` of `name`) as an index, or a RuntimeError
// mentioning "batch indices" when it is not a whole number in [0, batch). Safe to call inside an
// at::parallel_for body: ATen rethrows the first exception of the worker threads in the calling thread.
inline int64_t checked_batch_index(const char* op, const char* name, double value, int64_t batch, int64_t row) {
  TORCH_CHECK(value == std::floor(value), op, ": ", name, "[:, 0] must hold whole batch indices, got ", value,
              " in row ", row);
  TORCH_CHECK(value >= 0 && value < static_cast<double>(batch), op, ": ", name,
              "[:, 0] holds batch indices outside [0, ", batch, "): got ", value, " in row ", row,
              " but the batch has ", batch, " image(s)");
  return static_cast<int64_t>(value);
}

}  // namespace tracking
