"""The embedded default training data: a synthetic GOT-10k-layout dataset, generated once into a cache.

Used when no dataset is configured (demo config, tests, benchmarks). The cache directory is
``$TRACKING_SYNTHETIC_ROOT`` if set, else ``synthetic/`` in the user cache directory
(:func:`tracking.data.roots.cache_dir`, by default ``~/.cache/tracking/synthetic``); generation is skipped when the
cache already holds this exact spec (``tracking.data.synthetic.ensure_dataset``).
"""

from __future__ import annotations

import os

from .roots import cache_dir
from .synthetic import SyntheticSpec, ensure_dataset

SYNTHETIC_ROOT_ENV = "TRACKING_SYNTHETIC_ROOT"
DEFAULT_SYNTHETIC_SPEC = SyntheticSpec(num_sequences=16, num_frames=80, width=640, height=360, seed=0)


def synthetic_root(root: str | None = None) -> str:
    """Where the default synthetic dataset lives."""
    if root:
        return root
    return os.environ.get(SYNTHETIC_ROOT_ENV) or cache_dir("synthetic")


def default_dataset(root: str | None = None, spec: SyntheticSpec = DEFAULT_SYNTHETIC_SPEC, progress=None):
    """A Got10k index over the synthetic dataset of `spec` (generated on first use, then reused)."""
    from .datasets import Got10k

    path = ensure_dataset(synthetic_root(root), "got10k", spec, progress=progress)
    return Got10k(root=path, split="train")
