// crop_and_resize: kernel math shared by the CPU (csrc/cpu/crop_and_resize.cpp) and CUDA
// (csrc/cuda/crop_and_resize.cu) kernels, plus the host-side argument checks of both (shapes, dtypes,
// devices, sizes: no tensor values, so no host sync; batch indices: see kernels/batch_index.h).
//
// Conventions. images [N,C,H,W]; boxes [K,5] = (batch_index, x1, y1, x2, y2) in continuous pixel
// coordinates, pixel (i, j) covering [j, j+1) x [i, i+1) (centre (j+0.5, i+0.5)); output [K,C,oh,ow].
// Output pixel (r, q) of box k samples the image bilinearly at the source *index* coordinates
//     x = x1 + (q + 0.5) * (x2 - x1) / ow - 0.5,    y = y1 + (r + 0.5) * (y2 - y1) / oh - 0.5
// (half-pixel convention of grid_sample(align_corners=False)). The sampling is separable: each output
// column q maps to two source columns with two weights (AxisTaps), each output row r likewise, and the
// output value is the bilinear combination of the four taps (bilinear_rows).
//   Padding::Zeros  - taps outside [0, size) get weight 0 (grid_sample padding_mode="zeros").
//   Padding::Border - the coordinate is clamped to [0, size-1] first (grid_sample padding_mode="border").
// The coordinates of a finite box are finite, however large the box (source_coordinate does not overflow).
// A non-finite coordinate (NaN/inf box) gives both taps weight 0: the affected output pixels are 0 and
// receive no gradient, in both padding modes. Indices are always clamped into [0, size) (after clamping
// the coordinate in floating point, before any float->int conversion), so memory access is in bounds.
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "kernels/batch_index.h"

namespace tracking {
namespace crop_and_resize {

enum class Padding : int { Zeros = 0, Border = 1 };

// The two source taps along one axis for one output index: sample = w0 * src[i0] + w1 * src[i1].
template <typename acc_t>
struct AxisTaps {
  int64_t i0;
  int64_t i1;
  acc_t w0;
  acc_t w1;
};

// Source index coordinate of output index `out_index` along an axis whose box runs from `start` to
// `end` (continuous pixel coordinates) and is resampled to `out_size` samples:
//     start + t * (end - start) - 0.5,   t = (out_index + 0.5) / out_size.
// Never overflows for a finite box: when end - start overflows (|start|, |end| beyond half the dtype's range,
// opposite signs) the same point is computed as (1 - t) * start + t * end - 0.5, which lies between the
// box's edges. So a finite box has finite coordinates; a box with a NaN/inf edge has none.
template <typename acc_t>
C10_HOST_DEVICE inline acc_t source_coordinate(int64_t out_index, acc_t start, acc_t end, int64_t out_size) {
  const acc_t t = (static_cast<acc_t>(out_index) + acc_t(0.5)) / static_cast<acc_t>(out_size);
  const acc_t extent = end - start;
  const acc_t x = extent - extent == acc_t(0) ? start + t * extent : (acc_t(1) - t) * start + t * end;
  return x - acc_t(0.5);
}

// Taps for source index coordinate `x` on an axis of `in_size` (> 0) pixels.
template <typename acc_t>
C10_HOST_DEVICE inline AxisTaps<acc_t> taps_at(acc_t x, int64_t in_size, Padding padding) {
  AxisTaps<acc_t> t{0, 0, acc_t(0), acc_t(0)};
  if (!(x - x == acc_t(0))) {  // NaN or +-inf: no contribution, index 0 (in bounds)
    return t;
  }
  const acc_t hi = static_cast<acc_t>(in_size - 1);
  if (padding == Padding::Border) {
    x = x < acc_t(0) ? acc_t(0) : (x > hi ? hi : x);
  } else {
    // Every coordinate beyond [-1, in_size] has both taps outside; clamp there so the int cast is safe.
    x = x < acc_t(-2) ? acc_t(-2) : (x > hi + acc_t(2) ? hi + acc_t(2) : x);
  }
  const acc_t x0f = ::floor(x);
  const int64_t i0 = static_cast<int64_t>(x0f);
  const int64_t i1 = i0 + 1;
  const acc_t w1 = x - x0f;
  t.w0 = (i0 >= 0 && i0 < in_size) ? acc_t(1) - w1 : acc_t(0);
  t.w1 = (i1 >= 0 && i1 < in_size) ? w1 : acc_t(0);
  t.i0 = i0 < 0 ? 0 : (i0 >= in_size ? in_size - 1 : i0);
  t.i1 = i1 < 0 ? 0 : (i1 >= in_size ? in_size - 1 : i1);
  return t;
}

// Taps of output index `out_index` along one axis (box from `start` to `end`, out_size samples).
template <typename acc_t>
C10_HOST_DEVICE inline AxisTaps<acc_t> axis_taps(int64_t out_index, acc_t start, acc_t end, int64_t out_size,
                                                 int64_t in_size, Padding padding) {
  return taps_at(source_coordinate(out_index, start, end, out_size), in_size, padding);
}

// Linear sample of one source row at column taps (x0, wx0), (x1, wx1).
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline acc_t linear_sample(const scalar_t* row, int64_t x0, int64_t x1, acc_t wx0, acc_t wx1) {
  return wx0 * static_cast<acc_t>(row[x0]) + wx1 * static_cast<acc_t>(row[x1]);
}

// Blend of two horizontally interpolated rows: wy0 * top + wy1 * bottom.
template <typename acc_t>
C10_HOST_DEVICE inline acc_t blend(acc_t top, acc_t bottom, acc_t wy0, acc_t wy1) {
  return wy0 * top + wy1 * bottom;
}

// Bilinear sample from two source rows: horizontal taps first (linear_sample), then blend. The CPU
// kernel evaluates the same two steps separably (each interpolated source row once, then blends).
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline acc_t bilinear_rows(const scalar_t* row0, const scalar_t* row1, acc_t wy0, acc_t wy1,
                                           int64_t x0, int64_t x1, acc_t wx0, acc_t wx1) {
  return blend(linear_sample(row0, x0, x1, wx0, wx1), linear_sample(row1, x0, x1, wx0, wx1), wy0, wy1);
}

// Bilinear sample of one [H,W] plane (row stride `width`) at the taps ty (rows) and tx (columns).
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline acc_t bilinear_sample(const scalar_t* plane, int64_t width, const AxisTaps<acc_t>& ty,
                                             const AxisTaps<acc_t>& tx) {
  return bilinear_rows(plane + ty.i0 * width, plane + ty.i1 * width, ty.w0, ty.w1, tx.i0, tx.i1, tx.w0, tx.w1);
}

// ---- Host-side argument checks (shared by the CPU and CUDA registrations) ----

inline Padding parse_padding(std::string_view padding) {
  if (padding == "zeros") return Padding::Zeros;
  if (padding == "border") return Padding::Border;
  TORCH_CHECK(false, "crop_and_resize: padding must be \"zeros\" or \"border\", got \"", std::string(padding),
              "\"");
  return Padding::Zeros;  // unreachable
}

inline void check_boxes(const at::Tensor& boxes, const at::Tensor& like) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 5, "crop_and_resize: boxes must have shape [K,5], got ",
              boxes.sizes());
  TORCH_CHECK(boxes.scalar_type() == like.scalar_type(), "crop_and_resize: boxes dtype ", boxes.scalar_type(),
              " differs from ", like.scalar_type());
  TORCH_CHECK(boxes.device() == like.device(), "crop_and_resize: boxes are on ", boxes.device(), " but the ",
              "other tensor is on ", like.device());
  // No value checks here (they would cost host syncs on CUDA): batch indices are validated by the Python
  // face, by the CPU kernels while they read them, and clamped by the CUDA kernels (kernels/batch_index.h).
}

inline void check_forward_args(const at::Tensor& images, const at::Tensor& boxes, int64_t out_height,
                               int64_t out_width) {
  TORCH_CHECK(images.dim() == 4, "crop_and_resize: images must have shape [N,C,H,W], got ", images.sizes());
  TORCH_CHECK(at::isFloatingType(images.scalar_type()), "crop_and_resize: images must be floating point, got ",
              images.scalar_type());
  TORCH_CHECK(out_height > 0 && out_width > 0, "crop_and_resize: output size must be positive, got (",
              out_height, ", ", out_width, ")");
  check_boxes(boxes, images);
  // With no image, no batch index is valid (and clamping could not make one): a size check, no values read.
  TORCH_CHECK(boxes.size(0) == 0 || images.size(0) > 0, "crop_and_resize: boxes[:, 0] must hold batch indices in ",
              "[0, N) but the images have N = 0 (", boxes.size(0), " box(es) given)");
  TORCH_CHECK(boxes.size(0) == 0 || (images.size(2) > 0 && images.size(3) > 0),
              "crop_and_resize: cannot crop from images of zero height or width, got ", images.sizes());
}

inline void check_backward_args(const at::Tensor& grad_output, const at::Tensor& boxes, int64_t batch,
                                int64_t channels, int64_t height, int64_t width) {
  TORCH_CHECK(batch >= 0 && channels >= 0 && height >= 0 && width >= 0,
              "_crop_and_resize_backward: image sizes must be >= 0");
  TORCH_CHECK(at::isFloatingType(grad_output.scalar_type()),
              "_crop_and_resize_backward: grad_output must be floating point, got ", grad_output.scalar_type());
  TORCH_CHECK(grad_output.dim() == 4 && boxes.dim() == 2 && grad_output.size(0) == boxes.size(0) &&
                  grad_output.size(1) == channels && grad_output.size(2) > 0 && grad_output.size(3) > 0,
              "_crop_and_resize_backward: grad_output must have shape [K, channels, out_h, out_w] with K = ",
              "boxes.size(0), got ", grad_output.sizes());
  check_boxes(boxes, grad_output);
  TORCH_CHECK(boxes.size(0) == 0 || batch > 0, "_crop_and_resize_backward: boxes[:, 0] must hold batch indices in ",
              "[0, batch) but batch = 0 (", boxes.size(0), " box(es) given)");
  TORCH_CHECK(boxes.size(0) == 0 || (height > 0 && width > 0),
              "_crop_and_resize_backward: image height and width must be > 0");
}

}  // namespace crop_and_resize
}  // namespace tracking
