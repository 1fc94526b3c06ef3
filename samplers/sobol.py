"""Scrambled Sobol points in transformed coordinates; point index = trial number."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import qmc

from .base import Sampler, derived_seed
from .space import SearchSpace
from .trial import Suggestion, TrialRecord


def sobol_point(dim: int, index: int, seed: int) -> np.ndarray:
    """The ``index``-th point of the scrambled Sobol sequence of ``dim`` dimensions."""
    return sobol_points(dim, index, 1, seed)[0]


def sobol_points(dim: int, start: int, count: int, seed: int) -> np.ndarray:
    """Points ``start`` … ``start + count − 1`` of the scrambled Sobol sequence, shape (count, dim).

    Rebuilding the engine and fast-forwarding keeps the sampler stateless (restart-safe);
    fast_forward is O(index) bit operations, cheap for study sizes.
    """
    engine = qmc.Sobol(d=dim, scramble=True, seed=derived_seed(seed, dim))
    if start:
        engine.fast_forward(start)
    with warnings.catch_warnings():
        # Sobol's balance warning is about sample sizes that are not powers of two; we draw
        # points a few at a time by design.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(count)


class SobolSampler(Sampler):
    def __init__(self, space: SearchSpace, direction: str = "maximize", seed: int = 0) -> None:
        super().__init__(space, direction, seed)

    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion:
        u = sobol_point(len(self.space), number, self.seed)
        return Suggestion(self.space.decode(dict(zip(self.space.names, u, strict=True))))
