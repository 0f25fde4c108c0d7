"""tracking.data.atomic.atomic_path: a file is replaced whole or not at all."""

import os

import pytest

from tracking.data.atomic import atomic_path


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with atomic_path(path, durable=True) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(path)
        with open(tmp, "w") as f:
            f.write("new")
        assert path.read_text() == "old"  # nothing visible before the block ends
    assert path.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("killed while writing")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["f.txt"]  # no temporary file left
