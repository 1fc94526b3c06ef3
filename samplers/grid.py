"""Grid search: ``points_per_axis`` values on each transformed axis, all categorical choices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Sampler, derived_seed
from .space import CategoricalSpec, SearchSpace
from .trial import Suggestion, TrialRecord


def _axis_units(spec: Any, k: int) -> list[float]:
    if isinstance(spec, CategoricalSpec):
        n = len(spec.choices)
        return [(i + 0.5) / n for i in range(n)]
    # Endpoints included: a grid is the baseline that puts trials on the bounds. Discrete axes
    # drop points that round to the same value.
    units = [0.5] if k == 1 else [float(x) for x in np.linspace(0.0, 1.0, k)]
    seen: dict[Any, float] = {}
    for u in units:
        seen.setdefault(spec.from_unit(u), u)
    return list(seen.values())


class GridSampler(Sampler):
    """Enumerates the grid by trial number, in a seeded order that covers all axes early.

    The order is an affine permutation ``i -> (a·i + b) mod size`` (a coprime to size), cheap for
    any grid size; with shuffle off it is the plain mixed-radix order. After ``size`` trials the
    grid repeats.
    """

    def __init__(
        self,
        space: SearchSpace,
        direction: str = "maximize",
        seed: int = 0,
        points_per_axis: int = 3,
        shuffle: bool = True,
    ) -> None:
        super().__init__(space, direction, seed)
        self.points_per_axis = points_per_axis
        self.axes = [_axis_units(space[n], points_per_axis) for n in space.names]
        self.size = math.prod(len(a) for a in self.axes)
        self._a, self._b = 1, 0
        if shuffle and self.size > 1:
            a = derived_seed(seed, 1) % self.size or 1
            while math.gcd(a, self.size) != 1:
                a = a % self.size + 1
            self._a, self._b = a, derived_seed(seed, 2) % self.size

    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion:
        idx = (self._a * number + self._b) % self.size
        unit: dict[str, float] = {}
        for name, axis in zip(reversed(self.space.names), reversed(self.axes), strict=True):
            idx, j = divmod(idx, len(axis))
            unit[name] = axis[j]
        return Suggestion(self.space.decode(unit))


def default_points_per_axis(space: SearchSpace, n_trials: int | None) -> int:
    """The grid a budget of ``n_trials`` affords: k^d ≈ n over the numeric axes."""
    numeric = [s for s in space if not isinstance(s, CategoricalSpec)]
    if not n_trials or not numeric:
        return 3
    cats = math.prod(len(s.choices) for s in space if isinstance(s, CategoricalSpec))
    per = max(1.0, n_trials / cats)
    k = math.floor(per ** (1.0 / len(numeric)) + 1e-9)
    return max(2, k)
