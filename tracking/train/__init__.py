"""Training: ``python -m tracking.train --config configs/dimp50.yaml`` (config, actors, trainer + hooks, checkpoints, DDP)."""
