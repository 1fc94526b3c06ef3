"""Activations, output losses and initialisers, each against its formula."""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from engine.errors import ConfigError
from engine.initializers import He, RandomNormal, Xavier, Zeros, get_initializer
from engine.losses import (
    BinaryCrossEntropy,
    MeanSquaredError,
    SoftmaxCrossEntropy,
    loss_for_task,
)

Z = np.array([[-3.0, -0.5, 0.0, 0.25, 4.0], [1.5, -2.0, 0.7, -0.01, 0.0]])


@pytest.mark.parametrize(
    ("activation", "formula"),
    [
        (ReLU(), lambda z: np.maximum(z, 0)),
        (LeakyReLU(0.1), lambda z: np.where(z > 0, z, 0.1 * z)),
        (Tanh(), np.tanh),
        (Sigmoid(), lambda z: 1 / (1 + np.exp(-z))),
    ],
)
def test_activation_forward_and_derivative(activation, formula) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(activation.forward(Z, np.empty_like(Z)), formula(Z), rtol=1e-12)
    h = 1e-6
    numeric = (formula(Z + h) - formula(Z - h)) / (2 * h)
    away_from_kink = np.abs(Z) > 1e-3  # ReLU-like functions have no derivative at 0
    np.testing.assert_allclose(
        activation.derivative(Z)[away_from_kink], numeric[away_from_kink], rtol=1e-5, atol=1e-8
    )


def test_relu_subgradient_at_zero_and_leaky_slope_default() -> None:
    assert ReLU().derivative(np.array([0.0]))[0] == 0.0
    leaky = get_activation("leaky_relu")
    assert isinstance(leaky, LeakyReLU) and leaky.slope == 0.01
    assert get_activation("leaky_relu", 0.2).derivative(np.array([-1.0]))[0] == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        get_activation("swish")


def test_sigmoid_does_not_overflow() -> None:
    with np.errstate(all="raise"):
        out = Sigmoid().forward(np.array([-1000.0, 1000.0]), np.empty(2))
    np.testing.assert_array_equal(out, [0.0, 1.0])


def numeric_dz(loss, z: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    grad = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        grad[idx] = (loss.loss(zp, y) - loss.loss(zm, y)) / (2 * h)
    return grad


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_delta_is_the_gradient_of_the_loss(task: str) -> None:
    rng = np.random.default_rng(1)
    loss = loss_for_task(task)
    if task == "binary":
        z, y = rng.standard_normal((6, 1)), loss.targets(rng.integers(0, 2, 6), 2, np.float64)
    elif task == "multiclass":
        z, y = rng.standard_normal((6, 4)), loss.targets(rng.integers(0, 4, 6), 4, np.float64)
    else:
        z, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    a = loss.activate(z, np.empty_like(z))
    np.testing.assert_allclose(
        loss.delta(a, y, np.empty_like(z)), numeric_dz(loss, z, y), rtol=1e-5, atol=1e-9
    )


def test_cross_entropies_match_the_naive_formula_and_stay_finite() -> None:
    z = np.array([[0.3], [-1.2], [2.0]])
    y = np.array([[1.0], [0.0], [1.0]])
    a = 1 / (1 + np.exp(-z))
    naive = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert BinaryCrossEntropy().loss(z, y) == pytest.approx(naive, rel=1e-12)
    assert np.isfinite(
        BinaryCrossEntropy().loss(np.array([[800.0], [-800.0]]), np.array([[0.0], [1.0]]))
    )

    zs = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    ys = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.exp(zs) / np.exp(zs).sum(axis=1, keepdims=True)
    assert SoftmaxCrossEntropy().loss(zs, ys) == pytest.approx(
        -np.mean(np.sum(ys * np.log(p), axis=1))
    )
    big = zs * 1000  # exp would overflow without the max shift
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        probs = SoftmaxCrossEntropy().activate(big, np.empty_like(big))
        value = SoftmaxCrossEntropy().loss(big, ys)
    assert np.all(np.isfinite(probs)) and np.isfinite(value)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_mse_and_accuracy() -> None:
    mse = MeanSquaredError()
    assert mse.loss(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])) == pytest.approx(2.5)
    assert mse.accuracy(np.zeros((2, 1)), np.zeros(2)) is None
    assert BinaryCrossEntropy().accuracy(
        np.array([[0.5], [-0.1], [2.0]]), np.array([1, 1, 0])
    ) == pytest.approx(1 / 3)
    assert (
        SoftmaxCrossEntropy().accuracy(np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([1, 1])) == 0.5
    )
    with pytest.raises(ConfigError):
        loss_for_task("ranking")


def test_initializer_scales() -> None:
    rng = np.random.default_rng(0)
    n_in, n_out = 400, 300
    assert np.all(Zeros()(n_in, n_out, rng) == 0)
    for init, std in [
        (He(), np.sqrt(2 / n_in)),
        (Xavier(), np.sqrt(1 / n_in)),
        (RandomNormal(), 0.01),
    ]:
        w = init(n_in, n_out, rng)
        assert w.shape == (n_in, n_out)
        assert w.std() == pytest.approx(std, rel=0.03)
        assert abs(w.mean()) < 3 * std / np.sqrt(w.size) * 3
    assert isinstance(get_initializer("he"), He)
    with pytest.raises(ConfigError) as info:
        get_initializer("orthogonal")
    assert info.value.field == "init"


def test_initializers_use_the_generator_they_are_given() -> None:
    a = He()(5, 4, np.random.default_rng(3))
    b = He()(5, 4, np.random.default_rng(3))
    c = He()(5, 4, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
