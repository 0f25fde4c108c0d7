"""The DALI backend's pipeline graph and the callback that feeds it host batches.

    encoded bytes --decoders.image / decoders.image_slice (ROI)--> RGB uint8 HWC
      --warp_affine(matrix, size S, bilinear, fill 0 | clamp)--> S x S uint8 crop
      --color_space_conversion(GRAY), blended per frame: x + g * (gray - x), g in {0, 1}-->
      --x * brightness, clamp to [0, 255]--> --crop_mirror_normalize(255 * ImageNet mean/std, CHW)--> float32
                                      (images="float", LoaderConfig.images)
      --cast to uint8, transpose to CHW--> uint8 (images="uint8": the raw batch's crops, before brightness;
                                      the host adds the brightness fields, loaders.dali_host.assemble_batch)

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
grayscale is bit-identical to cv2's RGB2GRAY. The gray blend with g in {0, 1} is exact in float (integer
levels), so the uint8 output is the crop or its luma, exactly.

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
                   num_threads: int, device_id: int | None = None, prefetch: int = PREFETCH_DEPTH,
                   images: str = "float"):
    """The DALI pipeline (not yet built) of the module docstring for `mode` (see MODES). `device` places the
    decoder ("mixed" for "gpu") and hence everything after it; the per-frame parameters stay CPU inputs.
    `images` (LoaderConfig.images): "float" outputs [F, 3, S, S] float32 normalised frames, "uint8" the
    [F, 3, S, S] uint8 crops after the gray blend (no brightness, no normalisation)."""
    from nvidia.dali import fn, types
    from nvidia.dali import math as dmath
    from nvidia.dali.pipeline import Pipeline

    check_mode(mode, padding)
    if images not in ("float", "uint8"):
        raise ValueError(f"build_pipeline: images must be 'float' or 'uint8', got {images!r}")
    gpu = device == "gpu"
    decoder_device = "mixed" if gpu else "cpu"
    pipe = Pipeline(batch_size=frames_per_batch, num_threads=num_threads,
                    device_id=(device_id or 0) if gpu else None, prefetch_queue_depth=prefetch)
    with pipe:
        raw = images == "uint8"  # no brightness input (loaders.dali_host.prepare_batch's `raw`)
        geometry_inputs = {"warp": 1, "roi_warp": 3, "roi_resize": 4}[mode]
        inputs = fn.external_source(source=source, num_outputs=(2 if raw else 3) + geometry_inputs, batch=True)
        encoded, gray = inputs[:2]
        brightness = None if raw else inputs[2]
        geometry = inputs[2 if raw else 3:]  # warp: matrix; roi_warp: matrix, anchor, shape; roi_resize: anchor,
        #                                       shape, roi_start, roi_end
        if mode == "warp":
            decoded = fn.decoders.image(encoded, device=decoder_device, output_type=types.RGB)
        else:
            anchor, shape = geometry[1:3] if mode == "roi_warp" else geometry[0:2]
            decoded = fn.decoders.image_slice(encoded, anchor, shape, axis_names="WH", normalized_anchor=False,
                                              normalized_shape=False, device=decoder_device, output_type=types.RGB)
        if mode == "roi_resize":  # replicate padding only: resize clamps source coordinates to the ROI = image
            crops = fn.resize(decoded, size=[output_size, output_size], roi_start=geometry[2], roi_end=geometry[3],
                              roi_relative=False, antialias=False, interp_type=types.INTERP_LINEAR)
        else:
            matrix = geometry[0]
            fill = {"fill_value": 0.0} if padding == "zeros" else {}  # no fill value: clamp = replicate
            crops = fn.warp_affine(decoded, matrix=matrix, size=[output_size, output_size],
                                   interp_type=types.INTERP_LINEAR, **fill)
        luma = fn.color_space_conversion(crops, image_type=types.RGB, output_type=types.GRAY)  # H x W x 1
        if gpu:
            gray = gray.gpu()
            brightness = None if raw else brightness.gpu()
        rgb = fn.cast(crops, dtype=types.FLOAT)
        mixed = rgb + gray * (fn.cast(luma, dtype=types.FLOAT) - rgb)
        if raw:
            out = fn.transpose(fn.cast(mixed, dtype=types.UINT8), perm=[2, 0, 1], output_layout="CHW")
        else:
            scaled = dmath.clamp(mixed * brightness, 0.0, 255.0)
            out = fn.crop_mirror_normalize(scaled, dtype=types.FLOAT, output_layout="CHW",
                                           mean=[255.0 * m for m in IMAGENET_MEAN],
                                           std=[255.0 * s for s in IMAGENET_STD])
        pipe.set_outputs(out)
    return pipe


def to_torch(tensor_list) -> torch.Tensor:
    """A DALI output batch of equal-shaped samples (float32 or uint8) as one torch tensor (CPU, or CUDA for GPU
    outputs)."""
    if hasattr(tensor_list, "as_cpu") and type(tensor_list).__name__ == "TensorListGPU":
        from nvidia.dali import types
        from nvidia.dali.plugin.pytorch import feed_ndarray

        dense = tensor_list.as_tensor()
        dtype = {types.FLOAT: torch.float32, types.UINT8: torch.uint8}[dense.dtype]
        out = torch.empty(dense.shape(), dtype=dtype, device="cuda")
        feed_ndarray(dense, out)
        return out
    return torch.from_numpy(tensor_list.as_array())
