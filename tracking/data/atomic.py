"""Atomic file writes: the one way the project replaces a file (indices, result files, checkpoints, exports).

    with atomic_path(path) as tmp:       # write anything to tmp (by path): text, torch.save, np.savez, zipfile
        torch.save(obj, tmp)

The temporary file sits beside ``path`` (same file system, so the rename is atomic), named
``.<name>.tmp<pid>``. When the block ends normally the file is renamed over ``path`` (after an ``fsync`` when
``durable``: checkpoints must survive a power loss, not only a killed process); when it raises, the temporary
file is removed and ``path`` is untouched. Readers therefore see the old file or the whole new one, never a
truncated one. The directory must exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False) -> Iterator[str]:
    """A temporary path to write ``path``'s new content to (see the module docstring)."""
    path = os.path.abspath(os.fspath(path))
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
