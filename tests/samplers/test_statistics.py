"""Statistical properties of the scales, with fixed seeds and scipy tests (α = 0.001)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from samplers import RandomSampler, SearchSpace, SobolSampler, make_sampler

N = 4000
ALPHA = 1e-3


def draws(space: SearchSpace, sampler: str = "random", n: int = N, seed: int = 0) -> list[dict]:
    s = make_sampler({"type": sampler}, space, "maximize", seed)
    return [s.ask(i, []).params for i in range(n)]


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_log_uniform_puts_a_quarter_in_each_decade(sampler: str) -> None:
    space = SearchSpace.from_dict(
        {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"}}
    )
    n = N if sampler == "random" else 1024  # Sobol balances exactly at powers of two
    lr = np.array([p["lr"] for p in draws(space, sampler, n=n)])
    assert lr.min() >= 1e-4 and lr.max() <= 1.0
    counts = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0]
    assert stats.chisquare(counts).pvalue > ALPHA
    assert np.all(np.abs(counts / n - 0.25) < 0.03)
    # and uniform within the log axis, not just per decade
    assert stats.kstest((np.log10(lr) + 4) / 4, "uniform").pvalue > ALPHA


def test_linear_uniform_would_fail_the_decade_test() -> None:
    # Guard that the decade test above can fail: linear sampling puts ~90% in the top decade.
    space = SearchSpace.from_dict({"lr": {"type": "float", "low": 1e-4, "high": 1.0}})
    lr = np.array([p["lr"] for p in draws(space)])
    counts = np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0]
    assert stats.chisquare(counts).pvalue < ALPHA


def test_one_minus_log_splits_beta_evenly_between_0_9_0_99_and_0_99_0_999() -> None:
    space = SearchSpace.from_dict(
        {"beta": {"type": "float", "low": 0.9, "high": 0.999, "scale": "one_minus_log"}}
    )
    beta = np.array([p["beta"] for p in draws(space, seed=3)])
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    low_half = int(np.sum(beta < 0.99))
    assert stats.binomtest(low_half, N, 0.5).pvalue > ALPHA
    assert stats.kstest((np.log10(1 - beta) + 1) / -2, "uniform").pvalue > ALPHA


def test_power_of_two_is_uniform_over_exponents_and_never_off_grid() -> None:
    space = SearchSpace.from_dict({"bs": {"type": "power_of_two", "low": 16, "high": 512}})
    bs = [p["bs"] for p in draws(space, seed=5)]
    assert all(isinstance(b, int) and b & (b - 1) == 0 and 16 <= b <= 512 for b in bs)
    counts = np.bincount([int(math.log2(b)) - 4 for b in bs], minlength=6)
    assert len(counts) == 6 and counts.min() > 0
    assert stats.chisquare(counts).pvalue > ALPHA


def test_linear_int_is_uniform_including_endpoints() -> None:
    space = SearchSpace.from_dict({"k": {"type": "int", "low": 1, "high": 5}})
    ks = [p["k"] for p in draws(space, seed=7)]
    counts = np.bincount(ks, minlength=6)[1:]
    assert stats.chisquare(counts).pvalue > ALPHA


def test_log_int_is_log_uniform() -> None:
    space = SearchSpace.from_dict({"h": {"type": "int", "low": 10, "high": 1000, "scale": "log"}})
    h = np.array([p["h"] for p in draws(space, seed=11)])
    counts = np.histogram(h, bins=[10, 100, 1001])[0]
    assert stats.binomtest(int(counts[0]), N, 0.5).pvalue > ALPHA


@pytest.mark.parametrize("sampler", ["random", "sobol", "grid", "coarse_to_fine"])
def test_conditionals_yield_exactly_the_active_parameters(
    recipe: SearchSpace, sampler: str
) -> None:
    s = make_sampler({"type": sampler}, recipe, "maximize", 1)
    seen = {"momentum": 0, "adam": 0}
    for i in range(300):
        p = s.ask(i, []).params
        assert set(p) == set(recipe.active(p))
        assert ("beta" in p) == (p["optimizer"] == "momentum")
        assert ("beta1" in p) == (p["optimizer"] == "adam")
        assert {"learning_rate", "batch_size", "hidden_units", "optimizer"} <= set(p)
        for name, value in p.items():
            assert recipe[name].contains(value), (name, value)
        seen[p["optimizer"]] += 1
    assert min(seen.values()) > 0
    if sampler == "random":
        assert stats.binomtest(seen["adam"], 300, 0.5).pvalue > ALPHA


def test_sobol_is_more_even_than_random() -> None:
    # Discrepancy of 256 points in 2-D: scrambled Sobol beats iid uniform (both seeded).
    from scipy.stats import qmc

    space = SearchSpace.from_dict(
        {"a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "float", "low": 0, "high": 1}}
    )
    sob, rnd = SobolSampler(space, seed=0), RandomSampler(space, seed=0)
    ps = np.array([[p["a"], p["b"]] for p in (sob.ask(i, []).params for i in range(256))])
    pr = np.array([[p["a"], p["b"]] for p in (rnd.ask(i, []).params for i in range(256))])
    assert qmc.discrepancy(ps) < qmc.discrepancy(pr) / 3
