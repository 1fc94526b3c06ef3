from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest

from engine import (
    BaseReporter,
    CheckpointError,
    ConfigError,
    DataError,
    Dataset,
    Directive,
    EpochRecord,
    Network,
    Reporter,
    Splits,
    TrainConfig,
    gradient_check,
    load_checkpoint,
    save_checkpoint,
    train,
)
from engine import training as training_module
from engine.optimizers import Optimizer

FAST = {"layers": [8, 8], "epochs": 6, "batch_size": 32}


def histories(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r.to_dict() for r in result.history]


class Scripted(BaseReporter):
    """Returns the scripted directive after the given epochs and records every call."""

    def __init__(self, script: dict[int, Directive], on_resume: Directive | None = None) -> None:
        super().__init__()
        self.script = script
        self.on_resume = on_resume
        self.records: list[EpochRecord] = []
        self.saved: list[int] = []
        self.loaded: list[int] = []
        self.paused = 0

    def on_epoch(self, record: EpochRecord) -> Directive | None:
        self.records.append(record)
        return self.script.pop(record.epoch, None)

    def save_checkpoint(self, epoch: int, blob: bytes) -> None:
        self.saved.append(epoch)
        super().save_checkpoint(epoch, blob)

    def load_checkpoint(self, epoch: int) -> bytes | None:
        self.loaded.append(epoch)
        return super().load_checkpoint(epoch)

    def wait_while_paused(self) -> Directive | None:
        self.paused += 1
        return self.on_resume


def test_history_and_metrics(iris: Splits) -> None:
    result = train(TrainConfig(**FAST), iris)
    assert result.status == "completed" and result.error is None
    assert [r.epoch for r in result.history] == list(range(1, 7))
    first = result.history[0]
    assert 0 <= first.train_accuracy <= 1 and 0 <= first.dev_accuracy <= 1  # type: ignore[operator]
    assert result.history[-1].train_loss < first.train_loss
    for key in ("train_loss", "dev_loss", "test_loss", "train_accuracy", "dev_accuracy",
                "test_accuracy", "train_error", "dev_error"):  # fmt: skip
        assert key in result.metrics
    assert result.metrics["dev_error"] == pytest.approx(1 - result.metrics["dev_accuracy"])
    assert result.diagnosis is not None
    assert result.diagnosis.train_error == result.metrics["train_error"]
    json.dumps(result.to_dict())  # the service stores it as JSON


def test_regression_task(diabetes: Splits) -> None:
    result = train(TrainConfig(layers=[16], epochs=15, learning_rate=0.01), diabetes)
    assert result.status == "completed"
    assert result.history[0].train_accuracy is None and "dev_accuracy" not in result.metrics
    assert result.metrics["dev_error"] == result.metrics["dev_loss"]
    # standardised targets: a constant predictor scores ~1; a trained net does better
    assert result.metrics["dev_loss"] < 0.8
    assert result.model is not None
    pred = result.model.predict(diabetes.test.X)
    mse = float(np.mean((pred - diabetes.test.y) ** 2))
    assert mse / diabetes.train.y.var() == pytest.approx(result.metrics["test_loss"], rel=0.05)


def test_same_seed_is_bit_identical_and_seed_matters(moons: Splits) -> None:
    config = TrainConfig(**FAST, keep_prob=0.8, batch_norm=True, seed=3)
    a, b = train(config, moons), train(config, moons)
    assert histories(a) == histories(b)
    assert a.metrics == b.metrics
    c = train(TrainConfig(**FAST, keep_prob=0.8, batch_norm=True, seed=4), moons)
    assert histories(c) != histories(a)


def test_float64_and_float32_agree_roughly(moons: Splits) -> None:
    a = train(TrainConfig(**FAST, dtype="float32"), moons)
    b = train(TrainConfig(**FAST, dtype="float64"), moons)
    assert a.model is not None and a.model.network.theta.dtype == np.float32
    assert b.model is not None and b.model.network.theta.dtype == np.float64
    assert a.history[-1].dev_loss == pytest.approx(b.history[-1].dev_loss, rel=1e-3)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_learns(moons: Splits, optimizer: str) -> None:
    lr = {"gd": 0.5, "momentum": 0.5, "rmsprop": 0.01, "adam": 0.01}[optimizer]
    result = train(TrainConfig(layers=[8], epochs=8, optimizer=optimizer, learning_rate=lr), moons)
    assert result.history[-1].train_loss < 0.75 * result.history[0].train_loss
    assert result.metrics["dev_accuracy"] > 0.8


def test_l2_shrinks_weights_and_adds_its_cost(moons: Splits) -> None:
    plain = train(TrainConfig(**FAST), moons)
    strong = train(TrainConfig(**FAST, l2=50.0), moons)
    assert plain.model is not None and strong.model is not None
    w_plain = plain.model.network.theta[: plain.model.network.n_weights]
    w_strong = strong.model.network.theta[: strong.model.network.n_weights]
    assert np.linalg.norm(w_strong) < 0.7 * np.linalg.norm(w_plain)
    # train_loss includes λ/(2m)·ΣW²; the final (data-only) train_loss does not
    last = strong.history[-1]
    assert last.train_loss > strong.metrics["train_loss"]


def test_early_stopping_restores_the_best_weights(moons: Splits) -> None:
    small = Splits(moons.train.subset(np.arange(40)), moons.dev, moons.test)
    config = TrainConfig(layers=[64, 64], epochs=200, learning_rate=0.02, early_stopping_patience=3)
    result = train(config, small)
    assert result.status == "completed"
    dev = [r.dev_loss for r in result.history]
    assert len(dev) < 200
    assert result.best_epoch == int(np.argmin(dev)) + 1
    assert len(dev) == result.best_epoch + 3
    # the final metrics are those of the best epoch's weights, not the last ones
    assert result.metrics["dev_loss"] == pytest.approx(min(dev), rel=1e-6)
    assert result.metrics["dev_loss"] < dev[-1]


def test_divergence_is_a_status_not_an_exception(moons: Splits) -> None:
    config = TrainConfig(layers=[8], epochs=10, optimizer="gd", learning_rate=1e6)
    result = train(config, moons)
    assert result.status == "diverged"
    assert result.diverged_epoch is not None and 1 <= result.diverged_epoch <= 10
    assert len(result.history) == result.diverged_epoch - 1
    assert result.error is not None and "diverged" in result.error
    assert all(math.isfinite(r.train_loss) for r in result.history)
    json.dumps(result.to_dict())


def test_invalid_input_raises_engine_errors(moons: Splits, iris: Splits) -> None:
    with pytest.raises(DataError):
        train(TrainConfig(**FAST), Splits(moons.train, iris.dev, moons.test))
    with pytest.raises(ConfigError):
        train({"epochs": 3}, moons)  # type: ignore[arg-type]
    with pytest.raises(DataError):
        train(TrainConfig(**FAST), Splits(moons.train, moons.dev, moons.test.subset(np.arange(0))))


# -- reporter directives -------------------------------------------------------------------------


def test_base_reporter_satisfies_the_protocol() -> None:
    assert isinstance(BaseReporter(), Reporter)
    rep = BaseReporter()
    rep.save_checkpoint(2, b"two")
    rep.save_checkpoint(4, b"four")
    assert rep.load_checkpoint(3) == b"two" and rep.load_checkpoint(9) == b"four"
    assert rep.load_checkpoint(1) is None


def test_reporter_sees_every_epoch_and_checkpoints(moons: Splits) -> None:
    rep = Scripted({})
    result = train(TrainConfig(**FAST, checkpoint_every=2), moons, rep)
    assert [r.epoch for r in rep.records] == [1, 2, 3, 4, 5, 6]
    assert rep.records == result.history
    assert rep.saved == [0, 2, 4, 6]  # 0 = the initial weights, so rollback can always land


def test_a_reporter_may_decline_checkpoints_before_they_are_built(moons: Splits) -> None:
    class Choosy(Scripted):
        def __init__(self) -> None:
            super().__init__({})
            self.asked: list[int] = []

        def wants_checkpoint(self, epoch: int) -> bool:
            self.asked.append(epoch)
            return epoch == 3

    rep = Choosy()
    result = train(TrainConfig(**FAST), moons, rep)
    assert rep.asked == [1, 2, 3, 4, 5, 6]
    assert rep.saved == [0, 3]  # epoch 0 always: a rollback needs somewhere to land
    assert len(result.history) == 6


def test_set_params_applies_from_the_next_epoch(moons: Splits) -> None:
    rep = Scripted({2: Directive(set_params={"learning_rate": 0.001, "keep_prob": 0.9})})
    result = train(TrainConfig(**FAST, learning_rate=0.01), moons, rep)
    assert [r.learning_rate for r in result.history] == pytest.approx([0.01, 0.01] + [0.001] * 4)


def test_set_params_rejects_immutable_names(moons: Splits) -> None:
    rep = Scripted({1: Directive(set_params={"batch_size": 8})})
    with pytest.raises(ConfigError) as info:
        train(TrainConfig(**FAST), moons, rep)
    assert info.value.field == "batch_size"


@pytest.mark.parametrize(("directive", "status"), [(Directive(stop=True), "stopped"),
                                                   (Directive(prune=True), "pruned")])  # fmt: skip
def test_stop_and_prune(moons: Splits, directive: Directive, status: str) -> None:
    result = train(TrainConfig(**FAST), moons, Scripted({3: directive}))
    assert result.status == status
    assert len(result.history) == 3
    assert result.error and result.metrics["dev_accuracy"] > 0


def test_pause_waits_then_applies_the_resume_directive(moons: Splits) -> None:
    rep = Scripted(
        {2: Directive(pause=True)}, on_resume=Directive(set_params={"learning_rate": 0.5})
    )
    result = train(TrainConfig(**FAST, learning_rate=0.01), moons, rep)
    assert rep.paused == 1
    assert result.history[2].learning_rate == 0.5
    assert result.status == "completed"
    stopped = train(
        TrainConfig(**FAST), moons, Scripted({2: Directive(pause=True)}, Directive(stop=True))
    )
    assert stopped.status == "stopped" and len(stopped.history) == 2


def test_rollback_restores_and_replays_identically(moons: Splits) -> None:
    config = TrainConfig(**FAST, keep_prob=0.8, batch_norm=True)
    straight = train(config, moons)
    rep = Scripted({5: Directive(rollback_epoch=3)})
    result = train(config, moons, rep)
    assert rep.loaded == [3]
    # after rolling back to the end of epoch 3 the run continues to `epochs`, replaying 4..6
    assert [r.epoch for r in rep.records] == [1, 2, 3, 4, 5, 4, 5, 6]
    assert histories(result) == histories(straight)
    with pytest.raises(Exception, match="no checkpoint"):
        train(config, moons, Scripted({2: Directive(rollback_epoch=-1)}))


def test_rollback_with_new_params_changes_the_replay(moons: Splits) -> None:
    rep = Scripted({4: Directive(rollback_epoch=2, set_params={"learning_rate": 0.002})})
    result = train(TrainConfig(**FAST, learning_rate=0.01), moons, rep)
    assert [r.learning_rate for r in result.history] == pytest.approx([0.01, 0.01] + [0.002] * 4)


# Every mutable hyperparameter (config.MUTABLE_PARAMS) changed by a reporter after epoch K, with
# the optimiser and base config it matters for: (optimizer, set_params, extra config).
MID_RUN_CHANGES = [
    pytest.param("momentum", {"beta": 0.5}, {}, id="beta"),
    pytest.param("adam", {"beta1": 0.5}, {}, id="beta1"),
    pytest.param("adam", {"beta2": 0.9}, {}, id="beta2-adam"),
    pytest.param("rmsprop", {"beta2": 0.9}, {}, id="beta2-rmsprop"),
    pytest.param("adam", {"epsilon": 1e-2}, {}, id="epsilon"),
    pytest.param("adam", {"l2": 5.0}, {}, id="l2"),
    pytest.param("adam", {"keep_prob": 0.7}, {}, id="keep_prob-on"),
    pytest.param("adam", {"keep_prob": 0.9}, {"keep_prob": 0.7}, id="keep_prob-changed"),
    pytest.param("gd", {"learning_rate": 0.5}, {}, id="learning_rate"),
    pytest.param("adam", {"decay": "exponential", "decay_rate": 0.5}, {}, id="decay"),
    pytest.param("adam", {"decay_rate": 2.0}, {"decay": "inverse_time"}, id="decay_rate"),
    pytest.param("adam", {"decay_interval": 1}, {"decay": "staircase"}, id="decay_interval"),
]
OPTIMIZER_ATTRIBUTES = ("beta", "beta1", "beta2", "epsilon")
K = 3  # the directive comes after epoch K of FAST's 6


def test_mid_run_changes_cover_every_mutable_parameter() -> None:
    from engine import MUTABLE_PARAMS

    covered = {name for case in MID_RUN_CHANGES for name in case.values[1]}  # type: ignore[union-attr]
    assert covered == MUTABLE_PARAMS


@pytest.mark.parametrize(("optimizer", "change", "base"), MID_RUN_CHANGES)
def test_set_params_takes_effect_exactly_from_the_next_epoch(
    moons: Splits, monkeypatch: pytest.MonkeyPatch, optimizer: str, change: dict, base: dict
) -> None:
    """A run told ``set_params`` after epoch K has the history of a run restored from the
    epoch-K checkpoint whose *config* holds the new values.

    A checkpoint carries the mutable hyperparameters in force (they win over the config on
    resume, so a resumed run keeps earlier mid-run changes); they are removed from the epoch-K
    checkpoint here so the resumed run takes the new values from its config, i.e. through the
    same path as a run configured that way from the start.
    """
    made: list[Optimizer] = []
    original = training_module.make_optimizer

    def spy(*args, **kwargs) -> Optimizer:  # type: ignore[no-untyped-def]
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(training_module, "make_optimizer", spy)
    watched = [name for name in change if name in OPTIMIZER_ATTRIBUTES]

    class Watch(Scripted):
        """Records, at each epoch's end, the optimiser attributes that epoch trained with."""

        def __init__(self) -> None:
            super().__init__({K: Directive(set_params=dict(change))})
            self.seen: list[dict[str, float]] = []

        def on_epoch(self, record: EpochRecord) -> Directive | None:
            self.seen.append({name: getattr(made[-1], name) for name in watched})
            return super().on_epoch(record)

    config = TrainConfig(**FAST, optimizer=optimizer, **base)
    plain = BaseReporter()
    straight = train(config, moons, plain)
    watch = Watch()
    changed = train(config, moons, watch)

    state = load_checkpoint(plain.checkpoints[K])
    assert state.epoch == K
    for name in change:
        del state.params[name]
    restored = train(config.with_params(change), moons, resume_from=save_checkpoint(state))

    assert histories(changed) == histories(restored)
    # epochs 1..K ran with the old values, every later one differs from the unchanged run
    assert histories(changed)[:K] == histories(straight)[:K]
    later = zip(histories(changed)[K:], histories(straight)[K:], strict=True)
    assert all(a["train_loss"] != b["train_loss"] for a, b in later)
    for name in watched:
        old, new = getattr(config, name), change[name]
        assert old != new
        assert [seen[name] for seen in watch.seen] == [old] * K + [new] * (6 - K)
        assert getattr(made[-1], name) == new  # the restored run's optimiser has it too


def test_every_epoch_is_reshuffled_reproducibly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mini-batches of each epoch cover every example once, in a new order every epoch,
    and the orders depend on the seed alone."""
    m, bs = 50, 16
    rng = np.random.default_rng(0)
    # feature 0 is the example's index; standardising keeps its order, so ranks recover it
    X = np.column_stack([np.arange(m, dtype=np.float64), rng.standard_normal(m)])
    train_set = Dataset(X, rng.integers(0, 2, m), "binary", 2)
    dev = Dataset(rng.standard_normal((10, 2)), rng.integers(0, 2, 10), "binary", 2)
    splits = Splits(train_set, dev, dev)

    batches: list[np.ndarray] = []
    forward = Network.forward

    def spy(self, x, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("train"):
            batches.append(np.array(x[:, 0]))
        return forward(self, x, **kwargs)

    monkeypatch.setattr(Network, "forward", spy)

    def orders(seed: int) -> list[list[int]]:
        batches.clear()
        train(TrainConfig(layers=[4], epochs=4, batch_size=bs, seed=seed), splits)
        assert [len(b) for b in batches] == [16, 16, 16, 2] * 4  # the last batch is partial
        out = []
        for e in range(4):
            column = np.concatenate(batches[4 * e : 4 * e + 4])
            out.append(np.argsort(np.argsort(column)).tolist())
        return out

    first = orders(seed=5)
    for order in first:
        assert sorted(order) == list(range(m))  # every example exactly once per epoch
        assert order != list(range(m))
    assert len({tuple(order) for order in first}) == 4  # a new order every epoch
    assert orders(seed=5) == first
    assert orders(seed=6) != first


def test_leaky_slope_reaches_the_network(moons: Splits) -> None:
    config = TrainConfig(
        layers=[6, 4], epochs=2, activation="leaky_relu", leaky_slope=0.2, dtype="float64"
    )
    result = train(config, moons)
    default = train(config.with_params({"leaky_slope": 0.01}), moons)
    assert histories(result) != histories(default)
    assert result.model is not None
    net = result.model.network
    assert net.activation.slope == 0.2  # type: ignore[attr-defined]
    X = result.model.x_scaler.transform(moons.test.X[:20])

    # the forward pass is g(z) = z for z > 0 and 0.2·z otherwise, by hand
    a = X
    for layer in net.layers[:-1]:
        z = a @ layer.W + layer.b
        assert np.any(z < 0)
        a = np.where(z > 0, z, 0.2 * z)
    np.testing.assert_allclose(net.logits(X), a @ net.layers[-1].W + net.layers[-1].b, rtol=1e-12)
    # the same weights under the default slope give other outputs
    other = Network(2, [6, 4], 1, net.output, activation="leaky_relu", dtype="float64")
    other.theta[...] = net.theta
    assert np.max(np.abs(other.logits(X) - net.logits(X))) > 1e-3

    # and the backward pass uses the same slope as the forward one
    Y = net.output.targets(moons.test.y[:20], 2, np.float64)
    check = gradient_check(net, X, Y, l2=0.1)
    assert check.difference < 1e-7, check.per_parameter
    mismatched = gradient_check(other, X, Y, l2=0.1)
    assert mismatched.analytic.shape == check.analytic.shape
    assert not np.allclose(mismatched.analytic, check.analytic)


def test_train_leaves_the_global_numpy_rng_alone(moons: Splits) -> None:
    config = TrainConfig(**FAST, init="random", keep_prob=0.8, batch_norm=True)
    np.random.seed(1234)
    name, key, pos, has_gauss, gauss = np.random.get_state()
    first = train(config, moons)
    after = np.random.get_state()
    assert (after[0], after[2], after[3], after[4]) == (name, pos, has_gauss, gauss)
    np.testing.assert_array_equal(after[1], key)
    # nor does the run read it: another global seed gives the same history
    np.random.seed(99)
    assert histories(train(config, moons)) == histories(first)


# -- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_resume_from_a_checkpoint_is_bit_identical(moons: Splits, optimizer: str) -> None:
    config = TrainConfig(
        **FAST, optimizer=optimizer, keep_prob=0.8, batch_norm=True, early_stopping_patience=50
    )
    rep = BaseReporter()
    straight = train(config, moons, rep)
    resumed = train(config, moons, resume_from=rep.checkpoints[3])
    assert histories(resumed) == histories(straight)
    assert resumed.metrics == straight.metrics
    assert resumed.best_epoch == straight.best_epoch


def test_checkpoint_is_a_plain_npz_with_the_full_state(moons: Splits) -> None:
    rep = Scripted({2: Directive(set_params={"learning_rate": 0.003})})
    train(TrainConfig(**FAST, optimizer="adam", batch_norm=True), moons, rep)
    blob = rep.checkpoints[4]
    assert zipfile.is_zipfile(io.BytesIO(blob))
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        assert {"theta", "bn_state", "opt_m", "opt_s", "opt_t", "meta"} <= set(archive.files)
    state = load_checkpoint(blob)
    assert state.epoch == 4 and len(state.history) == 4
    assert state.params["learning_rate"] == 0.003
    assert int(state.optimizer["t"]) == 4 * 19  # 600 examples / 32 = 19 steps per epoch
    assert state.rng_state["bit_generator"] == "PCG64"
    assert np.any(state.bn_state != 0)


def test_bad_checkpoints_are_refused(moons: Splits, iris: Splits) -> None:
    rep = BaseReporter()
    train(TrainConfig(**FAST), moons, rep)
    with pytest.raises(CheckpointError):
        train(TrainConfig(**FAST), iris, resume_from=rep.checkpoints[2])
    with pytest.raises(CheckpointError):
        train(TrainConfig(**FAST), moons, resume_from=b"garbage")


def test_model_predictions_match_the_reported_metrics(iris: Splits) -> None:
    result = train(TrainConfig(**FAST), iris)
    assert result.model is not None
    labels = result.model.predict(iris.test.X)
    assert np.mean(labels == iris.test.y) == pytest.approx(result.metrics["test_accuracy"])
    proba = result.model.predict_proba(iris.test.X)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), labels)
    with pytest.raises(DataError):
        result.model.predict(iris.test.X[:, :2])


def test_resume_after_early_stopping_stops_at_once(moons: Splits) -> None:
    small = Splits(moons.train.subset(np.arange(40)), moons.dev, moons.test)
    config = TrainConfig(layers=[64, 64], epochs=200, learning_rate=0.02, early_stopping_patience=3)
    rep = BaseReporter()
    straight = train(config, small, rep)
    last = straight.history[-1].epoch
    resumed = train(config, small, resume_from=rep.checkpoints[last])
    assert histories(resumed) == histories(straight)
    assert resumed.metrics == straight.metrics
