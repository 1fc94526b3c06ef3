"""Typed helpers for search-space specs (design.md §2).

Each helper returns a :class:`Spec` whose :meth:`Spec.to_dict` is exactly the JSON the service
takes; ``create_study(space=...)`` accepts these and plain dicts alike::

    from hpsearch import hp

    space = {
        "learning_rate": hp.log_float(1e-4, 1.0),
        "beta": hp.one_minus_log_float(0.9, 0.999, condition={"optimizer": ["momentum"]}),
        "batch_size": hp.power_of_two(16, 512),
        "hidden_units": hp.int_(16, 256, log=True),
        "optimizer": hp.categorical(["momentum", "adam"]),
    }

The helpers check what can be checked locally (``low < high``, a positive ``low`` on a log scale,
powers of two, non-empty choices) and raise ``ValueError`` at once; the service still validates
everything and answers 422 naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Spec",
    "categorical",
    "float_",
    "int_",
    "log_float",
    "one_minus_log_float",
    "power_of_two",
    "space_to_dict",
]

Condition = Mapping[str, Any]


def _condition(condition: Condition | None) -> dict[str, list[Any]] | None:
    if condition is None:
        return None
    if not isinstance(condition, Mapping) or not condition:
        raise ValueError("condition must be a non-empty mapping {param: [allowed values]}")
    out: dict[str, list[Any]] = {}
    for name, allowed in condition.items():
        values = list(allowed) if isinstance(allowed, (list, tuple, set, frozenset)) else [allowed]
        if not values:
            raise ValueError(f"condition on {name!r} allows no value")
        out[str(name)] = values
    return out


@dataclass(frozen=True)
class Spec:
    """One hyperparameter's spec: ``type`` plus its fields, as in design.md §2."""

    type: Literal["float", "int", "power_of_two", "categorical"]
    low: float | int | None = None
    high: float | int | None = None
    scale: str | None = None
    choices: tuple[Any, ...] | None = None
    condition: dict[str, list[Any]] | None = field(default=None, hash=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            out["choices"] = list(self.choices or ())
        else:
            out["low"] = self.low
            out["high"] = self.high
            if self.scale is not None:
                out["scale"] = self.scale
        if self.condition:
            out["condition"] = {k: list(v) for k, v in self.condition.items()}
        return out


def _check_range(low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"bounds must be finite, got low={low!r}, high={high!r}")
    if not low < high:
        raise ValueError(f"low must be below high, got low={low!r}, high={high!r}")


def float_(
    low: float,
    high: float,
    *,
    scale: Literal["linear", "log", "one_minus_log"] = "linear",
    log: bool = False,
    condition: Condition | None = None,
) -> Spec:
    """A float; ``log=True`` is ``scale="log"``."""
    if log:
        scale = "log"
    low, high = float(low), float(high)
    _check_range(low, high)
    if scale == "log" and low <= 0:
        raise ValueError(f"a log scale needs 0 < low, got low={low!r}")
    if scale == "one_minus_log" and not (0 <= low < high < 1):
        raise ValueError(f"one_minus_log needs 0 <= low < high < 1, got {low!r}, {high!r}")
    if scale not in ("linear", "log", "one_minus_log"):
        raise ValueError(f"unknown scale {scale!r}")
    return Spec("float", low, high, scale, condition=_condition(condition))


def log_float(low: float, high: float, *, condition: Condition | None = None) -> Spec:
    """A float sampled uniformly in log10 space (learning rates, λ): needs ``0 < low``."""
    return float_(low, high, scale="log", condition=condition)


def one_minus_log_float(low: float, high: float, *, condition: Condition | None = None) -> Spec:
    """A float near 1 (momentum β, Adam β1/β2) sampled as ``1 - 10^U``: ``0 <= low < high < 1``."""
    return float_(low, high, scale="one_minus_log", condition=condition)


def int_(low: int, high: int, *, log: bool = False, condition: Condition | None = None) -> Spec:
    """An integer in ``[low, high]``, uniform or log-uniform (``log=True``, needs ``0 < low``)."""
    if int(low) != low or int(high) != high:
        raise ValueError(f"int bounds must be integers, got {low!r}, {high!r}")
    low, high = int(low), int(high)
    _check_range(low, high)
    if log and low <= 0:
        raise ValueError(f"a log scale needs 0 < low, got low={low!r}")
    return Spec("int", low, high, "log" if log else "linear", condition=_condition(condition))


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def power_of_two(low: int, high: int, *, condition: Condition | None = None) -> Spec:
    """``2^k`` for integer ``k`` between ``log2 low`` and ``log2 high`` (batch sizes)."""
    for name, value in (("low", low), ("high", high)):
        if int(value) != value or not _is_power_of_two(int(value)):
            raise ValueError(f"{name} must be a power of two, got {value!r}")
    low, high = int(low), int(high)
    _check_range(low, high)
    return Spec("power_of_two", low, high, condition=_condition(condition))


def categorical(choices: Sequence[Any], *, condition: Condition | None = None) -> Spec:
    """One of ``choices`` (strings, numbers or booleans), uniformly."""
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise ValueError("choices must be a list of values")
    if not choices:
        raise ValueError("choices must not be empty")
    for choice in choices:
        if not isinstance(choice, (str, int, float, bool)):
            raise ValueError(f"choices must be strings, numbers or booleans, got {choice!r}")
    return Spec("categorical", choices=tuple(choices), condition=_condition(condition))


def space_to_dict(space: Mapping[str, Spec | Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The JSON form of a space whose values are :class:`Spec` objects or plain dicts."""
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a mapping of name -> spec, got {type(space).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for name, spec in space.items():
        if isinstance(spec, Spec):
            out[str(name)] = spec.to_dict()
        elif isinstance(spec, Mapping):
            out[str(name)] = dict(spec)
        else:
            raise TypeError(f"space[{name!r}] must be an hp spec or a dict, got {spec!r}")
    return out
