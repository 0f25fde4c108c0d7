"""The benchmarks as evaluation sees them: a dataset of :mod:`tracking.data.datasets` with its evaluation split.

``load_benchmark("lasot", root)`` is LaSOT's test set, ``"got10k"`` GOT-10k's val set (``"got10k-test"`` its
test set, scored by the server), ``"trackingnet"`` TrackingNet's TEST chunk; every other name is passed to
:func:`tracking.data.datasets.build_dataset` as it is. The protocol that scores a benchmark the way its own
toolkit does is :func:`default_protocol`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracking.data.datasets import TrackingDataset, build_dataset, dataset_key

EVAL_SPLITS = {"got10k": "val", "lasot": "test", "trackingnet": "test"}
PROTOCOL_OF = {"got10k": "got10k", "lasot": "lasot", "trackingnet": "lasot"}
BENCHMARK_NAMES = ("otb", "lasot", "got10k", "got10k-test", "trackingnet", "uav123", "nfs", "vot", "folder")


def load_benchmark(name: str, root: str | None = None, sequences: Iterable[str] | None = None,
                   **kw) -> TrackingDataset:
    """The evaluation sequences of benchmark ``name`` (see the module docstring); ``sequences`` keeps only
    those names (each must exist). Raises DatasetNotFoundError / AnnotationError / ValueError with a clear
    message."""
    key, split = dataset_key(name)
    if split is None and key in EVAL_SPLITS:
        split = EVAL_SPLITS[key]
    if sequences is not None:
        kw["sequences"] = list(sequences)
    return build_dataset(key, root, split=split, **kw)


def default_protocol(name: str) -> str:
    """The metrics protocol of a benchmark's own toolkit: got10k, lasot (LaSOT, TrackingNet) or otb."""
    return PROTOCOL_OF.get(dataset_key(name)[0], "otb")
