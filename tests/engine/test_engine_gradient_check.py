"""Backprop against two-sided finite differences, on every layer type, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from engine import EngineError, Network, gradient_check
from engine.losses import loss_for_task


def make_problem(task: str, activation: str, batch_norm: bool, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    loss = loss_for_task(task)
    n_out = {"binary": 1, "multiclass": 3, "regression": 2}[task]
    net = Network(
        4, [5, 3], n_out, loss, activation=activation, batch_norm=batch_norm, dtype="float64"
    )
    net.initialize("xavier", rng)
    # move off the initial point (γ = 1, β = 0, b = 0) so every parameter matters
    net.theta += 0.1 * rng.standard_normal(net.size)
    X = rng.standard_normal((8, 4))
    if task == "regression":
        Y = rng.standard_normal((8, 2))
    else:
        k = 2 if task == "binary" else 3
        Y = loss.targets(rng.integers(0, k, 8), k, np.float64)
    return net, X, Y


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_backprop_matches_finite_differences(task: str, activation: str, batch_norm: bool) -> None:
    net, X, Y = make_problem(task, activation, batch_norm)
    check = gradient_check(net, X, Y, l2=0.7)
    assert check.difference < 1e-7, check.per_parameter
    assert all(diff < 1e-6 for diff in check.per_parameter.values()), check.per_parameter
    names = set(check.per_parameter)
    if batch_norm:
        assert {"gamma1", "beta1", "gamma2", "beta2", "b3"} <= names and "b1" not in names
    else:
        assert {"W1", "b1", "W2", "b2", "W3", "b3"} == names


def test_l2_term_is_part_of_the_checked_gradient() -> None:
    net, X, Y = make_problem("binary", "tanh", False)
    without = gradient_check(net, X, Y, l2=0.0).analytic
    with_l2 = gradient_check(net, X, Y, l2=2.0).analytic
    w = slice(0, net.n_weights)
    np.testing.assert_allclose(with_l2[w] - without[w], 2.0 / X.shape[0] * net.theta[w], rtol=1e-9)
    np.testing.assert_array_equal(with_l2[net.n_weights :], without[net.n_weights :])


class BrokenNetwork(Network):
    """Backward pass with one gradient component silently off."""

    def backward(self, y, *, l2=0.0, m_total=None):  # type: ignore[no-untyped-def]
        grad = super().backward(y, l2=l2, m_total=m_total)
        grad[7] += 1e-3
        return grad


def test_a_broken_backward_pass_is_caught() -> None:
    net, X, Y = make_problem("multiclass", "relu", False)
    broken = BrokenNetwork(4, [5, 3], 3, loss_for_task("multiclass"), dtype="float64")
    broken.theta[:] = net.theta
    assert gradient_check(net, X, Y).passed()
    check = gradient_check(broken, X, Y)
    assert not check.passed()
    assert check.difference > 1e-5
    assert check.per_parameter["W1"] > 1e-5  # index 7 is in W1 (4×5)
    assert check.per_parameter["W3"] < 1e-7


def test_needs_float64() -> None:
    net = Network(2, [2], 1, loss_for_task("binary"), dtype="float32")
    with pytest.raises(EngineError):
        gradient_check(net, np.zeros((2, 2)), np.zeros((2, 1)))
