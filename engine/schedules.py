"""Learning-rate decay schedules, one class per rule.

``epoch`` is the 0-based count of completed epochs, so the first epoch (epoch = 0) always trains
at α0 — "epoch 1 uses α0" in the 1-based numbering of the history.
"""

from __future__ import annotations

import math

from .errors import ConfigError


class Schedule:
    """Base class: ``__call__(lr0, epoch) -> α``."""

    name = ""
    default_rate: float | None = None

    def __init__(self, decay_rate: float | None = None, decay_interval: int = 10) -> None:
        self.decay_rate = self.default_rate if decay_rate is None else float(decay_rate)
        self.decay_interval = int(decay_interval)

    def __call__(self, lr0: float, epoch: int) -> float:
        raise NotImplementedError


class NoDecay(Schedule):
    """α = α0."""

    name = "none"

    def __call__(self, lr0: float, epoch: int) -> float:
        return lr0


class InverseTimeDecay(Schedule):
    """α = α0 / (1 + d · epoch), d = decay_rate (default 1)."""

    name = "inverse_time"
    default_rate = 1.0

    def __call__(self, lr0: float, epoch: int) -> float:
        assert self.decay_rate is not None
        return lr0 / (1.0 + self.decay_rate * epoch)


class ExponentialDecay(Schedule):
    """α = α0 · rate^epoch, rate = decay_rate (default 0.95)."""

    name = "exponential"
    default_rate = 0.95

    def __call__(self, lr0: float, epoch: int) -> float:
        assert self.decay_rate is not None
        return lr0 * self.decay_rate**epoch


class InverseSqrtDecay(Schedule):
    """α = α0 / √(epoch + 1), i.e. k / √e with k = α0 and e = epoch + 1 the 1-based epoch.

    design.md §3's "k/√epoch" with the constant k fixed to α0 (``learning_rate``), on purpose:

    - k/√e is the whole schedule, so a free k would leave α0 unused: k *is* the initial rate
      (e = 1 gives α = k). Making k a separate knob would only duplicate ``learning_rate`` and
      add a dimension to every search space that changes nothing else.
    - With k = α0, ``learning_rate`` means "the rate of the first epoch" under every schedule,
      and the first epoch trains at α0 as it does for the other decays.

    ``decay_rate`` is accepted but not used (as with ``none``): a search that samples
    ``decay_rate`` across decays stays valid when it draws ``inverse_sqrt``.
    """

    name = "inverse_sqrt"

    def __call__(self, lr0: float, epoch: int) -> float:
        return lr0 / math.sqrt(epoch + 1)


class StaircaseDecay(Schedule):
    """α = α0 / (1 + d · ⌊epoch / decay_interval⌋), d = decay_rate (default 1)."""

    name = "staircase"
    default_rate = 1.0

    def __call__(self, lr0: float, epoch: int) -> float:
        assert self.decay_rate is not None
        return lr0 / (1.0 + self.decay_rate * (epoch // self.decay_interval))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (NoDecay, InverseTimeDecay, ExponentialDecay, InverseSqrtDecay, StaircaseDecay)
}


def make_schedule(name: str, decay_rate: float | None = None, decay_interval: int = 10) -> Schedule:
    """The schedule called ``name`` (none, inverse_time, exponential, inverse_sqrt, staircase)."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise ConfigError(f"unknown decay {name!r}", field="decay") from None
    return cls(decay_rate, decay_interval)
