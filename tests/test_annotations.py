"""The annotation I/O module: every file format read and written in one place, bad files named by file and line."""

import codecs

import numpy as np
import pytest

from tracking.data.annotations import (AnnotationError, read_boxes, read_flags, read_ints, read_list, read_regions,
                                       read_text, read_times, write_boxes, write_times)


def test_result_round_trip_uses_commas_and_floats(tmp_path):
    boxes = np.array([[1.25, 2, 30.5, 40], [np.nan, 0, 0, 0]])
    write_boxes(tmp_path / "a.txt", boxes)
    text = (tmp_path / "a.txt").read_text()
    assert text.splitlines()[0] == "1.2500,2.0000,30.5000,40.0000" and " " not in text
    np.testing.assert_array_equal(read_boxes(tmp_path / "a.txt"), boxes)
    np.testing.assert_array_equal(read_regions(tmp_path / "a.txt"), boxes)  # partly-NaN 4-value rows kept
    write_times(tmp_path / "a_time.txt", [0.01, 0.02])
    assert (tmp_path / "a_time.txt").read_text().split() == ["0.010000", "0.020000"]
    np.testing.assert_array_equal(read_times(tmp_path / "a_time.txt"), [0.01, 0.02])


@pytest.mark.parametrize("sep", [",", "\t", " ", ", "])
def test_reads_any_separator(tmp_path, sep):
    (tmp_path / "r.txt").write_text(sep.join(["1", "2", "3", "4"]) + "\n5 6 7 8\n\n")
    np.testing.assert_array_equal(read_boxes(tmp_path / "r.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(read_regions(tmp_path / "r.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize("content,message", [("", "empty file"), ("1,2,3\n", r", line 1: expected 4 numbers"),
                                             ("1,2,3,4\n1,x,3,4\n", r", line 2: not a number")])
def test_bad_result_files_name_file_and_line(tmp_path, content, message):
    (tmp_path / "bad.txt").write_text(content)
    with pytest.raises(AnnotationError, match=rf"bad\.txt{message}" if message[0] == "," else message) as info:
        read_boxes(tmp_path / "bad.txt", allow_empty=False)
    assert info.value.path == str(tmp_path / "bad.txt")
    with pytest.raises(AnnotationError, match="missing.txt: file not found"):
        read_boxes(tmp_path / "missing.txt")


def test_regions_polygons_status_codes_and_masks(tmp_path):
    (tmp_path / "gt.txt").write_text("0,0,4,1,3,5,-1,4\n1,2,3,4\n0\nnan,1,2,3,4,5,6,7\n")
    np.testing.assert_allclose(read_regions(tmp_path / "gt.txt")[:2], [[-1, 0, 5, 5], [1, 2, 3, 4]])
    assert np.isnan(read_regions(tmp_path / "gt.txt")[2:]).all()
    (tmp_path / "three.txt").write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(AnnotationError, match=r"three\.txt, line 2: expected 4 values"):
        read_regions(tmp_path / "three.txt")
    (tmp_path / "mask.txt").write_text("m1,2,3\n")
    with pytest.raises(AnnotationError, match="line 1: mask annotations are not supported"):
        read_regions(tmp_path / "mask.txt")


def test_flags_ints_and_lists(tmp_path):
    (tmp_path / "f").write_text("0.0\n1\n")
    np.testing.assert_array_equal(read_flags(tmp_path / "f"), [False, True])
    (tmp_path / "g").write_text("0,0.7,1\n")  # a fractional flag is an error, never silently 0
    with pytest.raises(AnnotationError, match=r"g, line 1: not an integer: '0\.7'"):
        read_flags(tmp_path / "g")
    (tmp_path / "c").write_text("8 3\n0\n")
    np.testing.assert_array_equal(read_ints(tmp_path / "c"), [8, 3, 0])
    (tmp_path / "l").write_text("# comment\na\n\n b # tail\n")
    assert read_list(tmp_path / "l") == ["a", "b"]


BOXES = "1,2,3,4\n5,6,7,8\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_bom_utf8_and_utf16_are_read(tmp_path, encoding):
    if encoding.endswith("-bom"):
        bom = codecs.BOM_UTF16_LE if "le" in encoding else codecs.BOM_UTF16_BE
        data = bom + BOXES.encode(encoding[:-4])
    else:
        data = BOXES.encode(encoding)
    (tmp_path / "u.txt").write_bytes(data)
    assert read_text(tmp_path / "u.txt") == BOXES
    np.testing.assert_array_equal(read_boxes(tmp_path / "u.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize("data,where,message", [
    (BOXES.encode("utf-16-le"), "", "holds NUL bytes: UTF-16 text without a byte-order mark"),
    (b"1,2,3,4\n\xe9,2,3,4\n", ", line 2", r"not valid UTF-8 text \(byte 8: b'\\xe9'\)"),
    (b"1,2,3,4\n5,6,7,8\n9,10,\xff\xfe11,12\n", ", line 3", r"not valid UTF-8 text \(byte 21"),
    (codecs.BOM_UTF16_LE + b"1\x00,", ", line 1", "not valid UTF-16 text"),
    (codecs.BOM_UTF16_LE + "1,2,3,4\n5,6,7,8\n".encode("utf-16-le") + b"\x00\xd8", ", line 3",
     "not valid UTF-16 text"),
])
def test_undecodable_files_are_one_clear_error(tmp_path, data, where, message):
    """Text that is not valid in its encoding is an AnnotationError naming the file and the line of the first
    bad byte (a groundtruth line with non-UTF-8 bytes among valid ones)."""
    (tmp_path / "odd.txt").write_bytes(data)
    with pytest.raises(AnnotationError, match=rf"odd\.txt{where}: {message}") as info:
        read_boxes(tmp_path / "odd.txt")
    assert info.value.line == (int(where.split()[-1]) if where else None)
