"""What the service feeds samplers and pruners, and what samplers answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINISHED_STATES = frozenset({"completed", "pruned", "diverged", "failed", "stopped"})


@dataclass
class TrialRecord:
    number: int
    params: dict[str, Any]
    state: str
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    round: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def completed(self) -> bool:
        # A completed trial with a NaN value carries no ranking information.
        return self.state == "completed" and self.value is not None and self.value == self.value


@dataclass
class Suggestion:
    params: dict[str, Any]  # only the active parameters
    round: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"params": dict(self.params), "round": self.round}


def sign(direction: str) -> float:
    """+1 when larger is better, so ``sign * value`` is always "higher is better"."""
    return 1.0 if direction == "maximize" else -1.0
