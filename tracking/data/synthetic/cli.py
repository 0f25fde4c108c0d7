"""The command line, ``python -m tracking.data.synthetic``: generate (or reuse) a synthetic dataset in a cache
directory with ``ensure_dataset``.

Progress goes to stderr as a ``tqdm`` bar, one step per sequence (or, without tqdm, one line per sequence on
stdout); the summary line goes to stdout. A user error (a bad option value, an invalid spec, an unusable
``--out``, foreign data in ``--out``) prints one line ``error: ...`` to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .cache import MARKER_NAME, ensure_dataset
from .spec import DEFAULT_LASOT_CLASSES, TEXTURES, SyntheticSpec

__all__ = ["main"]

_USAGE_ERROR = 2


def _fail(message: str) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with status 2."""
    print("error: " + " ".join(str(message).splitlines()), file=sys.stderr, flush=True)
    raise SystemExit(_USAGE_ERROR)


class _ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one ``error: ...`` line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see --help)")


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 640x360, got {text!r}") from None
    return width, height


def _prepare_out_dir(path: str) -> None:
    """Create ``--out`` if needed and check that it is a writable directory (else ``_fail``)."""
    if not path:
        _fail("--out must not be empty")
    if os.path.lexists(path) and not os.path.isdir(path):
        _fail(f"--out {path} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        _fail(f"cannot create the --out directory {path}: {e.strerror or e}")
    if not os.access(path, os.W_OK | os.X_OK):
        _fail(f"the --out directory {path} is not writable")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tracking.data.synthetic``: generate (or reuse) a synthetic dataset; shows a tqdm bar on stderr
    (one line per sequence on stdout when tqdm is not installed). Returns 0; raises ``SystemExit(2)`` after
    printing one ``error: ...`` line on stderr for a user error."""
    parser = _ArgumentParser(prog="python -m tracking.data.synthetic", description=(
        "Generate a procedural synthetic tracking dataset in the GOT-10k or LaSOT layout (reused when DIR "
        "already holds it for the same settings)."))
    parser.add_argument("--out", required=True, help="output directory (a dedicated cache dir)")
    parser.add_argument("--layout", choices=("got10k", "lasot"), default="got10k")
    parser.add_argument("--sequences", type=int, default=SyntheticSpec.num_sequences)
    parser.add_argument("--frames", type=int, default=SyntheticSpec.num_frames)
    parser.add_argument("--size", type=_parse_size, default=(SyntheticSpec.width, SyntheticSpec.height),
                        help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--seed", type=int, default=SyntheticSpec.seed)
    parser.add_argument("--jpeg-quality", type=int, default=SyntheticSpec.jpeg_quality)
    parser.add_argument("--out-of-view-prob", type=float, default=SyntheticSpec.out_of_view_prob)
    parser.add_argument("--occlusion-prob", type=float, default=SyntheticSpec.occlusion_prob)
    parser.add_argument("--texture", choices=TEXTURES, default=SyntheticSpec.texture,
                        help="smooth (light, ~0.8 bits per pixel) or textured (fine texture + sensor noise, "
                             "~2-2.5 bits per pixel, like real footage)")
    parser.add_argument("--split", default="train", help="GOT-10k split directory (default train)")
    parser.add_argument("--classes", default=",".join(DEFAULT_LASOT_CLASSES),
                        help="comma-separated LaSOT classes (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="regenerate even if DIR holds this dataset")
    args = parser.parse_args(argv)
    try:
        spec = SyntheticSpec(num_sequences=args.sequences, num_frames=args.frames, width=args.size[0],
                             height=args.size[1], seed=args.seed, jpeg_quality=args.jpeg_quality,
                             out_of_view_prob=args.out_of_view_prob, occlusion_prob=args.occlusion_prob,
                             texture=args.texture)
    except (TypeError, ValueError) as e:
        _fail(str(e))
    classes = tuple(c for c in args.classes.split(",") if c)
    if args.layout == "lasot" and not classes:
        _fail("--classes needs at least one LaSOT class name")
    _prepare_out_dir(args.out)

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    # Hidden (infinite delay) until the first sequence is written: a reused dataset shows no bar, and an error
    # raised before any sequence (e.g. foreign data in --out) stays the only line on stderr.
    bar = (tqdm(total=spec.num_sequences, unit="seq", desc="synthetic", file=sys.stderr, delay=math.inf)
           if tqdm is not None else None)
    generated = []

    def progress(done: int, total: int, name: str) -> None:
        generated.append(name)
        if bar is not None:
            bar.delay = 0  # shown from now on (and by close)
            bar.set_postfix_str(name)
            bar.update(1)
        else:
            print(f"[{done}/{total}] {name}: {spec.num_frames} frames {spec.width}x{spec.height}", flush=True)

    try:
        try:
            ensure_dataset(args.out, args.layout, spec, split=args.split, classes=classes, force=args.force,
                           progress=progress)
        finally:
            if bar is not None:
                bar.close()
    except OSError as e:  # foreign data in --out (FileExistsError), a full disk, ...
        _fail(str(e))
    if generated:
        print(f"wrote {len(generated)} {args.layout} sequences to {args.out}")
    else:
        print(f"{args.out} already holds this {args.layout} dataset ({MARKER_NAME} matches); nothing to do")
    return 0
