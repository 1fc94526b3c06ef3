"""Scales as data: each maps a value to the transformed coordinate the samplers work in.

Uniform sampling in the transformed coordinate is what "log-uniform" and friends mean, so one
code path (uniform in the unit interval, then ``inverse``) serves every scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    forward: Callable[[float], float]  # value -> transformed coordinate
    inverse: Callable[[float], float]  # transformed coordinate -> value


def _one_minus_log_fwd(x: float) -> float:
    return math.log10(1.0 - x)


def _one_minus_log_inv(t: float) -> float:
    return 1.0 - 10.0**t


LINEAR = Scale("linear", lambda x: float(x), lambda t: float(t))
LOG = Scale("log", math.log10, lambda t: 10.0**t)
# Decreasing in x: β = 0.9 → -1, β = 0.999 → -3. The unit map below handles the direction.
ONE_MINUS_LOG = Scale("one_minus_log", _one_minus_log_fwd, _one_minus_log_inv)
LOG2 = Scale("log2", math.log2, lambda t: 2.0**t)

SCALES: dict[str, Scale] = {s.name: s for s in (LINEAR, LOG, ONE_MINUS_LOG, LOG2)}


@dataclass(frozen=True)
class UnitMap:
    """Affine map between [t_low, t_high] in transformed coordinates and the unit interval."""

    t_low: float
    t_high: float

    def to_unit(self, t: float) -> float:
        return (t - self.t_low) / (self.t_high - self.t_low)

    def from_unit(self, u: float) -> float:
        return self.t_low + u * (self.t_high - self.t_low)
