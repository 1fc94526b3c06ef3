"""Parameter-update rules, one class per rule.

Each optimiser works on the network's whole flat parameter vector θ and gradient g at once
(every layer's W, b, γ, β are views into those two buffers), so one step is a handful of
in-place whole-buffer ufunc calls however deep the network is. Moments are flat buffers too.
Hyperparameters are plain attributes so a reporter can change them between epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import CheckpointError, ConfigError

Array = NDArray[Any]


class Optimizer:
    """Base class: ``step(theta, grad, lr)`` updates θ in place; ``t`` counts steps taken."""

    name = ""
    _moments: tuple[str, ...] = ()

    def __init__(self, size: int, dtype: np.dtype[Any] | type = np.float32) -> None:
        self.t = 0
        self._tmp = np.empty(size, dtype=dtype)
        for moment in self._moments:
            setattr(self, moment, np.zeros(size, dtype=dtype))

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Array]:
        """The moments (copies) and the step counter, for checkpoints."""
        out: dict[str, Array] = {name: getattr(self, name).copy() for name in self._moments}
        out["t"] = np.array(self.t, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict[str, Array]) -> None:
        for name in self._moments:
            current = getattr(self, name)
            saved = state.get(name)
            if saved is None or saved.shape != current.shape:
                raise CheckpointError(f"optimiser state {name!r} missing or of the wrong shape")
            current[...] = saved
        self.t = int(state["t"])


class GradientDescent(Optimizer):
    """θ ← θ − α g."""

    name = "gd"

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        self.t += 1
        np.multiply(grad, lr, out=self._tmp)
        theta -= self._tmp


class Momentum(Optimizer):
    """v ← β v + (1 − β) g;  θ ← θ − α v  (v starts at 0, no bias correction)."""

    name = "momentum"
    _moments = ("v",)
    v: Array

    def __init__(
        self, size: int, dtype: np.dtype[Any] | type = np.float32, beta: float = 0.9
    ) -> None:
        super().__init__(size, dtype)
        self.beta = beta

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        self.t += 1
        self.v *= self.beta
        np.multiply(grad, 1.0 - self.beta, out=self._tmp)
        self.v += self._tmp
        np.multiply(self.v, lr, out=self._tmp)
        theta -= self._tmp


class RMSProp(Optimizer):
    """s ← β₂ s + (1 − β₂) g²;  θ ← θ − α g / (√s + ε)  (s starts at 0)."""

    name = "rmsprop"
    _moments = ("s",)
    s: Array

    def __init__(
        self,
        size: int,
        dtype: np.dtype[Any] | type = np.float32,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(size, dtype)
        self.beta2 = beta2
        self.epsilon = epsilon

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        self.t += 1
        tmp = self._tmp
        self.s *= self.beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - self.beta2
        self.s += tmp
        np.sqrt(self.s, out=tmp)
        tmp += self.epsilon
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        theta -= tmp


class Adam(Optimizer):
    """Adam with bias correction; t is incremented before each update (first update has t = 1).

    m ← β₁ m + (1 − β₁) g;   s ← β₂ s + (1 − β₂) g²
    m̂ = m / (1 − β₁ᵗ);       ŝ = s / (1 − β₂ᵗ)
    θ ← θ − α m̂ / (√ŝ + ε)

    Implemented as θ ← θ − α_t m / (√s + ε_t) with α_t = α √(1 − β₂ᵗ) / (1 − β₁ᵗ) and
    ε_t = ε √(1 − β₂ᵗ): the same value, with the corrections folded into two scalars so no
    whole-buffer pass is spent on them.
    """

    name = "adam"
    _moments = ("m", "s")
    m: Array
    s: Array

    def __init__(
        self,
        size: int,
        dtype: np.dtype[Any] | type = np.float32,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        super().__init__(size, dtype)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def step(self, theta: Array, grad: Array, lr: float) -> None:
        self.t += 1
        tmp = self._tmp
        self.m *= self.beta1
        np.multiply(grad, 1.0 - self.beta1, out=tmp)
        self.m += tmp
        self.s *= self.beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - self.beta2
        self.s += tmp
        root = np.sqrt(1.0 - self.beta2**self.t)
        lr_t = lr * root / (1.0 - self.beta1**self.t)
        np.sqrt(self.s, out=tmp)
        tmp += self.epsilon * root
        np.divide(self.m, tmp, out=tmp)
        tmp *= lr_t
        theta -= tmp


def make_optimizer(
    name: str,
    size: int,
    dtype: np.dtype[Any] | type = np.float32,
    *,
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> Optimizer:
    """The optimiser called ``name`` (gd, momentum, rmsprop, adam) over ``size`` parameters."""
    if name == "gd":
        return GradientDescent(size, dtype)
    if name == "momentum":
        return Momentum(size, dtype, beta=beta)
    if name == "rmsprop":
        return RMSProp(size, dtype, beta2=beta2, epsilon=epsilon)
    if name == "adam":
        return Adam(size, dtype, beta1=beta1, beta2=beta2, epsilon=epsilon)
    raise ConfigError(f"unknown optimizer {name!r}", field="optimizer")


def set_hyperparameters(optimizer: Optimizer, params: dict[str, Any]) -> None:
    """Apply the optimiser-related entries of ``params`` (beta, beta1, beta2, epsilon)."""
    for name in ("beta", "beta1", "beta2", "epsilon"):
        if name in params and hasattr(optimizer, name):
            setattr(optimizer, name, float(params[name]))
