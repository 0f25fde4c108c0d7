"""Loader backends that turn sample records into training batches.

    from loaders import LoaderConfig, build_loader
    loader = build_loader(LoaderConfig(backend="auto", batch_size=10), datasets, rank=rank, world_size=world_size)

Modules, one job each: config (LoaderConfig, the Loader protocol), cursor (epoch / next batch / checkpoint
state), samples (records, replacement of unreadable samples, collation by the processing's declared fields),
opencv + opencv_render (the OpenCV backend), dali + dali_host + dali_pipeline (the DALI backend), api
(build_loader), private_api (the one wrapper per private name of torch / DALI used), visualize (a PNG of
sampled batches: ``python -m loaders.visualize --out samples.png``). Importing this package imports neither
DALI nor OpenCV.
"""

from .api import build_loader
from .config import BACKENDS, Loader, LoaderConfig
from tracking.data.frames import FrameDecodeError

__all__ = ["BACKENDS", "FrameDecodeError", "Loader", "LoaderConfig", "build_loader"]
