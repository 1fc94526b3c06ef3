"""Bias/variance diagnosis with the basic recipe for machine learning.

avoidable bias = train error − human-level error (0 when unknown: Bayes error taken as 0);
variance = dev error − train error. Each is "high" when it exceeds ``tolerance`` (absolute, in
error units) and is at least half the other: as in the course, a 7% avoidable bias next to a 2%
variance says "work on bias", not "work on both".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BIAS_ADVICE = [
    "High avoidable bias: try a bigger network (more hidden units or layers).",
    "Train longer (more epochs) or with a better optimiser (e.g. Adam, a tuned learning rate).",
    "Try another architecture.",
]
VARIANCE_ADVICE = [
    "High variance: get more training data (or augment it).",
    "Add regularisation: L2 (raise l2) or dropout (lower keep_prob).",
    "Try another architecture.",
]
OK_ADVICE = ["Bias and variance are both low: the model fits; compare on the test set."]


@dataclass
class Diagnosis:
    """Where the error comes from, and what to try next."""

    train_error: float
    dev_error: float
    human_level_error: float | None
    avoidable_bias: float
    variance: float
    verdict: str
    advice: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(
    train_error: float,
    dev_error: float,
    human_level_error: float | None = None,
    tolerance: float = 0.01,
) -> Diagnosis:
    """Classify a run as high_bias, high_variance, high_bias_and_variance or ok.

    When both are high the advice lists the larger problem first, as the recipe says to fix bias
    before variance only when bias dominates.
    """
    baseline = human_level_error if human_level_error is not None else 0.0
    bias = float(train_error) - baseline
    variance = float(dev_error) - float(train_error)
    # the 1e-12 keeps 0.10 − 0.08 (= 0.0200000…04 in binary) from counting as above 0.02
    high_bias = bias > tolerance + 1e-12 and bias >= 0.5 * variance
    high_variance = variance > tolerance + 1e-12 and variance >= 0.5 * bias
    if high_bias and high_variance:
        verdict = "high_bias_and_variance"
        advice = (
            BIAS_ADVICE + VARIANCE_ADVICE if bias >= variance else VARIANCE_ADVICE + BIAS_ADVICE
        )
        advice = list(dict.fromkeys(advice))  # "another architecture" once
    elif high_bias:
        verdict, advice = "high_bias", list(BIAS_ADVICE)
    elif high_variance:
        verdict, advice = "high_variance", list(VARIANCE_ADVICE)
    else:
        verdict, advice = "ok", list(OK_ADVICE)
    return Diagnosis(
        train_error=float(train_error),
        dev_error=float(dev_error),
        human_level_error=human_level_error,
        avoidable_bias=bias,
        variance=variance,
        verdict=verdict,
        advice=advice,
    )
