from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from scipy import stats

from samplers import HpsearchOptunaSampler, OptunaSampler, SearchSpace, TrialRecord, make_sampler
from samplers.optuna_adapter import from_internal, to_distribution, to_internal

optuna.logging.set_verbosity(optuna.logging.WARNING)


def bowl(p: dict) -> float:
    # minimum 0 at lr = 1e-2, beta = 0.99 (one_minus_log unit 0.5), batch 64
    return (
        (math.log10(p["learning_rate"]) + 2) ** 2
        + (math.log10(1 - p.get("beta", 0.99)) + 2) ** 2
        + 0.1 * (math.log2(p["batch_size"]) - 6) ** 2
    )


def test_specs_map_to_optuna_distributions_in_transformed_form(recipe: SearchSpace) -> None:
    beta = recipe["beta"]
    d = to_distribution(beta)
    assert (d.low, d.high) == pytest.approx((-3.0, -1.0)) and not d.log
    assert to_internal(beta, 0.99) == pytest.approx(-2.0)
    assert from_internal(beta, -2.0) == pytest.approx(0.99)
    bs = to_distribution(recipe["batch_size"])
    assert (bs.low, bs.high) == (4, 9)
    assert from_internal(recipe["batch_size"], 6) == 64
    assert to_distribution(recipe["learning_rate"]).log
    assert to_distribution(recipe["hidden_units"]).log


@pytest.mark.parametrize("kind", ["tpe", "cmaes"])
def test_adapter_respects_the_space(recipe: SearchSpace, kind: str) -> None:
    s = make_sampler({"type": kind}, recipe, "minimize", seed=3)
    assert isinstance(s, OptunaSampler)
    trials: list[TrialRecord] = []
    for i in range(30):
        p = s.ask(i, trials).params
        assert set(p) == set(recipe.active(p))
        assert all(recipe[n].contains(v) for n, v in p.items())
        trials.append(TrialRecord(i, p, "completed", bowl(p)))
    assert len({t.params["optimizer"] for t in trials}) == 2


@pytest.mark.parametrize("kind", ["tpe", "cmaes"])
def test_adapter_learns_from_the_trials_it_is_fed(kind: str) -> None:
    # Off-centre optimum (CMA-ES starts at the centre), on a log and a one_minus_log axis.
    space = SearchSpace.from_dict(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 1.0, "scale": "log"},
            "beta": {"type": "float", "low": 0.5, "high": 0.9999, "scale": "one_minus_log"},
        }
    )

    def f(p: dict) -> float:
        return (math.log10(p["lr"]) + 4.5) ** 2 + (math.log10(1 - p["beta"]) + 3.5) ** 2

    # A small CMA-ES population gives several generations within a short test.
    config = {"type": kind, **({"popsize": 4} if kind == "cmaes" else {})}
    s = make_sampler(config, space, "minimize", seed=0)
    trials: list[TrialRecord] = []
    for i in range(60 if kind == "tpe" else 40):
        p = s.ask(i, trials).params
        trials.append(TrialRecord(i, p, "completed", f(p)))
    first, last = [t.value for t in trials[:10]], [t.value for t in trials[-10:]]
    assert np.median(last) < np.median(first) / 4


def test_tpe_is_seeded_and_deterministic(recipe: SearchSpace) -> None:
    trials = [
        TrialRecord(i, p, "completed", bowl(p))
        for i, p in enumerate(
            make_sampler({"type": "random"}, recipe, "minimize", 0).ask(i, []).params
            for i in range(15)
        )
    ]
    a = make_sampler({"type": "tpe"}, recipe, "minimize", seed=1).ask(15, trials)
    b = make_sampler({"type": "tpe"}, recipe, "minimize", seed=1).ask(15, trials)
    c = make_sampler({"type": "tpe"}, recipe, "minimize", seed=2).ask(15, trials)
    assert a == b and a != c


def test_diverged_trials_count_as_worst_failed_are_ignored(recipe: SearchSpace) -> None:
    s = OptunaSampler(recipe, "maximize", 0)
    trials = [
        TrialRecord(
            0,
            {
                "learning_rate": 0.01,
                "optimizer": "adam",
                "beta1": 0.9,
                "batch_size": 32,
                "hidden_units": 64,
            },
            "completed",
            0.8,
        ),
        TrialRecord(
            1,
            {
                "learning_rate": 0.02,
                "optimizer": "adam",
                "beta1": 0.9,
                "batch_size": 32,
                "hidden_units": 64,
            },
            "completed",
            0.6,
        ),
        TrialRecord(
            2,
            {
                "learning_rate": 0.9,
                "optimizer": "adam",
                "beta1": 0.9,
                "batch_size": 32,
                "hidden_units": 64,
            },
            "diverged",
        ),
        TrialRecord(
            3,
            {
                "learning_rate": 0.5,
                "optimizer": "adam",
                "beta1": 0.9,
                "batch_size": 32,
                "hidden_units": 64,
            },
            "failed",
        ),
        TrialRecord(
            4,
            {
                "learning_rate": 0.3,
                "optimizer": "adam",
                "beta1": 0.9,
                "batch_size": 32,
                "hidden_units": 64,
            },
            "pruned",
            None,
            {1: 0.1},
        ),
    ]
    told = {t.number: (state.name, value) for t, state, value in s._told(trials)}
    assert told == {
        0: ("COMPLETE", 0.8),
        1: ("COMPLETE", 0.6),
        2: ("COMPLETE", 0.6),
        4: ("PRUNED", None),
    }
    frozen = s._frozen(trials)
    assert frozen[0].params["beta1"] == pytest.approx(-1.0)  # one_minus_log in log10(1 - β)


# ---- the reverse adapter: our samplers inside plain Optuna studies --------------------------


def optuna_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("learning_rate", 1e-4, 1.0, log=True)
    bs = trial.suggest_int("batch_size", 16, 512, log=True)
    opt = trial.suggest_categorical("optimizer", ["momentum", "adam"])
    return (math.log10(lr) + 2) ** 2 + 0.1 * (math.log2(bs) - 6) ** 2 + (opt == "momentum")


@pytest.mark.parametrize(
    "config", ["random", "sobol", {"type": "coarse_to_fine", "rounds": 3, "n_trials": 60}]
)
def test_bridge_runs_real_optuna_studies(config) -> None:
    studies = []
    for _ in range(2):
        study = optuna.create_study(sampler=HpsearchOptunaSampler(config, seed=5))
        study.optimize(optuna_objective, n_trials=60)
        studies.append(study)
    a, b = studies
    assert [t.params for t in a.trials] == [t.params for t in b.trials]  # seeded
    assert len({t.params["learning_rate"] for t in a.trials}) == 60
    assert a.best_value < 0.5
    if isinstance(config, dict):
        rounds = [t.system_attrs["hpsearch:round"] for t in a.trials]
        assert rounds == [0] * 20 + [1] * 20 + [2] * 20
        last = [t.value for t in a.trials[-20:]]
        first = [t.value for t in a.trials[:20]]
        assert np.median(last) < np.median(first)


def test_bridge_samples_log_uniform_from_suggest_float_log() -> None:
    study = optuna.create_study(sampler=HpsearchOptunaSampler("random", seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True), n_trials=200)
    lr = np.array([t.params["lr"] for t in study.trials])
    counts = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_bridge_with_explicit_space_adds_one_minus_log_and_conditions(recipe_dict: dict) -> None:
    sampler = HpsearchOptunaSampler("sobol", space=recipe_dict, seed=0)

    def objective(trial: optuna.Trial) -> float:
        opt = trial.suggest_categorical("optimizer", ["momentum", "adam"])
        trial.suggest_float("learning_rate", 1e-4, 1.0, log=True)
        trial.suggest_int("batch_size", 16, 512)
        if opt == "momentum":
            trial.suggest_float("beta", 0.9, 0.999)
        return 0.0

    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=256)
    betas = np.array([t.params["beta"] for t in study.trials if "beta" in t.params])
    assert len(betas) > 100
    # one_minus_log from our spec, although Optuna only saw a linear float
    assert stats.binomtest(int(np.sum(betas < 0.99)), len(betas), 0.5).pvalue > 1e-3
    sizes = {t.params["batch_size"] for t in study.trials}
    assert sizes == {16, 32, 64, 128, 256, 512}  # power_of_two from our spec
