"""The sampler interface and the helpers every sampler shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from .space import SearchSpace
from .trial import Suggestion, TrialRecord


class Sampler(ABC):
    """Suggests the parameters of trial ``number`` given the trials so far.

    Deterministic given (config, seed, number, trials): a restarted service that rebuilds the
    sampler and asks for trial ``number`` gets what it would have got, so a resumed study never
    repeats the sequence.
    """

    def __init__(self, space: SearchSpace, direction: str = "maximize", seed: int = 0) -> None:
        self.space = space
        self.direction = direction
        self.seed = int(seed)

    @abstractmethod
    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion: ...


def rng_for(seed: int, number: int, *salt: int) -> np.random.Generator:
    """A generator keyed by (seed, number): no state carried between calls, so no restart drift."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(number), *salt])
    )


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from ``seed`` and ``keys`` (for libraries that take an int)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *keys])
    return int(ss.generate_state(1)[0])
