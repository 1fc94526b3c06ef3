from __future__ import annotations

import math

import pytest

from samplers import (
    GridSampler,
    SamplerConfigError,
    SearchSpace,
    TrialRecord,
    make_sampler,
)


def run(sampler, n: int, start: int = 0, trials: list | None = None) -> list[dict]:
    trials = trials if trials is not None else []
    out = []
    for i in range(start, start + n):
        p = sampler.ask(i, trials).params
        trials.append(TrialRecord(i, p, "completed", 0.0))
        out.append(p)
    return out


@pytest.mark.parametrize("kind", ["random", "sobol", "grid", "coarse_to_fine", "tpe"])
def test_rebuilding_mid_study_continues_the_sequence(recipe: SearchSpace, kind: str) -> None:
    cfg = {"type": kind}
    first = make_sampler(cfg, recipe, "maximize", seed=42)
    trials: list[TrialRecord] = []
    straight = run(first, 12, trials=trials)
    # "Restart": a new sampler, fed the first 8 trials, asked for numbers 8..11.
    rebuilt = make_sampler(cfg, recipe, "maximize", seed=42)
    assert run(rebuilt, 4, start=8, trials=trials[:8]) == straight[8:]


@pytest.mark.parametrize("kind", ["random", "sobol"])
def test_different_numbers_and_seeds_give_different_params(recipe: SearchSpace, kind: str) -> None:
    s = make_sampler({"type": kind}, recipe, "maximize", seed=0)
    ps = [s.ask(i, []).params for i in range(50)]
    assert len({p["learning_rate"] for p in ps}) == 50
    other = make_sampler({"type": kind}, recipe, "maximize", seed=1)
    assert other.ask(0, []).params != ps[0]


def test_grid_enumerates_every_point_once_per_cycle() -> None:
    space = SearchSpace.from_dict(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            "bs": {"type": "power_of_two", "low": 16, "high": 64},
            "act": {"type": "categorical", "choices": ["relu", "tanh"]},
        }
    )
    g = make_sampler({"type": "grid", "points_per_axis": 5}, space, "maximize", 0)
    assert isinstance(g, GridSampler)
    assert g.size == 5 * 3 * 2  # bs has only three powers of two
    pts = [tuple(sorted(g.ask(i, []).params.items())) for i in range(g.size)]
    assert len(set(pts)) == g.size
    assert sorted({dict(p)["lr"] for p in pts}) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert g.ask(g.size, []).params == dict(pts[0])  # then it repeats
    plain = make_sampler(
        {"type": "grid", "points_per_axis": 5, "shuffle": False}, space, "maximize", 0
    )
    assert [plain.ask(i, []).params["act"] for i in range(2)] == ["relu", "tanh"]


def test_grid_default_fits_the_budget(recipe: SearchSpace) -> None:
    space = SearchSpace.from_dict(
        {"a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "float", "low": 0, "high": 1}}
    )
    g = make_sampler({"type": "grid"}, space, "maximize", 0, n_trials=50)
    assert g.points_per_axis == 7  # 7² = 49 ≤ 50 < 64


def test_grid_has_few_distinct_values_per_axis_random_has_many() -> None:
    space = SearchSpace.from_dict(
        {n: {"type": "float", "low": 0, "high": 1} for n in ("a", "b", "c")}
    )
    g = make_sampler({"type": "grid"}, space, "maximize", 0, n_trials=27)
    r = make_sampler({"type": "random"}, space, "maximize", 0)
    assert len({g.ask(i, []).params["a"] for i in range(27)}) == 3
    assert len({r.ask(i, []).params["a"] for i in range(27)}) == 27


def test_sobol_uses_trial_number_as_point_index() -> None:
    from scipy.stats import qmc

    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    s = make_sampler({"type": "sobol"}, space, "maximize", 3)
    xs = sorted(s.ask(i, []).params["x"] for i in range(16))
    # 16 scrambled Sobol points in 1-D: exactly one in each sixteenth
    assert [math.floor(x * 16) for x in xs] == list(range(16))
    assert qmc.discrepancy([[x] for x in xs]) < 1e-3


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "annealing"}, "sampler.type"),
        ({}, "sampler.type"),
        ({"type": "grid", "points_per_axis": 0}, "sampler.points_per_axis"),
        ({"type": "grid", "points_per_axis": "5"}, "sampler.points_per_axis"),
        ({"type": "grid", "shuffle": "yes"}, "sampler.shuffle"),
        ({"type": "random", "points_per_axis": 3}, "sampler.points_per_axis"),
        ({"type": "coarse_to_fine", "rounds": 0}, "sampler.rounds"),
        ({"type": "coarse_to_fine", "top_fraction": 0}, "sampler.top_fraction"),
        ({"type": "coarse_to_fine", "top_fraction": 1.5}, "sampler.top_fraction"),
        ({"type": "coarse_to_fine", "margin": -1}, "sampler.margin"),
        ({"type": "coarse_to_fine", "rounds": 2, "per_round": [5]}, "sampler.per_round"),
        ({"type": "coarse_to_fine", "rounds": 3, "n_trials": 2}, "sampler.n_trials"),
        ({"type": "coarse_to_fine", "inner": "grid"}, "sampler.inner"),
        ({"type": "coarse_to_fine", "advance_fraction": 2}, "sampler.advance_fraction"),
        ({"type": "tpe", "n_startup": 3}, "sampler.n_startup"),
    ],
)
def test_bad_sampler_configs_name_the_field(recipe: SearchSpace, config: dict, field: str) -> None:
    with pytest.raises(SamplerConfigError) as info:
        make_sampler(config, recipe, "maximize", 0)
    assert info.value.field == field


def test_bad_direction_is_rejected(recipe: SearchSpace) -> None:
    with pytest.raises(SamplerConfigError) as info:
        make_sampler({"type": "random"}, recipe, "up", 0)
    assert info.value.field == "objective.direction"
