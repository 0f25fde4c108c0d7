"""``python -m tracking.run``: track one target through a video file, an image folder or a webcam.

    python -m tracking.run --tracker dimp50 --weights dimp50.pth --input video.mp4 --box 120,80,60,40
    python -m tracking.run --tracker dimp18 --weights dimp18.pth --input seq/img --out results/mine --save-video
    python -m tracking.run --tracker dimp50 --weights dimp50.pth --input webcam:0 --max-frames 300

Input: a video file or a webcam (``webcam`` = camera 0, ``webcam:N``), read with ``cv2.VideoCapture``, or a
folder of images (jpg, png, ...; its ``img/`` sub-folder when it has one, as OTB's) in natural order
("2.jpg" before "10.jpg"). Frames are given to the tracker as RGB. The target's first-frame box is ``--box
x,y,w,h`` (0-based pixels, continuous: pixel (i, j) covers [j, j+1) x [i, i+1)); without it the first frame is
shown for a selection with the mouse (``cv2.selectROI``: drag, then Enter or Space), which needs a display.

Tracker: a parameter set (``configs/trackers/<name>.yaml`` or a .yaml path) with ``--weights`` (any file
``tracking.models.safetensors_io.load_weights`` reads; nothing is downloaded), ``--params key=value``
overrides, ``--device``; or a trivial tracker of :mod:`tracking.eval.trackers` (``static``, ``template``), or
``module:attr``.

Output (in ``--out``, default ``results/<tracker>``): ``<name>.txt``, the evaluation result format of the OPE
runner (one ``x,y,w,h`` line per frame, commas, 4 decimals; frame 1 is the given box) and ``<name>_time.txt``
(seconds per frame of the tracker's ``initialize`` / ``track``), where ``<name>`` is the video's file name
without extension, the folder's name or ``webcam<N>``; with ``--save-video`` also ``<name>.mp4`` (the frames
with the box drawn, ``cv2.VideoWriter`` with the mp4v codec), or ``<name>_frames/<i>.png`` when OpenCV cannot
write MP4. A progress bar shows the frames per second; at the end one line gives the frames, the tracker's
mean fps and, when the tracker reports them (``track_info(frame).timings``), its mean milliseconds per stage.

Exit codes: 0; 2 with one ``error:`` line on stderr for a missing input, an unreadable video or frame, a bad
``--box``, no display for the selection, an unknown tracker or parameter, missing or mismatching weights;
130 after Ctrl-C, once the frames tracked so far are written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracking.data.annotations import write_boxes, write_times
from tracking.data.datasets.folder import frame_files
from tracking.data.frames import FrameDecodeError, decode_frame
from tracking.data.sequence import valid_boxes
from tracking.eval.packing import result_paths
from tracking.eval.runner import frame_box
from tracking.eval.trackers import ParamSetTracker, make_tracker_factory

__all__ = ["FrameSource", "InputError", "main", "open_source", "parse_box", "select_box"]

WEBCAM = re.compile(r"^webcam(?::(\d+))?$")


class InputError(ValueError):
    """The input, the box or the display cannot be used (one line; the CLI prints it and exits 2)."""


# ----------------------------------------------------------------------------------------------- input


@dataclass
class FrameSource:
    """Frames of one input: ``frames()`` yields ``H x W x 3`` RGB uint8 arrays; ``fps`` is the video's rate
    (None when unknown: image folders, some webcams)."""

    name: str
    description: str
    fps: float | None = None
    count: int | None = None  # frames, when known
    paths: list[str] = field(default_factory=list)  # image folders
    capture: Any = None  # cv2.VideoCapture of videos and webcams

    def frames(self) -> Iterator[np.ndarray]:
        """The frames in order; an image that cannot be decoded is a FrameDecodeError naming it."""
        if self.capture is None:
            for path in self.paths:
                yield decode_frame(path, rgb=True)
            return
        import cv2

        while True:
            ok, bgr = self.capture.read()
            if not ok or bgr is None:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Release the video or camera."""
        if self.capture is not None:
            self.capture.release()


def open_source(spec: str) -> FrameSource:
    """The :class:`FrameSource` of ``--input``: ``webcam[:N]``, an image folder or a video file; InputError
    when it does not exist, holds no image or cannot be opened."""
    import cv2

    match = WEBCAM.match(spec)
    if match:
        index = int(match.group(1) or 0)
        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            raise InputError(f"--input {spec}: cannot open camera {index}")
        return FrameSource(f"webcam{index}", f"camera {index}", _fps(capture), capture=capture)
    if os.path.isdir(spec):
        paths = frame_files(spec)
        if not paths:
            raise InputError(f"--input {spec}: no images (jpg, png, ...) in this folder or its img/ sub-folder")
        name = os.path.basename(os.path.normpath(os.path.abspath(spec)))
        return FrameSource(name, f"{len(paths)} images in {spec}", count=len(paths), paths=paths)
    if not os.path.exists(spec):
        raise InputError(f"--input {spec}: no such file or folder (a video, an image folder, or webcam[:N])")
    capture = cv2.VideoCapture(spec)
    if not capture.isOpened():
        raise InputError(f"--input {spec}: OpenCV cannot open this video (not a video, or an unsupported codec)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    name = os.path.splitext(os.path.basename(spec))[0]
    return FrameSource(name, f"video {spec}" + (f", {count} frames" if count > 0 else ""), _fps(capture),
                       count=count if count > 0 else None, capture=capture)


def _fps(capture: Any) -> float | None:
    import cv2

    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0 < fps < 1000 else None


# ----------------------------------------------------------------------------------------------- box


def parse_box(text: str) -> np.ndarray:
    """``[4]`` float64 of ``--box "x,y,w,h"`` (commas or spaces); InputError unless 4 finite numbers with
    ``w, h > 0``."""
    fields = [f for f in re.split(r"[,\s]+", text.strip()) if f]
    try:
        box = np.array([float(f) for f in fields], dtype=np.float64)
    except ValueError:
        raise InputError(f"--box {text!r}: not numbers; write x,y,w,h (e.g. --box 120,80,60,40)") from None
    if box.shape != (4,):
        raise InputError(f"--box {text!r}: expected 4 numbers x,y,w,h, got {box.size}")
    if not valid_boxes(box)[0]:
        raise InputError(f"--box {text!r}: needs finite numbers with width and height > 0")
    return box


def check_box_in_frame(box: np.ndarray, frame: np.ndarray) -> None:
    """InputError when ``box`` does not overlap the frame at all."""
    h, w = frame.shape[:2]
    x, y, bw, bh = box
    if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
        raise InputError(f"--box {','.join(f'{v:g}' for v in box)} lies outside the {w}x{h} first frame")


def has_display() -> bool:
    """False on Linux without ``DISPLAY`` or ``WAYLAND_DISPLAY`` (elsewhere: assumed present)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def select_box(frame: np.ndarray) -> np.ndarray:
    """The box drawn with the mouse on ``frame`` (RGB) in an OpenCV window; InputError when there is no
    display, OpenCV has no GUI (a headless build) or the selection is cancelled."""
    import cv2

    advice = "pass the first frame's box as --box x,y,w,h"
    if not has_display():
        raise InputError(f"no --box given and no display to select the target on (DISPLAY and WAYLAND_DISPLAY "
                         f"are unset): {advice}")
    window = "select the target, then Enter or Space (c cancels)"
    try:
        x, y, w, h = cv2.selectROI(window, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), showCrosshair=True,
                                   fromCenter=False)
        cv2.destroyWindow(window)
    except cv2.error as e:
        reason = next((line for line in str(e).splitlines() if line.strip()), "cv2.error")
        raise InputError(f"no --box given and OpenCV cannot open a window to select the target ({reason.strip()}): "
                         f"{advice}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"no target selected: {advice}")
    return np.array([x, y, w, h], dtype=np.float64)


# ----------------------------------------------------------------------------------------------- output


class AnnotatedWriter:
    """``--save-video``: each frame with its box drawn, to ``<out>/<name>.mp4`` (mp4v), or to
    ``<out>/<name>_frames/<i>.png`` when OpenCV cannot open the video writer."""

    def __init__(self, out_dir: str, name: str, fps: float | None) -> None:
        self.out_dir, self.name, self.fps = out_dir, name, fps or 30.0
        self.writer: Any = None
        self.png_dir: str | None = None
        self.count = 0

    @property
    def path(self) -> str:
        """What was written: the MP4 file or the PNG folder."""
        return self.png_dir or os.path.join(self.out_dir, f"{self.name}.mp4")

    def _open(self, width: int, height: int) -> None:
        import cv2

        writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        if writer.isOpened():
            self.writer = writer
            return
        writer.release()
        self.png_dir = os.path.join(self.out_dir, f"{self.name}_frames")
        os.makedirs(self.png_dir, exist_ok=True)
        print(f"warning: OpenCV cannot write MP4 here; writing PNG frames to {self.png_dir}", file=sys.stderr)

    def write(self, frame: np.ndarray, box: np.ndarray, index: int) -> None:
        """Draw ``box`` (skipped when invalid) and the frame number on ``frame`` (RGB) and write it."""
        import cv2

        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if valid_boxes(box)[0]:
            p0 = (int(round(box[0])), int(round(box[1])))
            p1 = (int(round(box[0] + box[2])), int(round(box[1] + box[3])))
            cv2.rectangle(bgr, p0, p1, (0, 255, 0), 2)
        cv2.putText(bgr, f"#{index + 1}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 255), 2)
        if self.writer is None and self.png_dir is None:
            self._open(bgr.shape[1], bgr.shape[0])
        if self.writer is not None:
            self.writer.write(bgr)
        else:
            cv2.imwrite(os.path.join(self.png_dir, f"{index + 1:06d}.png"), bgr)
        self.count += 1

    def close(self) -> None:
        """Finish the MP4 file."""
        if self.writer is not None:
            self.writer.release()


@dataclass
class Track:
    """What was tracked so far: boxes and tracker seconds per frame, summed stage seconds of ``track_info``."""

    boxes: list[np.ndarray] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_frames: int = 0

    def add(self, box: np.ndarray, seconds: float, timings: dict[str, float] | None = None) -> None:
        """Record one frame."""
        self.boxes.append(box)
        self.seconds.append(seconds)
        if timings:
            self.stage_frames += 1
            for stage, value in timings.items():
                self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + float(value)

    def write(self, out_dir: str, name: str) -> str:
        """Write ``<name>_time.txt`` then ``<name>.txt`` (the runner's order); returns the box file."""
        box_path, time_path = result_paths(out_dir, name)
        write_times(time_path, self.seconds)
        write_boxes(box_path, np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4))
        return box_path

    def summary(self) -> str:
        """One line: frames, the tracker's mean fps (after the first frame) and ms per stage."""
        times = np.asarray(self.seconds[1:] or self.seconds, dtype=np.float64)
        fps = len(times) / times.sum() if times.size and times.sum() > 0 else float("nan")
        text = f"{len(self.boxes)} frames, mean {fps:.1f} fps (tracker time per frame {1e3 * times.mean():.1f} ms)" \
            if times.size else f"{len(self.boxes)} frames"
        if self.stage_frames:
            stages = ", ".join(f"{stage} {1e3 * total / self.stage_frames:.1f}"
                               for stage, total in self.stage_seconds.items())
            text += f"; ms per frame by stage: {stages}"
        return text


def _track_frame(tracker: Any, frame: np.ndarray) -> tuple[np.ndarray, float, dict[str, float] | None]:
    """One ``track_info`` (when the tracker has it) or ``track`` call: (box as the runner writes it, seconds,
    timings)."""
    info_fn = getattr(tracker, "track_info", None)
    t0 = time.perf_counter()
    if info_fn is not None:
        info = info_fn(frame)
        seconds = time.perf_counter() - t0
        return frame_box(info.box)[0], seconds, dict(info.timings or {})
    out = tracker.track(frame)
    seconds = time.perf_counter() - t0
    return frame_box(out)[0], seconds, None


def run(tracker: Any, frames: Iterator[np.ndarray], first: np.ndarray, box: np.ndarray, track: Track,
        max_frames: int | None, video: AnnotatedWriter | None, progress: bool, total: int | None = None) -> None:
    """Initialise on ``first`` with ``box`` and track through ``frames`` into ``track`` (which keeps what was
    tracked when this raises, e.g. KeyboardInterrupt); ``total``: the number of frames for the progress bar."""
    from tqdm import tqdm

    total = min(n for n in (total, max_frames) if n is not None) if total or max_frames else None
    bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True)
    try:
        t0 = time.perf_counter()
        tracker.initialize(first, box.copy())
        track.add(box.copy(), time.perf_counter() - t0)
        if video is not None:
            video.write(first, box, 0)
        bar.update(1)
        for index, frame in enumerate(frames, start=1):
            if max_frames is not None and index >= max_frames:
                break
            out, seconds, timings = _track_frame(tracker, frame)
            track.add(out, seconds, timings)
            if video is not None:
                video.write(frame, out, index)
            bar.update(1)
            if index % 10 == 0:
                recent = np.asarray(track.seconds[-10:])
                bar.set_postfix_str(f"tracker {len(recent) / max(recent.sum(), 1e-9):.1f} fps")
    finally:
        bar.close()


# ----------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracking.run", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracker", required=True, help="parameter set (name or .yaml path), static, template, or "
                                                    "module:attr")
    p.add_argument("--weights", default=None, help="network weights file of a parameter-set tracker")
    p.add_argument("--input", required=True, help="video file, image folder, or webcam[:N]")
    p.add_argument("--box", default=None, help="first-frame box x,y,w,h (0-based pixels); else select it on screen")
    p.add_argument("--out", default=None, help="output folder (default results/<tracker>)")
    p.add_argument("--save-video", action="store_true", help="also write the annotated frames (<name>.mp4)")
    p.add_argument("--params", nargs="*", default=[], metavar="KEY=VALUE", help="parameter overrides")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--seed", type=int, default=0, help="seed of the tracker's randomness")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _error(message: str) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return 2


def _build(args: argparse.Namespace) -> Any:
    factory = make_tracker_factory(args.tracker, args.weights, args.params, args.device, args.seed)
    return factory.check() if isinstance(factory, ParamSetTracker) else factory()


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring); returns the exit code."""
    args = _parser().parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        return _error(f"--max-frames {args.max_frames}: must be at least 1")
    tracker_stem = os.path.splitext(os.path.basename(args.tracker))[0].replace(":", "_")
    out_dir = args.out or os.path.join("results", tracker_stem)
    source = None
    try:
        box = parse_box(args.box) if args.box is not None else None
        source = open_source(args.input)
        frames = source.frames()
        first = next(frames, None)
        if first is None:
            raise InputError(f"--input {args.input}: no frame could be read")
        if box is not None:
            check_box_in_frame(box, first)
        tracker = _build(args)
        if box is None:
            box = select_box(first)
    except (InputError, FrameDecodeError, ValueError, FileNotFoundError) as e:
        if source is not None:
            source.close()
        return _error(e)
    except KeyboardInterrupt:
        if source is not None:
            source.close()
        print("interrupted before tracking began", file=sys.stderr)
        return 130
    h, w = first.shape[:2]
    print(f"{source.name}: {source.description}, {w}x{h}; tracker {args.tracker}; box "
          f"{','.join(f'{v:g}' for v in box)}", file=sys.stderr, flush=True)
    track = Track()
    video = AnnotatedWriter(out_dir, source.name, source.fps) if args.save_video else None
    code = 0
    os.makedirs(out_dir, exist_ok=True)
    try:
        run(tracker, frames, first, box, track, args.max_frames, video, not args.no_progress, source.count)
    except KeyboardInterrupt:
        code = 130
    except FrameDecodeError as e:
        code = _error(e)
    finally:
        source.close()
        if video is not None:
            video.close()
        if track.boxes:
            path = track.write(out_dir, source.name)
    if code == 130:
        print(f"interrupted: wrote the {len(track.boxes)} frames tracked so far", file=sys.stderr)
    print(f"{source.name}: {track.summary()}")
    if track.boxes:
        print(f"wrote {path} and {result_paths(out_dir, source.name)[1]}"
              + (f"; annotated frames: {video.path}" if video is not None and video.count else ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
