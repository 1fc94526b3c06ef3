"""A Parzen density ratio over transformed coordinates: how much likelier a point is among the
good trials than among the rest (the acquisition of TPE, Bergstra et al. 2011).

coarse_to_fine's ``inner: "guided"`` uses it to choose, among candidates drawn inside a round's
box, the one the finished trials point to. Pure NumPy; knows nothing of the box or of rounds.

For a numeric axis the estimator of a group of n points is a mixture of one Gaussian per point
and a uniform prior over [lo, hi] with weight 1/(n + 1):

    p(x) = (1/(n + 1)) · (1/(hi − lo)  +  Σ_i N(x; x_i, h)),   h = clip(1.06 · σ · n^(−1/5), ·)

(Scott's rule, bounded below by ``min_bandwidth`` and above by the width, so a single point or a
tight cluster still spreads). A categorical axis uses smoothed frequencies,
p(c) = (count_c + 1) / (n + k). Axes are independent (a product), as in TPE; a point that lacks
an axis (an inactive conditional parameter) contributes 1 on that axis. The score of x is
log p_good(x) − log p_bad(x): higher is more promising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class NumericAxis:
    name: str
    low: float  # unit-interval bounds the density lives on (the box)
    high: float


@dataclass(frozen=True)
class CategoricalAxis:
    name: str
    choices: tuple[Any, ...]  # the allowed choices (the box's), compared by equality


Axis = NumericAxis | CategoricalAxis


class _Group:
    """The Parzen estimator of one group of points (good or bad)."""

    def __init__(
        self, axes: Sequence[Axis], points: Sequence[Mapping[str, Any]], min_bandwidth: float
    ) -> None:
        self.axes = axes
        self.n = len(points)
        self.centres: dict[str, np.ndarray] = {}
        self.bandwidth: dict[str, float] = {}
        self.log_freq: dict[str, dict[Any, float]] = {}
        for ax in axes:
            vals = [p[ax.name] for p in points if ax.name in p]
            if isinstance(ax, NumericAxis):
                x = np.asarray(vals, dtype=float)
                width = max(ax.high - ax.low, 1e-12)
                sigma = float(np.std(x)) if len(x) > 1 else width
                h = 1.06 * sigma * max(len(x), 1) ** -0.2
                self.centres[ax.name] = x
                self.bandwidth[ax.name] = min(width, max(min_bandwidth * width, h))
            else:
                k = len(ax.choices)
                self.log_freq[ax.name] = {
                    c: math.log((sum(1 for v in vals if v == c) + 1.0) / (len(vals) + k))
                    for c in ax.choices
                }

    def log_density(self, xs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = np.zeros(len(xs))
        for ax in self.axes:
            if isinstance(ax, CategoricalAxis):
                freq = self.log_freq[ax.name]
                out += [freq.get(x.get(ax.name), 0.0) if ax.name in x else 0.0 for x in xs]
                continue
            c, h = self.centres[ax.name], self.bandwidth[ax.name]
            active = np.array([ax.name in x for x in xs])
            if not active.any():
                continue
            v = np.array([float(x[ax.name]) for x in xs if ax.name in x])
            kern = np.exp(-0.5 * ((v[:, None] - c[None, :]) / h) ** 2).sum(axis=1) / (h * _SQRT_2PI)
            prior = 1.0 / max(ax.high - ax.low, 1e-12)
            out[active] += np.log((prior + kern) / (len(c) + 1))
        return out


class ParzenRatio:
    """``score(xs)`` = log p_good − log p_bad for points given as {axis name: unit value or choice}."""

    def __init__(
        self,
        axes: Sequence[Axis],
        good: Sequence[Mapping[str, Any]],
        bad: Sequence[Mapping[str, Any]],
        min_bandwidth: float = 0.05,
    ) -> None:
        self.good = _Group(axes, good, min_bandwidth)
        self.bad = _Group(axes, bad, min_bandwidth)

    def score(self, xs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.good.log_density(xs) - self.bad.log_density(xs)

    def sample_good(self, rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
        """``count`` draws from the good group's estimator, each numeric axis folded into its
        bounds (TPE draws its candidates from p_good)."""
        out: list[dict[str, Any]] = []
        for _ in range(count):
            x: dict[str, Any] = {}
            for ax in self.good.axes:
                if isinstance(ax, CategoricalAxis):
                    logp = np.array([self.good.log_freq[ax.name][c] for c in ax.choices])
                    p = np.exp(logp - logp.max())
                    x[ax.name] = ax.choices[int(rng.choice(len(p), p=p / p.sum()))]
                    continue
                c, h = self.good.centres[ax.name], self.good.bandwidth[ax.name]
                i = int(rng.integers(len(c) + 1))
                if i == len(c):  # the prior component
                    x[ax.name] = float(rng.uniform(ax.low, ax.high))
                else:
                    x[ax.name] = fold(float(c[i] + rng.normal(0.0, h)), ax.low, ax.high)
            out.append(x)
        return out


def fold(x: float, lo: float, hi: float) -> float:
    """``x`` reflected at the bounds of [lo, hi] until it lies inside (a clip for a flat box)."""
    w = hi - lo
    if w <= 0.0:
        return lo
    y = (x - lo) % (2 * w)
    return lo + (y if y <= w else 2 * w - y)
