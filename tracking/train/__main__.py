"""``python -m tracking.train --config configs/dimp50.yaml [key=value ...]``: train a tracker.

    python -m tracking.train --config configs/demo.yaml                       # the CPU demo, synthetic data
    python -m tracking.train --config configs/dimp50.yaml train.epochs=2 data.loader.workers=0
    python -m tracking.train --config configs/dimp50.yaml --print-config      # the merged config, then exit
    python -m tracking.train --config configs/dimp50.yaml --resume            # continue the run's latest checkpoint
    torchrun --nproc_per_node 8 -m tracking.train --config configs/dimp50.yaml  # DistributedDataParallel

Errors a user can fix (config, dataset roots, weights, resume) are one ``error:`` line on stderr and exit
code 2; Ctrl-C exits 130 (the last checkpoint stays valid: they are written atomically).
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracking.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", "-c", required=True, help="YAML config file (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. train.epochs=2 data.loader.workers=0 'data.datasets=[{name: synthetic}]'")
    p.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                   help="continue from the run directory's latest checkpoint, or from PATH")
    return p


def _importable_beside(config_path: str) -> None:
    """Let ``_target_`` import paths name modules beside the config file (and in the working directory), in
    this process and in the loader's worker processes."""
    import os

    for directory in (os.getcwd(), os.path.dirname(os.path.abspath(config_path))):
        if directory not in sys.path:
            sys.path.insert(0, directory)
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if directory not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([directory] + [p for p in paths if p])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .build import BuildError
    from .checkpoint import CheckpointError
    from .config import ConfigError, load_config, to_yaml

    try:
        cfg = load_config(args.config, args.overrides)
        if args.print_config:
            sys.stdout.write(to_yaml(cfg))
            return 0
        from .run import train

        _importable_beside(args.config)

        train(cfg, config_path=args.config, resume=args.resume)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; continue with --resume", file=sys.stderr)
        return 130
    except (ConfigError, BuildError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the user-fixable kinds below; anything else is a bug and keeps its traceback
        fixable = ("DatasetNotFoundError", "PretrainedWeightsNotFoundError", "PretrainedWeightsError",
                   "OptimizerSetupError", "RunError", "SplitFileNotFoundError", "AnnotationError")
        if any(cls.__name__ in fixable for cls in type(e).__mro__):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
