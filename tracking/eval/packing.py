"""Result packers for the evaluation servers: the zips GOT-10k's and TrackingNet's test servers take, built
from a results directory the OPE runner (:mod:`tracking.eval.runner`) wrote (``<seq>.txt`` boxes and
``<seq>_time.txt`` times). Boxes are rewritten as ``x,y,w,h`` lines with commas and 4 decimals (the GOT-10k
server rejects spaces); zips are written atomically (a temporary file, then a rename)."""

from __future__ import annotations

import os
import zipfile

from tracking.data.annotations import read_boxes, read_text
from tracking.data.atomic import atomic_path


def result_paths(out_dir: str | os.PathLike, name: str) -> tuple[str, str]:
    """``(<out_dir>/<name>.txt, <out_dir>/<name>_time.txt)``: a sequence's box and time files."""
    out_dir = os.fspath(out_dir)
    return os.path.join(out_dir, f"{name}.txt"), os.path.join(out_dir, f"{name}_time.txt")


def _result_names(results_dir: str) -> list[str]:
    if not os.path.isdir(results_dir):
        raise FileNotFoundError(f"results dir not found: {results_dir}")
    names = sorted(f[:-4] for f in os.listdir(results_dir)
                   if f.endswith(".txt") and not f.endswith("_time.txt") and not f.startswith("."))
    if not names:
        raise FileNotFoundError(f"no <seq>.txt result files in {results_dir}")
    return names


def _box_text(path: str) -> str:
    boxes = read_boxes(path, allow_empty=False)
    return "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes)


def _write_zip(out_zip: str, entries: list[tuple[str, str]]) -> str:
    out_zip = os.fspath(out_zip)
    os.makedirs(os.path.dirname(os.path.abspath(out_zip)), exist_ok=True)
    with atomic_path(out_zip) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for arcname, text in entries:
            z.writestr(arcname, text)
    return out_zip


def _packed_names(results_dir: str, sequences, who: str) -> list[str]:
    """The result names to pack: all of them, or exactly `sequences` (all of which must have results)."""
    names = _result_names(results_dir)
    if sequences is None:
        return names
    missing = sorted(set(sequences) - set(names))
    if missing:
        raise FileNotFoundError(f"{who}: no results for {len(missing)} sequence(s): {missing[:5]}")
    wanted = set(sequences)
    return [n for n in names if n in wanted]


def pack_got10k(results_dir: str | os.PathLike, out_zip: str | os.PathLike, sequences=None) -> str:
    """Zip for the GOT-10k test server: for each sequence ``<seq>/<seq>_001.txt`` (one ``x,y,w,h`` line per
    frame, commas, the first and only run) and ``<seq>/<seq>_time.txt`` (one time in seconds per line).
    Every result must have its ``_time.txt``; ``sequences`` (e.g. the reader's names), when given, must all
    have results. Returns the zip path."""
    results_dir = os.fspath(results_dir)
    names = _packed_names(results_dir, sequences, "pack_got10k")
    entries = []
    for n in names:
        box_path, time_path = result_paths(results_dir, n)
        if not os.path.isfile(time_path):
            raise FileNotFoundError(f"pack_got10k: {time_path} missing (the server requires times)")
        entries.append((f"{n}/{n}_001.txt", _box_text(box_path)))
        entries.append((f"{n}/{n}_time.txt", read_text(time_path)))
    return _write_zip(out_zip, entries)


def pack_trackingnet(results_dir: str | os.PathLike, out_zip: str | os.PathLike, sequences=None) -> str:
    """Zip for the TrackingNet server: ``<seq>.txt`` per sequence at the zip root, one ``x,y,w,h`` line per
    frame with commas (no time files). Returns the zip path."""
    results_dir = os.fspath(results_dir)
    names = _packed_names(results_dir, sequences, "pack_trackingnet")
    entries = [(f"{n}.txt", _box_text(result_paths(results_dir, n)[0])) for n in names]
    return _write_zip(out_zip, entries)
