"""OPE runner on the real Crossing / vot15_bag sequences (skipped when absent) and on tiny generated ones."""

import os
import zipfile

import cv2
import numpy as np
import pytest
from conftest import SHARED_SEQUENCES

from tracking.data.annotations import read_boxes
from tracking.data.datasets import ImageFolderDataset
from tracking.data.sequence import SequenceInfo
from tracking.eval.runner import main, pack_got10k, pack_trackingnet, run_dataset, run_sequence
from tracking.eval.trackers import StaticTracker, TemplateTracker

HAVE_REAL = all(os.path.isdir(os.path.join(SHARED_SEQUENCES, s)) for s in ("Crossing", "vot15_bag"))
real = pytest.mark.skipif(not HAVE_REAL, reason="no shared data")


@pytest.fixture(scope="module")
def real_seqs():
    ds = ImageFolderDataset(SHARED_SEQUENCES, sequences=["Crossing", "vot15_bag"])
    return list(ds)


class FailOnBag(StaticTracker):
    """Raises in the middle of vot15_bag (module level so that it pickles)."""

    def initialize(self, frame, box):
        super().initialize(frame, box)
        self.n = 0
        self.fail = box[2] > 100  # vot15_bag's box is 150 wide, Crossing's 17

    def track(self, frame):
        self.n += 1
        if self.fail and self.n == 10:
            raise RuntimeError("boom")
        return super().track(frame)


class RecordingTracker(StaticTracker):
    frames = []

    def initialize(self, frame, box):
        RecordingTracker.frames.append((frame.shape, frame.dtype, frame[0, 0].copy()))
        super().initialize(frame, box)


def _tiny_seq(tmp_path, n=4, name="tiny"):
    frames = []
    for i in range(n):
        p = tmp_path / name / f"{i:04d}.png"
        os.makedirs(p.parent, exist_ok=True)
        img = np.zeros((20, 30, 3), np.uint8)
        img[..., 2] = 200  # red in BGR order on disk
        cv2.imwrite(str(p), img)
        frames.append(str(p))
    gt = np.tile([[2.0, 3.0, 5.0, 6.0]], (n, 1))
    return SequenceInfo(dataset="test", name=name, frames=tuple(frames), boxes=gt, visible=np.ones(n, bool))


@real
@pytest.mark.parametrize("factory", [StaticTracker, TemplateTracker])
def test_real_sequences(tmp_path, real_seqs, factory):
    out = tmp_path / "res"
    summary = run_dataset(factory, real_seqs, out, progress=False)
    assert summary.done == ["Crossing", "vot15_bag"] and not summary.failed and summary.mean_fps > 0
    for s in real_seqs:
        boxes = read_boxes(out / f"{s.name}.txt")
        assert boxes.shape == (len(s), 4)
        np.testing.assert_allclose(boxes[0], s.init_box, atol=1e-4)
        times = np.loadtxt(out / f"{s.name}_time.txt")
        assert times.shape == (len(s),) and (times >= 0).all()
        if factory is StaticTracker:
            np.testing.assert_allclose(boxes, np.tile(s.init_box, (len(s), 1)), atol=1e-4)
        else:
            assert np.all(np.isfinite(boxes)) and not np.allclose(boxes, boxes[0])  # it moves

    # resume: the second run skips everything and leaves the files alone
    mtime = os.path.getmtime(out / "Crossing.txt")
    again = run_dataset(factory, real_seqs, out, progress=False)
    assert again.skipped == ["Crossing", "vot15_bag"] and not again.done
    assert os.path.getmtime(out / "Crossing.txt") == mtime
    # overwrite reruns
    (out / "Crossing.txt").write_text("garbage\n")
    st = run_sequence(factory, real_seqs[0], out, overwrite=True)
    assert st.status == "done" and st.frames == 120
    assert read_boxes(out / "Crossing.txt").shape == (120, 4)


@real
def test_failure_isolated_and_parallel_identical(tmp_path, real_seqs):
    out = tmp_path / "fail"
    summary = run_dataset(FailOnBag, real_seqs, out, progress=False)
    assert summary.done == ["Crossing"] and summary.failed == ["vot15_bag"]
    assert "boom" in summary.statuses[1].error
    assert not (out / "vot15_bag.txt").exists() and not (out / "vot15_bag_time.txt").exists()
    assert (out / "Crossing.txt").exists()
    # with overwrite, a failing rerun also removes the stale result of an earlier run
    run_sequence(StaticTracker, real_seqs[1], out)
    assert run_sequence(FailOnBag, real_seqs[1], out, overwrite=True).status == "failed"
    assert not (out / "vot15_bag.txt").exists()

    one, two = tmp_path / "w1", tmp_path / "w2"
    s1 = run_dataset(TemplateTracker, real_seqs, one, workers=1, progress=False)
    s2 = run_dataset(TemplateTracker, real_seqs, two, workers=2, progress=False)
    assert s1.done == s2.done == ["Crossing", "vot15_bag"]
    for s in real_seqs:
        assert (one / f"{s.name}.txt").read_text() == (two / f"{s.name}.txt").read_text()
        assert (two / f"{s.name}_time.txt").exists()


def test_frame_rgb_and_decode_error(tmp_path, caplog):
    seq = _tiny_seq(tmp_path)
    RecordingTracker.frames.clear()
    assert run_sequence(RecordingTracker, seq, tmp_path / "out").status == "done"
    shape, dtype, pixel = RecordingTracker.frames[0]
    assert shape == (20, 30, 3) and dtype == np.uint8 and pixel.tolist() == [200, 0, 0]  # RGB

    with open(seq.frames[2], "wb") as f:
        f.write(b"not an image")
    st = run_sequence(StaticTracker, seq, tmp_path / "out2")
    assert st.status == "failed" and seq.frames[2] in st.error and "decode" in st.error
    assert not (tmp_path / "out2" / "tiny.txt").exists()
    assert "tiny" in caplog.text


NAN4 = [float("nan")] * 4
# (what track() returns at frames 2, 3, ..., the row expected in the result file, invalid?)
OUTPUTS = [
    ([5.0, 6.0, 7.0, 8.0], [5.0, 6.0, 7.0, 8.0], False),
    (np.array([[5.0, 6.0, 7.0, 8.0]]), [5.0, 6.0, 7.0, 8.0], False),           # [1, 4]: a batch of one
    (NAN4, NAN4, True),
    ([1.0, float("nan"), 3.0, 4.0], [1.0, float("nan"), 3.0, 4.0], True),
    ([1.0, 2.0, float("inf"), 4.0], [1.0, 2.0, float("inf"), 4.0], True),
    ([1.0, 2.0, -3.0, 4.0], [1.0, 2.0, -3.0, 4.0], True),                    # negative width: as given
    ([1.0, 2.0, 3.0, 0.0], [1.0, 2.0, 3.0, 0.0], True),
    (np.array([[1.0, 2.0], [3.0, 4.0]]), NAN4, True),                        # wrong shapes: a NaN row
    ([1.0, 2.0, 3.0], NAN4, True),
    (None, NAN4, True),
    ("abc", NAN4, True),
]


class InvalidOutputs(StaticTracker):
    """Returns OUTPUTS[k][0] at frame k + 2 (module level so that it pickles)."""

    def initialize(self, frame, box):
        super().initialize(frame, box)
        self.n = 0

    def track(self, frame):
        self.n += 1
        return OUTPUTS[self.n - 1][0]


def test_invalid_tracker_outputs_are_written_counted_and_survive_resume(tmp_path, caplog):
    seqs = [_tiny_seq(tmp_path, n=len(OUTPUTS) + 1, name=name) for name in ("s1", "s2")]
    expected_rows = np.array([seqs[0].init_box.tolist()] + [row for _, row, _ in OUTPUTS])
    n_invalid = sum(bad for _, _, bad in OUTPUTS)
    out = tmp_path / "out"
    st = run_sequence(InvalidOutputs, seqs[0], out)
    assert st.status == "done" and st.invalid_frames == n_invalid
    np.testing.assert_array_equal(read_boxes(out / "s1.txt"), expected_rows)        # NaN == NaN here
    assert len(np.loadtxt(out / "s1_time.txt")) == len(OUTPUTS) + 1
    assert "s1: 9 invalid frame(s) written, first frame 4: not finite" in caplog.text

    for workers in (1, 2):                                                          # s1 skipped, s2 run
        summary = run_dataset(InvalidOutputs, seqs, out, workers=workers, progress=False)
        assert [s.status for s in summary.statuses] == ["skipped", "done"] and not summary.failed
        assert summary.invalid_frames == {"s1": n_invalid, "s2": n_invalid}
        text = str(summary)
        assert f"{2 * n_invalid} invalid frame(s) in 2 sequence(s)" in text
        assert f"INVALID s1: {n_invalid} of {len(OUTPUTS) + 1} frames" in text
        np.testing.assert_array_equal(read_boxes(out / "s2.txt"), expected_rows)
        os.remove(out / "s2.txt")


def test_unusable_first_box_fails_the_sequence(tmp_path):
    seq = _tiny_seq(tmp_path)
    seq.boxes[0] = [2, 3, 0, 6]
    st = run_sequence(StaticTracker, seq, tmp_path / "out")
    assert st.status == "failed" and "unusable first-frame box" in st.error


def test_cli_missing_root_or_sequence_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--dataset", "vot", "--data-root", str(tmp_path / "nonexistent"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: VOT") and "nonexistent" in err
    _tiny_seq(tmp_path, name="seq")
    (tmp_path / "seq" / "groundtruth.txt").write_text("2,3,5,6\n")
    assert main(["--dataset", "folder", "--data-root", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--sequences", "seq", "other"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other" in err and "Traceback" not in err


def test_unpicklable_factory_with_workers(tmp_path):
    seqs = [_tiny_seq(tmp_path, name="a"), _tiny_seq(tmp_path, name="b")]
    with pytest.raises(TypeError, match="picklable"):
        run_dataset(lambda: StaticTracker(), seqs, tmp_path / "out", workers=2, progress=False)


def test_progress_lines(tmp_path, capsys):
    run_dataset(StaticTracker, [_tiny_seq(tmp_path)], tmp_path / "out")
    captured = capsys.readouterr()
    assert "tiny done" in captured.err and "1/1" in captured.err  # the progress bar
    assert "1 done, 0 skipped, 0 failed" in captured.out  # the summary


def test_packers(tmp_path):
    seqs = [_tiny_seq(tmp_path, n=3, name="GOT-10k_Test_000001"), _tiny_seq(tmp_path, n=2, name="seq2")]
    out = tmp_path / "res"
    run_dataset(StaticTracker, seqs, out, progress=False)
    z = pack_got10k(out, tmp_path / "got.zip")
    with zipfile.ZipFile(z) as f:
        assert sorted(f.namelist()) == ["GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt",
                                        "GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt",
                                        "seq2/seq2_001.txt", "seq2/seq2_time.txt"]
        lines = f.read("seq2/seq2_001.txt").decode().splitlines()
        assert lines == ["2.0000,3.0000,5.0000,6.0000"] * 2
        assert len(f.read("seq2/seq2_time.txt").decode().splitlines()) == 2
    z = pack_trackingnet(out, tmp_path / "tn.zip")
    with zipfile.ZipFile(z) as f:
        assert sorted(f.namelist()) == ["GOT-10k_Test_000001.txt", "seq2.txt"]
        assert "," in f.read("seq2.txt").decode() and " " not in f.read("seq2.txt").decode()
    with pytest.raises(FileNotFoundError, match="missing"):
        pack_got10k(out, tmp_path / "x.zip", sequences=["seq2", "missing"])
    os.remove(out / "seq2_time.txt")
    with pytest.raises(FileNotFoundError, match="seq2_time"):
        pack_got10k(out, tmp_path / "y.zip")
