"""The private names of torch and DALI that loaders/private_api.py wraps exist on the installed versions,
and the wrappers do what they say. If one of these fails after an upgrade, replace that wrapper."""

import multiprocessing

import pytest
import torch
import torch.utils.data.dataloader as dataloader_module

from loaders.private_api import close_dali_pipeline, shared_empty, shutdown_dataloader_workers


def test_torch_has_untyped_storage_new_shared():
    assert callable(getattr(torch.UntypedStorage, "_new_shared", None)), torch.__version__


def test_shared_empty_allocates_in_shared_memory():
    tensor = shared_empty((2, 3, 5), torch.int64)
    assert tensor.is_shared() and tuple(tensor.shape) == (2, 3, 5) and tensor.dtype == torch.int64
    tensor.fill_(7)
    assert tensor.sum().item() == 7 * 30


def test_torch_dataloader_iterator_has_shutdown_workers():
    assert callable(getattr(dataloader_module._MultiProcessingDataLoaderIter, "_shutdown_workers", None)), \
        torch.__version__


def test_shutdown_dataloader_workers_stops_persistent_workers_now():
    loader = torch.utils.data.DataLoader(list(range(8)), batch_size=2, num_workers=2, persistent_workers=True)
    iterator = iter(loader)
    assert next(iterator).tolist() == [0, 1]
    assert len(multiprocessing.active_children()) == 2
    shutdown_dataloader_workers(iterator)
    assert multiprocessing.active_children() == []
    shutdown_dataloader_workers(iterator)  # idempotent


def test_dali_pipeline_has_shutdown():
    pipeline = pytest.importorskip("nvidia.dali.pipeline")
    assert callable(getattr(pipeline.Pipeline, "_shutdown", None))


def test_close_dali_pipeline_runs_on_a_built_pipeline():
    pytest.importorskip("nvidia.dali")
    import numpy as np
    from nvidia.dali import fn
    from nvidia.dali.pipeline import Pipeline

    pipe = Pipeline(batch_size=2, num_threads=1, device_id=None)
    with pipe:
        pipe.set_outputs(fn.external_source(source=lambda: [np.ones(3, np.float32)] * 2, batch=True) * 2)
    pipe.build()
    (out,) = pipe.run()
    assert out.as_array().tolist() == [[2.0] * 3] * 2
    close_dali_pipeline(pipe)
