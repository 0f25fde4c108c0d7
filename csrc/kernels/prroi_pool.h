// Precise RoI pooling: the per-element math shared by the CPU loops and the CUDA kernels.
//
// Conventions. A feature plane F is [H, W]; feature pixel (i, j) sits at continuous coordinate (y=i, x=j)
// (no half-pixel offset). The map is extended to the plane by bilinear interpolation with F = 0 outside
// [0, H-1] x [0, W-1], i.e. f(y, x) = sum_ij F[i, j] hat(y - i) hat(x - j), hat(t) = max(0, 1 - |t|).
// A bin [y1, y2] x [x1, x2] of size bh x bw pools the exact integral of f over the bin divided by its area:
//     mean = sum_i sum_j (wy(i) / bh) F[i, j] (wx(j) / bw),  wy(i) = HatCdf(y2 - i) - HatCdf(y1 - i)
// (the bilinear interpolant is separable). Each axis's weights are divided by that axis's bin size (each
// normalised weight is at most ~1), so neither the value nor its gradients form an area or its square, and no
// intermediate under- or overflows for bins however large or tiny. A roi (x1, y1, x2, y2), scaled by
// spatial_scale, is split into pooled_h x pooled_w equal bins of size bh = max(y2 - y1, 0) / pooled_h,
// bw = max(x2 - x1, 0) / pooled_w; a roi whose bh or bw is not a positive finite number (non-positive width or
// height, or an extent beyond the dtype's range) pools to 0 everywhere (bin_pools); one with a NaN/inf
// coordinate pools to NaN (roi_is_finite).
#pragma once

#include <ATen/ATen.h>
#include <c10/macros/Macros.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/batch_index.h"

namespace tracking {
namespace prroi {

// Hat function max(0, 1 - |t|): the weight of pixel 0 at coordinate t.
template <typename T>
C10_HOST_DEVICE inline T hat(T t) {
  t = t < T(0) ? -t : t;
  return t < T(1) ? T(1) - t : T(0);
}

// Integral of the hat function from -inf to t.
template <typename T>
C10_HOST_DEVICE inline T hat_cdf(T t) {
  if (t <= T(-1)) return T(0);
  if (t <= T(0)) {
    const T u = t + T(1);
    return T(0.5) * u * u;
  }
  if (t < T(1)) {
    const T u = T(1) - t;
    return T(1) - T(0.5) * u * u;
  }
  return T(1);
}

// Weight of pixel i in the integral over [lo, hi] along one axis.
template <typename T>
C10_HOST_DEVICE inline T bin_weight(T lo, T hi, int64_t i) {
  return hat_cdf(hi - T(i)) - hat_cdf(lo - T(i));
}

// Pixels [begin, end) of an axis of `size` pixels whose weight for [lo, hi] can be non-zero
// (lo - 1 < i < hi + 1), clipped to the map. Defined for every lo/hi: NaN or reversed bounds give an empty
// range; otherwise lo and hi (finite, however large, or infinite) are clamped into [-2, size + 1] in floating
// point, which changes no pixel in [0, size), so the floor/ceil values are small and their conversion to
// int64 is exact; the result is clipped to [0, size] again as integers (T(size) may round for huge sizes).
// Monotone in lo and in hi, so the support of a sub-interval (or of the hat at an edge, hat_support) always
// lies inside the support of the whole interval: the CPU tables rely on this.
template <typename T>
C10_HOST_DEVICE inline void axis_support(T lo, T hi, int64_t size, int64_t& begin, int64_t& end) {
  begin = end = 0;
  if (!(lo <= hi)) return;  // NaN or reversed
  const T low = T(-2), high = static_cast<T>(size) + T(1);
  lo = lo < low ? low : (lo > high ? high : lo);
  hi = hi < low ? low : (hi > high ? high : hi);
  const int64_t b = static_cast<int64_t>(::floor(lo));
  const int64_t e = static_cast<int64_t>(::ceil(hi)) + 1;
  begin = b < 0 ? 0 : (b > size ? size : b);
  end = e < 0 ? 0 : (e > size ? size : e);
}

// The same support for the hat function centred at t: pixels floor(t) and floor(t) + 1, clipped.
template <typename T>
C10_HOST_DEVICE inline void hat_support(T t, int64_t size, int64_t& begin, int64_t& end) {
  axis_support(t, t, size, begin, end);
}

// Weight functors along one axis, so one separable summation serves the bin integral and its
// derivatives with respect to the bin edges.
template <typename T>
struct BinWeight {  // integral of the hat over [lo, hi] divided by the bin size (normalised weight)
  T lo, hi, size;
  C10_HOST_DEVICE T operator()(int64_t i) const { return bin_weight(lo, hi, i) / size; }
  C10_HOST_DEVICE void support(int64_t size, int64_t& b, int64_t& e) const { axis_support(lo, hi, size, b, e); }
};

template <typename T>
struct HatWeight {  // the hat itself at t: derivative of a bin integral w.r.t. an edge at t
  T t;
  C10_HOST_DEVICE T operator()(int64_t i) const { return hat(t - T(i)); }
  C10_HOST_DEVICE void support(int64_t size, int64_t& b, int64_t& e) const { hat_support(t, size, b, e); }
};

// Precomputed weights of pixels [begin, end) (already clipped to the map): the CPU loops tabulate
// BinWeight / HatWeight once per roi and sum with the same separable_sum as the CUDA kernels.
template <typename T>
struct TableWeight {
  const T* w;
  int64_t begin, end;
  C10_HOST_DEVICE T operator()(int64_t i) const { return w[i - begin]; }
  C10_HOST_DEVICE void support(int64_t, int64_t& b, int64_t& e) const {
    b = begin;
    e = end;
  }
};

// sum_i sum_j wy(i) plane[i * W + j] wx(j) over the supports of wy and wx. Accumulates in Acc.
template <typename Acc, typename T, typename WY, typename WX>
C10_HOST_DEVICE inline Acc separable_sum(const T* plane, int64_t H, int64_t W, const WY& wy, const WX& wx) {
  int64_t yb, ye, xb, xe;
  wy.support(H, yb, ye);
  wx.support(W, xb, xe);
  Acc total = Acc(0);
  for (int64_t i = yb; i < ye; ++i) {
    const Acc a = static_cast<Acc>(wy(i));
    if (a == Acc(0)) continue;
    Acc row = Acc(0);
    for (int64_t j = xb; j < xe; ++j) row += static_cast<Acc>(plane[i * W + j]) * static_cast<Acc>(wx(j));
    total += a * row;
  }
  return total;
}

// The geometry of bin (p, q) of a roi whose scaled corners are (X1, Y1, X2, Y2).
template <typename T>
struct Bin {
  T y1, x1, y2, x2;  // bin edges in feature coordinates
  T h, w;            // bin size bh, bw (the same for every bin of a roi; y2 - y1 may differ by rounding)
};

template <typename T>
C10_HOST_DEVICE inline Bin<T> roi_bin(T X1, T Y1, T X2, T Y2, int64_t p, int64_t q, int64_t ph, int64_t pw) {
  const T roi_h = Y2 - Y1 > T(0) ? Y2 - Y1 : T(0);
  const T roi_w = X2 - X1 > T(0) ? X2 - X1 : T(0);
  const T bin_h = roi_h / T(ph);
  const T bin_w = roi_w / T(pw);
  Bin<T> b;
  b.y1 = Y1 + T(p) * bin_h;
  b.y2 = b.y1 + bin_h;
  b.x1 = X1 + T(q) * bin_w;
  b.x2 = b.x1 + bin_w;
  b.h = bin_h;
  b.w = bin_w;
  return b;
}

// Whether the bins of a roi pool: their height and width (the same for every bin) must be positive finite
// numbers in the accumulation type. A roi with x2 <= x1 or y2 <= y1 (size 0) and one whose x2 - x1 or y2 - y1
// overflows the dtype (size inf, bin edges NaN) pools to 0 with zero gradients.
template <typename T>
C10_HOST_DEVICE inline bool bin_pools(const Bin<T>& b) {
  return b.h > T(0) && b.w > T(0) && b.h - b.h == T(0) && b.w - b.w == T(0);
}

// True when every roi coordinate is finite (a non-finite roi pools to NaN and gets zero gradients).
// (x - x == 0 is false exactly for NaN and +-inf, on host and device alike.)
template <typename T>
C10_HOST_DEVICE inline bool roi_is_finite(T X1, T Y1, T X2, T Y2) {
  return X1 - X1 == T(0) && Y1 - Y1 == T(0) && X2 - X2 == T(0) && Y2 - Y2 == T(0);
}

// The normalised weights of a bin along y and x.
template <typename T>
C10_HOST_DEVICE inline BinWeight<T> y_weight(const Bin<T>& b) {
  return BinWeight<T>{b.y1, b.y2, b.h};
}

template <typename T>
C10_HOST_DEVICE inline BinWeight<T> x_weight(const Bin<T>& b) {
  return BinWeight<T>{b.x1, b.x2, b.w};
}

// Pooled value of one bin of one plane (the mean of the map over the bin), 0 for a bin that does not pool.
template <typename Acc, typename T>
C10_HOST_DEVICE inline Acc bin_value(const T* plane, int64_t H, int64_t W, const Bin<Acc>& b) {
  if (!bin_pools(b)) return Acc(0);
  return separable_sum<Acc>(plane, H, W, y_weight(b), x_weight(b));
}

// Gradient of sum_{c} g_c * out_c(bin) w.r.t. the bin edges, from channel-accumulated quantities:
//   gy1 = sum_c g_c * (int_x f_c(y1, x) dx) / bw, gy2, gx1 (/ bh), gx2 likewise (normalised edge integrals,
//         see bin_edge_integrals)
//   go  = sum_c g_c * out_c.
// With out = I / (bh bw) and dI/dy2 = +edge integral at y2, dI/dy1 = -edge integral at y1 (same for x):
//   d out / d y2 = (gy2 - go) / bh,  d out / d y1 = (go - gy1) / bh   (bh = y2 - y1 for the derivative).
// One division by the bin size: no intermediate is larger than the result or than the normalised integrals.
template <typename Acc>
struct EdgeGrads {
  Acc y1, x1, y2, x2;
};

template <typename Acc>
C10_HOST_DEVICE inline EdgeGrads<Acc> bin_edge_grads(const Bin<Acc>& b, Acc gy1, Acc gy2, Acc gx1, Acc gx2, Acc go) {
  EdgeGrads<Acc> d{Acc(0), Acc(0), Acc(0), Acc(0)};
  if (!bin_pools(b)) return d;
  d.y2 = (gy2 - go) / b.h;
  d.y1 = (go - gy1) / b.h;
  d.x2 = (gx2 - go) / b.w;
  d.x1 = (go - gx1) / b.w;
  return d;
}

// Normalised edge integrals of one plane for one bin: int f(y1, x) dx over [x1, x2] / bw (weights hy1 x wx,
// wx normalised), the same at y2, and int f(y, x1) dy over [y1, y2] / bh (wy x hx1), the same at x2.
template <typename Acc, typename T, typename BW, typename HW>
C10_HOST_DEVICE inline void bin_edge_integrals(const T* plane, int64_t H, int64_t W, const BW& wy, const BW& wx,
                                               const HW& hy1, const HW& hy2, const HW& hx1, const HW& hx2,
                                               Acc& ey1, Acc& ey2, Acc& ex1, Acc& ex2) {
  ey1 = separable_sum<Acc>(plane, H, W, hy1, wx);
  ey2 = separable_sum<Acc>(plane, H, W, hy2, wx);
  ex1 = separable_sum<Acc>(plane, H, W, wy, hx1);
  ex2 = separable_sum<Acc>(plane, H, W, wy, hx2);
}

// Gradient of a bin's pooled value w.r.t. the plane: adds value * wy(i) * wx(j) to grad_plane[i, j] over
// the supports, through `add(pointer, amount)` (a plain += on the CPU, an atomic add on the GPU).
template <typename Acc, typename T, typename WY, typename WX, typename Add>
C10_HOST_DEVICE inline void separable_scatter(T* grad_plane, int64_t H, int64_t W, const WY& wy, const WX& wx,
                                              Acc value, const Add& add) {
  int64_t yb, ye, xb, xe;
  wy.support(H, yb, ye);
  wx.support(W, xb, xe);
  for (int64_t i = yb; i < ye; ++i) {
    const Acc a = value * static_cast<Acc>(wy(i));
    if (a == Acc(0)) continue;
    for (int64_t j = xb; j < xe; ++j) add(grad_plane + i * W + j, a * static_cast<Acc>(wx(j)));
  }
}

// Chain rule from the edges of bin (p, q) to the scaled roi corners: bin edges are
//   y1 = Y1 + p (Y2 - Y1) / ph,  y2 = Y1 + (p + 1) (Y2 - Y1) / ph   (x likewise),
// valid where the roi has positive extent (the clamp at zero has zero gradient beyond it).
// Adds to dY1, dY2, dX1, dX2.
template <typename Acc>
C10_HOST_DEVICE inline void accumulate_roi_grad(const EdgeGrads<Acc>& d, int64_t p, int64_t q, int64_t ph, int64_t pw,
                                                Acc& dX1, Acc& dY1, Acc& dX2, Acc& dY2) {
  const Acc ay1 = Acc(p) / Acc(ph), ay2 = Acc(p + 1) / Acc(ph);
  const Acc ax1 = Acc(q) / Acc(pw), ax2 = Acc(q + 1) / Acc(pw);
  dY1 += d.y1 * (Acc(1) - ay1) + d.y2 * (Acc(1) - ay2);
  dY2 += d.y1 * ay1 + d.y2 * ay2;
  dX1 += d.x1 * (Acc(1) - ax1) + d.x2 * (Acc(1) - ax2);
  dX2 += d.x1 * ax1 + d.x2 * ax2;
}

// ---- Per-element kernels: the bodies of the CUDA kernels' loops ----
// Each handles one work item of a flat index and is called by the CUDA kernels (one thread per item) and,
// serially, by the CPU test op `_prroi_pool2d_gpu_path` (csrc/cpu/prroi_pool.cpp), so the CPU tests run
// exactly the code the GPU runs; only the adder differs (atomics on the GPU, += on the CPU).
// Layouts: features [N,C,H,W], rois [K,5], out and grad [K,C,ph,pw], all contiguous.
// Batch indices are not validated here (no host sync on CUDA, kernels/batch_index.h): RoiView clamps them
// into [0, N), so an out-of-range, fractional or NaN index pools some valid image and never reads or writes
// out of bounds.

struct Sizes {
  int64_t N, C, H, W, ph, pw;
};

template <typename scalar_t, typename acc_t>
struct RoiView {  // the scaled corners of roi k and its image (clamped into [0, batch))
  int64_t image;
  acc_t X1, Y1, X2, Y2;
  C10_HOST_DEVICE RoiView(const scalar_t* rois, int64_t k, acc_t scale, int64_t batch) {
    const scalar_t* r = rois + 5 * k;
    image = clamp_batch_index(static_cast<acc_t>(r[0]), batch);
    X1 = static_cast<acc_t>(r[1]) * scale;
    Y1 = static_cast<acc_t>(r[2]) * scale;
    X2 = static_cast<acc_t>(r[3]) * scale;
    Y2 = static_cast<acc_t>(r[4]) * scale;
  }
  C10_HOST_DEVICE bool finite() const { return roi_is_finite(X1, Y1, X2, Y2); }
};

// out[idx] for idx over K * C * ph * pw.
template <typename scalar_t, typename acc_t>
C10_HOST_DEVICE inline void forward_element(int64_t idx, const scalar_t* features, const scalar_t* rois, scalar_t* out,
                                            const Sizes& s, acc_t scale) {
  const int64_t q = idx % s.pw, p = (idx / s.pw) % s.ph, c = (idx / (s.pw * s.ph)) % s.C;
  const int64_t k = idx / (s.pw * s.ph * s.C);
  const RoiView<scalar_t, acc_t> r(rois, k, scale, s.N);
  if (!r.finite()) {
    out[idx] = static_cast<scalar_t>(NAN);
    return;
  }
  const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, s.ph, s.pw);
  out[idx] = static_cast<scalar_t>(bin_value<acc_t>(features + (r.image * s.C + c) * s.H * s.W, s.H, s.W, b));
}

// Adds the gradient of out[idx] (idx over K * C * ph * pw) to grad_features through `add`.
template <typename scalar_t, typename acc_t, typename Add>
C10_HOST_DEVICE inline void features_grad_element(int64_t idx, const scalar_t* grad, const scalar_t* rois,
                                                  scalar_t* grad_features, const Sizes& s, acc_t scale, const Add& add) {
  const acc_t g = static_cast<acc_t>(grad[idx]);
  if (g == acc_t(0)) return;
  const int64_t q = idx % s.pw, p = (idx / s.pw) % s.ph, c = (idx / (s.pw * s.ph)) % s.C;
  const int64_t k = idx / (s.pw * s.ph * s.C);
  const RoiView<scalar_t, acc_t> r(rois, k, scale, s.N);
  if (!r.finite()) return;
  const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, s.ph, s.pw);
  if (!bin_pools(b)) return;
  separable_scatter<acc_t>(grad_features + (r.image * s.C + c) * s.H * s.W, s.H, s.W, y_weight(b), x_weight(b), g,
                           add);
}

// Adds the gradient w.r.t. roi k's coordinates of bin (p, q), summed over channels (idx over K * ph * pw),
// to grad_rois[k, 1:5] through `add`.
template <typename scalar_t, typename acc_t, typename Add>
C10_HOST_DEVICE inline void rois_grad_element(int64_t idx, const scalar_t* grad, const scalar_t* features,
                                              const scalar_t* rois, const scalar_t* out, scalar_t* grad_rois,
                                              const Sizes& s, acc_t scale, const Add& add) {
  const int64_t q = idx % s.pw, p = (idx / s.pw) % s.ph, k = idx / (s.pw * s.ph);
  const RoiView<scalar_t, acc_t> r(rois, k, scale, s.N);
  if (!r.finite()) return;
  const Bin<acc_t> b = roi_bin(r.X1, r.Y1, r.X2, r.Y2, p, q, s.ph, s.pw);
  if (!bin_pools(b)) return;
  const BinWeight<acc_t> wy = y_weight(b), wx = x_weight(b);
  const HatWeight<acc_t> hy1{b.y1}, hy2{b.y2}, hx1{b.x1}, hx2{b.x2};
  acc_t gy1 = 0, gy2 = 0, gx1 = 0, gx2 = 0, go = 0;
  for (int64_t c = 0; c < s.C; ++c) {
    const int64_t o = ((k * s.C + c) * s.ph + p) * s.pw + q;
    const acc_t g = static_cast<acc_t>(grad[o]);
    if (g == acc_t(0)) continue;
    acc_t ey1, ey2, ex1, ex2;
    bin_edge_integrals<acc_t>(features + (r.image * s.C + c) * s.H * s.W, s.H, s.W, wy, wx, hy1, hy2, hx1, hx2, ey1,
                              ey2, ex1, ex2);
    gy1 += g * ey1;
    gy2 += g * ey2;
    gx1 += g * ex1;
    gx2 += g * ex2;
    go += g * static_cast<acc_t>(out[o]);
  }
  acc_t dX1 = 0, dY1 = 0, dX2 = 0, dY2 = 0;
  accumulate_roi_grad(bin_edge_grads(b, gy1, gy2, gx1, gx2, go), p, q, s.ph, s.pw, dX1, dY1, dX2, dY2);
  scalar_t* gr = grad_rois + 5 * k;
  add(gr + 1, dX1 * scale);
  add(gr + 2, dY1 * scale);
  add(gr + 3, dX2 * scale);
  add(gr + 4, dY2 * scale);
}

// ---- Host-side argument checks (shared by the CPU and CUDA registrations) ----

// Shapes, dtypes, devices and sizes: nothing that reads tensor values, so no host sync on CUDA. Batch indices
// are validated by the Python face, by the CPU kernels while they read them (checked_batch_index in
// csrc/cpu/prroi_pool.cpp) and clamped by the per-element kernels above (kernels/batch_index.h).
inline void check_args(const at::Tensor& features, const at::Tensor& rois, int64_t ph, int64_t pw, double scale) {
  TORCH_CHECK(features.dim() == 4, "prroi_pool2d: features must be [N,C,H,W], got ", features.sizes());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, "prroi_pool2d: rois must be [K,5], got ", rois.sizes());
  TORCH_CHECK(features.scalar_type() == rois.scalar_type(), "prroi_pool2d: features (", features.scalar_type(),
              ") and rois (", rois.scalar_type(), ") must have the same dtype");
  TORCH_CHECK(features.device() == rois.device(), "prroi_pool2d: features and rois must be on the same device");
  TORCH_CHECK(at::isFloatingType(features.scalar_type()), "prroi_pool2d: features must be floating point");
  TORCH_CHECK(ph > 0 && pw > 0, "prroi_pool2d: pooled sizes must be > 0, got ", ph, "x", pw);
  TORCH_CHECK(std::isfinite(scale) && scale > 0, "prroi_pool2d: spatial_scale must be finite and > 0, got ", scale);
  // With no image, no batch index is valid (and clamping could not make one): a size check, no values read.
  TORCH_CHECK(rois.size(0) == 0 || features.size(0) > 0, "prroi_pool2d: rois[:, 0] must hold batch indices in [0, N) ",
              "but the features have N = 0 images (", rois.size(0), " roi(s) given)");
}

// grad_output and output of the backward: [K, C, ph, pw], with the dtype and device of the features.
inline void check_backward_args(const at::Tensor& grad, const at::Tensor& output, const at::Tensor& features,
                                const at::Tensor& rois, int64_t ph, int64_t pw) {
  const std::vector<int64_t> out_shape{rois.size(0), features.size(1), ph, pw};
  TORCH_CHECK(grad.sizes() == out_shape && output.sizes() == out_shape,
              "prroi_pool2d backward: grad_output and output must be [K,C,ph,pw] = ", out_shape, ", got ",
              grad.sizes(), " and ", output.sizes());
  TORCH_CHECK(grad.scalar_type() == features.scalar_type() && output.scalar_type() == features.scalar_type() &&
                  grad.device() == features.device() && output.device() == features.device(),
              "prroi_pool2d backward: grad_output and output must match features in dtype and device");
}

}  // namespace prroi
}  // namespace tracking
