"""``crop_and_resize``: bilinear crops of boxes, resized to a fixed size, with zero or border padding.

Runs the compiled kernels (``torch.ops.tracking.crop_and_resize``) when ``tracking._C`` is available,
else the pure-PyTorch reference ``tracking.ops.reference.crop_and_resize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _checks
from ._extension import load_extension, warn_reference_fallback
from .reference.crop_and_resize import crop_and_resize as _reference_crop_and_resize

_OP = "crop_and_resize"
PADDING_MODES = ("zeros", "border")


def crop_and_resize(images: torch.Tensor, boxes: torch.Tensor, output_size: int | Sequence[int],
                    padding: str = "zeros") -> torch.Tensor:
    """Crop boxes out of images and resize them bilinearly to ``output_size``.

    Args:
        images: [N,C,H,W] floating point.
        boxes: [K,5] = (batch_index, x1, y1, x2, y2), or [N,4] = (x1, y1, x2, y2) with one box per image
            (box i crops image i). Same dtype and device as ``images``. Coordinates are continuous pixel
            coordinates: pixel (i, j) covers [j, j+1) x [i, i+1), its centre is (j + 0.5, i + 0.5); so the
            box (0, 0, W, H) is the whole image.
        output_size: int or (out_h, out_w), > 0.
        padding: "zeros" or "border".

    Returns:
        [K,C,out_h,out_w], same dtype and device as ``images``.

    Output pixel (r, q) of box k samples image ``batch_index`` bilinearly at the source index
    coordinates (index coordinate j is the centre of column j)::

        x = x1 + (q + 0.5) * (x2 - x1) / out_w - 0.5
        y = y1 + (r + 0.5) * (y2 - y1) / out_h - 0.5

    the half-pixel convention of cv2.resize / cv2.warpAffine, roi_align(aligned=True) with one sample
    per bin and grid_sample(align_corners=False). ``padding="zeros"``: image pixels outside
    [0, W) x [0, H) count as 0, i.e. each of the four bilinear taps that falls outside contributes 0
    (grid_sample padding_mode="zeros"). ``padding="border"``: x and y are clamped to [0, W-1] and
    [0, H-1] before interpolation (grid_sample padding_mode="border"), i.e. border replication.
    Boxes with x2 < x1 (or y2 < y1) give a mirrored crop; a zero-size box samples one point repeatedly.
    x and y are computed in the dtype of the boxes without intermediate overflow: where x2 - x1 (or
    y2 - y1) overflows (a finite box wider than the dtype's range, e.g. x1 = -3e38, x2 = 3e38 in float32),
    they are computed as the equivalent ``(1 - t) * x1 + t * x2 - 0.5``, t = (q + 0.5) / out_w, so every
    finite box has finite sample positions, sampled as above (far outside: 0 with zero padding, the border
    pixel with border padding). Output pixels whose x or y is not finite (a box with a NaN or inf
    coordinate) are 0 and receive no gradient, in both padding modes. Gradients flow to ``images`` only, not
    to ``boxes``. Supported dtypes: float32 and float64 on the CPU, also float16 and bfloat16 on CUDA.

    Validation: shapes, dtypes, devices, sizes and ``padding`` are always checked. The batch indices
    ``boxes[:, 0]`` (whole numbers in [0, N)) are checked once per call, with one host sync, for CPU tensors
    always and on the reference path always; for CUDA tensors only when the debug switch is on
    (``TRACKING_DEBUG_CHECKS=1`` or ``tracking.ops.set_debug_checks(True)``). Unchecked, the CUDA kernels
    clamp each index into [0, N) (negative/NaN -> 0, too large -> N - 1, fractional -> truncated): a bad
    index crops a valid image, never memory out of bounds. Called directly, the raw CPU ops (forward and
    backward) raise RuntimeError on a bad index. See ``tracking.ops._checks``.

    Raises:
        ValueError / TypeError: bad shapes, sizes, dtypes (incl. float16/bfloat16 on the CPU) or padding; bad
            batch indices where they are checked.
    """
    out_h, out_w = _checks.pair(_OP, "output_size", output_size)
    _checks.check_floating(_OP, images=images, boxes=boxes)
    _checks.check_shape(_OP, "images", images, "N,C,H,W")
    if padding not in PADDING_MODES:
        raise ValueError(f"{_OP}: `padding` must be one of {PADDING_MODES}, got {padding!r}")
    boxes = _as_indexed_boxes(images, boxes)
    use_extension = load_extension()
    _checks.check_batch_indices(_OP, "boxes", boxes[:, 0], images.shape[0], force=not use_extension)
    if boxes.shape[0] > 0 and (images.shape[2] == 0 or images.shape[3] == 0):
        raise ValueError(f"{_OP}: cannot crop from images of zero height or width, got {list(images.shape)}")
    if use_extension:
        return torch.ops.tracking.crop_and_resize(images, boxes, out_h, out_w, padding)
    warn_reference_fallback(_OP)
    return _reference_crop_and_resize(images, boxes, out_h, out_w, padding)


def _as_indexed_boxes(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """boxes [K,5] unchanged, or [N,4] (one box per image) -> [N,5] with batch index = row."""
    if boxes.dim() == 2 and boxes.shape[1] == 4:
        if boxes.shape[0] != images.shape[0]:
            raise ValueError(f"{_OP}: `boxes` of shape [N,4] need one box per image (N = {images.shape[0]}), "
                             f"got {list(boxes.shape)}")
        index = torch.arange(boxes.shape[0], dtype=boxes.dtype, device=boxes.device)
        return torch.cat([index[:, None], boxes], dim=1)
    _checks.check_shape(_OP, "boxes", boxes, "K,5")
    return boxes


# ---- Python-side kernels registered once tracking._C is loaded ----

def _fake_forward(images: torch.Tensor, boxes: torch.Tensor, out_height: int, out_width: int,
                  padding: str) -> torch.Tensor:
    return images.new_empty((boxes.shape[0], images.shape[1], out_height, out_width))


def _fake_backward(grad_output: torch.Tensor, boxes: torch.Tensor, batch: int, channels: int, height: int,
                   width: int, padding: str) -> torch.Tensor:
    return grad_output.new_empty((batch, channels, height, width))


def _setup_forward(ctx, inputs: tuple, output: torch.Tensor) -> None:
    images, boxes, _, _, padding = inputs
    ctx.save_for_backward(boxes)
    ctx.image_shape = tuple(images.shape)
    ctx.padding = padding


def _backward_forward(ctx, grad: torch.Tensor) -> tuple:
    (boxes,) = ctx.saved_tensors
    n, c, h, w = ctx.image_shape
    grad_images = torch.ops.tracking._crop_and_resize_backward(grad.contiguous(), boxes, n, c, h, w, ctx.padding)
    return grad_images, None, None, None, None


def _setup_backward(ctx, inputs: tuple, output: torch.Tensor) -> None:
    grad_output, boxes, _, _, _, _, padding = inputs
    ctx.save_for_backward(boxes)
    ctx.out_size = (grad_output.shape[2], grad_output.shape[3])
    ctx.padding = padding


def _backward_backward(ctx, grad: torch.Tensor) -> tuple:
    # The backward is linear in grad_output; its adjoint is the forward crop.
    (boxes,) = ctx.saved_tensors
    grad_grad_output = torch.ops.tracking.crop_and_resize(grad.contiguous(), boxes, *ctx.out_size, ctx.padding)
    return grad_grad_output, None, None, None, None, None, None


def register_python_kernels() -> None:
    """Register fake kernels and autograd formulas of the crop_and_resize ops (after tracking._C loads)."""
    torch.library.register_fake("tracking::crop_and_resize", _fake_forward)
    torch.library.register_fake("tracking::_crop_and_resize_backward", _fake_backward)
    torch.library.register_autograd("tracking::crop_and_resize", _backward_forward, setup_context=_setup_forward)
    torch.library.register_autograd("tracking::_crop_and_resize_backward", _backward_backward,
                                    setup_context=_setup_backward)
