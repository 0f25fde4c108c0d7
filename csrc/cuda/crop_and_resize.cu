// CUDA kernels of tracking::crop_and_resize and tracking::_crop_and_resize_backward: one thread per output
// element, the sampling math from csrc/kernels/crop_and_resize.h (shared with the CPU kernels).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "kernels/crop_and_resize.h"

namespace tracking {
namespace crop_and_resize {
namespace {

constexpr int kThreads = 256;

inline unsigned int num_blocks(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::min<int64_t>(blocks, 65535LL * 8));
}

// Shapes of one launch: images [N,C,H,W], output/grad_output [K,C,out_h,out_w].
struct Geometry {
  int64_t N, C, H, W, K, out_h, out_w;
};

// Output element i = (k, c, r, q) of a [K, C, out_h, out_w] tensor: its image plane offset
// ((n * C + c) * H * W, n the box's batch index) and its taps.
template <typename scalar_t, typename acc_t>
__device__ inline int64_t element_taps(const scalar_t* boxes, const Geometry& g, int64_t i, Padding padding,
                                       AxisTaps<acc_t>* ty, AxisTaps<acc_t>* tx) {
  const int64_t q = i % g.out_w;
  const int64_t r = (i / g.out_w) % g.out_h;
  const int64_t c = (i / (g.out_w * g.out_h)) % g.C;
  const int64_t k = i / (g.out_w * g.out_h * g.C);
  const scalar_t* b = boxes + k * 5;
  // Batch indices are not validated on CUDA (no host sync); clamping keeps the access in bounds.
  const int64_t n = clamp_batch_index(static_cast<acc_t>(b[0]), g.N);
  *tx = axis_taps(q, static_cast<acc_t>(b[1]), static_cast<acc_t>(b[3]), g.out_w, g.W, padding);
  *ty = axis_taps(r, static_cast<acc_t>(b[2]), static_cast<acc_t>(b[4]), g.out_h, g.H, padding);
  return (n * g.C + c) * g.H * g.W;
}

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ images, const scalar_t* __restrict__ boxes,
                               scalar_t* __restrict__ output, Geometry g, Padding padding, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    AxisTaps<acc_t> ty, tx;
    const scalar_t* plane = images + element_taps<scalar_t, acc_t>(boxes, g, i, padding, &ty, &tx);
    output[i] = static_cast<scalar_t>(bilinear_sample(plane, g.W, ty, tx));
  }
}

template <typename scalar_t, typename acc_t>
__device__ inline void add_tap(scalar_t* plane, int64_t offset, acc_t value) {
  if (value != acc_t(0)) gpuAtomicAdd(plane + offset, static_cast<scalar_t>(value));
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_output, const scalar_t* __restrict__ boxes,
                                scalar_t* __restrict__ grad_images, Geometry g, Padding padding, int64_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    AxisTaps<acc_t> ty, tx;
    scalar_t* plane = grad_images + element_taps<scalar_t, acc_t>(boxes, g, i, padding, &ty, &tx);
    const acc_t grad = static_cast<acc_t>(grad_output[i]);
    // Taps with weight 0 (outside the image with zeros padding, non-finite coordinates) are skipped.
    if (ty.w0 != acc_t(0)) {
      add_tap(plane, ty.i0 * g.W + tx.i0, grad * ty.w0 * tx.w0);
      add_tap(plane, ty.i0 * g.W + tx.i1, grad * ty.w0 * tx.w1);
    }
    if (ty.w1 != acc_t(0)) {
      add_tap(plane, ty.i1 * g.W + tx.i0, grad * ty.w1 * tx.w0);
      add_tap(plane, ty.i1 * g.W + tx.i1, grad * ty.w1 * tx.w1);
    }
  }
}

at::Tensor crop_and_resize_cuda(const at::Tensor& images, const at::Tensor& boxes, int64_t out_height,
                                int64_t out_width, c10::string_view padding) {
  check_forward_args(images, boxes, out_height, out_width);  // no value checks: indices are clamped
  const Padding mode = parse_padding(std::string_view(padding.data(), padding.size()));
  const c10::cuda::CUDAGuard guard(images.device());
  const at::Tensor images_c = images.contiguous();
  const at::Tensor boxes_c = boxes.contiguous();
  at::Tensor output = at::empty({boxes.size(0), images.size(1), out_height, out_width}, images.options());
  const int64_t total = output.numel();
  if (total == 0) return output;
  const Geometry g{images.size(0), images.size(1), images.size(2), images.size(3), boxes.size(0), out_height,
                   out_width};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, images.scalar_type(),
                                  "crop_and_resize_cuda", [&] {
                                    forward_kernel<scalar_t><<<num_blocks(total), kThreads, 0, stream>>>(
                                        images_c.const_data_ptr<scalar_t>(), boxes_c.const_data_ptr<scalar_t>(),
                                        output.mutable_data_ptr<scalar_t>(), g, mode, total);
                                    C10_CUDA_KERNEL_LAUNCH_CHECK();
                                  });
  return output;
}

at::Tensor crop_and_resize_backward_cuda(const at::Tensor& grad_output, const at::Tensor& boxes, int64_t batch,
                                         int64_t channels, int64_t height, int64_t width,
                                         c10::string_view padding) {
  check_backward_args(grad_output, boxes, batch, channels, height, width);
  const Padding mode = parse_padding(std::string_view(padding.data(), padding.size()));
  const c10::cuda::CUDAGuard guard(grad_output.device());
  const at::Tensor grad_c = grad_output.contiguous();
  const at::Tensor boxes_c = boxes.contiguous();
  at::Tensor grad_images = at::zeros({batch, channels, height, width}, grad_output.options());
  const int64_t total = grad_c.numel();
  if (total == 0 || grad_images.numel() == 0) return grad_images;
  const Geometry g{batch, channels, height, width, boxes.size(0), grad_c.size(2), grad_c.size(3)};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, grad_output.scalar_type(),
                                  "crop_and_resize_backward_cuda", [&] {
                                    backward_kernel<scalar_t><<<num_blocks(total), kThreads, 0, stream>>>(
                                        grad_c.const_data_ptr<scalar_t>(), boxes_c.const_data_ptr<scalar_t>(),
                                        grad_images.mutable_data_ptr<scalar_t>(), g, mode, total);
                                    C10_CUDA_KERNEL_LAUNCH_CHECK();
                                  });
  return grad_images;
}

}  // namespace
}  // namespace crop_and_resize
}  // namespace tracking

TORCH_LIBRARY_IMPL(tracking, CUDA, m) {
  m.impl("crop_and_resize", &tracking::crop_and_resize::crop_and_resize_cuda);
  m.impl("_crop_and_resize_backward", &tracking::crop_and_resize::crop_and_resize_backward_cuda);
}
