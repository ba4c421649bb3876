"""Training configuration: nested frozen dataclasses read from YAML, validated up front.

Every key is checked before any data is loaded: an unknown key names itself, its section
and the valid keys; a bad value names the key and the valid range. Command-line overrides
use dotted keys (``optim.lr=3e-4 train.epochs=2``).
"""

import dataclasses
import difflib
import pathlib
import re
from typing import Any

import yaml

from .._errors import check_one_of, check_range
from ..data import DATASETS


class _Loader(yaml.SafeLoader):
    """YAML with floats like ``3e-4`` (YAML 1.1 wants ``3.0e-4``) read as numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


MODELS = ("rsnn", "csnn")
NEURONS = ("lif", "alif")
READOUTS = ("max", "mean", "last", "spike_count")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine")
SURROGATES = ("fast_sigmoid", "arctan", "sigmoid", "triangle", "rectangle")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dataset, where its files are, and how events become dense frames."""

    dataset: str = "randman"
    root: str = "data"
    n_time_bins: int = 100
    cache_dir: str | None = None
    denoise_us: float | None = None
    spatial_factor: float | None = None

    def __post_init__(self):
        check_one_of("data.dataset", self.dataset, DATASETS)
        _positive_int("data.n_time_bins", self.n_time_bins)
        for key in ("denoise_us", "spatial_factor"):
            if getattr(self, key) is not None:
                check_range(f"data.{key}", getattr(self, key), low=0.0, low_inclusive=False)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network: ``rsnn`` (dense, optionally recurrent) or ``csnn`` (convolutional)."""

    kind: str = "rsnn"
    hidden: tuple[int, ...] = (128,)
    channels: tuple[int, ...] = (16, 32)
    neuron: str = "lif"
    recurrent: bool = True
    tau_mem: float = 20.0
    tau_adapt: float = 200.0
    adapt_b: float = 0.1
    tau_readout: float = 20.0
    dt: float = 1.0
    threshold: float = 1.0
    reset: str = "soft"
    detach_reset: bool = True
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float = 10.0
    learn_decay: bool = False

    def __post_init__(self):
        check_one_of("model.kind", self.kind, MODELS)
        check_one_of("model.neuron", self.neuron, NEURONS)
        check_one_of("model.reset", self.reset, ("soft", "hard"))
        check_one_of("model.surrogate", self.surrogate, SURROGATES)
        for key in ("hidden", "channels"):
            value = tuple(getattr(self, key))
            object.__setattr__(self, key, value)
            if not value:
                raise ValueError(f"`model.{key}` must list at least one size; got {value}")
            for n in value:
                _positive_int(f"model.{key}", n)
        for key in ("tau_mem", "tau_adapt", "tau_readout", "dt", "threshold", "surrogate_scale"):
            check_range(f"model.{key}", getattr(self, key), low=0.0, low_inclusive=False)
        check_range("model.adapt_b", self.adapt_b, low=0.0)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Readout loss and firing-rate regularisation."""

    readout: str = "max"
    rate_reg: float = 0.0
    target_rate: float = 0.02

    def __post_init__(self):
        check_one_of("loss.readout", self.readout, READOUTS)
        check_range("loss.rate_reg", self.rate_reg, low=0.0)
        check_range("loss.target_rate", self.target_rate, low=0.0, high=1.0)


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """optax optimiser, schedule and gradient clipping."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    clip_norm: float | None = None

    def __post_init__(self):
        check_one_of("optim.optimizer", self.optimizer, OPTIMIZERS)
        check_one_of("optim.schedule", self.schedule, SCHEDULES)
        check_range("optim.lr", self.lr, low=0.0, low_inclusive=False)
        check_range("optim.weight_decay", self.weight_decay, low=0.0)
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"`optim.warmup_steps` must be an int >= 0; got {self.warmup_steps!r}")
        if self.clip_norm is not None:
            check_range("optim.clip_norm", self.clip_norm, low=0.0, low_inclusive=False)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Loop length, batching, logging and checkpoints."""

    epochs: int = 5
    batch_size: int = 64
    eval_every: int = 1
    log_dir: str = "runs/default"
    keep_checkpoints: int = 3
    max_steps: int | None = None
    data_parallel: bool = True

    def __post_init__(self):
        for key in ("epochs", "batch_size", "eval_every", "keep_checkpoints"):
            _positive_int(f"train.{key}", getattr(self, key))
        if self.max_steps is not None:
            _positive_int("train.max_steps", self.max_steps)


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole training configuration (one YAML file)."""

    seed: int = 0
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; got {value!r}")


def _build(cls, values: Any, path: str):
    """``cls(**values)`` after checking every key (recursively for nested sections)."""
    if not isinstance(values, dict):
        raise ValueError(f"`{path or 'config'}` must be a mapping; got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            where = f"in `{path}` " if path else ""
            raise ValueError(
                f"unknown config key `{_join(path, key)}` {where}(did you mean "
                f"{hint[0]!r}?); valid keys: {', '.join(fields)}"
                if hint
                else f"unknown config key `{_join(path, key)}`; valid keys: {', '.join(fields)}"
            )
        sub = (
            fields[key].default_factory
            if fields[key].default_factory is not dataclasses.MISSING
            else None
        )
        if sub is not None and dataclasses.is_dataclass(sub):
            kwargs[key] = _build(sub, value, _join(path, key))
        else:
            kwargs[key] = _coerce(_join(path, key), fields[key].type, value)
    return cls(**kwargs)


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """Numbers for ``float`` fields (an int is fine); a clear error for anything else."""
    if "float" in str(annotation) and value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"`{name}` must be a number; got {value!r}")
        return float(value)
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a config dict."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override must look like `section.key=value`; got {item!r}")
        dotted, raw = item.split("=", 1)
        *sections, key = dotted.split(".")
        node = values
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ValueError(f"override `{dotted}`: `{section}` is not a section")
        node[key] = _yaml(raw)
    return values


def load_config(path: str | pathlib.Path | None = None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (defaults if ``path`` is None), apply overrides, validate.

    Raises:
        ValueError: an unknown key or a bad value, naming the key, before any data is read.
    """
    values = {}
    if path is not None:
        values = _yaml(pathlib.Path(path).read_text()) or {}
    return _build(Config, apply_overrides(values, list(overrides)), "")
