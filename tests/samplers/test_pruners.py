from __future__ import annotations

import math

import numpy as np
import pytest

from samplers import (
    AshaPruner,
    MedianPruner,
    NopPruner,
    SamplerConfigError,
    TrialRecord,
    make_pruner,
)


def curve(quality: float, steps: int = 9, loss: bool = False) -> dict[int, float]:
    """A synthetic learning curve that rises to ``quality`` (or falls to it, for a loss)."""
    out = {}
    for k in range(1, steps + 1):
        acc = quality * (1 - math.exp(-k / 3))
        out[k] = (1 - acc) if loss else acc
    return out


def finished(qualities: list[float], loss: bool = False) -> list[TrialRecord]:
    return [
        TrialRecord(i, {}, "completed", curve(q, loss=loss)[9], curve(q, loss=loss))
        for i, q in enumerate(qualities)
    ]


def partial(number: int, quality: float, upto: int, loss: bool = False) -> TrialRecord:
    c = curve(quality, loss=loss)
    return TrialRecord(number, {}, "running", None, {k: c[k] for k in range(1, upto + 1)})


def test_none_never_prunes() -> None:
    p = make_pruner(None, "maximize")
    assert isinstance(p, NopPruner) and isinstance(
        make_pruner({"type": "none"}, "minimize"), NopPruner
    )
    assert not p.should_prune(partial(9, 0.0, 3), 3, finished([0.9] * 10))


@pytest.mark.parametrize("loss", [False, True])
def test_median_prunes_below_median_curves_only(loss: bool) -> None:
    direction = "minimize" if loss else "maximize"
    pruner = make_pruner({"type": "median", "n_startup_trials": 5, "n_warmup_steps": 2}, direction)
    assert isinstance(pruner, MedianPruner)
    done = finished([0.5, 0.6, 0.7, 0.8, 0.9], loss=loss)  # median quality 0.7
    bad, good = partial(5, 0.55, 4, loss), partial(6, 0.85, 4, loss)
    assert pruner.should_prune(bad, 3, done)
    assert not pruner.should_prune(good, 3, done)
    assert not pruner.should_prune(bad, 1, done)  # warm-up
    assert not pruner.should_prune(bad, 3, done[:4])  # too few completed trials
    # running and pruned peers do not count towards the median
    others = [TrialRecord(10 + i, {}, "running", None, curve(0.1, loss=loss)) for i in range(5)]
    assert pruner.should_prune(bad, 3, done + others)
    assert not pruner.should_prune(partial(7, 0.65, 4, loss), 3, done[:4] + others)


def test_median_prunes_diverged_values() -> None:
    pruner = MedianPruner("minimize", n_startup_trials=1)
    t = TrialRecord(3, {}, "running", None, {1: float("nan")})
    assert pruner.should_prune(t, 1, finished([0.5], loss=True))


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_asha_keeps_the_top_third_of_values_seen_at_a_rung(direction: str) -> None:
    s = 1 if direction == "maximize" else -1
    pruner = make_pruner({"type": "asha", "reduction_factor": 3, "min_resource": 1}, direction)
    assert isinstance(pruner, AshaPruner)
    assert pruner.rung_steps(30) == [1, 3, 9, 27]
    rivals = [
        TrialRecord(i, {}, "running", None, {1: s * v})
        for i, v in enumerate([0.9, 0.5, 0.4, 0.3, 0.2])
    ]

    def at(v: float, step: int = 1) -> TrialRecord:
        return TrialRecord(99, {}, "running", None, {step: s * v})

    # 6 values at the rung: the top 6 // 3 = 2 continue
    assert not pruner.should_prune(at(0.8), 1, rivals)
    assert pruner.should_prune(at(0.45), 1, rivals)
    # a step that is not a rung never prunes
    assert not pruner.should_prune(
        at(0.0, 2), 2, [TrialRecord(1, {}, "running", None, {2: s * 1.0})]
    )
    # with fewer than η values at a rung only the best so far continues
    assert not pruner.should_prune(at(0.5), 1, [])
    assert pruner.should_prune(at(0.5), 1, rivals[:1])
    assert not pruner.should_prune(at(0.95), 1, rivals[:1])


def test_asha_on_synthetic_curves_stops_most_and_never_the_best() -> None:
    rng = np.random.default_rng(0)
    qualities = rng.uniform(0.3, 1.0, 27)
    pruner = AshaPruner("maximize", reduction_factor=3, min_resource=1)
    trials: list[TrialRecord] = []
    for i, q in enumerate(qualities):  # trials arrive one after another (asynchronous rungs)
        t = TrialRecord(i, {}, "running", None, {})
        trials.append(t)
        for k, v in curve(q).items():
            t.intermediate[k] = v
            if pruner.should_prune(t, k, trials):
                t.state = "pruned"
                break
        else:
            t.state, t.value = "completed", t.intermediate[9]
    completed = [t for t in trials if t.state == "completed"]
    best = int(np.argmax(qualities))
    assert trials[best].state == "completed"
    assert 1 <= len(completed) <= 9
    # every survivor was in the top third of its rung at the time: all beat the median quality
    assert all(
        qualities[t.number] > np.median(qualities[: t.number + 1])
        for t in completed
        if t.number > 2
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "hyperband"}, "pruner.type"),
        ({"type": "asha", "reduction_factor": 1}, "pruner.reduction_factor"),
        ({"type": "asha", "min_resource": 0}, "pruner.min_resource"),
        ({"type": "median", "n_warmup_steps": -1}, "pruner.n_warmup_steps"),
        ({"type": "median", "patience": 3}, "pruner.patience"),
    ],
)
def test_bad_pruner_configs_name_the_field(config: dict, field: str) -> None:
    with pytest.raises(SamplerConfigError) as info:
        make_pruner(config, "maximize")
    assert info.value.field == field
