"""Search-space specs (design.md §2) and the validated ``SearchSpace`` built from JSON.

Every numeric spec maps values to and from the unit interval through its scale, so samplers
only ever draw points in [0, 1]^d and "uniform" means uniform on the right scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import SpaceError
from .scales import LINEAR, LOG, LOG2, ONE_MINUS_LOG, SCALES, Scale, UnitMap

Condition = dict[str, list[Any]]


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` and ``1`` apart, as JSON does."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _clip01(u: float) -> float:
    return min(1.0, max(0.0, float(u)))


@dataclass(frozen=True)
class ParamSpec:
    name: str
    condition: Condition = field(default_factory=dict, kw_only=True)
    type_name: ClassVar[str] = ""

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type_name, **self._fields()}
        if self.condition:
            d["condition"] = {k: list(v) for k, v in self.condition.items()}
        return d


@dataclass(frozen=True)
class _NumericSpec(ParamSpec):
    low: float
    high: float
    scale: str = "linear"

    # The transformed interval; discrete specs widen it by half a step on each side so that
    # rounding gives every integer (or exponent) the same probability mass.
    def _unit_map(self) -> UnitMap:
        s = self._scale()
        return UnitMap(s.forward(self.low), s.forward(self.high))

    def _scale(self) -> Scale:
        return SCALES[self.scale]

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "scale": self.scale}

    def to_unit(self, value: Any) -> float:
        return _clip01(self._unit_map().to_unit(self._scale().forward(float(value))))


@dataclass(frozen=True)
class FloatSpec(_NumericSpec):
    type_name: ClassVar[str] = "float"

    def from_unit(self, u: float) -> float:
        v = self._scale().inverse(self._unit_map().from_unit(_clip01(u)))
        return min(self.high, max(self.low, v))

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high


@dataclass(frozen=True)
class IntSpec(_NumericSpec):
    type_name: ClassVar[str] = "int"

    def _unit_map(self) -> UnitMap:
        if self.scale == "linear":
            return UnitMap(self.low - 0.5, self.high + 0.5)
        # log: log-uniform over [low, high], then rounded (design.md §2).
        return super()._unit_map()

    def from_unit(self, u: float) -> int:
        v = self._scale().inverse(self._unit_map().from_unit(_clip01(u)))
        return int(min(self.high, max(self.low, round(v))))

    def contains(self, value: Any) -> bool:
        return _is_int(value) and self.low <= value <= self.high

    def _fields(self) -> dict[str, Any]:
        return {"low": int(self.low), "high": int(self.high), "scale": self.scale}


@dataclass(frozen=True)
class PowerOfTwoSpec(_NumericSpec):
    type_name: ClassVar[str] = "power_of_two"
    scale: str = "log2"

    @property
    def exponents(self) -> range:
        return range(int(math.log2(self.low)), int(math.log2(self.high)) + 1)

    def _unit_map(self) -> UnitMap:
        return UnitMap(math.log2(self.low) - 0.5, math.log2(self.high) + 0.5)

    def from_unit(self, u: float) -> int:
        k = round(self._unit_map().from_unit(_clip01(u)))
        k = min(self.exponents[-1], max(self.exponents[0], k))
        return int(2**k)

    def contains(self, value: Any) -> bool:
        return _is_int(value) and _is_power_of_two(value) and self.low <= value <= self.high

    def _fields(self) -> dict[str, Any]:
        return {"low": int(self.low), "high": int(self.high)}


@dataclass(frozen=True)
class CategoricalSpec(ParamSpec):
    choices: tuple[Any, ...]
    type_name: ClassVar[str] = "categorical"

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if same_value(c, value):
                return i
        raise SpaceError(f"{value!r} is not one of the choices", field=f"{self.name}.choices")

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        n = len(self.choices)
        return self.choices[min(n - 1, int(_clip01(u) * n))]

    def contains(self, value: Any) -> bool:
        return any(same_value(c, value) for c in self.choices)

    def _fields(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


# ---- validation ---------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return _is_number(x) and float(x).is_integer()


def _is_power_of_two(x: Any) -> bool:
    return _is_int(x) and int(x) > 0 and (int(x) & (int(x) - 1)) == 0


_FIELDS = {
    "float": {"type", "low", "high", "scale", "condition"},
    "int": {"type", "low", "high", "scale", "condition"},
    "power_of_two": {"type", "low", "high", "condition"},
    "categorical": {"type", "choices", "condition"},
}
_SCALES_FOR = {"float": ("linear", "log", "one_minus_log"), "int": ("linear", "log")}


def _bounds(name: str, raw: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    out = []
    for key in ("low", "high"):
        if key not in raw:
            raise SpaceError(f"parameter {name!r} needs {key!r}", field=f"{name}.{key}")
        v = raw[key]
        if not _is_number(v):
            raise SpaceError(f"{name}.{key} must be a finite number, got {v!r}", f"{name}.{key}")
        if integer and not _is_int(v):
            raise SpaceError(f"{name}.{key} must be an integer, got {v!r}", f"{name}.{key}")
        out.append(int(v) if integer else float(v))
    low, high = out
    if low >= high:
        raise SpaceError(
            f"parameter {name!r}: low ({low}) must be < high ({high})", field=f"{name}.low"
        )
    return low, high


def spec_from_dict(name: str, raw: Mapping[str, Any]) -> ParamSpec:
    """One validated spec; raises ``SpaceError`` naming the field and the rule."""
    if not isinstance(raw, Mapping):
        raise SpaceError(f"spec of {name!r} must be an object", field=name)
    kind = raw.get("type")
    if kind not in _FIELDS:
        raise SpaceError(
            f"parameter {name!r}: unknown type {kind!r} (expected one of {sorted(_FIELDS)})",
            field=f"{name}.type",
        )
    extra = set(raw) - _FIELDS[kind]
    if extra:
        bad = sorted(extra)[0]
        raise SpaceError(
            f"parameter {name!r}: unknown field {bad!r} for type {kind}", f"{name}.{bad}"
        )
    cond = _condition(name, raw.get("condition"))
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list | tuple) or len(choices) == 0:
            raise SpaceError(
                f"parameter {name!r}: choices must be a non-empty list", f"{name}.choices"
            )
        for c in choices:
            if not (isinstance(c, str | bool) or _is_number(c)):
                raise SpaceError(
                    f"parameter {name!r}: choice {c!r} must be a string, number or boolean",
                    field=f"{name}.choices",
                )
        for i, c in enumerate(choices):
            if any(same_value(c, d) for d in choices[:i]):
                raise SpaceError(f"parameter {name!r}: duplicate choice {c!r}", f"{name}.choices")
        return CategoricalSpec(name, tuple(choices), condition=cond)
    if kind == "power_of_two":
        low, high = _bounds(name, raw, integer=True)
        for key, v in (("low", low), ("high", high)):
            if not _is_power_of_two(v):
                raise SpaceError(
                    f"parameter {name!r}: {key} ({v}) must be a power of two", f"{name}.{key}"
                )
        return PowerOfTwoSpec(name, low, high, condition=cond)
    scale = raw.get("scale", "linear")
    if scale not in _SCALES_FOR[kind]:
        raise SpaceError(
            f"parameter {name!r}: unknown scale {scale!r} for {kind} "
            f"(expected one of {list(_SCALES_FOR[kind])})",
            field=f"{name}.scale",
        )
    low, high = _bounds(name, raw, integer=(kind == "int"))
    if scale == "log" and low <= 0:
        raise SpaceError(f"parameter {name!r}: log scale needs low > 0, got {low}", f"{name}.low")
    if scale == "one_minus_log":
        if low < 0:
            raise SpaceError(
                f"parameter {name!r}: one_minus_log needs 0 <= low < high < 1, got low={low}",
                field=f"{name}.low",
            )
        if high >= 1:
            raise SpaceError(
                f"parameter {name!r}: one_minus_log needs 0 <= low < high < 1, got high={high}",
                field=f"{name}.high",
            )
    cls = FloatSpec if kind == "float" else IntSpec
    return cls(name, low, high, scale, condition=cond)


def _condition(name: str, raw: Any) -> Condition:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError(
            f"parameter {name!r}: condition must be a non-empty object "
            '{"other_param": [allowed values]}',
            field=f"{name}.condition",
        )
    out: Condition = {}
    for other, allowed in raw.items():
        f = f"{name}.condition.{other}"
        if not isinstance(allowed, list | tuple) or not allowed:
            raise SpaceError(
                f"parameter {name!r}: allowed values of {other!r} must be a non-empty list", f
            )
        out[str(other)] = list(allowed)
    return out


# ---- the space ----------------------------------------------------------------------------


class SearchSpace:
    """An ordered, validated mapping name -> spec; parents always come before children."""

    def __init__(self, specs: Sequence[ParamSpec]) -> None:
        by_name = {s.name: s for s in specs}
        if len(by_name) != len(specs):
            raise SpaceError("duplicate parameter names", field="space")
        if not specs:
            raise SpaceError("the search space is empty", field="space")
        self._specs = by_name
        self._check_conditions()
        self._order = self._topological_order()

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        if not isinstance(spec, Mapping):
            raise SpaceError("the search space must be an object of name -> spec", field="space")
        return cls([spec_from_dict(str(n), s) for n, s in spec.items()])

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {n: s.to_dict() for n, s in self._specs.items()}

    @property
    def names(self) -> list[str]:
        """Names in sampling order (every parameter after those its condition reads)."""
        return list(self._order)

    def __getitem__(self, name: str) -> ParamSpec:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ParamSpec]:
        return (self._specs[n] for n in self._order)

    def __len__(self) -> int:
        return len(self._specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"SearchSpace({self.to_dict()!r})"

    def is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        for other, allowed in self._specs[name].condition.items():
            if other not in params or not any(same_value(params[other], a) for a in allowed):
                return False
        return True

    def active(self, params: Mapping[str, Any]) -> list[str]:
        """Names active given ``params`` (a parent that is itself inactive deactivates)."""
        seen: dict[str, Any] = {}
        for n in self._order:
            if self.is_active(n, seen):
                # An active name missing from params is still active; its children see None.
                seen[n] = params.get(n)
        return list(seen)

    def decode(self, unit: Mapping[str, float]) -> dict[str, Any]:
        """Unit coordinates for every name -> the active parameters' values."""
        params: dict[str, Any] = {}
        for n in self._order:
            if self.is_active(n, params):
                params[n] = self._specs[n].from_unit(unit[n])
        return params

    def _check_conditions(self) -> None:
        for s in self._specs.values():
            for other, allowed in s.condition.items():
                f = f"{s.name}.condition.{other}"
                if other == s.name:
                    raise SpaceError(f"parameter {s.name!r} has a condition on itself", f)
                if other not in self._specs:
                    raise SpaceError(
                        f"parameter {s.name!r} has a condition on unknown parameter {other!r}", f
                    )
                parent = self._specs[other]
                for a in allowed:
                    if not parent.contains(a):
                        raise SpaceError(
                            f"parameter {s.name!r}: condition value {a!r} is not a possible "
                            f"value of {other!r}",
                            f,
                        )

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cycle = " -> ".join([*path[path.index(n) :], n])
                raise SpaceError(f"conditions form a cycle: {cycle}", field=f"{n}.condition")
            state[n] = 1
            for other in self._specs[n].condition:
                visit(other, [*path, n])
            state[n] = 2
            order.append(n)

        for n in self._specs:
            visit(n, [])
        return order


__all__ = [
    "LINEAR",
    "LOG",
    "LOG2",
    "ONE_MINUS_LOG",
    "CategoricalSpec",
    "FloatSpec",
    "IntSpec",
    "ParamSpec",
    "PowerOfTwoSpec",
    "SearchSpace",
    "spec_from_dict",
]
