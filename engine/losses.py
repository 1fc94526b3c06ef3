"""Output layers paired with their losses, one class per task.

Pairing the output activation with its loss gives the short, stable gradient
``dZ = ∂J/∂Z`` at the output (``(A − Y)/m`` for both cross-entropies), and lets the loss be
computed from the logits ``Z`` so it never takes ``log(0)``.

Shapes: ``Z``, ``A`` and the target matrix ``Y`` are ``(m, n_outputs)``; ``labels`` are the
integer classes ``(m,)`` used for accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from .errors import ConfigError

Array = NDArray[Any]


class OutputLoss:
    """Base class of an output activation + loss pair."""

    name = ""
    task = ""

    def n_outputs(self, n_classes: int, y: Array) -> int:
        raise NotImplementedError

    def targets(self, y: Array, n_classes: int, dtype: np.dtype[Any]) -> Array:
        """The target matrix Y for the labels/values ``y``."""
        raise NotImplementedError

    def activate(self, z: Array, out: Array) -> Array:
        """A = output activation of Z, written to ``out`` (or Z itself for a linear output)."""
        raise NotImplementedError

    def loss(self, z: Array, y: Array) -> float:
        """J = mean over the m rows of the per-example loss, from logits Z."""
        raise NotImplementedError

    def delta(self, a: Array, y: Array, out: Array) -> Array:
        """dZ = ∂J/∂Z for the mean loss J over the rows of ``a``."""
        np.subtract(a, y, out=out)
        out *= 1.0 / a.shape[0]
        return out

    def accuracy(self, z: Array, labels: Array) -> float | None:
        """Fraction of rows whose predicted class equals ``labels``; None for regression."""
        return None


class BinaryCrossEntropy(OutputLoss):
    """Sigmoid output, J = −(1/m) Σ [y log a + (1 − y) log(1 − a)], a = σ(z).

    From logits: per-example loss = max(z, 0) − z·y + log(1 + e^(−|z|)), which never overflows.
    dZ = (A − Y) / m.
    """

    name = "sigmoid_binary_cross_entropy"
    task = "binary"

    def n_outputs(self, n_classes: int, y: Array) -> int:
        return 1

    def targets(self, y: Array, n_classes: int, dtype: np.dtype[Any]) -> Array:
        return np.asarray(y, dtype=dtype).reshape(-1, 1)

    def activate(self, z: Array, out: Array) -> Array:
        result: Array = expit(z, out=out)
        return result

    def loss(self, z: Array, y: Array) -> float:
        per = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return float(np.mean(per))

    def accuracy(self, z: Array, labels: Array) -> float | None:
        # z > 0  <=>  σ(z) > 0.5, without computing σ
        return float(np.mean((z[:, 0] > 0) == (labels > 0.5)))


class SoftmaxCrossEntropy(OutputLoss):
    """Softmax output, J = −(1/m) Σ_i Σ_k y_ik log a_ik, a_i = softmax(z_i).

    From logits: per-example loss = logsumexp(z_i) − Σ_k y_ik z_ik, with the row maximum
    subtracted before exp. dZ = (A − Y) / m.
    """

    name = "softmax_cross_entropy"
    task = "multiclass"

    def n_outputs(self, n_classes: int, y: Array) -> int:
        return n_classes

    def targets(self, y: Array, n_classes: int, dtype: np.dtype[Any]) -> Array:
        labels = np.asarray(y).astype(np.intp)
        out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
        out[np.arange(labels.shape[0]), labels] = 1
        return out

    def activate(self, z: Array, out: Array) -> Array:
        # subtracting the row max changes nothing mathematically and keeps exp from overflowing
        np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def loss(self, z: Array, y: Array) -> float:
        zmax = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
        return float(np.mean(lse - (z * y).sum(axis=1)))

    def accuracy(self, z: Array, labels: Array) -> float | None:
        return float(np.mean(np.argmax(z, axis=1) == labels))


class MeanSquaredError(OutputLoss):
    """Linear output a = z, J = (1/m) Σ_i (1/k) Σ_j (a_ij − y_ij)² (k outputs).

    dZ = 2(A − Y) / (m·k).
    """

    name = "linear_mean_squared_error"
    task = "regression"

    def n_outputs(self, n_classes: int, y: Array) -> int:
        return 1 if np.ndim(y) == 1 else int(np.shape(y)[1])

    def targets(self, y: Array, n_classes: int, dtype: np.dtype[Any]) -> Array:
        arr = np.asarray(y, dtype=dtype)
        return arr.reshape(-1, 1) if arr.ndim == 1 else arr

    def activate(self, z: Array, out: Array) -> Array:
        return z

    def loss(self, z: Array, y: Array) -> float:
        return float(np.mean(np.square(z - y)))

    def delta(self, a: Array, y: Array, out: Array) -> Array:
        np.subtract(a, y, out=out)
        out *= 2.0 / (a.shape[0] * a.shape[1])
        return out


def loss_for_task(task: str) -> OutputLoss:
    """The output/loss pair for a dataset task (binary, multiclass, regression)."""
    if task == "binary":
        return BinaryCrossEntropy()
    if task == "multiclass":
        return SoftmaxCrossEntropy()
    if task == "regression":
        return MeanSquaredError()
    raise ConfigError(f"unknown task {task!r}", field="task")
