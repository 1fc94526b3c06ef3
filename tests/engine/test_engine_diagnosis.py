from __future__ import annotations

import pytest

from engine import diagnose


@pytest.mark.parametrize(
    ("train_error", "dev_error", "human", "verdict"),
    [
        (0.01, 0.11, None, "high_variance"),  # the course's four cases, Bayes error ≈ 0
        (0.15, 0.16, None, "high_bias"),
        (0.15, 0.30, None, "high_bias_and_variance"),
        (0.005, 0.01, None, "ok"),
        (0.08, 0.10, 0.01, "high_bias"),  # human level 1%: bias 7% dominates
        (0.08, 0.12, 0.075, "high_variance"),  # human level 7.5%: bias 0.5%, variance 4%
    ],
)
def test_verdicts(train_error: float, dev_error: float, human: float | None, verdict: str) -> None:
    d = diagnose(train_error, dev_error, human)
    assert d.verdict == verdict
    assert d.avoidable_bias == pytest.approx(train_error - (human or 0.0))
    assert d.variance == pytest.approx(dev_error - train_error)
    assert d.to_dict()["verdict"] == verdict


def test_advice_follows_the_basic_recipe() -> None:
    bias = " ".join(diagnose(0.2, 0.21).advice).lower()
    assert "bigger network" in bias and "longer" in bias and "architecture" in bias
    assert "regularisation" not in bias
    variance = " ".join(diagnose(0.01, 0.2).advice).lower()
    assert "more" in variance and "data" in variance and "l2" in variance and "dropout" in variance
    assert "bigger network" not in variance
    both = diagnose(0.1, 0.4).advice
    assert both[0].lower().startswith("high variance")  # the larger problem first
    assert len(both) == len(set(both))
