"""The terminal helpers of hpsearch._progress behind ``hpsearch studies show``: the running best
of completed trials and the sparkline drawn from it."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from hpsearch._progress import SPARK, best_so_far, sparkline
from hpsearch.models import TrialData


def trials(*rows: tuple[str, float | None]) -> list[TrialData]:
    """Trials numbered 0, 1, 2... in the order given, as (state, value)."""
    return [TrialData(id=100 + n, number=n, state=s, value=v) for n, (s, v) in enumerate(rows)]


def is_monotone(values: list[float], direction: str) -> bool:
    pairs = list(itertools.pairwise(values))
    if direction == "maximize":
        return all(b >= a for a, b in pairs)
    return all(b <= a for a, b in pairs)


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("maximize", [0.5, 0.5, 0.7, 0.7, 0.9]),
        ("minimize", [0.5, 0.3, 0.3, 0.2, 0.2]),
    ],
)
def test_best_so_far_is_the_running_best(direction: str, expected: list[float]) -> None:
    ts = trials(
        ("completed", 0.5),
        ("completed", 0.3),
        ("completed", 0.7),
        ("completed", 0.2),
        ("completed", 0.9),
    )
    curve = best_so_far(ts, direction)
    assert curve == expected
    assert is_monotone(curve, direction)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_so_far_is_monotone_on_random_studies(direction: str) -> None:
    rng = random.Random(7)
    states = ["completed", "completed", "pruned", "failed", "running"]
    ts = trials(*((rng.choice(states), rng.uniform(-5, 5)) for _ in range(200)))
    curve = best_so_far(ts, direction)
    assert is_monotone(curve, direction)
    completed = [t.value for t in ts if t.state == "completed"]
    assert curve[-1] == (max(completed) if direction == "maximize" else min(completed))


def test_only_completed_trials_count() -> None:
    ts = trials(
        ("failed", None),  # nothing completed yet: no point
        ("pruned", 0.99),  # a pruned trial's value never becomes the best
        ("completed", 0.4),
        ("running", 0.95),
        ("diverged", 1.0),
        ("completed", 0.6),
        ("stopped", 0.97),
        ("completed", float("nan")),  # NaN never wins
    )
    assert best_so_far(ts, "maximize") == [0.4, 0.4, 0.4, 0.6, 0.6, 0.6]
    assert best_so_far(ts, "minimize") == [0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert best_so_far(trials(("failed", None), ("pruned", 0.5)), "maximize") == []
    assert best_so_far([], "minimize") == []


def test_best_so_far_follows_trial_numbers_not_list_order() -> None:
    ts = trials(("completed", 0.1), ("completed", 0.5), ("completed", 0.3))
    assert best_so_far(list(reversed(ts)), "maximize") == [0.1, 0.5, 0.5]


def test_sparkline_maps_min_to_the_lowest_bar_and_max_to_the_highest() -> None:
    line = sparkline([0.2, 0.5, 0.9, 0.35, 1.4])
    assert len(line) == 5
    assert line[0] == "▁" and line[-1] == "█"
    assert set(line) <= set(SPARK)
    assert sparkline([3.0, -1.0]) == "█▁"  # min and max wherever they are


def test_sparkline_of_a_monotone_curve_never_goes_down() -> None:
    line = sparkline([float(v) for v in range(8)])
    assert line == SPARK  # one level per step: ▁▂▃▄▅▆▇█
    ranks = [SPARK.index(c) for c in sparkline([math.log1p(v) for v in range(40)])]
    assert ranks == sorted(ranks) and ranks[0] == 0 and ranks[-1] == len(SPARK) - 1


def test_sparkline_of_a_constant_is_a_flat_middle_line() -> None:
    assert sparkline([0.7] * 6) == SPARK[len(SPARK) // 2] * 6
    assert sparkline([0.7]) == SPARK[len(SPARK) // 2]


def test_sparkline_skips_what_it_cannot_draw() -> None:
    assert sparkline([]) == ""
    assert sparkline([float("nan"), float("inf")]) == ""
    assert sparkline([0.0, float("nan"), 1.0]) == "▁ █"


@pytest.mark.parametrize(("n", "width"), [(60, 60), (61, 60), (200, 60), (1000, 25)])
def test_sparkline_is_capped_at_width(n: int, width: int) -> None:
    values = [float(v) for v in range(n)]
    line = sparkline(values, width=width)
    assert len(line) == min(n, width)
    ranks = [SPARK.index(c) for c in line]
    assert ranks == sorted(ranks)  # resampling keeps a monotone curve monotone
    assert line[-1] == "█"  # the last point (the final best) is always drawn
    assert sparkline(values[:10], width=width) == sparkline(values[:10])  # shorter: untouched
