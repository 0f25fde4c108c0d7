// Operator schemas of the `tracking` namespace: the one place where the ops' signatures are defined.
// Backend kernels register themselves per file (csrc/cpu/<op>.cpp, csrc/cuda/<op>.cu) with
// TORCH_LIBRARY_IMPL; autograd formulas and fake (meta) kernels are registered from Python
// (tracking/ops/<op>.py) when tracking._C is loaded.
#include <Python.h>
#include <torch/library.h>

// `import tracking._C` runs the static registrations below; the module itself exposes nothing.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", "tracking's compiled operators", -1,
                                          nullptr};
  return PyModule_Create(&module_def);
}

TORCH_LIBRARY(tracking, m) {
  // features [N,C,H,W]; rois [K,5] = (batch_index, x1, y1, x2, y2) in input-image coordinates.
  m.def("prroi_pool2d(Tensor features, Tensor rois, int pooled_height, int pooled_width, float spatial_scale)"
        " -> Tensor");
  m.def("_prroi_pool2d_backward(Tensor grad_output, Tensor features, Tensor rois, Tensor output,"
        " int pooled_height, int pooled_width, float spatial_scale, bool need_features_grad,"
        " bool need_rois_grad) -> (Tensor, Tensor)");
  // Tests only (CPU): the CUDA kernels' per-element code (kernels/prroi_pool.h) run serially on the CPU.
  m.def("_prroi_pool2d_gpu_path(Tensor features, Tensor rois, int pooled_height, int pooled_width,"
        " float spatial_scale) -> Tensor");
  m.def("_prroi_pool2d_gpu_path_backward(Tensor grad_output, Tensor features, Tensor rois, Tensor output,"
        " int pooled_height, int pooled_width, float spatial_scale) -> (Tensor, Tensor)");
  // input1, input2 [B,C,H,W] -> [B, patch_h, patch_w, out_h, out_w]; every int[2] is (h, w).
  m.def("correlation(Tensor input1, Tensor input2, int[2] kernel_size, int[2] patch_size, int[2] stride,"
        " int[2] padding, int[2] dilation_patch) -> Tensor");
  m.def("_correlation_backward(Tensor grad_output, Tensor input1, Tensor input2, int[2] kernel_size,"
        " int[2] patch_size, int[2] stride, int[2] padding, int[2] dilation_patch) -> (Tensor, Tensor)");
  // images [N,C,H,W]; boxes [K,5] = (batch_index, x1, y1, x2, y2), continuous pixel coordinates
  // (pixel (i, j) covers [j, j+1) x [i, i+1)); padding is "zeros" or "border".
  m.def("crop_and_resize(Tensor images, Tensor boxes, int out_height, int out_width, str padding) -> Tensor");
  m.def("_crop_and_resize_backward(Tensor grad_output, Tensor boxes, int batch, int channels, int height,"
        " int width, str padding) -> Tensor");
}
