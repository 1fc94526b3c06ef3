"""``{"type": "asha"}``: asynchronous successive halving (Li et al., 2020).

Rungs sit at steps ``min_resource · η^(s + i)`` (s = ``min_early_stopping_rate``). When a trial
reaches a rung it is compared with every value recorded at that rung so far, by any trial in any
state, and continues only if it is in the top 1/η of them. No trial waits for a full rung, which
is what makes it asynchronous; while fewer than η values exist, only the best so far continues
(as in Optuna's SuccessiveHalvingPruner, since we cannot pause a trial to promote it later).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..trial import TrialRecord
from .base import Pruner


class AshaPruner(Pruner):
    def __init__(
        self,
        direction: str = "maximize",
        reduction_factor: int = 3,
        min_resource: int = 1,
        min_early_stopping_rate: int = 0,
    ) -> None:
        super().__init__(direction)
        self.reduction_factor = reduction_factor
        self.min_resource = min_resource
        self.min_early_stopping_rate = min_early_stopping_rate

    def rung_steps(self, max_step: int) -> list[int]:
        out: list[int] = []
        i = 0
        while True:
            step = self.min_resource * self.reduction_factor ** (self.min_early_stopping_rate + i)
            if step > max_step:
                return out
            out.append(step)
            i += 1

    def is_rung(self, step: int) -> bool:
        return step in self.rung_steps(step)

    def should_prune(self, trial: TrialRecord, step: int, trials: Sequence[TrialRecord]) -> bool:
        if step not in trial.intermediate or not self.is_rung(step):
            return False
        value = float(trial.intermediate[step])
        if not math.isfinite(value):
            return True
        rivals = [
            float(t.intermediate[step])
            for t in trials
            if t.number != trial.number and step in t.intermediate
        ]
        # Non-finite rivals count as the worst possible value at this rung.
        rivals = [
            v if math.isfinite(v) else -math.inf * (1 if self.direction == "maximize" else -1)
            for v in rivals
        ]
        n = len(rivals) + 1
        n_promote = max(1, n // self.reduction_factor)
        n_better = sum(1 for v in rivals if self._better(v, value))
        return n_better >= n_promote
