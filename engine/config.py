"""Training hyperparameters: :class:`TrainConfig` and its validation.

The names are the public contract of design.md §3. ``TrainConfig.from_params`` is the door the
service and the CLI use: it rejects unknown names and bad values with ``ConfigError(field=name)``.
Direct construction validates too (``__post_init__``), so an invalid config never reaches
``train``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import ConfigError

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
INITIALIZERS = ("he", "xavier", "random", "zeros")
DECAYS = ("none", "inverse_time", "exponential", "inverse_sqrt", "staircase")
DTYPES = ("float32", "float64")

#: Used for ``n_layers``/``hidden_units`` when neither they nor ``layers`` are given.
DEFAULT_N_LAYERS = 2
DEFAULT_HIDDEN_UNITS = 64

MUTABLE_PARAMS: frozenset[str] = frozenset(
    {
        "learning_rate",
        "beta",
        "beta1",
        "beta2",
        "epsilon",
        "l2",
        "keep_prob",
        "decay",
        "decay_rate",
        "decay_interval",
    }
)


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of one training run, with its default.

    Hidden layers: ``layers`` (a list of widths) or ``n_layers`` × ``hidden_units``. When
    ``n_layers`` or ``hidden_units`` is given it wins over the matching aspect of ``layers`` (depth
    ``n_layers``, else ``len(layers)``; width ``hidden_units``, else ``max(layers)``), so a search
    over ``hidden_units`` with a fixed ``layers`` resizes every hidden layer instead of being
    silently ignored. ``hidden_layers`` is the resolved tuple.

    ``decay_rate=None`` means the schedule's own default (1.0 for inverse-time and staircase, 0.95
    for exponential; inverse-sqrt ignores it, its k is α0: see ``engine.schedules``). ``beta2`` also
    drives RMSProp's square average.

    ``early_stopping_patience``: stop after that many epochs without a new lowest dev loss (the
    dev metric every task has) and restore the weights of the best epoch; None turns it off.
    ``human_level_error`` (optional, not a design.md §3 name) feeds the bias/variance diagnosis.
    ``checkpoint_every``: a reporter receives a checkpoint every that many epochs.
    """

    learning_rate: float = 0.01
    optimizer: str = "adam"
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    batch_size: int = 64
    epochs: int = 20
    layers: tuple[int, ...] | None = None
    n_layers: int | None = None
    hidden_units: int | None = None
    activation: str = "relu"
    leaky_slope: float = 0.01
    init: str = "he"
    l2: float = 0.0
    keep_prob: float = 1.0
    batch_norm: bool = False
    decay: str = "none"
    decay_rate: float | None = None
    decay_interval: int = 10
    early_stopping_patience: int | None = None
    seed: int = 0
    checkpoint_every: int = 1
    dtype: str = "float32"
    human_level_error: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _coerce(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        if self.decay == "exponential" and self.decay_rate is not None and self.decay_rate > 1:
            # α0·rate^epoch with rate > 1 grows without bound: a typo, not a schedule
            raise _fail(
                "decay_rate", f"exponential decay needs a rate in (0, 1]; got {self.decay_rate}"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainConfig:
        """Build a config from a name → value mapping (JSON-like values).

        Raises ``ConfigError(field=name)`` for an unknown name or a bad value.
        """
        if not isinstance(params, Mapping):
            raise ConfigError("params must be a mapping of name to value", field="params")
        for name in params:
            if name not in KNOWN_PARAMS:
                raise ConfigError(f"unknown hyperparameter {name!r}", field=str(name))
        return cls(**dict(params))

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        """The resolved hidden-layer widths (see the class docstring)."""
        if self.n_layers is None and self.hidden_units is None:
            if self.layers is not None:
                return self.layers
            return (DEFAULT_HIDDEN_UNITS,) * DEFAULT_N_LAYERS
        if self.n_layers is not None:
            depth = self.n_layers
        else:
            depth = len(self.layers) if self.layers is not None else DEFAULT_N_LAYERS
        if self.hidden_units is not None:
            width = self.hidden_units
        else:
            width = max(self.layers) if self.layers else DEFAULT_HIDDEN_UNITS
        return (width,) * depth

    def mutable_params(self) -> dict[str, Any]:
        """The hyperparameters a reporter may change between epochs, with their values."""
        return {name: getattr(self, name) for name in sorted(MUTABLE_PARAMS)}

    def with_params(self, params: Mapping[str, Any]) -> TrainConfig:
        """A copy with ``params`` applied (validated like ``from_params``)."""
        for name in params:
            if name not in KNOWN_PARAMS:
                raise ConfigError(f"unknown hyperparameter {name!r}", field=str(name))
        return replace(self, **dict(params))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``from_params(to_dict())`` gives an equal config."""
        out = asdict(self)
        if self.layers is not None:
            out["layers"] = list(self.layers)
        return out


KNOWN_PARAMS: frozenset[str] = frozenset(f.name for f in fields(TrainConfig))


def validate_mutable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``set_params`` mapping: only MUTABLE_PARAMS, each value valid. Returns coerced values."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in MUTABLE_PARAMS:
            raise ConfigError(f"{name!r} cannot change during training", field=str(name))
        out[name] = _coerce(name, value)
    return out


# -- value checks -----------------------------------------------------------------------------


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError(message, field=name)


def _as_float(name: str, value: Any) -> float:
    # bool is an int subclass; True as a learning rate is a caller bug, not 1.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, f"must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise _fail(name, f"must be finite, got {value!r}")
    return out


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _fail(name, f"must be an integer, got {value!r}")
    # samplers and JSON may hand over 64.0; accept integral floats, refuse 64.5
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise _fail(name, f"must be an integer, got {value!r}")
    return int(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def _range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise _fail(name, f"must be in {left}{low}, {high}{right}; got {value!r}")
    return value


def _coerce(name: str, value: Any) -> Any:
    inf = math.inf
    if name == "learning_rate":
        return _range(name, _as_float(name, value), 0.0, inf, low_open=True)
    if name in ("beta", "beta1", "beta2"):
        return _range(name, _as_float(name, value), 0.0, 1.0, high_open=True)
    if name == "epsilon":
        return _range(name, _as_float(name, value), 0.0, inf, low_open=True)
    if name in ("batch_size", "epochs", "decay_interval", "checkpoint_every"):
        number = _as_int(name, value)
        if number < 1:
            raise _fail(name, f"must be >= 1; got {value!r}")
        return number
    if name == "layers":
        if value is None:
            return None
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise _fail(name, f"must be a list of positive integers; got {value!r}")
        widths = tuple(_as_int(name, v) for v in value)
        if any(w < 1 for w in widths):
            raise _fail(name, f"every width must be >= 1; got {list(widths)!r}")
        return widths
    if name == "n_layers":
        if value is None:
            return None
        number = _as_int(name, value)
        if number < 0:
            raise _fail(name, f"must be >= 0; got {value!r}")
        return number
    if name == "hidden_units":
        if value is None:
            return None
        number = _as_int(name, value)
        if number < 1:
            raise _fail(name, f"must be >= 1; got {value!r}")
        return number
    if name == "optimizer":
        return _choice(name, value, OPTIMIZERS)
    if name == "activation":
        return _choice(name, value, ACTIVATIONS)
    if name == "init":
        return _choice(name, value, INITIALIZERS)
    if name == "decay":
        return _choice(name, value, DECAYS)
    if name == "dtype":
        return _choice(name, value, DTYPES)
    if name == "leaky_slope":
        return _range(name, _as_float(name, value), 0.0, 1.0, high_open=True)
    if name == "l2":
        return _range(name, _as_float(name, value), 0.0, inf)
    if name == "keep_prob":
        return _range(name, _as_float(name, value), 0.0, 1.0, low_open=True)
    if name == "batch_norm":
        if not isinstance(value, bool):
            raise _fail(name, f"must be true or false; got {value!r}")
        return value
    if name == "decay_rate":
        if value is None:
            return None
        return _range(name, _as_float(name, value), 0.0, inf, low_open=True)
    if name == "early_stopping_patience":
        if value is None:
            return None
        number = _as_int(name, value)
        if number < 1:
            raise _fail(name, f"must be >= 1 (or null to turn early stopping off); got {value!r}")
        return number
    if name == "seed":
        number = _as_int(name, value)
        if number < 0:
            raise _fail(name, f"must be >= 0; got {value!r}")
        return number
    if name == "human_level_error":
        if value is None:
            return None
        return _range(name, _as_float(name, value), 0.0, inf)
    raise _fail(name, f"unknown hyperparameter {name!r}")  # pragma: no cover - fields are closed
