from __future__ import annotations

import math

import pytest

from engine import BaseReporter, EpochRecord, TrainConfig, train
from engine.errors import ConfigError
from engine.schedules import make_schedule


@pytest.mark.parametrize(
    ("name", "rate", "interval", "expected"),
    [
        ("none", None, 10, lambda e: 0.2),
        ("inverse_time", 0.5, 10, lambda e: 0.2 / (1 + 0.5 * e)),
        ("inverse_time", None, 10, lambda e: 0.2 / (1 + e)),
        ("exponential", 0.9, 10, lambda e: 0.2 * 0.9**e),
        ("exponential", None, 10, lambda e: 0.2 * 0.95**e),
        ("inverse_sqrt", None, 10, lambda e: 0.2 / math.sqrt(e + 1)),
        ("staircase", 1.0, 3, lambda e: 0.2 / (1 + e // 3)),
    ],
)
def test_formulas(name: str, rate: float | None, interval: int, expected: object) -> None:
    schedule = make_schedule(name, rate, interval)
    assert callable(expected)
    for epoch in range(12):
        assert schedule(0.2, epoch) == pytest.approx(expected(epoch), rel=1e-12)
    assert schedule(0.2, 0) == 0.2  # the first epoch always trains at α0


def test_staircase_is_flat_within_an_interval() -> None:
    schedule = make_schedule("staircase", 1.0, 4)
    rates = [schedule(1.0, e) for e in range(12)]
    assert rates == [1.0] * 4 + [0.5] * 4 + [pytest.approx(1 / 3)] * 4


def test_unknown_schedule() -> None:
    with pytest.raises(ConfigError):
        make_schedule("cosine")


def test_history_records_the_rate_used(moons) -> None:  # type: ignore[no-untyped-def]
    config = TrainConfig(
        epochs=5, layers=[4], decay="inverse_time", decay_rate=1.0, learning_rate=0.1
    )
    result = train(config, moons)
    rates = [r.learning_rate for r in result.history]
    assert rates == pytest.approx([0.1 / (1 + e) for e in range(5)])


def test_decay_can_change_mid_run(moons) -> None:  # type: ignore[no-untyped-def]
    class Switch(BaseReporter):
        def on_epoch(self, record: EpochRecord):  # type: ignore[no-untyped-def]
            from engine import Directive

            if record.epoch == 2:
                return Directive(set_params={"decay": "exponential", "decay_rate": 0.5})
            return None

    result = train(TrainConfig(epochs=4, layers=[4], learning_rate=0.1), moons, Switch())
    rates = [r.learning_rate for r in result.history]
    # epochs 3 and 4 have 2 and 3 completed epochs behind them
    assert rates == pytest.approx([0.1, 0.1, 0.1 * 0.5**2, 0.1 * 0.5**3])


@pytest.mark.parametrize("rate", [None, 0.1, 7.0])
def test_inverse_sqrt_is_alpha0_over_root_of_the_1_based_epoch(rate: float | None) -> None:
    # k/√e with k = α0 (see InverseSqrtDecay): decay_rate does not enter the formula
    schedule = make_schedule("inverse_sqrt", rate)
    assert [schedule(0.3, e) for e in range(4)] == pytest.approx(
        [0.3, 0.3 / math.sqrt(2), 0.3 / math.sqrt(3), 0.15], rel=1e-12
    )


def test_inverse_sqrt_through_train_records_k_over_root_epoch(moons) -> None:  # type: ignore[no-untyped-def]
    config = TrainConfig(
        epochs=4, layers=[4], decay="inverse_sqrt", decay_rate=3.0, learning_rate=0.08
    )
    result = train(config, moons)
    # history epochs are 1-based: epoch e trained at α0/√e
    assert [r.learning_rate for r in result.history] == pytest.approx(
        [0.08 / math.sqrt(r.epoch) for r in result.history], rel=1e-12
    )
    assert [r.epoch for r in result.history] == [1, 2, 3, 4]
