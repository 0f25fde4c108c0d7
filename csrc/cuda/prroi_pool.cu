// PrRoIPool on CUDA: one thread per output element (roi, channel, bin), the bin math from
// kernels/prroi_pool.h (the same functions the CPU loops call). Roi gradients use one thread per
// (roi, bin) summing over channels, then atomically add into the roi's four coordinates.
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
struct RoiView {  // the scaled corners of roi k and its image
  int64_t image;
  acc_t X1, Y1, X2, Y2;
  C10_DEVICE RoiView(const scalar_t* rois, int64_t k, acc_t scale) {
    const scalar_t* r = rois + 5 * k;
    image = static_cast<int64_t>(static_cast<acc_t>(r[0]));
    X1 = static_cast<acc_t>(r[1]) * scale;
    Y1 = static_cast<acc_t>(r[2]) * scale;
    X2 = static_cast<acc_t>(r[3]) * scale;
    Y2 = static_cast<acc_t>(r[4]) * scale;
  }
};

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(int64_t total, const scalar_t* features, const scalar_t* rois, scalar_t* out, int64_t C,
                               int64_t H, int64_t W, int64_t ph, int64_t pw, acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t q = idx % pw, p = (idx / pw) % ph, c = (idx / (pw * ph)) % C, k = idx / (pw * ph * C);
    const RoiView<scalar_t, acc_t> r(rois, k, scale);
    if (!roi_is_finite(r.X1, r.Y1, r.X2, r.Y2)) {
      out[idx] = static_cast<scalar_t>(NAN);
      continue;
    }
    const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, ph, pw);
    out[idx] = static_cast<scalar_t>(bin_value<acc_t>(features + (r.image * C + c) * H * W, H, W, b));
  }
}

template <typename scalar_t, typename acc_t>
__global__ void features_grad_kernel(int64_t total, const scalar_t* grad, const scalar_t* rois, scalar_t* grad_features,
                                     int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw, acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const acc_t g = static_cast<acc_t>(grad[idx]);
    if (g == acc_t(0)) continue;
    const int64_t q = idx % pw, p = (idx / pw) % ph, c = (idx / (pw * ph)) % C, k = idx / (pw * ph * C);
    const RoiView<scalar_t, acc_t> r(rois, k, scale);
    if (!roi_is_finite(r.X1, r.Y1, r.X2, r.Y2)) continue;
    const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, ph, pw);
    if (!(b.area > acc_t(0))) continue;
    separable_scatter<acc_t>(grad_features + (r.image * C + c) * H * W, H, W, BinWeight<acc_t>{b.y1, b.y2},
                             BinWeight<acc_t>{b.x1, b.x2}, g / b.area, AtomicAdd{});
  }
}

template <typename scalar_t, typename acc_t>
__global__ void rois_grad_kernel(int64_t total, const scalar_t* grad, const scalar_t* features, const scalar_t* rois,
                                 const scalar_t* out, scalar_t* grad_rois, int64_t C, int64_t H, int64_t W, int64_t ph,
                                 int64_t pw, acc_t scale) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t q = idx % pw, p = (idx / pw) % ph, k = idx / (pw * ph);
    const RoiView<scalar_t, acc_t> r(rois, k, scale);
    if (!roi_is_finite(r.X1, r.Y1, r.X2, r.Y2)) continue;
    const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, ph, pw);
    if (!(b.area > acc_t(0))) continue;
    const BinWeight<acc_t> wy{b.y1, b.y2}, wx{b.x1, b.x2};
    const HatWeight<acc_t> hy1{b.y1}, hy2{b.y2}, hx1{b.x1}, hx2{b.x2};
    acc_t gy1 = 0, gy2 = 0, gx1 = 0, gx2 = 0, go = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t o = ((k * C + c) * ph + p) * pw + q;
      const acc_t g = static_cast<acc_t>(grad[o]);
      if (g == acc_t(0)) continue;
      acc_t ey1, ey2, ex1, ex2;
      bin_edge_integrals<acc_t>(features + (r.image * C + c) * H * W, H, W, wy, wx, hy1, hy2, hx1, hx2, ey1, ey2, ex1,
                                ex2);
      gy1 += g * ey1;
      gy2 += g * ey2;
      gx1 += g * ex1;
      gx2 += g * ex2;
      go += g * static_cast<acc_t>(out[o]);
    }
    acc_t dX1 = 0, dY1 = 0, dX2 = 0, dY2 = 0;
    accumulate_roi_grad(bin_edge_grads(b, gy1, gy2, gx1, gx2, go), p, q, ph, pw, dX1, dY1, dX2, dY2);
    scalar_t* gr = grad_rois + 5 * k;
    gpuAtomicAdd(gr + 1, static_cast<scalar_t>(dX1 * scale));
    gpuAtomicAdd(gr + 2, static_cast<scalar_t>(dY1 * scale));
    gpuAtomicAdd(gr + 3, static_cast<scalar_t>(dX2 * scale));
    gpuAtomicAdd(gr + 4, static_cast<scalar_t>(dY2 * scale));
  }
}

at::Tensor forward_cuda(const at::Tensor& features_in, const at::Tensor& rois_in, int64_t ph, int64_t pw,
                        double scale) {
  check_args(features_in, rois_in, ph, pw, scale);
  c10::cuda::CUDAGuard guard(features_in.device());
  const at::Tensor features = features_in.contiguous();
  const at::Tensor rois = rois_in.contiguous();
  const int64_t C = features.size(1), H = features.size(2), W = features.size(3), K = rois.size(0);
  at::Tensor output = at::zeros({K, C, ph, pw}, features.options());
  const int64_t total = output.numel();
  if (total == 0) return output;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, features.scalar_type(),
                                  "prroi_pool2d_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        total, features.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(), C, H, W, ph, pw,
        static_cast<acc_t>(scale));
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
  const int64_t C = features.size(1), H = features.size(2), W = features.size(3), K = rois.size(0);
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
          total, grad.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), grad_features.data_ptr<scalar_t>(), C, H, W,
          ph, pw, static_cast<acc_t>(scale));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    if (need_rois_grad) {
      const int64_t total = K * ph * pw;
      rois_grad_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
          total, grad.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
          output.data_ptr<scalar_t>(), grad_rois.data_ptr<scalar_t>(), C, H, W, ph, pw, static_cast<acc_t>(scale));
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
