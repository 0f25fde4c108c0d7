"""Loader backends that turn sample records into training batches.

    from loaders import LoaderConfig, build_loader
    loader = build_loader(LoaderConfig(backend="auto", batch_size=10), datasets, rank=rank, world_size=world_size)

Batches come in two layouts (loaders.samples): LoaderConfig(images="float") (default) yields float32
ImageNet-normalised images; images="uint8" yields raw batches (uint8 crops and per-frame brightness factors,
a quarter of the bytes), which normalize_batch(batch, device) turns into exactly the float batch on the
consumer's device (the trainer does this).

Modules, one job each: config (LoaderConfig, the Loader protocol), cursor (epoch / next batch / checkpoint
state), samples (records, replacement of unreadable samples, collation by the processing's declared fields,
the batch layouts), normalize (normalize_batch: raw batch -> float batch, consumer side), opencv +
opencv_render (the OpenCV backend), dali + dali_host + dali_pipeline (the DALI backend), api
(build_loader), private_api (the one wrapper per private name of torch / DALI used), visualize (a PNG of
sampled batches: ``python -m loaders.visualize --out samples.png``). Importing this package imports neither
DALI nor OpenCV.
"""

from .api import build_loader
from .config import BACKENDS, Loader, LoaderConfig
from .normalize import normalize_batch
from tracking.data.frames import FrameDecodeError

__all__ = ["BACKENDS", "FrameDecodeError", "Loader", "LoaderConfig", "build_loader", "normalize_batch"]
