"""Command-line plumbing shared by the benchmark scripts: usage errors are one line on stderr with exit
status 2 (never a traceback), --out is checked before any measurement, and the JSON is written."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that an error prints only `error: <message>` (no usage block) and exits 2."""

    def error(self, message: str):
        fail(message)


def fail(message: str, status: int = 2):
    """Print `error: <message>` (one line) to stderr and exit with `status`."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def check_writable(path: str) -> None:
    """Raise OSError unless `path` can be written as a file: makes its folder, opens it for appending and
    removes it again if it did not exist (so a run that fails later leaves no empty file behind)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    folder = os.path.dirname(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
    os.makedirs(folder, exist_ok=True)
    existed = os.path.exists(path)
    with open(path, "a"):
        pass
    if not existed:
        os.remove(path)


def check_out(parser: argparse.ArgumentParser, path: str) -> None:
    """parser.error (one line, exit 2) when --out `path` cannot be written."""
    try:
        check_writable(path)
    except OSError as exc:
        parser.error(f"--out {path}: cannot write: {exc}")


def write_json(path: str, report: dict) -> None:
    """Write `report` to `path` (indent 2), making its folder; on failure `error: ...` and exit 2."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    except OSError as exc:
        fail(f"--out {path}: cannot write: {exc}")
