// CPU kernels of tracking::crop_and_resize and tracking::_crop_and_resize_backward.
// The sampling math lives in csrc/kernels/crop_and_resize.h (shared with CUDA); here the per-box column
// and row taps are precomputed into tables so the inner loop over an output row is a cheap gather.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "kernels/crop_and_resize.h"

namespace tracking {
namespace crop_and_resize {
namespace {

// Per-box taps along one axis, struct-of-arrays: entry [k * out_size + o] for box k, output index o.
template <typename acc_t>
struct AxisTable {
  std::vector<int64_t> i0, i1;
  std::vector<acc_t> w0, w1;

  AxisTable(int64_t boxes, int64_t out_size)
      : i0(boxes * out_size), i1(boxes * out_size), w0(boxes * out_size), w1(boxes * out_size) {}

  void set(int64_t at, const AxisTaps<acc_t>& t) {
    i0[at] = t.i0;
    i1[at] = t.i1;
    w0[at] = t.w0;
    w1[at] = t.w1;
  }
};

// Column taps (x), row taps (y) and the batch index of every box.
template <typename acc_t>
struct BoxTables {
  AxisTable<acc_t> x, y;
  std::vector<int64_t> batch;

  BoxTables(int64_t boxes, int64_t out_h, int64_t out_w) : x(boxes, out_w), y(boxes, out_h), batch(boxes) {}
};

// Batch index of box k (column 0 of boxes[k]), validated: a RuntimeError unless it is a whole number in
// [0, batch). The CPU kernels call this where they read the index (build_tables), so a direct call of the raw
// op with bad indices raises without a separate validation pass (kernels/batch_index.h).
template <typename scalar_t>
int64_t box_batch_index(const scalar_t* boxes, int64_t k, int64_t batch, const char* op) {
  return checked_batch_index(op, "boxes", static_cast<double>(boxes[k * 5]), batch, k);
}

// For calls with nothing to compute (no channels, empty images): the same validation as build_tables.
inline void validate_batch_indices(const at::Tensor& boxes_c, int64_t batch, const char* op) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, boxes_c.scalar_type(),
                                  "crop_and_resize_validate", [&] {
    const scalar_t* b = boxes_c.const_data_ptr<scalar_t>();
    for (int64_t k = 0; k < boxes_c.size(0); ++k) box_batch_index(b, k, batch, op);
  });
}

// boxes: contiguous [K,5]; image planes of height x width; images batch size `batch`. Rejects bad batch
// indices (RuntimeError, from the worker threads through at::parallel_for).
template <typename scalar_t, typename acc_t>
BoxTables<acc_t> build_tables(const scalar_t* boxes, int64_t num_boxes, int64_t batch, int64_t height,
                              int64_t width, int64_t out_h, int64_t out_w, Padding padding, const char* op) {
  BoxTables<acc_t> tables(num_boxes, out_h, out_w);
  // Cheap (K * (out_h + out_w) taps): parallel only for many boxes, to skip a thread wake-up otherwise.
  const int64_t grain = std::max<int64_t>(1, 65536 / (out_h + out_w));
  at::parallel_for(0, num_boxes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const scalar_t* b = boxes + k * 5;
      const acc_t x1 = b[1], y1 = b[2], x2 = b[3], y2 = b[4];
      tables.batch[k] = box_batch_index(boxes, k, batch, op);
      for (int64_t q = 0; q < out_w; ++q) {
        tables.x.set(k * out_w + q, axis_taps(q, x1, x2, out_w, width, padding));
      }
      for (int64_t r = 0; r < out_h; ++r) {
        tables.y.set(k * out_h + r, axis_taps(r, y1, y2, out_h, height, padding));
      }
    }
  });
  return tables;
}

// Horizontally interpolated source rows of one (box, channel) plane, cached two at a time: output row r
// blends the interpolated source rows y0 and y1, and consecutive output rows mostly share them, so each
// source row is interpolated about once instead of once per output row that uses it.
template <typename scalar_t, typename acc_t>
class RowCache {
 public:
  explicit RowCache(int64_t out_w) : values_(2 * out_w), out_w_(out_w) {}

  // Start a new plane: forget cached rows; columns taps of the plane's box.
  void reset(const scalar_t* plane, int64_t width, const int64_t* xi0, const int64_t* xi1, const acc_t* xw0,
             const acc_t* xw1) {
    plane_ = plane;
    width_ = width;
    xi0_ = xi0;
    xi1_ = xi1;
    xw0_ = xw0;
    xw1_ = xw1;
    key_[0] = key_[1] = -1;
  }

  // Interpolated rows y0 and y1 (both kept until the next call).
  void get(int64_t y0, int64_t y1, const acc_t** row0, const acc_t** row1) {
    int s0 = find(y0);
    if (s0 < 0) {
      s0 = find(y1) == 0 ? 1 : 0;
      fill(s0, y0);
    }
    int s1 = find(y1);
    if (s1 < 0) {
      s1 = 1 - s0;
      fill(s1, y1);
    }
    *row0 = values_.data() + s0 * out_w_;
    *row1 = values_.data() + s1 * out_w_;
  }

 private:
  int find(int64_t y) const { return key_[0] == y ? 0 : (key_[1] == y ? 1 : -1); }

  void fill(int slot, int64_t y) {
    const scalar_t* src = plane_ + y * width_;
    acc_t* dst = values_.data() + slot * out_w_;
    for (int64_t q = 0; q < out_w_; ++q) dst[q] = linear_sample(src, xi0_[q], xi1_[q], xw0_[q], xw1_[q]);
    key_[slot] = y;
  }

  std::vector<acc_t> values_;
  int64_t out_w_;
  int64_t key_[2] = {-1, -1};
  const scalar_t* plane_ = nullptr;
  int64_t width_ = 0;
  const int64_t *xi0_ = nullptr, *xi1_ = nullptr;
  const acc_t *xw0_ = nullptr, *xw1_ = nullptr;
};

template <typename scalar_t>
void forward_kernel(const at::Tensor& images, const at::Tensor& boxes, at::Tensor& output, Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t K = output.size(0), out_h = output.size(2), out_w = output.size(3);
  const auto tables =
      build_tables<scalar_t, acc_t>(boxes.const_data_ptr<scalar_t>(), K, N, H, W, out_h, out_w, padding,
                                    "crop_and_resize");
  const scalar_t* src = images.const_data_ptr<scalar_t>();
  scalar_t* dst = output.mutable_data_ptr<scalar_t>();
  const int64_t rows = K * C * out_h;
  const int64_t grain = std::max<int64_t>(1, 16384 / out_w);
  // One task = a run of output rows, flattened as ((k * C) + c) * out_h + r.
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    RowCache<scalar_t, acc_t> cache(out_w);
    int64_t current_plane = -1;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t r = row % out_h;
      const int64_t kc = row / out_h;
      const int64_t k = kc / C;
      if (kc != current_plane) {
        const int64_t x = k * out_w;
        cache.reset(src + (tables.batch[k] * C + kc % C) * H * W, W, tables.x.i0.data() + x,
                    tables.x.i1.data() + x, tables.x.w0.data() + x, tables.x.w1.data() + x);
        current_plane = kc;
      }
      const int64_t ty = k * out_h + r;
      const acc_t wy0 = tables.y.w0[ty], wy1 = tables.y.w1[ty];
      const acc_t *top = nullptr, *bottom = nullptr;
      cache.get(tables.y.i0[ty], tables.y.i1[ty], &top, &bottom);
      scalar_t* out = dst + row * out_w;
      for (int64_t q = 0; q < out_w; ++q) out[q] = static_cast<scalar_t>(blend(top[q], bottom[q], wy0, wy1));
    }
  });
}

// Boxes grouped by batch index: boxes of image n are order[start[n] .. start[n+1]).
struct BoxBuckets {
  std::vector<int64_t> start, order;
};

inline BoxBuckets bucket_boxes(const std::vector<int64_t>& batch_of_box, int64_t batch) {
  BoxBuckets b{std::vector<int64_t>(batch + 1, 0), std::vector<int64_t>(batch_of_box.size())};
  for (int64_t n : batch_of_box) ++b.start[n + 1];
  for (int64_t n = 0; n < batch; ++n) b.start[n + 1] += b.start[n];
  std::vector<int64_t> fill(b.start.begin(), b.start.end() - 1);
  for (size_t k = 0; k < batch_of_box.size(); ++k) b.order[fill[batch_of_box[k]]++] = static_cast<int64_t>(k);
  return b;
}

// Scatter-adds grad_output into grad_images; each task owns whole (image, channel) planes, so no races.
template <typename scalar_t>
void backward_kernel(const at::Tensor& grad_output, const at::Tensor& boxes, at::Tensor& grad_images,
                     Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t N = grad_images.size(0), C = grad_images.size(1), H = grad_images.size(2),
                W = grad_images.size(3);
  const int64_t K = grad_output.size(0), out_h = grad_output.size(2), out_w = grad_output.size(3);
  const auto tables =
      build_tables<scalar_t, acc_t>(boxes.const_data_ptr<scalar_t>(), K, N, H, W, out_h, out_w, padding,
                                    "_crop_and_resize_backward");
  const BoxBuckets buckets = bucket_boxes(tables.batch, N);
  const scalar_t* grad = grad_output.const_data_ptr<scalar_t>();
  scalar_t* dst = grad_images.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane_index = begin; plane_index < end; ++plane_index) {
      const int64_t n = plane_index / C, c = plane_index % C;
      scalar_t* plane = dst + plane_index * H * W;
      for (int64_t j = buckets.start[n]; j < buckets.start[n + 1]; ++j) {
        const int64_t k = buckets.order[j];
        const int64_t* xi0 = tables.x.i0.data() + k * out_w;
        const int64_t* xi1 = tables.x.i1.data() + k * out_w;
        const acc_t* xw0 = tables.x.w0.data() + k * out_w;
        const acc_t* xw1 = tables.x.w1.data() + k * out_w;
        for (int64_t r = 0; r < out_h; ++r) {
          const int64_t ty = k * out_h + r;
          const acc_t wy[2] = {tables.y.w0[ty], tables.y.w1[ty]};
          scalar_t* rows[2] = {plane + tables.y.i0[ty] * W, plane + tables.y.i1[ty] * W};
          const scalar_t* g = grad + ((k * C + c) * out_h + r) * out_w;
          for (int t = 0; t < 2; ++t) {
            if (wy[t] == acc_t(0)) continue;  // tap outside the image (zeros) or zero weight
            scalar_t* row = rows[t];
            for (int64_t q = 0; q < out_w; ++q) {
              const acc_t gw = wy[t] * static_cast<acc_t>(g[q]);
              row[xi0[q]] += static_cast<scalar_t>(gw * xw0[q]);
              row[xi1[q]] += static_cast<scalar_t>(gw * xw1[q]);
            }
          }
        }
      }
    }
  });
}

// Batch indices: validated by build_tables / validate_batch_indices (RuntimeError on a bad one), not by
// check_forward_args / check_backward_args (which check shapes, dtypes, devices and sizes only).
at::Tensor crop_and_resize_cpu(const at::Tensor& images, const at::Tensor& boxes, int64_t out_height,
                               int64_t out_width, c10::string_view padding) {
  check_forward_args(images, boxes, out_height, out_width);
  const Padding mode = parse_padding(std::string_view(padding.data(), padding.size()));
  const at::Tensor images_c = images.contiguous();
  const at::Tensor boxes_c = boxes.contiguous();
  at::Tensor output = at::empty({boxes.size(0), images.size(1), out_height, out_width}, images.options());
  if (output.numel() == 0) {  // nothing to compute (no boxes or no channels); indices still validated
    validate_batch_indices(boxes_c, images.size(0), "crop_and_resize");
    return output;
  }
  AT_DISPATCH_FLOATING_TYPES(images.scalar_type(), "crop_and_resize_cpu",
                             [&] { forward_kernel<scalar_t>(images_c, boxes_c, output, mode); });
  return output;
}

at::Tensor crop_and_resize_backward_cpu(const at::Tensor& grad_output, const at::Tensor& boxes, int64_t batch,
                                        int64_t channels, int64_t height, int64_t width,
                                        c10::string_view padding) {
  check_backward_args(grad_output, boxes, batch, channels, height, width);
  const Padding mode = parse_padding(std::string_view(padding.data(), padding.size()));
  const at::Tensor grad_c = grad_output.contiguous();
  const at::Tensor boxes_c = boxes.contiguous();
  at::Tensor grad_images = at::zeros({batch, channels, height, width}, grad_output.options());
  if (grad_images.numel() == 0 || grad_c.numel() == 0) {  // nothing to compute; indices still validated
    validate_batch_indices(boxes_c, batch, "_crop_and_resize_backward");
    return grad_images;
  }
  AT_DISPATCH_FLOATING_TYPES(grad_output.scalar_type(), "crop_and_resize_backward_cpu",
                             [&] { backward_kernel<scalar_t>(grad_c, boxes_c, grad_images, mode); });
  return grad_images;
}

}  // namespace
}  // namespace crop_and_resize
}  // namespace tracking

TORCH_LIBRARY_IMPL(tracking, CPU, m) {
  m.impl("crop_and_resize", &tracking::crop_and_resize::crop_and_resize_cpu);
  m.impl("_crop_and_resize_backward", &tracking::crop_and_resize::crop_and_resize_backward_cpu);
}
