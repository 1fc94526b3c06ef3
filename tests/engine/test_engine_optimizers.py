"""Each update rule against the textbook formula written out in plain NumPy, per layer array."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import CheckpointError, ConfigError
from engine.optimizers import Adam, GradientDescent, Momentum, RMSProp, make_optimizer

# two "layers" (W1: 2×3, W2: 3×1) laid out in one flat vector, as the network does
W1 = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.6]])
W2 = np.array([[0.7], [-0.4], [0.2]])
GRADS = [  # one (dW1, dW2) per step
    (np.array([[0.1, -0.3, 0.2], [0.05, 0.4, -0.1]]), np.array([[0.3], [-0.2], [0.6]])),
    (np.array([[-0.2, 0.1, 0.0], [0.3, -0.5, 0.25]]), np.array([[-0.1], [0.4], [0.05]])),
    (np.array([[0.4, 0.2, -0.3], [-0.1, 0.0, 0.6]]), np.array([[0.2], [0.1], [-0.3]])),
    (np.array([[0.0, -0.1, 0.5], [0.2, 0.3, -0.4]]), np.array([[-0.5], [0.0], [0.25]])),
]
LR, BETA, BETA1, BETA2, EPS = 0.1, 0.9, 0.9, 0.999, 1e-8


def flat(*arrays: np.ndarray) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays])


def run(optimizer_name: str) -> np.ndarray:
    theta = flat(W1, W2)
    opt = make_optimizer(
        optimizer_name, theta.size, np.float64, beta=BETA, beta1=BETA1, beta2=BETA2, epsilon=EPS
    )
    for g1, g2 in GRADS:
        opt.step(theta, flat(g1, g2), LR)
    assert opt.t == len(GRADS)
    return theta


def test_gd_by_hand() -> None:
    w = [W1.copy(), W2.copy()]
    for grads in GRADS:
        for i in range(2):
            w[i] = w[i] - LR * grads[i]
    np.testing.assert_allclose(run("gd"), flat(*w), rtol=1e-12, atol=1e-15)


def test_momentum_by_hand() -> None:
    w = [W1.copy(), W2.copy()]
    v = [np.zeros_like(W1), np.zeros_like(W2)]
    for grads in GRADS:
        for i in range(2):
            v[i] = BETA * v[i] + (1 - BETA) * grads[i]
            w[i] = w[i] - LR * v[i]
    np.testing.assert_allclose(run("momentum"), flat(*w), rtol=1e-12, atol=1e-15)


def test_rmsprop_by_hand() -> None:
    w = [W1.copy(), W2.copy()]
    s = [np.zeros_like(W1), np.zeros_like(W2)]
    for grads in GRADS:
        for i in range(2):
            s[i] = BETA2 * s[i] + (1 - BETA2) * grads[i] ** 2
            w[i] = w[i] - LR * grads[i] / (np.sqrt(s[i]) + EPS)
    np.testing.assert_allclose(run("rmsprop"), flat(*w), rtol=1e-12, atol=1e-15)


def test_adam_by_hand() -> None:
    w = [W1.copy(), W2.copy()]
    m = [np.zeros_like(W1), np.zeros_like(W2)]
    s = [np.zeros_like(W1), np.zeros_like(W2)]
    for t, grads in enumerate(GRADS, start=1):
        for i in range(2):
            m[i] = BETA1 * m[i] + (1 - BETA1) * grads[i]
            s[i] = BETA2 * s[i] + (1 - BETA2) * grads[i] ** 2
            m_hat = m[i] / (1 - BETA1**t)
            s_hat = s[i] / (1 - BETA2**t)
            w[i] = w[i] - LR * m_hat / (np.sqrt(s_hat) + EPS)
    np.testing.assert_allclose(run("adam"), flat(*w), rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_by_learning_rate() -> None:
    # with bias correction the first step is α·g/|g| (ε aside), whatever the gradient's scale
    theta = np.zeros(3)
    opt = Adam(3, np.float64)
    opt.step(theta, np.array([1e-3, -5.0, 200.0]), 0.01)
    np.testing.assert_allclose(theta, [-0.01, 0.01, -0.01], rtol=1e-4)


@pytest.mark.parametrize("cls", [GradientDescent, Momentum, RMSProp, Adam])
def test_state_round_trip_continues_identically(cls: type) -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(5) for _ in range(4)]
    a, theta_a = cls(5, np.float64), np.ones(5)
    for g in grads[:2]:
        a.step(theta_a, g, 0.05)
    b, theta_b = cls(5, np.float64), theta_a.copy()
    b.load_state_dict(a.state_dict())
    for g in grads[2:]:
        a.step(theta_a, g, 0.05)
        b.step(theta_b, g, 0.05)
    assert b.t == a.t == 4
    np.testing.assert_array_equal(theta_a, theta_b)


def test_bad_state_and_name() -> None:
    with pytest.raises(CheckpointError):
        Adam(3).load_state_dict({"m": np.zeros(4), "s": np.zeros(3), "t": np.array(1)})
    with pytest.raises(ConfigError) as info:
        make_optimizer("sgd", 3)
    assert info.value.field == "optimizer"


def test_float32_buffers_stay_float32() -> None:
    theta = np.ones(4, dtype=np.float32)
    opt = Adam(4, np.float32)
    opt.step(theta, np.full(4, 0.5, dtype=np.float32), 0.1)
    assert theta.dtype == np.float32 and opt.m.dtype == np.float32
