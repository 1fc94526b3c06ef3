"""The Parzen density ratio behind coarse_to_fine's ``inner: "guided"``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samplers.parzen import CategoricalAxis, NumericAxis, ParzenRatio, fold

AXES = [NumericAxis("x", 0.0, 1.0), CategoricalAxis("c", (0, 1, 2))]


def test_score_prefers_the_good_region() -> None:
    good = [{"x": 0.2 + 0.01 * i, "c": 1} for i in range(5)]
    bad = [{"x": 0.8 - 0.01 * i, "c": 2} for i in range(10)]
    r = ParzenRatio(AXES, good, bad)
    near_good, middle, near_bad = r.score(
        [{"x": 0.22, "c": 1}, {"x": 0.5, "c": 1}, {"x": 0.78, "c": 1}]
    )
    assert near_good > 0 > near_bad
    assert near_good > middle > near_bad
    # The categorical alone moves the score the same way.
    s1, s2 = r.score([{"x": 0.5, "c": 1}, {"x": 0.5, "c": 2}])
    assert s1 > s2


def test_categorical_density_is_the_smoothed_frequency() -> None:
    axes = [CategoricalAxis("c", (0, 1, 2))]
    pts = [{"c": 0}, {"c": 0}, {"c": 0}, {"c": 2}]
    r = ParzenRatio(axes, pts, [])
    got = np.exp(r.good.log_density([{"c": 0}, {"c": 1}, {"c": 2}]))
    np.testing.assert_allclose(got, [(3 + 1) / 7, (0 + 1) / 7, (1 + 1) / 7])
    # an empty group is uniform over the choices
    np.testing.assert_allclose(np.exp(r.bad.log_density([{"c": 1}])), [1 / 3])


def test_numeric_density_is_the_prior_plus_kernels_over_n_plus_one() -> None:
    axes = [NumericAxis("x", 0.2, 0.6)]
    pts = [{"x": 0.3}, {"x": 0.5}]
    r = ParzenRatio(axes, pts, [], min_bandwidth=0.05)
    h = r.good.bandwidth["x"]
    # Scott's rule on σ = 0.1, n = 2, bounded by [0.05 · width, width]
    assert h == pytest.approx(min(0.4, max(0.02, 1.06 * 0.1 * 2**-0.2)))
    x = 0.41
    kern = sum(
        math.exp(-0.5 * ((x - c) / h) ** 2) / (h * math.sqrt(2 * math.pi)) for c in (0.3, 0.5)
    )
    want = (1 / 0.4 + kern) / 3
    assert math.exp(r.good.log_density([{"x": x}])[0]) == pytest.approx(want, rel=1e-12)
    # No points: the uniform prior over the box.
    assert math.exp(r.bad.log_density([{"x": x}])[0]) == pytest.approx(1 / 0.4)


def test_a_point_without_an_axis_scores_on_the_others_only() -> None:
    good = [{"x": 0.2, "c": 0}] * 3
    bad = [{"x": 0.9, "c": 0}] * 3
    r = ParzenRatio(AXES, good, bad)
    # "c" is equal in both groups, so a point lacking "x" carries no evidence either way.
    assert r.score([{"c": 0}])[0] == pytest.approx(0.0, abs=1e-12)


def test_samples_from_the_good_group_stay_in_bounds_and_near_it() -> None:
    axes = [NumericAxis("x", 0.1, 0.5), CategoricalAxis("c", (0, 1))]
    good = [{"x": 0.15, "c": 1}] * 4
    r = ParzenRatio(axes, good, [], min_bandwidth=0.05)
    xs = r.sample_good(np.random.default_rng(0), 2000)
    v = np.array([x["x"] for x in xs])
    assert v.min() >= 0.1 and v.max() <= 0.5
    # 4 of 5 mixture components sit at 0.15 with a narrow kernel: most mass is near it
    assert np.mean(np.abs(v - 0.15) < 0.05) > 0.7
    share = np.mean([x["c"] == 1 for x in xs])
    assert share == pytest.approx(5 / 6, abs=0.03)  # smoothed frequency (4 + 1) / (4 + 2)


@pytest.mark.parametrize(
    ("x", "want"),
    [(0.3, 0.3), (-0.1, 0.1), (1.2, 0.8), (2.1, 0.1), (-1.05, 0.95)],
)
def test_fold_reflects_into_the_interval(x: float, want: float) -> None:
    assert fold(x, 0.0, 1.0) == pytest.approx(want)
    assert fold(x, 0.5, 0.5) == 0.5  # a flat box is a clip
