// Spatial correlation (FlowNet / spatial-correlation-sampler semantics): the per-element math shared by the
// CPU loops (csrc/cpu/correlation.cpp) and the CUDA kernels (csrc/cuda/correlation.cu), plus the host-side
// argument checks both backends run. Only launch geometry differs between the backends.
//
// Conventions (every pair is (h, w)):
//   input1, input2 : [B, C, H, W]
//   output         : [B, patchH, patchW, oH, oW], oH = (H + 2*padH - kH) / dH + 1 (likewise oW)
//   out[b, ph, pw, h, w] = sum_c sum_{i<kH, j<kW} in1[b, c, y1, x1] * in2[b, c, y1 + du, x1 + dv]
//     y1 = h*dH - padH + i,  x1 = w*dW - padW + j
//     du = (ph - (patchH - 1) / 2) * dpH,  dv = (pw - (patchW - 1) / 2) * dpW
//   A term counts only when both (y1, x1) and (y1 + du, x1 + dv) lie inside [0, H) x [0, W) (zero padding).
//
// Element functions take a per-batch base pointer and the element strides of one input (channel, row,
// column), so the CPU can call them on a channels-last copy (channel stride 1: contiguous dot products and
// axpys) and CUDA on NCHW memory.
#pragma once

#include <cstdint>

#include <c10/macros/Macros.h>

#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <c10/util/safe_numerics.h>

// `#pragma omp simd` lets the host compiler vectorise the channel loops (including float reductions, whose
// order it may then change); device code and builds without OpenMP ignore it.
#if defined(_OPENMP) && !defined(__CUDA_ARCH__)
#define TRACKING_CORR_PRAGMA(x) _Pragma(#x)
#else
#define TRACKING_CORR_PRAGMA(x)
#endif

namespace tracking {
namespace correlation {

// Sizes and parameters of one correlation call; trivially copyable so it can be a kernel argument.
struct Geometry {
  int64_t channels, height, width;       // C, H, W of both inputs
  int64_t kernel_h, kernel_w;            // kH, kW
  int64_t patch_h, patch_w;              // patchH, patchW (number of displacements per axis)
  int64_t stride_h, stride_w;            // dH, dW
  int64_t pad_h, pad_w;                  // padH, padW
  int64_t dilation_h, dilation_w;        // dpH, dpW (step between displacements)
  int64_t out_h, out_w;                  // oH, oW
};

// Element strides (in elements) of one [C, H, W] plane stack.
struct Strides {
  int64_t c, h, w;
};

// Strides of a contiguous [C, H, W] batch item (NCHW inputs).
C10_HOST_DEVICE inline Strides nchw_strides(const Geometry& g) {
  return Strides{g.height * g.width, g.width, 1};
}

// Strides of a contiguous [H, W, C] batch item (channels-last inputs).
C10_HOST_DEVICE inline Strides channels_last_strides(const Geometry& g) {
  return Strides{1, g.width * g.channels, g.channels};
}

// Vertical displacement of patch row `ph`: (ph - (patchH - 1) / 2) * dpH.
C10_HOST_DEVICE inline int64_t displacement_h(const Geometry& g, int64_t ph) {
  return (ph - (g.patch_h - 1) / 2) * g.dilation_h;
}

// Horizontal displacement of patch column `pw`: (pw - (patchW - 1) / 2) * dpW.
C10_HOST_DEVICE inline int64_t displacement_w(const Geometry& g, int64_t pw) {
  return (pw - (g.patch_w - 1) / 2) * g.dilation_w;
}

C10_HOST_DEVICE inline bool inside(const Geometry& g, int64_t y, int64_t x) {
  return y >= 0 && y < g.height && x >= 0 && x < g.width;
}

// Output index `o` (row or column) whose window covers input index `pos` at kernel offset `k`, i.e.
// o * stride - pad + k == pos; returns -1 when there is none in [0, out_size).
C10_HOST_DEVICE inline int64_t covering_output(int64_t pos, int64_t k, int64_t stride, int64_t pad,
                                               int64_t out_size) {
  const int64_t t = pos + pad - k;
  if (t < 0 || t % stride != 0) return -1;
  const int64_t o = t / stride;
  return o < out_size ? o : -1;
}

// sum_{c < n} a[c * stride] * b[c * stride], accumulated in acc_t.
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline acc_t channel_dot(const scalar_t* a, const scalar_t* b, int64_t n, int64_t stride) {
  acc_t acc = acc_t(0);
  if (stride == 1) {
    TRACKING_CORR_PRAGMA(omp simd reduction(+ : acc))
    for (int64_t c = 0; c < n; ++c) acc += static_cast<acc_t>(a[c]) * static_cast<acc_t>(b[c]);
  } else {
    for (int64_t c = 0; c < n; ++c) {
      acc += static_cast<acc_t>(a[c * stride]) * static_cast<acc_t>(b[c * stride]);
    }
  }
  return acc;
}

// acc[c] += g * src[c * stride] for c < n (acc is contiguous).
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline void channel_axpy(acc_t* __restrict__ acc, acc_t g, const scalar_t* __restrict__ src,
                                         int64_t n, int64_t stride) {
  if (stride == 1) {
    TRACKING_CORR_PRAGMA(omp simd)
    for (int64_t c = 0; c < n; ++c) acc[c] += g * static_cast<acc_t>(src[c]);
  } else {
    for (int64_t c = 0; c < n; ++c) acc[c] += g * static_cast<acc_t>(src[c * stride]);
  }
}

// out[b, ph, pw, h, w] summed over `n` channels starting at in1/in2 (base pointers of one batch item and
// channel block, strides `s` shared by both inputs).
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline acc_t correlate_element(const scalar_t* in1, const scalar_t* in2, int64_t n,
                                               const Strides& s, const Geometry& g, int64_t ph, int64_t pw,
                                               int64_t h, int64_t w) {
  const int64_t du = displacement_h(g, ph);
  const int64_t dv = displacement_w(g, pw);
  acc_t acc = acc_t(0);
  for (int64_t i = 0; i < g.kernel_h; ++i) {
    const int64_t y1 = h * g.stride_h - g.pad_h + i;
    const int64_t y2 = y1 + du;
    if (y1 < 0 || y1 >= g.height || y2 < 0 || y2 >= g.height) continue;
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      const int64_t x1 = w * g.stride_w - g.pad_w + j;
      const int64_t x2 = x1 + dv;
      if (x1 < 0 || x1 >= g.width || x2 < 0 || x2 >= g.width) continue;
      acc += channel_dot<scalar_t, acc_t>(in1 + y1 * s.h + x1 * s.w, in2 + y2 * s.h + x2 * s.w, n, s.c);
    }
  }
  return acc;
}

// Gradient of one input position, gathered over every output element that reads it:
//   kSecond == false: grad_in1[y, x, c] = sum g[ph, pw, h, w] * in2[y + du, x + dv, c]
//   kSecond == true : grad_in2[y, x, c] = sum g[ph, pw, h, w] * in1[y - du, x - dv, c]
// over displacements (ph, pw) and kernel offsets (i, j) with (h, w) the output whose window puts the
// input-1 position at offset (i, j). `grad_out` is the contiguous [patchH, patchW, oH, oW] block of one
// batch item; `other` is the base of the other input (same batch item and channel block, strides `s`);
// `acc` receives `n` contiguous per-channel sums (added to, not overwritten).
template <bool kSecond, typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline void gather_input_grad(acc_t* acc, const scalar_t* grad_out, const scalar_t* other,
                                              int64_t n, const Strides& s, const Geometry& g, int64_t y,
                                              int64_t x) {
  const int64_t out_plane = g.out_h * g.out_w;
  for (int64_t ph = 0; ph < g.patch_h; ++ph) {
    const int64_t du = displacement_h(g, ph);
    const int64_t y1 = kSecond ? y - du : y;  // row of input 1
    const int64_t yo = kSecond ? y - du : y + du;  // row of the other input
    if (y1 < 0 || y1 >= g.height || yo < 0 || yo >= g.height) continue;
    for (int64_t pw = 0; pw < g.patch_w; ++pw) {
      const int64_t dv = displacement_w(g, pw);
      const int64_t x1 = kSecond ? x - dv : x;
      const int64_t xo = kSecond ? x - dv : x + dv;
      if (x1 < 0 || x1 >= g.width || xo < 0 || xo >= g.width) continue;
      const scalar_t* other_px = other + yo * s.h + xo * s.w;
      const scalar_t* grad_disp = grad_out + (ph * g.patch_w + pw) * out_plane;
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t h = covering_output(y1, i, g.stride_h, g.pad_h, g.out_h);
        if (h < 0) continue;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const int64_t w = covering_output(x1, j, g.stride_w, g.pad_w, g.out_w);
          if (w < 0) continue;
          const acc_t gv = static_cast<acc_t>(grad_disp[h * g.out_w + w]);
          channel_axpy<scalar_t, acc_t>(acc, gv, other_px, n, s.c);
        }
      }
    }
  }
}

// ---- host-side argument checks, shared by both backends (clean RuntimeErrors, never a crash) ----

// Largest accepted value of any size parameter (kernel_size, patch_size, stride, padding, dilation_patch): with
// every parameter at most 2^31 - 1 no displacement ((patch - 1) * dilation < 2^62), position or window sum of
// the kernels' int64 index arithmetic can overflow for any tensor. The Python face applies the same bound
// (tracking/ops/correlation.py, MAX_SIZE).
constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;

inline int64_t checked_pair_value(c10::IntArrayRef v, const char* name, int64_t index, int64_t minimum) {
  TORCH_CHECK(v.size() == 2, "correlation: `", name, "` must have 2 values (h, w), got ", v.size());
  TORCH_CHECK(v[index] >= minimum, "correlation: `", name, "` must be >= ", minimum, ", got ", v);
  TORCH_CHECK(v[index] <= kMaxSize, "correlation: `", name, "` must be <= ", kMaxSize, " (2^31 - 1), got ", v);
  return v[index];
}

// Validates the inputs and parameters and returns the geometry of the call.
inline Geometry make_geometry(const at::Tensor& input1, const at::Tensor& input2, c10::IntArrayRef kernel_size,
                              c10::IntArrayRef patch_size, c10::IntArrayRef stride, c10::IntArrayRef padding,
                              c10::IntArrayRef dilation_patch) {
  TORCH_CHECK(input1.defined() && input2.defined(), "correlation: inputs must be defined tensors");
  TORCH_CHECK(input1.dim() == 4, "correlation: `input1` must have shape [B, C, H, W], got ", input1.sizes());
  TORCH_CHECK(input2.dim() == 4, "correlation: `input2` must have shape [B, C, H, W], got ", input2.sizes());
  TORCH_CHECK(input1.sizes() == input2.sizes(), "correlation: `input1` and `input2` must have the same shape, got ",
              input1.sizes(), " and ", input2.sizes());
  TORCH_CHECK(input1.scalar_type() == input2.scalar_type(), "correlation: `input1` and `input2` must have the same "
              "dtype, got ", input1.scalar_type(), " and ", input2.scalar_type());
  TORCH_CHECK(input1.device() == input2.device(), "correlation: `input1` and `input2` must be on the same device, "
              "got ", input1.device(), " and ", input2.device());
  TORCH_CHECK(at::isFloatingType(input1.scalar_type()), "correlation: inputs must be floating point, got ",
              input1.scalar_type());
  Geometry g{};
  g.channels = input1.size(1);
  g.height = input1.size(2);
  g.width = input1.size(3);
  g.kernel_h = checked_pair_value(kernel_size, "kernel_size", 0, 1);
  g.kernel_w = checked_pair_value(kernel_size, "kernel_size", 1, 1);
  g.patch_h = checked_pair_value(patch_size, "patch_size", 0, 1);
  g.patch_w = checked_pair_value(patch_size, "patch_size", 1, 1);
  g.stride_h = checked_pair_value(stride, "stride", 0, 1);
  g.stride_w = checked_pair_value(stride, "stride", 1, 1);
  g.pad_h = checked_pair_value(padding, "padding", 0, 0);
  g.pad_w = checked_pair_value(padding, "padding", 1, 0);
  g.dilation_h = checked_pair_value(dilation_patch, "dilation_patch", 0, 1);
  g.dilation_w = checked_pair_value(dilation_patch, "dilation_patch", 1, 1);
  const int64_t span_h = g.height + 2 * g.pad_h - g.kernel_h;
  const int64_t span_w = g.width + 2 * g.pad_w - g.kernel_w;
  TORCH_CHECK(span_h >= 0 && span_w >= 0, "correlation: output size must be > 0: input ", g.height, "x", g.width,
              " with padding ", padding, " is smaller than kernel_size ", kernel_size);
  g.out_h = span_h / g.stride_h + 1;
  g.out_w = span_w / g.stride_w + 1;
  int64_t numel = input1.size(0);
  bool overflow = false;
  for (const int64_t n : {g.patch_h, g.patch_w, g.out_h, g.out_w}) overflow |= c10::mul_overflows(numel, n, &numel);
  TORCH_CHECK(!overflow, "correlation: the output [B, patchH, patchW, oH, oW] = [", input1.size(0), ", ", g.patch_h,
              ", ", g.patch_w, ", ", g.out_h, ", ", g.out_w, "] has more elements than int64 can count; reduce ",
              "patch_size or padding");
  return g;
}

// Output shape [B, patchH, patchW, oH, oW].
inline std::vector<int64_t> output_shape(const at::Tensor& input1, const Geometry& g) {
  return {input1.size(0), g.patch_h, g.patch_w, g.out_h, g.out_w};
}

// Checks of the backward's extra argument `grad_output` against the forward's geometry.
inline void check_grad_output(const at::Tensor& grad_output, const at::Tensor& input1, const Geometry& g) {
  TORCH_CHECK(grad_output.defined(), "correlation backward: `grad_output` must be a defined tensor");
  TORCH_CHECK(grad_output.sizes() == c10::IntArrayRef(output_shape(input1, g)),
              "correlation backward: `grad_output` must have shape ", c10::IntArrayRef(output_shape(input1, g)),
              ", got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input1.scalar_type(), "correlation backward: `grad_output` has dtype ",
              grad_output.scalar_type(), " but the inputs have ", input1.scalar_type());
  TORCH_CHECK(grad_output.device() == input1.device(), "correlation backward: `grad_output` is on ",
              grad_output.device(), " but the inputs are on ", input1.device());
}

}  // namespace correlation
}  // namespace tracking
