// CPU kernels of tracking::correlation and tracking::_correlation_backward (float32, float64).
//
// Both inputs are copied to channels-last [B, H, W, C] so that every per-element call of the shared math
// (csrc/kernels/correlation.h) works on contiguous channel vectors (vectorised dot products / axpys).
// Forward: parallel over output rows (b, h); for each output position the input-1 vector stays in cache
// while all displacements are evaluated. Backward: gather formulation, parallel over input rows of
// grad_input1 and grad_input2 (each task owns its rows), so there are no races and no atomics.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>

#include "kernels/correlation.h"

namespace tracking {
namespace correlation {
namespace {

// Multiply-adds below which a parallel chunk is not worth a thread (tiny calls then run inline).
constexpr int64_t kMinParallelWork = 1 << 15;

// at::parallel_for grain size for tasks of `work_per_task` multiply-adds each (a double: the product of the
// sizes that estimates it may exceed int64 for absurd but valid parameters).
int64_t grain_size(double work_per_task) {
  if (work_per_task >= double(kMinParallelWork)) return 1;
  return kMinParallelWork / std::max<int64_t>(1, static_cast<int64_t>(work_per_task));
}

// The multiply-adds of one output row (forward) or input row (backward), as a double.
double row_work(const Geometry& g, int64_t width) {
  return double(width) * double(g.patch_h) * double(g.patch_w) * double(g.kernel_h) * double(g.kernel_w) *
         double(g.channels);
}

// [B, C, H, W] (any strides) -> contiguous [B, H, W, C] buffer.
at::Tensor channels_last_copy(const at::Tensor& t) {
  return t.permute({0, 2, 3, 1}).contiguous();
}

template <typename scalar_t>
void forward_kernel(const scalar_t* in1, const scalar_t* in2, scalar_t* out, int64_t batch, const Geometry& g) {
  const Strides s = channels_last_strides(g);
  const int64_t in_batch = g.height * g.width * g.channels;
  const int64_t out_plane = g.out_h * g.out_w;
  const int64_t out_batch = g.patch_h * g.patch_w * out_plane;
  at::parallel_for(0, batch * g.out_h, grain_size(row_work(g, g.out_w)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / g.out_h;
      const int64_t h = row % g.out_h;
      const scalar_t* in1_b = in1 + b * in_batch;
      const scalar_t* in2_b = in2 + b * in_batch;
      scalar_t* out_b = out + b * out_batch;
      for (int64_t w = 0; w < g.out_w; ++w) {
        for (int64_t ph = 0; ph < g.patch_h; ++ph) {
          for (int64_t pw = 0; pw < g.patch_w; ++pw) {
            out_b[(ph * g.patch_w + pw) * out_plane + h * g.out_w + w] =
                correlate_element<scalar_t, scalar_t>(in1_b, in2_b, g.channels, s, g, ph, pw, h, w);
          }
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_kernel(const scalar_t* grad_out, const scalar_t* in1, const scalar_t* in2, scalar_t* grad1,
                     scalar_t* grad2, int64_t batch, const Geometry& g) {
  const Strides s = channels_last_strides(g);
  const int64_t in_batch = g.height * g.width * g.channels;
  const int64_t out_batch = g.patch_h * g.patch_w * g.out_h * g.out_w;
  const int64_t rows = batch * g.height;
  // Tasks [0, rows) fill grad1's rows, tasks [rows, 2*rows) grad2's rows.
  at::parallel_for(0, 2 * rows, grain_size(row_work(g, g.width)), [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const bool second = task >= rows;
      const int64_t row = second ? task - rows : task;
      const int64_t b = row / g.height;
      const int64_t y = row % g.height;
      const scalar_t* g_b = grad_out + b * out_batch;
      for (int64_t x = 0; x < g.width; ++x) {
        const int64_t offset = b * in_batch + (y * g.width + x) * g.channels;
        if (second) {
          gather_input_grad<true, scalar_t, scalar_t>(grad2 + offset, g_b, in1 + b * in_batch, g.channels, s, g,
                                                      y, x);
        } else {
          gather_input_grad<false, scalar_t, scalar_t>(grad1 + offset, g_b, in2 + b * in_batch, g.channels, s,
                                                       g, y, x);
        }
      }
    }
  });
}

at::Tensor correlation_cpu(const at::Tensor& input1, const at::Tensor& input2, c10::IntArrayRef kernel_size,
                           c10::IntArrayRef patch_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                           c10::IntArrayRef dilation_patch) {
  const Geometry g = make_geometry(input1, input2, kernel_size, patch_size, stride, padding, dilation_patch);
  at::Tensor out = at::empty(output_shape(input1, g), input1.options().memory_format(at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  if (g.channels == 0 || g.height == 0 || g.width == 0) return out.zero_();
  const at::Tensor in1 = channels_last_copy(input1);
  const at::Tensor in2 = channels_last_copy(input2);
  AT_DISPATCH_FLOATING_TYPES(input1.scalar_type(), "correlation_cpu", [&] {
    forward_kernel<scalar_t>(in1.const_data_ptr<scalar_t>(), in2.const_data_ptr<scalar_t>(),
                             out.mutable_data_ptr<scalar_t>(), input1.size(0), g);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input1, const at::Tensor& input2, c10::IntArrayRef kernel_size,
    c10::IntArrayRef patch_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation_patch) {
  const Geometry g = make_geometry(input1, input2, kernel_size, patch_size, stride, padding, dilation_patch);
  check_grad_output(grad_output, input1, g);
  const auto options = input1.options().memory_format(at::MemoryFormat::Contiguous);
  // Channels-last [B, H, W, C] accumulators, returned as contiguous [B, C, H, W].
  at::Tensor grad1 = at::zeros({input1.size(0), g.height, g.width, g.channels}, options);
  at::Tensor grad2 = at::zeros({input1.size(0), g.height, g.width, g.channels}, options);
  if (grad1.numel() > 0) {
    const at::Tensor grad_out = grad_output.contiguous();
    const at::Tensor in1 = channels_last_copy(input1);
    const at::Tensor in2 = channels_last_copy(input2);
    AT_DISPATCH_FLOATING_TYPES(input1.scalar_type(), "correlation_backward_cpu", [&] {
      backward_kernel<scalar_t>(grad_out.const_data_ptr<scalar_t>(), in1.const_data_ptr<scalar_t>(),
                                in2.const_data_ptr<scalar_t>(), grad1.mutable_data_ptr<scalar_t>(),
                                grad2.mutable_data_ptr<scalar_t>(), input1.size(0), g);
    });
  }
  return {grad1.permute({0, 3, 1, 2}).contiguous(), grad2.permute({0, 3, 1, 2}).contiguous()};
}

}  // namespace
}  // namespace correlation
}  // namespace tracking

TORCH_LIBRARY_IMPL(tracking, CPU, m) {
  m.impl("correlation", &tracking::correlation::correlation_cpu);
  m.impl("_correlation_backward", &tracking::correlation::correlation_backward_cpu);
}
