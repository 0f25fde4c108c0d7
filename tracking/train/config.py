"""Training configuration: typed schemas, YAML files that compose, dotted command-line overrides.

A config file is YAML checked against :class:`TrainConfig` (OmegaConf structured config). It may start
with ``_base_: other.yaml`` (a path relative to the file, or a list of them, merged in order) so that
settings are written once and varied by small files::

    _base_: dimp_common.yaml
    model: {name: dimpnet18}
    train: {epochs: 50}

Every file, and the command line, is merged on its own onto the schema, so an unknown key or a value of the
wrong type is a :class:`ConfigError` naming the key and the file (or "the command line"), e.g.
``configs/demo.yaml: unknown key 'train.epochz' (train has: epochs, seed, ...)``.

Components that a user may bring (network, actor, processing, sampler) are :class:`ComponentConfig`: either a
registered ``name`` or an import path ``_target_: mypkg.mynet.build`` (also ``mypkg.mynet:build``), with the
callable's keyword arguments under ``kwargs``. Keys under ``kwargs`` are not checked here: the callable's own
signature checks them when the run is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["ConfigError", "TrainConfig", "load_config", "to_yaml", "to_container"]


class ConfigError(ValueError):
    """A config file or override is malformed: the message names the key and where it came from."""


@dataclass
class ComponentConfig:
    """A registered ``name`` or an import path ``_target_``, called with ``kwargs``."""

    name: Optional[str] = None
    _target_: Optional[str] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig(ComponentConfig):
    """The network: ``tracking.models.build_network(name, **kwargs)`` or ``_target_(**kwargs)``.

    require_pretrained: when the constructor asks for ImageNet backbone weights that are not on this machine,
        False (default) logs the not-found message (where to put the file) and trains from random init; True
        stops with that message.
    """

    require_pretrained: bool = False


@dataclass
class ActorConfig(ComponentConfig):
    """The actor: ``tracking.train.actors.build_actor(name, net, loss_weights, **kwargs)`` or
    ``_target_(net=net, loss_weights=loss_weights, **kwargs)``; empty loss_weights: the actor's defaults."""

    loss_weights: Dict[str, float] = field(default_factory=dict)


@dataclass
class DatasetEntry:
    """One training dataset (tracking.train.datasets.build_datasets): ``name`` a dataset key (got10k, lasot,
    trackingnet, coco, imagenetvid, ..., or ``synthetic``: the embedded data), sampled with ``weight``."""

    name: str = "synthetic"
    weight: float = 1.0
    split: Optional[str] = None
    root: Optional[str] = None
    sets: Optional[List[int]] = None
    version: Optional[str] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LoaderSection:
    """loaders.LoaderConfig's execution settings (backend: auto | opencv | dali; device: auto | cpu | gpu;
    decode: auto | reduced | full, see LoaderConfig.decode)."""

    backend: str = "auto"
    workers: int = 2
    device: str = "auto"
    decode: str = "auto"


@dataclass
class ValConfig:
    """Validation: every ``every`` epochs, ``samples_per_epoch`` samples of ``datasets`` (none: no validation),
    processed as training with ``processing`` overrides (pytracking validates without brightness jitter)."""

    datasets: List[DatasetEntry] = field(default_factory=list)
    samples_per_epoch: int = 0
    every: int = 5
    seed: int = 1
    processing: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training data: datasets sampled by ``sampler``, made into records by ``processing`` (a preset name of
    tracking.data.processing with field overrides in kwargs, or a _target_), rendered by ``loader``."""

    datasets: List[DatasetEntry] = field(default_factory=lambda: [DatasetEntry()])
    samples_per_epoch: int = 26000
    batch_size: int = 10
    sampler: ComponentConfig = field(default_factory=lambda: ComponentConfig(name="dimp"))
    processing: ComponentConfig = field(default_factory=lambda: ComponentConfig(name="dimp"))
    loader: LoaderSection = field(default_factory=LoaderSection)
    val: ValConfig = field(default_factory=ValConfig)


@dataclass
class ParamGroup:
    """Parameters of the modules at ``params`` (dotted paths in the network, e.g. ``classifier.filter_optimizer``)
    with their own lr / weight_decay (None: the optimizer's)."""

    params: List[str] = field(default_factory=list)
    lr: Optional[float] = None
    weight_decay: Optional[float] = None


@dataclass
class SchedulerConfig:
    """Learning-rate schedule, stepped once per epoch: ``step`` (StepLR: x gamma every step_size epochs),
    ``cosine`` (to 0 over the run) or ``none``."""

    name: str = "step"
    step_size: int = 15
    gamma: float = 0.2


@dataclass
class OptimConfig:
    """Optimizer ``name`` (adam | adamw | sgd) over ``groups`` (empty: every trainable parameter). Trainable
    parameters outside every group are not trained (as in pytracking's settings), and the run logs how many."""

    name: str = "adam"
    lr: float = 2e-4
    weight_decay: float = 0.0
    kwargs: Dict[str, Any] = field(default_factory=dict)
    groups: List[ParamGroup] = field(default_factory=list)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class CheckpointConfig:
    """every_iters: also checkpoint every that many iterations within an epoch (0: at epoch ends only);
    keep_last: checkpoints kept besides the best; best_metric: the validation statistic (lower is better)
    whose best epoch is kept as best.pth."""

    every_iters: int = 0
    keep_last: int = 3
    best_metric: str = "Loss/total"


@dataclass
class TrainSection:
    """The loop.

    device: auto (cuda when available) | cpu | cuda | cuda:N.  amp: auto (bfloat16 autocast on GPUs that support
    it, float16 + GradScaler on others, off on the CPU) | off | bf16 | fp16.  channels_last: auto (on) | on | off.
    compile: torch.compile the network.  grad_clip: max gradient norm (None: no clipping).  deterministic:
    torch.use_deterministic_algorithms.  threads: torch CPU threads (None: torch's default).  log_every:
    iterations between metric records (JSONL, TensorBoard).  run_dir: None = <workspace_dir>/runs/<name>.
    """

    epochs: int = 50
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    grad_clip: Optional[float] = None
    deterministic: bool = False
    threads: Optional[int] = None
    log_every: int = 10
    tensorboard: bool = True
    find_unused_parameters: bool = True
    run_dir: Optional[str] = None
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)


@dataclass
class TrainConfig:
    """The whole training configuration (see the module docstring); ``name`` defaults to the file's stem."""

    name: str = ""
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    actor: ActorConfig = field(default_factory=ActorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainSection = field(default_factory=TrainSection)


CHOICES = {
    "train.amp": ("auto", "off", "bf16", "fp16"),
    "train.channels_last": ("auto", "on", "off"),
    "data.loader.backend": ("auto", "opencv", "dali"),
    "data.loader.device": ("auto", "cpu", "gpu"),
    "data.loader.decode": ("auto", "reduced", "full"),
    "optim.name": ("adam", "adamw", "sgd"),
    "optim.scheduler.name": ("step", "cosine", "none"),
}
POSITIVE = ("train.epochs", "data.samples_per_epoch", "data.batch_size", "train.log_every", "data.val.every")


def _schema():
    from omegaconf import OmegaConf

    return OmegaConf.structured(TrainConfig)


def _describe(error: Exception) -> str:
    """OmegaConf's message without its 'full_key/object_type' trailer lines."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    keep = [line for line in lines if not line.strip().startswith(("full_key:", "reference_type", "object_type"))]
    return "; ".join(keep) or type(error).__name__


def _valid_keys(schema, dotted: str) -> str:
    from omegaconf import DictConfig, OmegaConf

    node = schema
    parent = ".".join(dotted.split(".")[:-1])
    for part in parent.split(".") if parent else []:
        node = node.get(part) if isinstance(node, DictConfig) else None
    if isinstance(node, DictConfig) and OmegaConf.is_dict(node):
        return f" ({parent or 'the top level'} has: {', '.join(str(k) for k in node.keys())})"
    return ""


COMPONENTS = ("model", "actor", "data.sampler", "data.processing")


def _switch_components(base, update):
    """A component given with only ``name`` (or only ``_target_``) in ``update`` replaces the other of the two,
    so a file naming ``_target_`` overrides a base's ``name`` (and vice versa); and when the callable changes, the
    base's ``kwargs`` (and an actor's ``loss_weights``) belong to the old callable and are dropped. Returns the
    base to merge onto (a copy when something was dropped)."""
    from omegaconf import DictConfig, OmegaConf, open_dict

    for key in COMPONENTS:
        node = OmegaConf.select(update, key, default=None)
        if not isinstance(node, DictConfig):
            continue
        with open_dict(node):
            if "_target_" in node and "name" not in node:
                node.name = None
            elif "name" in node and "_target_" not in node:
                node._target_ = None
        old = OmegaConf.select(base, key, default=None)
        if old is None or "name" not in node:
            continue
        had_one = old.name is not None or old._target_ is not None
        if had_one and (old.name, old._target_) != (node.name, node._target_):
            base = base.copy() if base is not None else base
            OmegaConf.update(base, f"{key}.kwargs", {}, merge=False)
            if "loss_weights" in old:
                OmegaConf.update(base, f"{key}.loss_weights", {}, merge=False)
    return base


def _merge(base, update, where: str):
    """Merge ``update`` onto ``base`` (both OmegaConf), turning schema errors into ConfigError naming ``where``."""
    from omegaconf import OmegaConf

    base = _switch_components(base, update)
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    try:
        return OmegaConf.merge(base, update)
    except (ConfigKeyError, ConfigAttributeError) as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"{where}: unknown key '{key}'{_valid_keys(base, key)}") from None
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"{where}: bad value for '{key}': {_describe(e)}") from None
    except TypeError as e:  # e.g. a list element addressed by index: lists are replaced as a whole
        raise ConfigError(f"{where}: cannot merge ({e}); a list is given whole, e.g. "
                          "data.datasets=[{name: synthetic}]") from None


def _read_yaml(path: str):
    from omegaconf import DictConfig, OmegaConf

    try:
        cfg = OmegaConf.load(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except Exception as e:  # yaml errors, undecodable bytes
        raise ConfigError(f"{path}: not a valid YAML file ({_describe(e)})") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path}: a config file must be a YAML mapping")
    return cfg


def _load_file(schema, path: str, seen: tuple[str, ...]):
    """``schema`` with ``path`` merged on, after its ``_base_`` files."""
    from omegaconf import OmegaConf

    path = os.path.abspath(path)
    if path in seen:
        raise ConfigError(f"{path}: _base_ cycle: {' -> '.join(seen + (path,))}")
    cfg = _read_yaml(path)
    bases = cfg.pop("_base_", None) if "_base_" in cfg else None
    if bases is not None:
        names = [bases] if isinstance(bases, str) else list(bases) if OmegaConf.is_list(bases) else None
        if not names or not all(isinstance(b, str) for b in names):
            raise ConfigError(f"{path}: _base_ must be a file name or a list of file names")
        for base in names:
            schema = _load_file(schema, os.path.join(os.path.dirname(path), base), seen + (path,))
    return _merge(schema, cfg, path)


def _check_values(cfg, source: str) -> None:
    from omegaconf import OmegaConf

    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    for key in POSITIVE:
        value = OmegaConf.select(cfg, key)
        if value <= 0:
            raise ConfigError(f"{source}: {key} must be > 0, got {value!r}")
    for key in ("data.loader.workers", "train.seed", "train.checkpoint.every_iters", "data.val.samples_per_epoch"):
        if OmegaConf.select(cfg, key) < 0:
            raise ConfigError(f"{source}: {key} must be >= 0, got {OmegaConf.select(cfg, key)!r}")
    if cfg.train.checkpoint.keep_last < 1:
        raise ConfigError(f"{source}: train.checkpoint.keep_last must be >= 1")
    for key in COMPONENTS:
        node = OmegaConf.select(cfg, key)
        if (node.name is None) == (node._target_ is None):
            raise ConfigError(f"{source}: {key} needs exactly one of 'name' (a registered one) or '_target_' "
                              f"(an import path such as mypkg.mynet.build), got name={node.name!r}, "
                              f"_target_={node._target_!r}")


def load_config(path: str | None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """The merged config: schema defaults, then ``path`` (with its ``_base_`` chain), then ``overrides``
    (``["train.epochs=2", "data.loader.workers=0"]``, values parsed as YAML). Returns an OmegaConf DictConfig
    typed by :class:`TrainConfig` (attribute access: ``cfg.train.epochs``). Raises ConfigError."""
    from omegaconf import OmegaConf

    cfg = _schema()
    source = "the defaults"
    if path is not None:
        cfg = _load_file(cfg, path, ())
        source = path
        if not cfg.name:
            cfg.name = os.path.splitext(os.path.basename(path))[0]
    if overrides:
        bad = [o for o in overrides if "=" not in o or o.startswith("=")]
        if bad:
            raise ConfigError(f"the command line: overrides look like key=value (train.epochs=2), got {bad}")
        try:
            update = OmegaConf.from_dotlist(list(overrides))
        except Exception as e:
            raise ConfigError(f"the command line: cannot parse the overrides ({_describe(e)})") from None
        cfg = _merge(cfg, update, "the command line")
        source = f"{source} with the command line"
    if not cfg.name:
        cfg.name = "run"
    _check_values(cfg, source)
    return cfg


def to_container(cfg: Any) -> dict:
    """The config as plain dicts/lists (for checkpoints and JSON)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def to_yaml(cfg: Any) -> str:
    """The config as YAML text (``--print-config``, the run directory's config.yaml)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(cfg, resolve=True)
