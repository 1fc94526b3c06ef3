"""The pruner interface."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from ..trial import TrialRecord


class Pruner(ABC):
    def __init__(self, direction: str = "maximize") -> None:
        self.direction = direction

    @abstractmethod
    def should_prune(self, trial: TrialRecord, step: int, trials: Sequence[TrialRecord]) -> bool:
        """Whether ``trial``, having reported ``trial.intermediate[step]``, should stop now.

        Trials are compared at ``step`` only: the service hands each trial's value at that
        step (and its state and final value), not whole histories, so a pruner must not look
        at other steps."""

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


def is_bad(value: float | None) -> bool:
    return value is None or not math.isfinite(value)
