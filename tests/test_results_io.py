"""Result files: format written, formats read, bad files."""

import numpy as np
import pytest

from tracking.eval.results_io import ResultFileError, read_boxes, write_boxes, write_times


def test_round_trip_uses_commas_and_floats(tmp_path):
    boxes = np.array([[1.25, 2, 30.5, 40], [np.nan, 0, 0, 0]])
    write_boxes(tmp_path / "a.txt", boxes)
    text = (tmp_path / "a.txt").read_text()
    assert text.splitlines()[0] == "1.2500,2.0000,30.5000,40.0000" and " " not in text
    np.testing.assert_array_equal(read_boxes(tmp_path / "a.txt"), boxes)
    write_times(tmp_path / "a_time.txt", [0.01, 0.02])
    assert (tmp_path / "a_time.txt").read_text().split() == ["0.010000", "0.020000"]


@pytest.mark.parametrize("sep", [",", "\t", " ", ", "])
def test_reads_any_separator(tmp_path, sep):
    (tmp_path / "r.txt").write_text(sep.join(["1", "2", "3", "4"]) + "\n5 6 7 8\n\n")
    np.testing.assert_array_equal(read_boxes(tmp_path / "r.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize("content,message", [("", "empty file"), ("1,2,3\n", r":1: expected 4 values"),
                                             ("1,2,3,4\n1,x,3,4\n", r":2: not a number")])
def test_bad_files_name_file_and_line(tmp_path, content, message):
    (tmp_path / "bad.txt").write_text(content)
    with pytest.raises(ResultFileError, match=message):
        read_boxes(tmp_path / "bad.txt")
    with pytest.raises(ResultFileError, match="no such file"):
        read_boxes(tmp_path / "missing.txt")
