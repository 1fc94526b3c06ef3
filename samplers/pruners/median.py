"""``{"type": "median"}``: stop a trial that is worse than the median of completed trials."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

from ..trial import TrialRecord
from .base import Pruner


class MedianPruner(Pruner):
    """Prune at step k when the trial's value at k is worse than the median of the values the
    completed trials reported at k; not before ``n_warmup_steps`` steps nor before
    ``n_startup_trials`` completed trials reported step k. A NaN/inf value is always pruned
    once past warm-up (it is a diverging curve)."""

    def __init__(
        self, direction: str = "maximize", n_startup_trials: int = 5, n_warmup_steps: int = 0
    ) -> None:
        super().__init__(direction)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def should_prune(self, trial: TrialRecord, step: int, trials: Sequence[TrialRecord]) -> bool:
        if step < self.n_warmup_steps or step not in trial.intermediate:
            return False
        value = float(trial.intermediate[step])
        peers = [
            float(t.intermediate[step])
            for t in trials
            if t.number != trial.number and t.state == "completed" and step in t.intermediate
        ]
        peers = [v for v in peers if math.isfinite(v)]
        if len(peers) < self.n_startup_trials:
            return False
        if not math.isfinite(value):
            return True
        return self._better(median(peers), value)
