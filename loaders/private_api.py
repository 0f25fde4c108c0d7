"""The only private names of other libraries the loaders use, one wrapper each, where no public API exists.

tests/test_private_api.py asserts each name exists on the installed versions, so an upgrade that removes
one fails there, not deep in a training run.
"""

from __future__ import annotations

import numpy as np
import torch


def shared_empty(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialised tensor allocated directly in shared memory.

    Why private: torch has no public way to allocate in shared memory; ``torch.empty(...).share_memory_()``
    allocates, then copies into a new shared segment (measured: +4 ms per 30 MB batch). torch's own
    default_collate allocates worker batches with ``UntypedStorage._new_shared`` for the same reason.
    """
    numel = int(np.prod(shape))
    storage = torch.UntypedStorage._new_shared(numel * torch.empty((), dtype=dtype).element_size())
    return torch.tensor([], dtype=dtype).set_(storage).view(shape)


def shutdown_dataloader_workers(iterator) -> None:
    """Stop the worker processes of a multi-process DataLoader iterator now (joins them; idempotent).

    Why private: a DataLoader iterator has no public shutdown; ``_shutdown_workers`` is what its ``__del__``
    calls. Waiting for the garbage collector is not enough: an iterator caught in an exception's reference
    cycle is only collected by the cyclic GC, and persistent workers live as long as the DataLoader.
    """
    iterator._shutdown_workers()


def close_dali_pipeline(pipe) -> None:
    """Shut a DALI pipeline down (its executor's native threads end here).

    Why private: DALI 2.4's Pipeline has no public close; ``Pipeline._shutdown`` is what its ``__del__`` calls.
    """
    pipe._shutdown()
