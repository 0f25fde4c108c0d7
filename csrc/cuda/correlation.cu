// CUDA kernels of tracking::correlation and tracking::_correlation_backward (float, double, half, bfloat16;
// accumulation in at::opmath_type). The per-element math is the shared csrc/kernels/correlation.h, the same
// code the CPU kernels run; only the launch geometry differs:
//   forward : one thread per output element (b, ph, pw, h, w) on NCHW inputs (adjacent threads read
//             adjacent columns, so the channel loop is coalesced);
//   backward: one thread per input element (b, c, y, x) of grad_input1 / grad_input2, gathering over the
//             output elements that read it (no atomics, deterministic).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "kernels/correlation.h"

namespace tracking {
namespace correlation {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

int64_t num_blocks(int64_t n) {
  return std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks);
}

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ in1, const scalar_t* __restrict__ in2,
                               scalar_t* __restrict__ out, int64_t total, Geometry g) {
  using acc_t = at::opmath_type<scalar_t>;
  const Strides s = nchw_strides(g);
  const int64_t in_batch = g.channels * g.height * g.width;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t rest = index;
    const int64_t w = rest % g.out_w;
    rest /= g.out_w;
    const int64_t h = rest % g.out_h;
    rest /= g.out_h;
    const int64_t pw = rest % g.patch_w;
    rest /= g.patch_w;
    const int64_t ph = rest % g.patch_h;
    const int64_t b = rest / g.patch_h;
    const acc_t value = correlate_element<scalar_t, acc_t>(in1 + b * in_batch, in2 + b * in_batch, g.channels, s,
                                                           g, ph, pw, h, w);
    out[index] = static_cast<scalar_t>(value);
  }
}

// kSecond == false fills grad_input1 (partner: input2), kSecond == true grad_input2 (partner: input1).
template <bool kSecond, typename scalar_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ other,
                                scalar_t* __restrict__ grad, int64_t total, Geometry g) {
  using acc_t = at::opmath_type<scalar_t>;
  const Strides s = nchw_strides(g);
  const int64_t plane = g.height * g.width;
  const int64_t out_batch = g.patch_h * g.patch_w * g.out_h * g.out_w;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t x = index % g.width;
    const int64_t y = (index / g.width) % g.height;
    const int64_t bc = index / plane;  // b * C + c
    const int64_t b = bc / g.channels;
    acc_t acc = acc_t(0);
    gather_input_grad<kSecond, scalar_t, acc_t>(&acc, grad_out + b * out_batch, other + bc * plane, 1, s, g, y, x);
    grad[index] = static_cast<scalar_t>(acc);
  }
}

at::Tensor correlation_cuda(const at::Tensor& input1, const at::Tensor& input2, c10::IntArrayRef kernel_size,
                            c10::IntArrayRef patch_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                            c10::IntArrayRef dilation_patch) {
  const Geometry g = make_geometry(input1, input2, kernel_size, patch_size, stride, padding, dilation_patch);
  const c10::cuda::CUDAGuard guard(input1.device());
  at::Tensor out = at::empty(output_shape(input1, g), input1.options().memory_format(at::MemoryFormat::Contiguous));
  const int64_t total = out.numel();
  if (total == 0) return out;
  const at::Tensor in1 = input1.contiguous();
  const at::Tensor in2 = input2.contiguous();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, input1.scalar_type(),
                                  "correlation_cuda", [&] {
    forward_kernel<scalar_t><<<num_blocks(total), kThreads, 0, stream>>>(
        in1.const_data_ptr<scalar_t>(), in2.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), total, g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input1, const at::Tensor& input2, c10::IntArrayRef kernel_size,
    c10::IntArrayRef patch_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation_patch) {
  const Geometry g = make_geometry(input1, input2, kernel_size, patch_size, stride, padding, dilation_patch);
  check_grad_output(grad_output, input1, g);
  const c10::cuda::CUDAGuard guard(input1.device());
  const auto options = input1.options().memory_format(at::MemoryFormat::Contiguous);
  at::Tensor grad1 = at::empty(input1.sizes(), options);
  at::Tensor grad2 = at::empty(input2.sizes(), options);
  const int64_t total = grad1.numel();
  if (total == 0) return {grad1, grad2};
  const at::Tensor grad_out = grad_output.contiguous();
  const at::Tensor in1 = input1.contiguous();
  const at::Tensor in2 = input2.contiguous();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, input1.scalar_type(),
                                  "correlation_backward_cuda", [&] {
    backward_kernel<false, scalar_t><<<num_blocks(total), kThreads, 0, stream>>>(
        grad_out.const_data_ptr<scalar_t>(), in2.const_data_ptr<scalar_t>(), grad1.mutable_data_ptr<scalar_t>(),
        total, g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    backward_kernel<true, scalar_t><<<num_blocks(total), kThreads, 0, stream>>>(
        grad_out.const_data_ptr<scalar_t>(), in1.const_data_ptr<scalar_t>(), grad2.mutable_data_ptr<scalar_t>(),
        total, g);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad1, grad2};
}

}  // namespace
}  // namespace correlation
}  // namespace tracking

TORCH_LIBRARY_IMPL(tracking, CUDA, m) {
  m.impl("correlation", &tracking::correlation::correlation_cuda);
  m.impl("_correlation_backward", &tracking::correlation::correlation_backward_cuda);
}
