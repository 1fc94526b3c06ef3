"""The training loop: ``train(config, splits, reporter, resume_from) -> TrainResult``.

Per epoch: shuffle (one gather into preallocated buffers), run the mini-batches (the last one may
be partial), then record the epoch. ``train_loss``/``train_accuracy`` of an epoch are those of the
forward passes that trained on each example during the epoch (dropout on, BN on batch
statistics) — the course's "cost averaged over the mini-batches" — plus the L2 term at the end of
the epoch. They come from an epoch-wide logits buffer the output layer writes into, so they cost
no extra pass. ``dev_*`` are measured in prediction mode after the epoch, without the L2 term.

Inputs are standardised with training-set statistics (applied to dev and test); regression
targets too, so regression losses are MSEs in units of the training targets' variance (a
constant predictor scores ≈ 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from .checkpoint import TrainingState, load_checkpoint, save_checkpoint
from .config import TrainConfig, validate_mutable
from .datasets import Dataset, Splits, Standardizer
from .diagnosis import Diagnosis, diagnose
from .errors import CheckpointError, ConfigError, DataError, EngineError
from .losses import OutputLoss, loss_for_task
from .network import Network
from .optimizers import Optimizer, make_optimizer, set_hyperparameters
from .schedules import make_schedule

Array = NDArray[Any]


@dataclass
class EpochRecord:
    """One row of the history: the state after the ``epoch``-th pass (1-based) over the data."""

    epoch: int
    train_loss: float
    dev_loss: float
    train_accuracy: float | None
    dev_accuracy: float | None
    learning_rate: float

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copy made every checkpoint (the whole history)
        # cost more than the epoch itself on small networks.
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "dev_loss": self.dev_loss,
            "train_accuracy": self.train_accuracy,
            "dev_accuracy": self.dev_accuracy,
            "learning_rate": self.learning_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        return cls(**data)


@dataclass
class Directive:
    """What a reporter asks for after an epoch (see docs/architecture.md)."""

    set_params: dict[str, Any] = field(default_factory=dict)
    stop: bool = False
    prune: bool = False
    pause: bool = False
    rollback_epoch: int | None = None


@runtime_checkable
class Reporter(Protocol):
    """Receives every epoch and the checkpoints; steers the run with directives."""

    def on_epoch(self, record: EpochRecord) -> Directive | None: ...

    def save_checkpoint(self, epoch: int, blob: bytes) -> None: ...

    def load_checkpoint(self, epoch: int) -> bytes | None: ...

    def wait_while_paused(self) -> Directive | None: ...


def _wants_checkpoint(reporter: Reporter, epoch: int) -> bool:
    """A reporter may define ``wants_checkpoint(epoch) -> bool`` to be asked before each
    checkpoint is built (a snapshot costs time): one that writes checkpoints only now and then
    declines the others. Without it, every ``checkpoint_every``-th epoch is sent."""
    wants = getattr(reporter, "wants_checkpoint", None)
    return True if wants is None else bool(wants(epoch))


class BaseReporter:
    """No-op reporter that keeps checkpoints in memory (``self.checkpoints``: epoch → blob)."""

    def __init__(self) -> None:
        self.checkpoints: dict[int, bytes] = {}

    def on_epoch(self, record: EpochRecord) -> Directive | None:
        return None

    def save_checkpoint(self, epoch: int, blob: bytes) -> None:
        self.checkpoints[epoch] = blob

    def load_checkpoint(self, epoch: int) -> bytes | None:
        """The latest checkpoint taken at or before ``epoch``, or None."""
        eligible = [e for e in self.checkpoints if e <= epoch]
        return self.checkpoints[max(eligible)] if eligible else None

    def wait_while_paused(self) -> Directive | None:
        return None


@dataclass
class Model:
    """A trained network with the preprocessing it was trained with; predicts on raw inputs."""

    network: Network
    x_scaler: Standardizer
    y_scaler: Standardizer | None
    task: str
    n_classes: int

    def _inputs(self, X: Array) -> Array:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.network.sizes[0]:
            raise DataError(
                f"expected X of shape (m, {self.network.sizes[0]}), got {X.shape}", field="X"
            )
        return self.x_scaler.transform(X, self.network.dtype)

    def decision_function(self, X: Array) -> Array:
        """The output layer's logits Z[L] (float64)."""
        return self.network.logits(self._inputs(X)).astype(np.float64)

    def predict_proba(self, X: Array) -> Array:
        """Class probabilities (m, n_classes); for binary tasks column 1 is P(class 1)."""
        if self.task == "regression":
            raise EngineError("predict_proba is for classification tasks")
        out = self.network.predict_output(self._inputs(X)).astype(np.float64)
        if self.task == "binary":
            return np.hstack([1.0 - out, out])
        return out

    def predict(self, X: Array) -> Array:
        """Class labels (0..k-1) or regression values in the original target units."""
        if self.task == "regression":
            out = self.network.predict_output(self._inputs(X))
            assert self.y_scaler is not None
            values = self.y_scaler.inverse(out)
            return values[:, 0] if values.shape[1] == 1 else values
        z = self.decision_function(X)
        if self.task == "binary":
            return (z[:, 0] > 0).astype(np.int64)
        return np.argmax(z, axis=1).astype(np.int64)


@dataclass
class TrainResult:
    """The outcome of ``train``. ``model`` (not serialised) predicts with the final weights."""

    status: str
    history: list[EpochRecord]
    metrics: dict[str, float]
    best_epoch: int | None
    diverged_epoch: int | None
    error: str | None
    diagnosis: Diagnosis | None
    model: Model | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "history": [r.to_dict() for r in self.history],
            "metrics": dict(self.metrics),
            "best_epoch": self.best_epoch,
            "diverged_epoch": self.diverged_epoch,
            "error": self.error,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis is not None else None,
        }


# -- data preparation --------------------------------------------------------------------------


def _check_splits(splits: Splits) -> None:
    if not isinstance(splits, Splits):
        raise DataError("splits must be an engine.Splits", field="splits")
    parts = {"train": splits.train, "dev": splits.dev, "test": splits.test}
    for name, ds in parts.items():
        if not isinstance(ds, Dataset):
            raise DataError(f"{name} must be an engine.Dataset", field=name)
        if len(ds) == 0:
            raise DataError(f"the {name} set is empty", field=name)
    first = splits.train
    for name, ds in parts.items():
        if ds.task != first.task or ds.n_classes != first.n_classes:
            raise DataError(
                f"{name} has task {ds.task}/{ds.n_classes} classes, train has "
                f"{first.task}/{first.n_classes}",
                field=name,
            )
        if ds.n_features != first.n_features:
            raise DataError(
                f"{name} has {ds.n_features} features, train has {first.n_features}", field=name
            )
        if ds.y.shape[1:] != first.y.shape[1:]:
            raise DataError(
                f"{name} targets have shape {ds.y.shape[1:]}, train {first.y.shape[1:]}", field=name
            )


@dataclass
class _Part:
    X: Array
    Y: Array
    labels: Array | None


def _prepare(
    splits: Splits, loss: OutputLoss, dtype: np.dtype[Any]
) -> tuple[dict[str, _Part], Standardizer, Standardizer | None]:
    x_scaler = Standardizer.fit(splits.train.X)
    y_scaler = Standardizer.fit(splits.train.y) if splits.train.task == "regression" else None
    parts: dict[str, _Part] = {}
    for name in ("train", "dev", "test"):
        ds: Dataset = getattr(splits, name)
        y = y_scaler.transform(ds.y) if y_scaler is not None else ds.y
        labels = None if y_scaler is not None else np.ascontiguousarray(ds.y, dtype=np.int64)
        Y = np.ascontiguousarray(loss.targets(y, ds.n_classes, dtype))
        parts[name] = _Part(x_scaler.transform(ds.X, dtype), Y, labels)
    return parts, x_scaler, y_scaler


# -- the run -----------------------------------------------------------------------------------


class _Run:
    """One training run's mutable state and the steps of the loop."""

    def __init__(self, config: TrainConfig, splits: Splits, reporter: Reporter | None) -> None:
        self.config = config
        self.reporter = reporter
        self.dtype = np.dtype(config.dtype)
        self.loss = loss_for_task(splits.train.task)
        self.parts, self.x_scaler, self.y_scaler = _prepare(splits, self.loss, self.dtype)
        self.task = splits.train.task
        self.n_classes = splits.train.n_classes
        train = self.parts["train"]
        self.rng = np.random.default_rng(config.seed)
        self.net = Network(
            train.X.shape[1],
            config.hidden_layers,
            train.Y.shape[1],
            self.loss,
            activation=config.activation,
            leaky_slope=config.leaky_slope,
            batch_norm=config.batch_norm,
            dtype=self.dtype,
        )
        self.net.initialize(config.init, self.rng)
        self.opt: Optimizer = make_optimizer(
            config.optimizer,
            self.net.size,
            self.dtype,
            beta=config.beta,
            beta1=config.beta1,
            beta2=config.beta2,
            epsilon=config.epsilon,
        )
        self.params: dict[str, Any] = config.mutable_params()
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self.best_epoch: int | None = None
        self.best_loss: float | None = None
        self.bad_epochs = 0
        self.patience = config.early_stopping_patience
        self.best_theta = np.empty_like(self.net.theta) if self.patience else None
        self.best_bn = np.empty_like(self.net.bn_state) if self.patience else None

        # epoch buffers: the shuffled data and the logits the output layer writes per batch;
        # the per-batch views are built once so a step is only forward, backward, update
        m = train.X.shape[0]
        self.m = m
        self.Xs = np.empty_like(train.X)
        self.Ys = np.empty_like(train.Y)
        self.logits = np.empty((m, train.Y.shape[1]), dtype=self.dtype)
        self.eval_logits = {
            name: np.empty((part.X.shape[0], part.Y.shape[1]), dtype=self.dtype)
            for name, part in self.parts.items()
        }
        bs = config.batch_size
        self.batches = [
            (self.Xs[a : a + bs], self.Ys[a : a + bs], self.logits[a : a + bs])
            for a in range(0, m, bs)
        ]

    # -- checkpoints ---------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "sizes": list(self.net.sizes),
            "batch_norm": self.net.batch_norm,
            "dtype": self.dtype.name,
            "optimizer": self.opt.name,
            "task": self.task,
        }

    def snapshot(self) -> bytes:
        return save_checkpoint(
            TrainingState(
                epoch=self.epoch,
                theta=self.net.theta,
                bn_state=self.net.bn_state,
                optimizer=self.opt.state_dict(),
                rng_state=dict(self.rng.bit_generator.state),
                params=dict(self.params),
                history=[r.to_dict() for r in self.history],
                fingerprint=self._fingerprint(),
                best_epoch=self.best_epoch,
                best_loss=self.best_loss,
                bad_epochs=self.bad_epochs,
                best_theta=self.best_theta if self.best_epoch is not None else None,
                best_bn_state=self.best_bn if self.best_epoch is not None else None,
            )
        )

    def restore(self, blob: bytes) -> None:
        state = load_checkpoint(blob)
        if state.fingerprint != self._fingerprint():
            raise CheckpointError(
                f"checkpoint is for {state.fingerprint}, this run is {self._fingerprint()}",
                field="resume_from",
            )
        self.net.theta[...] = state.theta
        self.net.bn_state[...] = state.bn_state
        self.opt.load_state_dict(state.optimizer)
        self.rng.bit_generator.state = state.rng_state
        self.params = {**self.config.mutable_params(), **validate_mutable(state.params)}
        self.history = [EpochRecord.from_dict(r) for r in state.history]
        self.epoch = state.epoch
        self.best_epoch = state.best_epoch
        self.best_loss = state.best_loss
        self.bad_epochs = state.bad_epochs
        have_best = self.best_theta is not None and self.best_bn is not None
        if have_best and state.best_theta is not None and state.best_bn_state is not None:
            assert self.best_theta is not None and self.best_bn is not None
            self.best_theta[...] = state.best_theta
            self.best_bn[...] = state.best_bn_state

    # -- one epoch -----------------------------------------------------------------------------

    def run_epoch(self) -> EpochRecord:
        hp = self.params
        lr = make_schedule(hp["decay"], hp["decay_rate"], hp["decay_interval"])(
            hp["learning_rate"], self.epoch
        )
        set_hyperparameters(self.opt, hp)
        keep_prob, l2 = float(hp["keep_prob"]), float(hp["l2"])
        net, opt, rng, m = self.net, self.opt, self.rng, self.m
        train = self.parts["train"]
        perm = rng.permutation(m)
        np.take(train.X, perm, axis=0, out=self.Xs)
        np.take(train.Y, perm, axis=0, out=self.Ys)
        theta, grad = net.theta, net.grad
        for xb, yb, zb in self.batches:
            net.forward(xb, train=True, rng=rng, keep_prob=keep_prob, logits_out=zb)
            net.backward(yb, l2=l2, m_total=m)
            opt.step(theta, grad, lr)
        train_loss = self.loss.loss(self.logits, self.Ys) + net.l2_cost(l2, m)
        train_acc = (
            self.loss.accuracy(self.logits, train.labels[perm])
            if train.labels is not None
            else None
        )
        dev_loss, dev_acc = self.evaluate("dev")
        return EpochRecord(self.epoch + 1, train_loss, dev_loss, train_acc, dev_acc, float(lr))

    def evaluate(self, name: str) -> tuple[float, float | None]:
        """Data loss and accuracy of one split in prediction mode."""
        part = self.parts[name]
        z = self.net.logits_into(part.X, self.eval_logits[name])
        acc = self.loss.accuracy(z, part.labels) if part.labels is not None else None
        return self.loss.loss(z, part.Y), acc

    # -- directives ----------------------------------------------------------------------------

    def apply(self, directive: Directive | None) -> str | None:
        """Carry out a directive; returns "stopped"/"pruned" when the run must end."""
        while directive is not None:
            if directive.rollback_epoch is not None:
                blob = (
                    self.reporter.load_checkpoint(directive.rollback_epoch)
                    if self.reporter
                    else None
                )
                if blob is None:
                    raise EngineError(
                        f"no checkpoint at or before epoch {directive.rollback_epoch}",
                        field="rollback_epoch",
                    )
                self.restore(blob)
            if directive.set_params:
                self.params.update(validate_mutable(directive.set_params))
            if directive.stop:
                return "stopped"
            if directive.prune:
                return "pruned"
            if not directive.pause:
                return None
            assert self.reporter is not None
            directive = self.reporter.wait_while_paused()
        return None

    def track_best(self, record: EpochRecord) -> None:
        if self.best_loss is None or record.dev_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = record.dev_loss, record.epoch, 0
            if self.best_theta is not None and self.best_bn is not None:
                np.copyto(self.best_theta, self.net.theta)
                np.copyto(self.best_bn, self.net.bn_state)
        else:
            self.bad_epochs += 1

    def patience_exhausted(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    # -- the loop --------------------------------------------------------------------------------

    def execute(self, resume_from: bytes | None) -> TrainResult:
        if resume_from is not None:
            self.restore(resume_from)
        elif self.reporter is not None:
            # epoch 0 (the initial weights) so that any rollback has somewhere to land
            self.reporter.save_checkpoint(0, self.snapshot())
        status = "completed"
        # patience is checked before each epoch, so a run resumed from the checkpoint of the
        # epoch that exhausted it stops exactly as the uninterrupted run did
        while self.epoch < self.config.epochs and not self.patience_exhausted():
            record = self.run_epoch()
            if not (math.isfinite(record.train_loss) and math.isfinite(record.dev_loss)):
                return self.diverged(record)
            self.history.append(record)
            self.epoch = record.epoch
            self.track_best(record)
            if self.reporter is not None:
                if self.epoch % self.config.checkpoint_every == 0 and _wants_checkpoint(
                    self.reporter, self.epoch
                ):
                    self.reporter.save_checkpoint(self.epoch, self.snapshot())
                outcome = self.apply(self.reporter.on_epoch(record))
                if outcome is not None:
                    status = outcome
                    break
        restore_best = status == "completed" and self.best_epoch is not None
        if restore_best and self.best_theta is not None and self.best_bn is not None:
            self.net.theta[...] = self.best_theta
            self.net.bn_state[...] = self.best_bn
        return self.finish(status)

    def diverged(self, record: EpochRecord) -> TrainResult:
        which = "train" if not math.isfinite(record.train_loss) else "dev"
        value = record.train_loss if which == "train" else record.dev_loss
        return TrainResult(
            status="diverged",
            history=self.history,
            metrics={},
            best_epoch=self.best_epoch,
            diverged_epoch=record.epoch,
            error=f"training diverged at epoch {record.epoch}: {which} loss is {value}",
            diagnosis=None,
        )

    def finish(self, status: str) -> TrainResult:
        metrics: dict[str, float] = {}
        for name in ("train", "dev", "test"):
            loss, acc = self.evaluate(name)
            metrics[f"{name}_loss"] = loss
            if acc is not None:
                metrics[f"{name}_accuracy"] = acc
            metrics[f"{name}_error"] = 1.0 - acc if acc is not None else loss
        diagnosis = diagnose(
            metrics["train_error"], metrics["dev_error"], self.config.human_level_error
        )
        reason = {"stopped": "stopped by request", "pruned": "pruned by the reporter"}.get(status)
        return TrainResult(
            status=status,
            history=self.history,
            metrics=metrics,
            best_epoch=self.best_epoch,
            diverged_epoch=None,
            error=reason,
            diagnosis=diagnosis,
            model=Model(self.net, self.x_scaler, self.y_scaler, self.task, self.n_classes),
        )


def train(
    config: TrainConfig,
    splits: Splits,
    reporter: Reporter | None = None,
    resume_from: bytes | None = None,
) -> TrainResult:
    """Train a network for ``config`` on ``splits``; see the module docstring.

    Never raises for a diverging run (NaN/inf loss → ``status="diverged"``); raises
    ``EngineError`` (ConfigError, DataError, CheckpointError) only for invalid input.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError("config must be an engine.TrainConfig", field="config")
    _check_splits(splits)
    # a diverging run overflows on purpose; its NaNs are reported through the status
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        run = _Run(config, splits, reporter)
        return run.execute(resume_from)
