"""The network's flat buffers, batch normalisation and dropout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from engine import EngineError, Network, TrainConfig, train
from engine.losses import loss_for_task


def net_for(task: str = "multiclass", **kwargs) -> Network:  # type: ignore[no-untyped-def]
    n_out = 1 if task == "binary" else 3
    net = Network(4, [6, 5], n_out, loss_for_task(task), **kwargs)
    net.initialize("he", np.random.default_rng(0))
    return net


def test_layer_arrays_are_views_of_one_flat_buffer() -> None:
    net = net_for(batch_norm=True)
    assert net.size == 4 * 6 + 6 * 5 + 5 * 3 + 2 * 6 + 2 * 5 + 3
    for layer in net.layers:
        assert np.shares_memory(layer.W, net.theta) and np.shares_memory(layer.dW, net.grad)
    net.theta[0] = 42.0
    assert net.layers[0].W[0, 0] == 42.0
    # weights come first, so L2 touches exactly theta[:n_weights]
    assert net.n_weights == 4 * 6 + 6 * 5 + 5 * 3
    names = [name for name, _ in net.parameter_slices()]
    assert names == ["W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"]


def test_batch_norm_layers_have_no_bias_and_start_at_identity() -> None:
    net = net_for(batch_norm=True)
    hidden = net.layers[:-1]
    assert all(layer.b is None and layer.gamma is not None for layer in hidden)
    assert net.layers[-1].b is not None and net.layers[-1].gamma is None  # never on the output
    assert all(np.all(layer.gamma == 1) and np.all(layer.beta == 0) for layer in hidden)  # type: ignore[arg-type]


def test_batch_norm_normalises_in_training_and_uses_running_stats_to_predict() -> None:
    net = net_for(batch_norm=True, dtype="float64")
    rng = np.random.default_rng(1)
    X = 3.0 + 2.0 * rng.standard_normal((64, 4))
    before = net.bn_state.copy()
    net.forward(X, train=True)
    ws = net._ws
    assert ws is not None
    zhat = ws.zhat[0]
    assert zhat is not None
    np.testing.assert_allclose(zhat.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(zhat.var(axis=0), 1, rtol=1e-3)
    layer = net.layers[0]
    assert layer.running_mean is not None and layer.running_var is not None
    z = X @ layer.W
    # one exponential-average step from the initial (0, 1): 0.9·old + 0.1·batch statistic,
    # the variance being the biased batch variance
    np.testing.assert_allclose(layer.running_mean, 0.1 * z.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * z.var(axis=0), rtol=1e-10)
    # prediction mode reads the running statistics and never updates them
    state = net.bn_state.copy()
    assert not np.array_equal(state, before)
    first = net.predict_output(X[:5])
    np.testing.assert_array_equal(net.bn_state, state)
    np.testing.assert_array_equal(net.predict_output(X[:5]), first)
    # and a single example predicts the same alone as in a batch (no batch statistics)
    np.testing.assert_allclose(net.predict_output(X[:1]), first[:1], rtol=1e-12)


def test_batch_norm_running_stats_are_exponential_averages_used_to_predict() -> None:
    net = net_for(batch_norm=True, dtype="float64")
    rng = np.random.default_rng(3)
    net.theta += 0.3 * rng.standard_normal(net.size)  # γ ≠ 1, β ≠ 0: every term matters
    hidden = net.layers[:-1]
    mean = [np.zeros(layer.n_out) for layer in hidden]
    var = [np.ones(layer.n_out) for layer in hidden]
    for step in range(3):
        X = step - 1.0 + (1.0 + step) * rng.standard_normal((32, 4))
        net.forward(X, train=True)
        ws = net._ws
        assert ws is not None
        for i, layer in enumerate(hidden):
            z = ws.z[i]  # the layer's Z before normalisation, in this batch
            mean[i] = 0.9 * mean[i] + 0.1 * z.mean(axis=0)
            var[i] = 0.9 * var[i] + 0.1 * z.var(axis=0)
            np.testing.assert_allclose(layer.running_mean, mean[i], rtol=1e-10)  # type: ignore[arg-type]
            np.testing.assert_allclose(layer.running_var, var[i], rtol=1e-10)  # type: ignore[arg-type]
    assert all(np.all(np.abs(v - 1) > 1e-3) for v in var)

    # prediction normalises with the running statistics, by hand
    X = rng.standard_normal((7, 4))
    a = X
    for i, layer in enumerate(hidden):
        zt = layer.gamma * (a @ layer.W - mean[i]) / np.sqrt(var[i] + 1e-5) + layer.beta
        a = np.maximum(zt, 0)
    out = net.layers[-1]
    z = a @ out.W + out.b
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict_output(X), expected, rtol=1e-10)
    # and only them: other running variances give other predictions
    hidden[0].running_var *= 4.0  # type: ignore[operator]
    assert not np.allclose(net.predict_output(X), expected, rtol=1e-3)


def test_dropout_is_inverted_and_train_only() -> None:
    net = net_for(dtype="float64")
    X = np.random.default_rng(2).standard_normal((2000, 4))
    rng = np.random.default_rng(0)
    net.forward(X, train=True)
    ws = net._ws
    assert ws is not None
    plain = ws.a[0].copy()
    net.forward(X, train=True, rng=rng, keep_prob=0.8)
    mask = ws.mask[0]
    assert mask is not None
    assert set(np.unique(mask)) == {0.0, 1 / 0.8}
    assert (mask > 0).mean() == pytest.approx(0.8, abs=0.02)
    np.testing.assert_allclose(ws.out[0], plain * mask)
    assert ws.out[0].mean() == pytest.approx(plain.mean(), rel=0.05)  # expectation preserved
    # prediction never drops units
    p1 = net.predict_output(X[:10])
    p2 = net.predict_output(X[:10])
    np.testing.assert_array_equal(p1, p2)
    with pytest.raises(EngineError):
        net.forward(X, train=True, keep_prob=0.5)  # no generator, no dropout


def test_dropout_mask_reaches_the_backward_pass() -> None:
    net = net_for(dtype="float64")
    X = np.random.default_rng(3).standard_normal((50, 4))
    Y = loss_for_task("multiclass").targets(np.arange(50) % 3, 3, np.float64)
    net.forward(X, train=True, rng=np.random.default_rng(0), keep_prob=0.5)
    net.backward(Y)
    ws = net._ws
    assert ws is not None and ws.mask[0] is not None
    # gradients into the first layer's pre-activation vanish where units were dropped
    dropped = ws.mask[0] == 0
    assert dropped.any()
    assert np.all(ws.dz[0][dropped] == 0)


def test_input_shape_is_checked() -> None:
    with pytest.raises(EngineError):
        net_for().forward(np.zeros((3, 5)))


def test_pickle_keeps_views_and_predictions() -> None:
    net = net_for(batch_norm=True)
    X = np.random.default_rng(4).standard_normal((7, 4)).astype(np.float32)
    net.forward(X, train=True)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.predict_output(X), net.predict_output(X))
    clone.theta[0] += 1
    assert clone.layers[0].W[0, 0] == clone.theta[0]


def test_zeros_init_never_breaks_symmetry(moons) -> None:  # type: ignore[no-untyped-def]
    for activation in ("relu", "tanh", "sigmoid"):
        config = TrainConfig(
            init="zeros", layers=[6, 6], activation=activation, epochs=5, learning_rate=0.1
        )
        result = train(config, moons)
        assert result.model is not None
        net = result.model.network
        for layer in net.layers[:-1]:
            # every hidden unit has the same incoming weights: they compute one function
            # (equal up to float rounding: BLAS may sum the columns in different orders)
            np.testing.assert_allclose(layer.W, np.repeat(layer.W[:, :1], 6, axis=1), atol=1e-5)
        if activation == "sigmoid":
            # σ(0) = 0.5 ≠ 0, so the weights do move — but all units move in lockstep
            assert np.any(net.layers[0].W != 0) and np.any(net.layers[1].W != 0)
        assert result.metrics["train_accuracy"] < 0.9


def test_he_trains_a_deep_relu_network(moons) -> None:  # type: ignore[no-untyped-def]
    config = TrainConfig(
        init="he", layers=[16] * 6, activation="relu", epochs=25, learning_rate=0.005
    )
    result = train(config, moons)
    assert result.status == "completed"
    assert result.metrics["train_accuracy"] > 0.95
    assert result.metrics["dev_accuracy"] > 0.93
    zero = train(TrainConfig(init="zeros", layers=[16] * 6, epochs=25, learning_rate=0.005), moons)
    assert zero.metrics["train_accuracy"] < result.metrics["train_accuracy"] - 0.1


def test_prediction_runs_in_chunks_with_the_same_result() -> None:
    from engine.network import EVAL_CHUNK

    net = net_for(batch_norm=True, dtype="float64")
    X = np.random.default_rng(5).standard_normal((2 * EVAL_CHUNK + 17, 4))
    net.forward(X[:64], train=True)  # give BN non-trivial running statistics
    whole = net.logits(X)
    assert whole.shape == (X.shape[0], 3)
    assert max(net._workspaces) <= EVAL_CHUNK  # no workspace as large as the set
    pieces = np.vstack([net.logits(X[i : i + 100]) for i in range(0, X.shape[0], 100)])
    np.testing.assert_allclose(whole, pieces, rtol=1e-12)
