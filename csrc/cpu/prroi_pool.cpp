// PrRoIPool on the CPU. The math is in kernels/prroi_pool.h; this file tabulates the per-roi axis
// weights once and runs the separable sums in parallel:
//   forward            parallel over (image, block of channels), each visiting the rois of its image
//   grad of features   the same split, so each gradient plane has one writer: no races, no atomics
//   grad of rois       parallel over rois, summing over channels (per bin, with separable_sum)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/prroi_pool.h"

namespace tracking {
namespace {

using namespace prroi;

// The weights of the bins of one roi along one axis: bin p covers pixels [begin[p], end[p]) with weights
// w[offset[p] ...]. After finish(), `dense` holds the same weights as a [bins, hi - lo] matrix over the
// union [lo, hi) of the bins' supports (zeros elsewhere), for the factorised loops.
template <typename T>
struct AxisTable {
  std::vector<int64_t> begin, end, offset;
  std::vector<T> w, dense;
  int64_t lo = 0, hi = 0;

  template <typename Weight>
  void add(const Weight& weight, int64_t size) {
    int64_t b, e;
    weight.support(size, b, e);
    begin.push_back(b);
    end.push_back(e);
    offset.push_back(static_cast<int64_t>(w.size()));
    for (int64_t i = b; i < e; ++i) w.push_back(weight(i));
  }
  // Builds `dense`. With `fixed_window`, the union is widened (inside [0, size)) to 4, 8, 12 or 16 pixels when it
  // fits, so the plane loops run with a compile-time trip count (see pool_roi).
  void finish(int64_t size, bool fixed_window) {
    const int64_t bins = static_cast<int64_t>(begin.size());
    lo = hi = 0;
    bool any = false;
    for (int64_t p = 0; p < bins; ++p) {
      if (begin[p] == end[p]) continue;
      lo = any ? std::min(lo, begin[p]) : begin[p];
      hi = any ? std::max(hi, end[p]) : end[p];
      any = true;
    }
    if (fixed_window && any) {
      for (const int64_t n : {int64_t(4), int64_t(8), int64_t(12), int64_t(16)}) {
        if (hi - lo <= n && n <= size) {
          lo = std::min(lo, size - n);
          hi = lo + n;
          break;
        }
      }
    }
    dense.assign(static_cast<size_t>(bins * (hi - lo)), T(0));
    for (int64_t p = 0; p < bins; ++p)
      for (int64_t i = begin[p]; i < end[p]; ++i) dense[p * (hi - lo) + i - lo] = w[offset[p] + i - begin[p]];
  }
  int64_t width() const { return hi - lo; }
  const T* dense_row(int64_t p) const { return dense.data() + p * (hi - lo); }
  TableWeight<T> operator[](int64_t p) const { return {w.data() + offset[p], begin[p], end[p]}; }
};

// Everything the loops need about one roi, computed once.
template <typename T>
struct RoiTables {
  int64_t image = 0;
  bool finite = true;
  Bin<T> first_bin{};               // bin (0, 0): its size is the size of every bin
  T X1 = 0, Y1 = 0, X2 = 0, Y2 = 0;  // scaled corners
  AxisTable<T> wy, wx;              // bin weights per bin row / column
  AxisTable<T> hy1, hy2, hx1, hx2;  // hat weights at the bin edges (roi gradients only)
};

// Roi k's image, validated: a RuntimeError unless rois[k, 0] is a whole number in [0, N). Called where the
// kernels read the index (make_tables), so direct calls of the raw CPU ops with bad indices raise without a
// separate validation pass (kernels/batch_index.h).
template <typename T>
int64_t roi_image(const T* rois, int64_t k, int64_t N) {
  return checked_batch_index("prroi_pool2d", "rois", static_cast<double>(rois[5 * k]), N, k);
}

// For calls with nothing to compute (no channels, no gradient wanted): the same validation as make_tables.
inline void validate_batch_indices(const at::Tensor& rois, int64_t N) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, rois.scalar_type(),
                                  "prroi_pool2d_validate", [&] {
    const scalar_t* r = rois.const_data_ptr<scalar_t>();
    for (int64_t k = 0; k < rois.size(0); ++k) roi_image(r, k, N);
  });
}

template <typename T>
RoiTables<T> make_tables(const T* rois, int64_t k, int64_t N, double scale, int64_t ph, int64_t pw, int64_t H,
                         int64_t W, bool edges) {
  RoiTables<T> t;
  const T* roi = rois + 5 * k;
  t.image = roi_image(rois, k, N);
  t.X1 = roi[1] * T(scale);
  t.Y1 = roi[2] * T(scale);
  t.X2 = roi[3] * T(scale);
  t.Y2 = roi[4] * T(scale);
  t.finite = roi_is_finite(t.X1, t.Y1, t.X2, t.Y2);
  if (!t.finite) return t;
  t.first_bin = roi_bin(t.X1, t.Y1, t.X2, t.Y2, 0, 0, ph, pw);
  if (!bin_pools(t.first_bin)) return t;
  for (int64_t p = 0; p < ph; ++p) {
    const Bin<T> b = roi_bin(t.X1, t.Y1, t.X2, t.Y2, p, 0, ph, pw);
    t.wy.add(y_weight(b), H);
    if (edges) {
      t.hy1.add(HatWeight<T>{b.y1}, H);
      t.hy2.add(HatWeight<T>{b.y2}, H);
    }
  }
  for (int64_t q = 0; q < pw; ++q) {
    const Bin<T> b = roi_bin(t.X1, t.Y1, t.X2, t.Y2, 0, q, ph, pw);
    t.wx.add(x_weight(b), W);
    if (edges) {
      t.hx1.add(HatWeight<T>{b.x1}, W);
      t.hx2.add(HatWeight<T>{b.x2}, W);
    }
  }
  t.wy.finish(H, /*fixed_window=*/false);
  t.wx.finish(W, /*fixed_window=*/true);
  if (edges) {
    // rois_grad reads the pixels of the hats at the bin edges from the column window [wx.lo, wx.hi), so they
    // must lie inside it. axis_support is monotone, so they do; checked once per roi rather than trusted.
    for (int64_t q = 0; q < pw; ++q)
      for (const AxisTable<T>* hat : {&t.hx1, &t.hx2})
        TORCH_INTERNAL_ASSERT(hat->begin[q] == hat->end[q] || (hat->begin[q] >= t.wx.lo && hat->end[q] <= t.wx.hi),
                              "prroi_pool2d: edge support [", hat->begin[q], ", ", hat->end[q], ") of bin ", q,
                              " outside the column window [", t.wx.lo, ", ", t.wx.hi, ") of roi ", k);
  }
  return t;
}

// Tables of every roi; rejects bad batch indices (RuntimeError, from the worker threads through
// at::parallel_for).
template <typename T>
std::vector<RoiTables<T>> make_all_tables(const at::Tensor& rois, int64_t N, double scale, int64_t ph, int64_t pw,
                                          int64_t H, int64_t W, bool edges) {
  const int64_t K = rois.size(0);
  std::vector<RoiTables<T>> tables(K);
  const T* r = rois.data_ptr<T>();
  at::parallel_for(0, K, 16, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) tables[k] = make_tables(r, k, N, scale, ph, pw, H, W, edges);
  });
  return tables;
}

// Roi indices grouped by their image.
template <typename T>
std::vector<std::vector<int64_t>> group_by_image(const std::vector<RoiTables<T>>& tables, int64_t N) {
  std::vector<std::vector<int64_t>> rois_of_image(N);
  for (int64_t k = 0; k < static_cast<int64_t>(tables.size()); ++k) rois_of_image[tables[k].image].push_back(k);
  return rois_of_image;
}

// The channels [c0, c1) of one image, and where one roi's pooled values of them go.
template <typename T>
struct ChannelBlock {
  int64_t c0, c1;       // channel range
  int64_t plane, W;     // plane size H * W and row length W
};

// One roi over a block of channels, factorised: for each bin row p, the weighted column sums
// rows[c][p][j] = sum_i wy_p(i) F[c][i][j] over the roi's column window, then out[c][p][q] = rows[c][p] . wx_q.
// Same weights and the same integral as separable_sum per bin, with fewer operations. The channel loop sits
// inside the per-roi loops so their set-up is paid once per block, and NX > 0 (the window width known at
// compile time, 4/8/12/16, see AxisTable::finish) turns the innermost loops into straight-line vector
// code; NX = 0 handles any width. `image` points at channel 0 of the roi's image, `out` at out[k, 0, 0, 0].
template <int NX, typename T>
void pool_roi(const T* image, const ChannelBlock<T>& b, const RoiTables<T>& t, int64_t ph, int64_t pw,
              std::vector<T>& scratch, T* out) {
  const int64_t nx = NX > 0 ? NX : t.wx.width();
  const int64_t nc = b.c1 - b.c0;
  scratch.assign(static_cast<size_t>(nc * ph * nx), T(0));  // rows[c][p][j]
  for (int64_t p = 0; p < ph; ++p) {
    const T* wy = t.wy.dense_row(p) - t.wy.lo;
    for (int64_t i = t.wy.begin[p]; i < t.wy.end[p]; ++i) {
      const T a = wy[i];
      const T* src_row = image + b.c0 * b.plane + i * b.W + t.wx.lo;
      for (int64_t c = 0; c < nc; ++c) {
        T* __restrict__ rows = scratch.data() + (c * ph + p) * nx;
        const T* __restrict__ src = src_row + c * b.plane;
        for (int64_t j = 0; j < nx; ++j) rows[j] += a * src[j];
      }
    }
  }
  for (int64_t p = 0; p < ph; ++p)
    for (int64_t q = 0; q < pw; ++q) {
      const T* __restrict__ wx = t.wx.dense_row(q);
      const int64_t jb = t.wx.begin[q] - t.wx.lo, je = t.wx.end[q] - t.wx.lo;
      for (int64_t c = 0; c < nc; ++c) {
        const T* __restrict__ rows = scratch.data() + (c * ph + p) * nx;
        T sum = 0;
        for (int64_t j = jb; j < je; ++j) sum += rows[j] * wx[j];
        out[((b.c0 + c) * ph + p) * pw + q] = sum;
      }
    }
}

// The adjoint of pool_roi: adds the gradient of one roi's outputs (`g` at g[k, 0, 0, 0]) to the gradient
// planes of its image (`grad_image` at channel 0) over a block of channels.
template <int NX, typename T>
void scatter_roi(T* grad_image, const ChannelBlock<T>& b, const RoiTables<T>& t, int64_t ph, int64_t pw, const T* g,
                 std::vector<T>& scratch) {
  const int64_t nx = NX > 0 ? NX : t.wx.width();
  const int64_t nc = b.c1 - b.c0;
  scratch.assign(static_cast<size_t>(nc * ph * nx), T(0));  // cols[c][p][j] = sum_q g[c][p][q] wx_q[j]
  for (int64_t p = 0; p < ph; ++p)
    for (int64_t q = 0; q < pw; ++q) {
      const T* __restrict__ wx = t.wx.dense_row(q);
      const int64_t jb = NX > 0 ? 0 : t.wx.begin[q] - t.wx.lo;
      const int64_t je = NX > 0 ? nx : t.wx.end[q] - t.wx.lo;
      for (int64_t c = 0; c < nc; ++c) {
        const T gv = g[((b.c0 + c) * ph + p) * pw + q];
        T* __restrict__ cols = scratch.data() + (c * ph + p) * nx;
        for (int64_t j = jb; j < je; ++j) cols[j] += gv * wx[j];
      }
    }
  for (int64_t p = 0; p < ph; ++p) {
    const T* wy = t.wy.dense_row(p) - t.wy.lo;
    for (int64_t i = t.wy.begin[p]; i < t.wy.end[p]; ++i) {
      const T a = wy[i];
      T* dst_row = grad_image + b.c0 * b.plane + i * b.W + t.wx.lo;
      for (int64_t c = 0; c < nc; ++c) {
        T* __restrict__ dst = dst_row + c * b.plane;
        const T* __restrict__ cols = scratch.data() + (c * ph + p) * nx;
        for (int64_t j = 0; j < nx; ++j) dst[j] += a * cols[j];
      }
    }
  }
}

// Work items of the plane loops: (image, block of kChannelBlock channels), so that the features of one
// image's block stay in cache across its rois, and work splits across threads even for a single image.
constexpr int64_t kChannelBlock = 32;

inline int64_t channel_blocks(int64_t C) { return (C + kChannelBlock - 1) / kChannelBlock; }

// Calls fn.template operator()<NX>() with NX the compile-time window width of the roi (0: any width).
template <typename T, typename Fn>
void with_window(const RoiTables<T>& t, const Fn& fn) {
  switch (t.wx.width()) {
    case 4:
      return fn(std::integral_constant<int, 4>{});
    case 8:
      return fn(std::integral_constant<int, 8>{});
    case 12:
      return fn(std::integral_constant<int, 12>{});
    case 16:
      return fn(std::integral_constant<int, 16>{});
    default:
      return fn(std::integral_constant<int, 0>{});
  }
}

// Batch indices: validated by make_all_tables / validate_batch_indices (RuntimeError on a bad one), not by
// check_args (shapes, dtypes, devices and sizes only).
at::Tensor forward_cpu(const at::Tensor& features_in, const at::Tensor& rois_in, int64_t ph, int64_t pw,
                       double scale) {
  check_args(features_in, rois_in, ph, pw, scale);
  const at::Tensor features = features_in.contiguous();
  const at::Tensor rois = rois_in.contiguous();
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3);
  const int64_t K = rois.size(0);
  at::Tensor output = at::empty({K, C, ph, pw}, features.options());
  if (K == 0 || C == 0) {  // nothing to compute; batch indices still validated
    validate_batch_indices(rois, N);
    return output;
  }
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "prroi_pool2d_forward_cpu", [&] {
    const auto tables = make_all_tables<scalar_t>(rois, N, scale, ph, pw, H, W, /*edges=*/false);
    const auto rois_of_image = group_by_image(tables, N);
    const scalar_t* f = features.data_ptr<scalar_t>();
    scalar_t* out = output.data_ptr<scalar_t>();
    const int64_t blocks = channel_blocks(C);
    at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / blocks;
        const ChannelBlock<scalar_t> b{(item % blocks) * kChannelBlock,
                                       std::min(C, (item % blocks + 1) * kChannelBlock), H * W, W};
        for (const int64_t k : rois_of_image[n]) {
          const RoiTables<scalar_t>& t = tables[k];
          scalar_t* o = out + k * C * ph * pw;
          if (!t.finite || !bin_pools(t.first_bin)) {
            const scalar_t fill = t.finite ? scalar_t(0) : std::numeric_limits<scalar_t>::quiet_NaN();
            std::fill(o + b.c0 * ph * pw, o + b.c1 * ph * pw, fill);
            continue;
          }
          with_window(t, [&](auto nx) {
            pool_roi<decltype(nx)::value>(f + n * C * H * W, b, t, ph, pw, scratch, o);
          });
        }
      }
    });
  });
  return output;
}

// Writes every plane of grad_f (zeros where no roi reaches), so it may start uninitialised.
template <typename T>
void features_grad(const std::vector<RoiTables<T>>& tables, const T* g, int64_t N, int64_t C, int64_t H, int64_t W,
                   int64_t ph, int64_t pw, T* grad_f) {
  const auto rois_of_image = group_by_image(tables, N);
  const int64_t blocks = channel_blocks(C);
  at::parallel_for(0, N * blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks;
      const ChannelBlock<T> b{(item % blocks) * kChannelBlock, std::min(C, (item % blocks + 1) * kChannelBlock),
                              H * W, W};
      T* grad_image = grad_f + n * C * H * W;
      std::fill(grad_image + b.c0 * H * W, grad_image + b.c1 * H * W, T(0));
      for (const int64_t k : rois_of_image[n]) {
        const RoiTables<T>& t = tables[k];
        if (!t.finite || !bin_pools(t.first_bin)) continue;
        with_window(t, [&](auto nx) {
          scatter_roi<decltype(nx)::value>(grad_image, b, t, ph, pw, g + k * C * ph * pw, scratch);
        });
      }
    }
  });
}

// Roi gradients, factorised like pool_roi: per channel, the column sums of the rows weighted by the bin
// weights (for the x edges) and by the hat at each bin's top and bottom edge (for the y edges), then per bin
// the four edge integrals as short dot products (see bin_edge_integrals for their meaning). The hat
// supports lie inside the bins' supports, hence inside the column window.
template <typename T>
void rois_grad(const std::vector<RoiTables<T>>& tables, const T* g, const T* f, const T* out, int64_t C, int64_t H,
               int64_t W, int64_t ph, int64_t pw, double scale, T* grad_r) {
  const int64_t K = static_cast<int64_t>(tables.size());
  at::parallel_for(0, K, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> acc(static_cast<size_t>(5 * ph * pw)), rows;
    for (int64_t k = begin; k < end; ++k) {
      const RoiTables<T>& t = tables[k];
      if (!t.finite || !bin_pools(t.first_bin)) continue;
      const int64_t nx = t.wx.width();
      rows.assign(static_cast<size_t>(3 * ph * nx), T(0));
      T* bin_rows = rows.data();        // [ph][nx], bin weights
      T* top_rows = bin_rows + ph * nx;  // hat at each bin's y1
      T* bottom_rows = top_rows + ph * nx;
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t c = 0; c < C; ++c) {
        const T* plane = f + (t.image * C + c) * H * W + t.wx.lo;
        std::fill(rows.begin(), rows.end(), T(0));
        for (int64_t p = 0; p < ph; ++p) {
          const auto add_rows = [&](const TableWeight<T>& w, T* dst) {
            for (int64_t i = w.begin; i < w.end; ++i) {
              const T a = w(i);
              for (int64_t j = 0; j < nx; ++j) dst[j] += a * plane[i * W + j];
            }
          };
          add_rows(t.wy[p], bin_rows + p * nx);
          add_rows(t.hy1[p], top_rows + p * nx);
          add_rows(t.hy2[p], bottom_rows + p * nx);
        }
        const T* gk = g + (k * C + c) * ph * pw;
        const T* ok = out + (k * C + c) * ph * pw;
        for (int64_t p = 0; p < ph; ++p)
          for (int64_t q = 0; q < pw; ++q) {
            const T gv = gk[p * pw + q];
            if (gv == T(0)) continue;
            const auto dot = [&](const T* r, const TableWeight<T>& w) {
              T sum = 0;
              for (int64_t j = w.begin; j < w.end; ++j) sum += r[j - t.wx.lo] * w(j);
              return sum;
            };
            T* a = acc.data() + 5 * (p * pw + q);
            a[0] += gv * dot(top_rows + p * nx, t.wx[q]);
            a[1] += gv * dot(bottom_rows + p * nx, t.wx[q]);
            a[2] += gv * dot(bin_rows + p * nx, t.hx1[q]);
            a[3] += gv * dot(bin_rows + p * nx, t.hx2[q]);
            a[4] += gv * ok[p * pw + q];
          }
      }
      T dX1 = 0, dY1 = 0, dX2 = 0, dY2 = 0;
      for (int64_t p = 0; p < ph; ++p)
        for (int64_t q = 0; q < pw; ++q) {
          const T* a = acc.data() + 5 * (p * pw + q);
          const Bin<T> b = roi_bin(t.X1, t.Y1, t.X2, t.Y2, p, q, ph, pw);
          accumulate_roi_grad(bin_edge_grads(b, a[0], a[1], a[2], a[3], a[4]), p, q, ph, pw, dX1, dY1, dX2, dY2);
        }
      T* gr = grad_r + 5 * k;
      gr[1] = dX1 * T(scale);
      gr[2] = dY1 * T(scale);
      gr[3] = dX2 * T(scale);
      gr[4] = dY2 * T(scale);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_in, const at::Tensor& features_in,
                                                const at::Tensor& rois_in, const at::Tensor& output_in, int64_t ph,
                                                int64_t pw, double scale, bool need_features_grad,
                                                bool need_rois_grad) {
  check_args(features_in, rois_in, ph, pw, scale);
  const at::Tensor features = features_in.contiguous();
  const at::Tensor rois = rois_in.contiguous();
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3);
  const int64_t K = rois.size(0);
  check_backward_args(grad_in, output_in, features, rois, ph, pw);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor output = output_in.contiguous();
  // grad_features is written plane by plane by features_grad (first touch in the worker threads).
  at::Tensor grad_features = need_features_grad && K > 0 && C > 0 ? at::empty_like(features) : at::zeros_like(features);
  at::Tensor grad_rois = at::zeros_like(rois);
  if (K == 0 || C == 0 || (!need_features_grad && !need_rois_grad)) {  // nothing to compute; indices validated
    validate_batch_indices(rois, N);
    return {grad_features, grad_rois};
  }
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "prroi_pool2d_backward_cpu", [&] {
    const auto tables = make_all_tables<scalar_t>(rois, N, scale, ph, pw, H, W, need_rois_grad);
    if (need_features_grad)
      features_grad<scalar_t>(tables, grad.data_ptr<scalar_t>(), N, C, H, W, ph, pw,
                              grad_features.data_ptr<scalar_t>());
    if (need_rois_grad)
      rois_grad<scalar_t>(tables, grad.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(),
                          output.data_ptr<scalar_t>(), C, H, W, ph, pw, scale, grad_rois.data_ptr<scalar_t>());
  });
  return {grad_features, grad_rois};
}

// ---- The CUDA kernels' per-element code, run serially on the CPU (tests only) ----
// Like the CUDA kernels, these do not validate batch indices: they clamp them (RoiView), so the tests can
// check on the CPU what the GPU does with an unchecked out-of-range index.

at::Tensor gpu_path_forward(const at::Tensor& features_in, const at::Tensor& rois_in, int64_t ph, int64_t pw,
                            double scale) {
  check_args(features_in, rois_in, ph, pw, scale);
  const at::Tensor features = features_in.contiguous(), rois = rois_in.contiguous();
  at::Tensor output = at::empty({rois.size(0), features.size(1), ph, pw}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "prroi_pool2d_gpu_path", [&] {
    const Sizes s{features.size(0), features.size(1), features.size(2), features.size(3), ph, pw};
    for (int64_t idx = 0; idx < output.numel(); ++idx)
      forward_element<scalar_t, scalar_t>(idx, features.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
                                          output.data_ptr<scalar_t>(), s, scalar_t(scale));
  });
  return output;
}

std::tuple<at::Tensor, at::Tensor> gpu_path_backward(const at::Tensor& grad_in, const at::Tensor& features_in,
                                                     const at::Tensor& rois_in, const at::Tensor& output_in,
                                                     int64_t ph, int64_t pw, double scale) {
  check_args(features_in, rois_in, ph, pw, scale);
  const at::Tensor features = features_in.contiguous(), rois = rois_in.contiguous();
  check_backward_args(grad_in, output_in, features, rois, ph, pw);
  const at::Tensor grad = grad_in.contiguous(), output = output_in.contiguous();
  at::Tensor grad_features = at::zeros_like(features), grad_rois = at::zeros_like(rois);
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "prroi_pool2d_gpu_path_backward", [&] {
    const Sizes s{features.size(0), features.size(1), features.size(2), features.size(3), ph, pw};
    const auto add = [](scalar_t* dst, scalar_t v) { *dst += v; };
    for (int64_t idx = 0; idx < grad.numel(); ++idx)
      features_grad_element<scalar_t, scalar_t>(idx, grad.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
                                                grad_features.data_ptr<scalar_t>(), s, scalar_t(scale), add);
    for (int64_t idx = 0; idx < rois.size(0) * ph * pw; ++idx)
      rois_grad_element<scalar_t, scalar_t>(idx, grad.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(),
                                            rois.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(),
                                            grad_rois.data_ptr<scalar_t>(), s, scalar_t(scale), add);
  });
  return {grad_features, grad_rois};
}

}  // namespace

TORCH_LIBRARY_IMPL(tracking, CPU, m) {
  m.impl("prroi_pool2d", &forward_cpu);
  m.impl("_prroi_pool2d_backward", &backward_cpu);
  m.impl("_prroi_pool2d_gpu_path", &gpu_path_forward);
  m.impl("_prroi_pool2d_gpu_path_backward", &gpu_path_backward);
}

}  // namespace tracking
