// PrRoIPool on CUDA: grid-stride loops over the per-element kernels of kernels/prroi_pool.h (also run on the
// CPU by the test op _prroi_pool2d_gpu_path): one thread per output element (roi, channel, bin) for the
// forward and the features' gradient (atomic adds), one per (roi, bin) summing over channels for the roi
// gradient.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cmath>
#include <limits>

#include "kernels/prroi_pool.h"

namespace tracking {
namespace {

using namespace prroi;

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }

// separable_scatter's adder on the GPU: atomics, since rois of one image overlap.
struct AtomicAdd {
  template <typename T, typename A>
  C10_HOST_DEVICE void operator()(T* dst, A value) const {
#if defined(__CUDA_ARCH__)
    gpuAtomicAdd(dst, static_cast<T>(value));
#endif
  }
};

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(int64_t total, const scalar_t* features, const scalar_t* rois, scalar_t* out, Sizes s,
                               acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(blockDim.x) * gridDim.x)
    forward_element<scalar_t, acc_t>(idx, features, rois, out, s, scale);
}

template <typename scalar_t, typename acc_t>
__global__ void features_grad_kernel(int64_t total, const scalar_t* grad, const scalar_t* rois, scalar_t* grad_features,
                                     Sizes s, acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(blockDim.x) * gridDim.x)
    features_grad_element<scalar_t, acc_t>(idx, grad, rois, grad_features, s, scale, AtomicAdd{});
}

template <typename scalar_t, typename acc_t>
__global__ void rois_grad_kernel(int64_t total, const scalar_t* grad, const scalar_t* features, const scalar_t* rois,
                                 const scalar_t* out, scalar_t* grad_rois, Sizes s, acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(blockDim.x) * gridDim.x)
    rois_grad_element<scalar_t, acc_t>(idx, grad, features, rois, out, grad_rois, s, scale, AtomicAdd{});
}

at::Tensor forward_cuda(const at::Tensor& features_in, const at::Tensor& rois_in, int64_t ph, int64_t pw,
                        double scale) {
  check_args(features_in, rois_in, ph, pw, scale);
  c10::cuda::CUDAGuard guard(features_in.device());
  const at::Tensor features = features_in.contiguous();
  const at::Tensor rois = rois_in.contiguous();
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3),
                K = rois.size(0);
  at::Tensor output = at::zeros({K, C, ph, pw}, features.options());
  const int64_t total = output.numel();
  if (total == 0) return output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, features.scalar_type(),
                                  "prroi_pool2d_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        total, features.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(),
        Sizes{N, C, H, W, ph, pw}, static_cast<acc_t>(scale));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return output;
}

std::tuple<at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_in, const at::Tensor& features_in,
                                                 const at::Tensor& rois_in, const at::Tensor& output_in, int64_t ph,
                                                 int64_t pw, double scale, bool need_features_grad,
                                                 bool need_rois_grad) {
  check_args(features_in, rois_in, ph, pw, scale);
  c10::cuda::CUDAGuard guard(features_in.device());
  const at::Tensor features = features_in.contiguous();
  const at::Tensor rois = rois_in.contiguous();
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3),
                K = rois.size(0);
  check_backward_args(grad_in, output_in, features, rois, ph, pw);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor output = output_in.contiguous();
  at::Tensor grad_features = at::zeros_like(features);
  at::Tensor grad_rois = at::zeros_like(rois);
  if (grad.numel() == 0) return {grad_features, grad_rois};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, features.scalar_type(),
                                  "prroi_pool2d_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    if (need_features_grad) {
      const int64_t total = grad.numel();
      features_grad_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
          total, grad.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), grad_features.data_ptr<scalar_t>(),
          Sizes{N, C, H, W, ph, pw}, static_cast<acc_t>(scale));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    if (need_rois_grad) {
      const int64_t total = K * ph * pw;
      rois_grad_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
          total, grad.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
          output.data_ptr<scalar_t>(), grad_rois.data_ptr<scalar_t>(), Sizes{N, C, H, W, ph, pw},
          static_cast<acc_t>(scale));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {grad_features, grad_rois};
}

}  // namespace

TORCH_LIBRARY_IMPL(tracking, CUDA, m) {
  m.impl("prroi_pool2d", &forward_cuda);
  m.impl("_prroi_pool2d_backward", &backward_cuda);
}

}  // namespace tracking
