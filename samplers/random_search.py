"""Uniform random search on the transformed scales."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Sampler, rng_for
from .trial import Suggestion, TrialRecord


class RandomSampler(Sampler):
    # Each trial draws from its own (seed, number) stream, so resuming after a restart continues
    # the sequence exactly instead of replaying it from the first trial.
    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion:
        u = rng_for(self.seed, number).random(len(self.space))
        return Suggestion(self.space.decode(dict(zip(self.space.names, u, strict=True))))
