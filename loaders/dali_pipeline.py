"""The DALI backend's pipeline graph and the callback that feeds it host batches.

    encoded bytes --decoders.image / decoders.image_slice (ROI)--> RGB uint8 HWC
      --warp_affine(matrix, size S, bilinear, fill 0 | clamp)--> S x S uint8 crop
      --color_space_conversion(GRAY), blended per frame: x + g * (gray - x), g in {0, 1}-->
      --x * brightness, clamp to [0, 255]--> --crop_mirror_normalize(255 * ImageNet mean/std, CHW)--> float32

Variants (MODES), one graph definition: "warp" (full decode + warp_affine) is the GPU variant: the decoder
runs with ``device="mixed"`` and the rest on the GPU; with ``mode="warp"`` on the CPU it runs the same graph
there. On the CPU the default decodes only the ROI: "roi_resize" (fn.resize with the window as a continuous
ROI; resize clamps source coordinates, i.e. replicates the border, so replicate padding only) or, for zero
padding, "roi_warp" (warp_affine with fill_value 0). Outside the image the ROI is the image border itself,
so clamping ("replicate") and zero fill give the same pixels as the full decode; on an axis where the window
lies wholly outside the image, fn.resize gets the equivalent half-pixel ROI at the border
(loaders.dali_host.resize_roi: DALI's CPU resize segfaults on a ROI beyond its input). Horizontal flips (records
with mirrored windows) need no op of their own: warp_affine gets the mirrored matrix, fn.resize a ROI with
roi_start > roi_end on x, which it mirrors (checked against the OpenCV backend by tests/test_flip_rendering.py).
Measured (2 threads, 640x360, 288 crops, ms/frame): ROI decode 0.46 vs full 0.65; resize ~1.0 vs warp_affine
~2.1; the colour ops ~2 (cast, gray blend, clamp, normalise). cv2's warpAffine takes ~0.5 ms, so on 2 CPU cores
the OpenCV backend is faster than DALI.

Equivalence with the OpenCV backend: decoding is bit-identical to cv2 (both libjpeg-turbo); DALI's float
bilinear weights differ from cv2's 5-bit fixed-point ones by at most 2 grey levels per pixel (mean ~0.05);
grayscale is bit-identical to cv2's RGB2GRAY.

DALI is imported inside the functions that need it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import torch

from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD

from .dali_host import HostBatch

#: Pipeline modes: "warp" (full decode + warp_affine: the GPU variant), "roi_warp" (ROI decode +
#: warp_affine), "roi_resize" (ROI decode + fn.resize with a continuous ROI; replicate padding only).
MODES = ("warp", "roi_warp", "roi_resize")
#: DALI's prefetch queue depth (batches in flight).
PREFETCH_DEPTH = 2


def check_mode(mode: str, padding: str) -> None:
    """ValueError unless pipeline `mode` is one of MODES and supports `padding`."""
    if mode not in MODES or (mode == "roi_resize" and padding != "replicate"):
        raise ValueError(f"DALI pipeline mode {mode!r} is not one of {MODES} or does not support padding "
                         f"{padding!r} (roi_resize: replicate only)")


class Feeder:
    """The external source callback: serves host batches to DALI and remembers which ones are in flight."""

    def __init__(self) -> None:
        self.batches: Iterator[HostBatch] = iter(())
        self.replay: deque[HostBatch] = deque()  # fed to a pipeline that failed; fed again first
        self.inflight: deque[HostBatch] = deque()  # fed, outputs not yet taken, oldest first
        self.error: BaseException | None = None  # a host-side error, raised after the batches before it

    def __call__(self):
        if self.replay:
            host = self.replay.popleft()
        else:
            try:
                host = next(self.batches)
            except StopIteration:
                raise
            except Exception as exc:  # end DALI's epoch here; the loader re-raises after the earlier batches
                self.error = exc
                self.batches = iter(())
                raise StopIteration from exc
        self.inflight.append(host)
        return host.inputs


def cuda_device_count() -> int:
    """The CUDA devices DALI sees (0 when DALI is not installed)."""
    try:
        from nvidia.dali.backend import GetCUDADeviceCount
    except ImportError:
        return 0
    return GetCUDADeviceCount()


def resolve_device(device: str) -> str:
    """"cpu" or "gpu" for LoaderConfig.device ("auto": GPU when DALI sees a CUDA device)."""
    count = cuda_device_count()
    if device == "auto":
        return "gpu" if count > 0 else "cpu"
    if device == "gpu" and count == 0:
        raise RuntimeError("LoaderConfig.device='gpu' but DALI sees no CUDA device (use 'cpu' or 'auto')")
    return device


def build_pipeline(source, frames_per_batch: int, output_size: int, padding: str, device: str, mode: str,
                   num_threads: int, device_id: int | None = None, prefetch: int = PREFETCH_DEPTH):
    """The DALI pipeline (not yet built) of the module docstring for `mode` (see MODES). `device` places the
    decoder ("mixed" for "gpu") and hence everything after it; the per-frame parameters stay CPU inputs."""
    from nvidia.dali import fn, types
    from nvidia.dali import math as dmath
    from nvidia.dali.pipeline import Pipeline

    check_mode(mode, padding)
    gpu = device == "gpu"
    decoder_device = "mixed" if gpu else "cpu"
    pipe = Pipeline(batch_size=frames_per_batch, num_threads=num_threads,
                    device_id=(device_id or 0) if gpu else None, prefetch_queue_depth=prefetch)
    with pipe:
        inputs = fn.external_source(source=source, num_outputs={"warp": 4, "roi_warp": 6, "roi_resize": 7}[mode],
                                    batch=True)
        encoded, gray, brightness = inputs[:3]
        if mode == "warp":
            images = fn.decoders.image(encoded, device=decoder_device, output_type=types.RGB)
        else:
            anchor, shape = inputs[-2:] if mode == "roi_warp" else inputs[3:5]
            images = fn.decoders.image_slice(encoded, anchor, shape, axis_names="WH", normalized_anchor=False,
                                             normalized_shape=False, device=decoder_device, output_type=types.RGB)
        if mode == "roi_resize":  # replicate padding only: resize clamps source coordinates to the ROI = image
            crops = fn.resize(images, size=[output_size, output_size], roi_start=inputs[5], roi_end=inputs[6],
                              roi_relative=False, antialias=False, interp_type=types.INTERP_LINEAR)
        else:
            matrix = inputs[3]
            fill = {"fill_value": 0.0} if padding == "zeros" else {}  # no fill value: clamp = replicate
            crops = fn.warp_affine(images, matrix=matrix, size=[output_size, output_size],
                                   interp_type=types.INTERP_LINEAR, **fill)
        luma = fn.color_space_conversion(crops, image_type=types.RGB, output_type=types.GRAY)  # H x W x 1
        if gpu:
            gray, brightness = gray.gpu(), brightness.gpu()
        rgb = fn.cast(crops, dtype=types.FLOAT)
        mixed = rgb + gray * (fn.cast(luma, dtype=types.FLOAT) - rgb)
        scaled = dmath.clamp(mixed * brightness, 0.0, 255.0)
        out = fn.crop_mirror_normalize(scaled, dtype=types.FLOAT, output_layout="CHW",
                                       mean=[255.0 * m for m in IMAGENET_MEAN],
                                       std=[255.0 * s for s in IMAGENET_STD])
        pipe.set_outputs(out)
    return pipe


def to_torch(tensor_list) -> torch.Tensor:
    """A DALI output batch of equal-shaped samples as one torch tensor (CPU, or CUDA for GPU outputs)."""
    if hasattr(tensor_list, "as_cpu") and type(tensor_list).__name__ == "TensorListGPU":
        from nvidia.dali.plugin.pytorch import feed_ndarray

        dense = tensor_list.as_tensor()
        out = torch.empty(dense.shape(), dtype=torch.float32, device="cuda")
        feed_ndarray(dense, out)
        return out
    return torch.from_numpy(tensor_list.as_array())
