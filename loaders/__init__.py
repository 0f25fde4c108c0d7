"""Loader backends that turn sample records into training batches.

``build_loader(LoaderConfig(...), datasets, processing, rank=, world_size=)`` (loaders.api) picks a backend:
``reference`` (OpenCV, loaders/reference.py) or ``dali`` (loaders/dali.py). Backends are imported lazily.
"""

from .api import BACKENDS, Loader, LoaderConfig, build_loader

__all__ = ["BACKENDS", "Loader", "LoaderConfig", "build_loader"]
