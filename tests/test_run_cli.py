"""``python -m tracking.run`` and the tracker weights loader (tracking.trackers.weights), with a tiny tracker of
this module registered as the tracker kind ``tiny`` (its parameter set is a .yaml file in tmp; its network,
``tiny_test_net``, is registered on import). Most runs call ``main()`` in this process; two are subprocesses
(the real entry point, one line on stderr). ``tests/test_runner_trackers.py`` uses the same tracker."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from tracking.data.annotations import read_boxes, read_times
from tracking.models.registry import register_network, registered_names
from tracking.models.safetensors_io import save_safetensors
from tracking.trackers import TrackOutput, registry
from tracking.trackers.params import ParamsError
from tracking.trackers.weights import (WeightsMismatchError, WeightsNotFoundError, load_tracker_network,
                                       resolve_device)

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


class TinyNet(nn.Module):
    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)


for _name, _channels in (("tiny_test_net", 2), ("tiny_test_net_alias", 2), ("tiny_test_net_other", 3)):
    if _name not in registered_names():
        register_network(_name)(lambda channels=_channels: TinyNet(channels))


class TinyTracker:
    """Moves the box ``step`` pixels right per frame; reports two stages. ``log``: a file that gets one line
    ``<pid> <id(net)> <torch threads>`` per tracker built; ``interrupt_at``: raise KeyboardInterrupt at that frame."""

    seen: list = []  # frame[0, 0] of every frame given to a tracker of this process

    def __init__(self, params, weights=None, net=None, device="auto", seed=0):
        unknown = set(params) - {"tracker", "network", "name", "step", "log", "interrupt_at"}
        if unknown:
            raise ParamsError(f"tiny: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.net = net if net is not None else load_tracker_network(weights, params["network"], device)
        self.step = float(params.get("step", 1.0))
        self.interrupt_at = params.get("interrupt_at")
        if params.get("log"):
            with open(params["log"], "a") as f:
                f.write(f"{os.getpid()} {id(self.net)} {torch.get_num_threads()}\n")

    def initialize(self, frame, box):
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        TinyTracker.seen.append(frame[0, 0].tolist())
        self.box = np.asarray(box, dtype=np.float64).copy()
        self.n = 0

    def track_info(self, frame):
        TinyTracker.seen.append(frame[0, 0].tolist())
        self.n += 1
        if self.interrupt_at is not None and self.n == self.interrupt_at:
            raise KeyboardInterrupt
        self.box[0] += self.step
        return TrackOutput(self.box.copy(), timings={"sample": 0.001, "net": 0.002})

    def track(self, frame):
        return self.track_info(frame).box


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """(params .yaml path, weights path): the tiny tracker's parameter set and its network's weights."""
    monkeypatch.setitem(registry.TRACKER_CLASSES, "tiny", "test_run_cli:TinyTracker")
    monkeypatch.setattr(TinyTracker, "seen", [])
    weights = tmp_path / "tiny.safetensors"
    save_safetensors(weights, TinyNet(2), "tiny_test_net")
    params = tmp_path / "tiny.yaml"
    params.write_text("tracker: tiny\nnetwork: tiny_test_net\nstep: 1.5\n")
    return str(params), str(weights)


def image_folder(root, n=11, size=(40, 60)):
    """Frames 1.png .. n.png (natural order differs from the lexical one); frame i's blue channel is 10 * i
    and its red channel 200 (BGR on disk)."""
    root.mkdir(parents=True)
    for i in range(1, n + 1):
        img = np.zeros((*size, 3), np.uint8)
        img[..., 0], img[..., 2] = 10 * i, 200
        cv2.imwrite(str(root / f"{i}.png"), img)
    return root


def video_file(path, n=12, size=(48, 64)):
    """An MJPG .avi of n frames, red (BGR 0, 0, 200)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (size[1], size[0]))
    assert writer.isOpened()
    for _ in range(n):
        writer.write(np.full((*size, 3), (0, 0, 200), np.uint8))
    writer.release()
    return path


def run_main(*argv):
    from tracking.run import main

    return main([*map(str, argv), "--no-progress"])


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# ---- runs ------------------------------------------------------------------------------------------------------

def test_image_folder_natural_order_rgb_and_result_format(tmp_path, tiny, capsys):
    params, weights = tiny
    frames, out = image_folder(tmp_path / "seq"), tmp_path / "out"
    assert run_main("--tracker", params, "--weights", weights, "--input", frames, "--box", "2,3,10,8",
                    "--out", out) == 0
    assert [p[2] for p in TinyTracker.seen] == [10 * i for i in range(1, 12)]  # natural order, RGB
    assert all(p[0] == 200 for p in TinyTracker.seen)
    lines = (out / "seq.txt").read_text().splitlines()
    assert lines[0] == "2.0000,3.0000,10.0000,8.0000" and lines[2] == "5.0000,3.0000,10.0000,8.0000"
    boxes = read_boxes(out / "seq.txt")
    np.testing.assert_allclose(boxes[:, 0], 2 + 1.5 * np.arange(11))
    assert read_times(out / "seq_time.txt").shape == (11,)
    stdout = capsys.readouterr().out
    assert "seq: 11 frames, mean" in stdout and "by stage: sample 1.0, net 2.0" in stdout


def test_video_file_max_frames_save_video_and_params(tmp_path, tiny, capsys):
    params, weights = tiny
    video, out = video_file(tmp_path / "clip.avi"), tmp_path / "out"
    assert run_main("--tracker", params, "--weights", weights, "--input", video, "--box", "4,5,20,10",
                    "--out", out, "--max-frames", 8, "--save-video", "--params", "step=-1") == 0
    boxes = read_boxes(out / "clip.txt")
    np.testing.assert_allclose(boxes[:, 0], 4 - np.arange(8))
    assert all(abs(p[0] - 200) < 8 and p[2] < 8 for p in TinyTracker.seen)  # BGR -> RGB
    mp4, pngs = out / "clip.mp4", out / "clip_frames"
    assert (mp4.is_file() and mp4.stat().st_size > 0) or len(os.listdir(pngs)) == 8
    if mp4.is_file():
        assert cv2.VideoCapture(str(mp4)).get(cv2.CAP_PROP_FRAME_COUNT) == 8
    assert "annotated frames:" in capsys.readouterr().out


def test_ctrl_c_writes_what_was_tracked_and_exits_130(tmp_path, tiny, capsys):
    params, weights = tiny
    frames, out = image_folder(tmp_path / "seq"), tmp_path / "out"
    assert run_main("--tracker", params, "--weights", weights, "--input", frames, "--box", "2,3,10,8",
                    "--out", out, "--params", "interrupt_at=4") == 130
    assert read_boxes(out / "seq.txt").shape == (4, 4) and read_times(out / "seq_time.txt").shape == (4,)
    assert "interrupted: wrote the 4 frames" in capsys.readouterr().err


# ---- errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("box, message", [
    ("1,2,3", "expected 4 numbers"), ("a,b,c,d", "not numbers"), ("1,2,0,5", "width and height > 0"),
    ("1,2,nan,5", "width and height > 0"), ("500,3,10,8", "lies outside the 60x40 first frame")])
def test_bad_box(tmp_path, tiny, capsys, box, message):
    params, weights = tiny
    frames = image_folder(tmp_path / "seq", n=2)
    assert run_main("--tracker", params, "--weights", weights, "--input", frames, "--box", box,
                    "--out", tmp_path / "out") == 2
    assert message in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_missing_and_unreadable_input_and_unknown_tracker(tmp_path, tiny, capsys):
    params, weights = tiny
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.avi").write_text("not a video")
    cases = [(["--input", tmp_path / "nope.mp4"], "no such file or folder"),
             (["--input", tmp_path / "empty"], "no images"),
             (["--input", tmp_path / "bad.avi"], "OpenCV cannot open this video")]
    for args, message in cases:
        assert run_main("--tracker", params, "--weights", weights, "--box", "1,1,5,5", *args) == 2
        assert message in one_error_line(capsys.readouterr().err)
    frames = image_folder(tmp_path / "seq", n=2)
    assert run_main("--tracker", "no_such_tracker", "--input", frames, "--box", "1,1,5,5") == 2
    assert "unknown tracker 'no_such_tracker'" in one_error_line(capsys.readouterr().err)
    assert run_main("--tracker", params, "--weights", weights, "--input", frames, "--box", "1,1,5,5",
                    "--params", "nosuch=1") == 2
    assert "unknown parameter(s) nosuch" in one_error_line(capsys.readouterr().err)


def test_missing_weights_message(tmp_path, tiny, capsys):
    params, _ = tiny
    frames = image_folder(tmp_path / "seq", n=2)
    missing = tmp_path / "dimp50.pth"
    assert run_main("--tracker", params, "--weights", missing, "--input", frames, "--box", "1,1,5,5") == 2
    line = one_error_line(capsys.readouterr().err)
    for part in (repr(str(missing)), "not found", "does not download", "visionml/pytracking", "MODEL_ZOO.md",
                 "dimp18.pth", "dimp50.pth", "prdimp18.pth.tar", "prdimp50.pth.tar", "super_dimp.pth.tar",
                 "atom_default.pth", "python -m tracking.export"):
        assert part in line, part
    assert run_main("--tracker", params, "--input", frames, "--box", "1,1,5,5") == 2
    assert "no weights file given" in one_error_line(capsys.readouterr().err)


def test_mismatching_weights_name_both_networks(tmp_path, tiny, capsys):
    params, _ = tiny
    other = tmp_path / "other.safetensors"
    save_safetensors(other, TinyNet(3), "tiny_test_net_other")
    frames = image_folder(tmp_path / "seq", n=2)
    assert run_main("--tracker", params, "--weights", other, "--input", frames, "--box", "1,1,5,5") == 2
    line = one_error_line(capsys.readouterr().err)
    assert "'tiny_test_net_other'" in line and "expects 'tiny_test_net'" in line


def test_no_display_for_the_selection(tmp_path, tiny, capsys, monkeypatch):
    params, weights = tiny
    frames = image_folder(tmp_path / "seq", n=2)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert run_main("--tracker", params, "--weights", weights, "--input", frames) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no display" in line and "--box x,y,w,h" in line

    def no_gui(*args, **kwargs):
        raise cv2.error("OpenCV(4.x) window.cpp:1: error: (-2:Unspecified error) The function is not implemented")

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "selectROI", no_gui)
    assert run_main("--tracker", params, "--weights", weights, "--input", frames) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cannot open a window" in line and "--box x,y,w,h" in line
    monkeypatch.setattr(cv2, "selectROI", lambda *a, **k: (3, 4, 10, 12))
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    assert run_main("--tracker", params, "--weights", weights, "--input", frames, "--out", tmp_path / "o") == 0
    assert read_boxes(tmp_path / "o" / "seq.txt")[0].tolist() == [3, 4, 10, 12]


# ---- the real entry point ----------------------------------------------------------------------------------

REGISTER_AND_RUN = ("import sys, tracking.trackers.registry as r; "
                    "r.TRACKER_CLASSES['tiny'] = 'test_run_cli:TinyTracker'; "
                    "from tracking.run import main; sys.exit(main(sys.argv[1:]))")


def _subprocess(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, REPO, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_subprocess_template_tracker_on_a_video(tmp_path):
    video, out = video_file(tmp_path / "clip.avi", n=6), tmp_path / "out"
    proc = _subprocess("-m", "tracking.run", "--tracker", "template", "--input", video, "--box", "10,10,20,15",
                       "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert read_boxes(out / "clip.txt").shape == (6, 4)
    assert "clip: 6 frames, mean" in proc.stdout and "frame/s" in proc.stderr  # summary, progress bar


def test_subprocess_missing_weights_is_one_line_exit_2(tmp_path):
    image_folder(tmp_path / "seq", n=2)
    params = tmp_path / "tiny.yaml"
    params.write_text("tracker: tiny\nnetwork: tiny_test_net\n")
    proc = _subprocess("-c", REGISTER_AND_RUN, "--tracker", params, "--weights", tmp_path / "w.pth", "--input",
                       tmp_path / "seq", "--box", "1,1,5,5")
    assert proc.returncode == 2
    assert "does not download" in one_error_line(proc.stderr)


# ---- the weights loader ------------------------------------------------------------------------------------

def test_load_tracker_network(tmp_path):
    path = tmp_path / "w.safetensors"
    net = TinyNet(2)
    save_safetensors(path, net, "tiny_test_net")
    loaded = load_tracker_network(str(path), "tiny_test_net", "cpu")
    assert not loaded.training and torch.equal(loaded.conv.weight, net.conv.weight)
    assert load_tracker_network(str(path), "tiny_test_net_alias", "cpu") is not None  # same architecture
    with pytest.raises(WeightsMismatchError, match="holds the network 'tiny_test_net'.*expects 'tiny_test_net_other'"):
        load_tracker_network(str(path), "tiny_test_net_other", "cpu")
    with pytest.raises(WeightsNotFoundError, match="dimp50.pth") as info:
        load_tracker_network(str(tmp_path / "x.pth"), "dimpnet50", "cpu")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ValueError, match="not registered"):
        load_tracker_network(str(path), "no_such_net", "cpu")


def test_resolve_device_spreads_workers_over_gpus(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="expected auto, cpu"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [resolve_device("auto", i) for i in range(4)] == [torch.device("cuda", i % 2) for i in range(4)]
    assert resolve_device("cuda:1", 0) == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="only 2 GPU"):
        resolve_device("cuda:2")
