"""``{"type": "none"}``: never prunes."""

from __future__ import annotations

from collections.abc import Sequence

from ..trial import TrialRecord
from .base import Pruner


class NopPruner(Pruner):
    def should_prune(self, trial: TrialRecord, step: int, trials: Sequence[TrialRecord]) -> bool:
        return False
