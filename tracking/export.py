"""``python -m tracking.export CKPT --out model.safetensors``: a training run's network weights, alone, as safetensors.

    python -m tracking.export runs/demo --out dimp18.safetensors              # best.pth, else the latest step_*.pth
    python -m tracking.export runs/demo/checkpoints/step_240.pth --out w.safetensors --config-out w.yaml --force

CKPT is a training checkpoint (format ``"tracking.train/1"``, see ``tracking.train.checkpoint``) or a run
directory (its ``checkpoints/best.pth`` when present, else its latest ``checkpoints/step_<n>.pth``). Writes:

- ``--out``: the network's state_dict as safetensors, with the metadata that rebuilds it (registered network
  name, constructor kwargs, epoch / step / best metric, source file): see ``tracking.models.safetensors_io``;
  load it with ``tracking.models.safetensors_io.load_weights(path)`` (or ``load_safetensors``);
- ``--config-out`` (default: ``--out`` with the extension ``.yaml``): the run's training config, as YAML.

The weights are checked first by rebuilding the network and loading them strictly. Existing files are not
overwritten without ``--force``. Errors a user can fix (missing file, not a training checkpoint, a network from a
user's ``_target_``, existing output) are one ``error:`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tracking.data.atomic import atomic_path

__all__ = ["ExportError", "export", "main", "resolve_checkpoint"]


class ExportError(Exception):
    """A user-fixable problem with the command's paths (no checkpoint in a run directory, existing output)."""


def resolve_checkpoint(path: str) -> str:
    """The checkpoint file ``path`` names: the file itself, or for a run directory (or its ``checkpoints``
    folder) ``checkpoints/best.pth`` when present, else the latest ``checkpoints/step_<n>.pth``."""
    from tracking.train.checkpoint import checkpoint_dir, latest_checkpoint

    if not os.path.isdir(path):
        return path  # a file, or missing: load_checkpoint says so, naming it
    run_dir = path
    if not os.path.isdir(checkpoint_dir(path)) and os.path.basename(os.path.normpath(path)) == "checkpoints":
        run_dir = os.path.dirname(os.path.normpath(path))
    best = os.path.join(checkpoint_dir(run_dir), "best.pth")
    found = best if os.path.isfile(best) else latest_checkpoint(run_dir)
    if found is None:
        raise ExportError(f"{path}: no checkpoint in {checkpoint_dir(run_dir)} (neither best.pth nor step_<n>.pth)")
    return found


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def export(checkpoint: str, out: str, config_out: str | None = None, force: bool = False) -> dict[str, Any]:
    """Export the network weights of ``checkpoint`` (a file or a run directory) to ``out`` (safetensors) and the
    run's config to ``config_out`` (default: ``out`` with ``.yaml``); returns a summary: ``source``, ``out``,
    ``config_out`` (None when the checkpoint holds no config), ``network``, ``tensors``, ``parameters``,
    ``extra`` (epoch, next_batch, global_step, best, run, source) and the file sizes in bytes.

    Raises ``ExportError``, ``tracking.train.checkpoint.CheckpointError`` (missing / unreadable / not a training
    checkpoint), ``tracking.models.checkpoints.CheckpointError`` (network not rebuildable, e.g. a user's
    ``_target_``; weights that do not fit it) and ``OSError``.
    """
    import yaml

    from tracking.models.safetensors_io import network_from_training_checkpoint, save_safetensors
    from tracking.train.checkpoint import load_checkpoint

    source = resolve_checkpoint(checkpoint)
    config_out = config_out or os.path.splitext(out)[0] + ".yaml"
    if os.path.abspath(config_out) == os.path.abspath(out):
        raise ExportError(f"--out and --config-out are the same file ({out}); give the config another name")
    existing = [p for p in (out, config_out) if os.path.exists(p)]
    if existing and not force:
        raise ExportError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; pass --force "
                          "to overwrite")
    data = load_checkpoint(source)
    net, meta = network_from_training_checkpoint(data, source)  # rebuilt and loaded strictly: the export will load
    config = data.get("config")
    config_text = yaml.safe_dump(config, sort_keys=False) if isinstance(config, dict) else None  # before writing
    save_safetensors(out, data["model"], meta["network"], meta["kwargs"], meta["extra"])
    if config_text is not None:
        os.makedirs(os.path.dirname(os.path.abspath(config_out)), exist_ok=True)
        _write_text(config_out, config_text)
    else:
        config_out = None
    return {"source": source, "out": out, "config_out": config_out, "network": meta["network"],
            "tensors": len(data["model"]), "parameters": sum(p.numel() for p in net.parameters()),
            "extra": meta["extra"], "source_bytes": os.path.getsize(source), "out_bytes": os.path.getsize(out),
            "config_bytes": os.path.getsize(config_out) if config_out else None}


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _progress(extra: dict[str, Any]) -> str:
    """``after 6 epoch(s), global step 240`` or ``in epoch 4 at batch 17, ...``, plus the best metric."""
    epoch, batch, step = extra.get("epoch"), extra.get("next_batch"), extra.get("global_step")
    text = (f"after {epoch} epoch(s)" if not batch else f"in epoch {epoch + 1} at batch {batch}") \
        if isinstance(epoch, int) else "epoch unknown"
    text += f", global step {step}" if step is not None else ""
    best = extra.get("best")
    if isinstance(best, dict) and isinstance(best.get("value"), (int, float)):
        when = f" after epoch {best['epoch'] + 1}" if isinstance(best.get("epoch"), int) else ""
        text += f"; best {best.get('metric', 'metric')} {best['value']:.4g}{when}"
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracking.export", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="CKPT", help="training checkpoint file, or a run directory")
    p.add_argument("--out", "-o", required=True, help="the safetensors file to write")
    p.add_argument("--config-out", default=None, metavar="YAML",
                   help="where to write the run's config (default: --out with the extension .yaml)")
    p.add_argument("--force", "-f", action="store_true", help="overwrite existing output files")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import yaml

    from tracking.models.checkpoints import CheckpointError as NetworkFileError
    from tracking.train.checkpoint import CheckpointError

    try:
        summary = export(args.checkpoint, args.out, args.config_out, args.force)
    except (ExportError, CheckpointError, NetworkFileError, OSError, yaml.YAMLError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    extra = summary["extra"]
    run = f"run {extra['run']}, " if extra.get("run") else ""
    print(f"checkpoint  {summary['source']} ({_size(summary['source_bytes'])}): {run}{_progress(extra)}")
    print(f"network     {summary['network']}: {summary['tensors']} tensors, {summary['parameters']:,} parameters")
    print(f"wrote       {summary['out']} ({_size(summary['out_bytes'])})")
    if summary["config_out"]:
        print(f"wrote       {summary['config_out']} ({_size(summary['config_bytes'])}, the run's training config)")
    else:
        print("config      none in the checkpoint, no YAML written")
    print(f"load with   tracking.models.safetensors_io.load_weights({summary['out']!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
