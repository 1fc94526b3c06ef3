"""Hidden-layer activations, one class per function.

Each works in place on preallocated buffers (``out=``) because the training loop calls them once
per layer per mini-batch and allocation would dominate small nets. ``backward`` computes
``dZ = dA ⊙ g'(Z)`` given the pre-activation ``Z`` and the activation ``A = g(Z)``.
Output activations (sigmoid, softmax, linear) live with their losses in :mod:`engine.losses`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from .errors import ConfigError

Array = NDArray[Any]


class Activation:
    """Base class. ``forward(z, out)`` writes g(z); ``backward(da, z, a, out, scratch)`` writes dZ.

    ``scratch`` is a float buffer shaped like ``z`` that ``backward`` may clobber.
    """

    name = ""

    def forward(self, z: Array, out: Array) -> Array:
        raise NotImplementedError

    def backward(self, da: Array, z: Array, a: Array, out: Array, scratch: Array) -> Array:
        raise NotImplementedError

    def derivative(self, z: Array) -> Array:
        """g'(z), allocating; for tests and diagnostics, not the training loop."""
        a = self.forward(z, np.empty_like(z))
        return self.backward(np.ones_like(z), z, a, np.empty_like(z), np.empty_like(z))


class ReLU(Activation):
    """g(z) = max(0, z);  g'(z) = 1 if z > 0 else 0 (0 at z = 0, the usual subgradient)."""

    name = "relu"

    def forward(self, z: Array, out: Array) -> Array:
        return np.maximum(z, 0, out=out)

    def backward(self, da: Array, z: Array, a: Array, out: Array, scratch: Array) -> Array:
        # bool -> float is a safe cast, so the comparison lands straight in the float scratch
        np.greater(z, 0, out=scratch)
        return np.multiply(da, scratch, out=out)


class LeakyReLU(Activation):
    """g(z) = max(s·z, z) for slope 0 ≤ s < 1;  g'(z) = 1 if z > 0 else s."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        if not 0.0 <= slope < 1.0:
            raise ConfigError(f"must be in [0, 1); got {slope}", field="leaky_slope")
        self.slope = slope

    def forward(self, z: Array, out: Array) -> Array:
        # max(s·z, z) equals the two-branch definition only because s < 1
        np.multiply(z, self.slope, out=out)
        return np.maximum(z, out, out=out)

    def backward(self, da: Array, z: Array, a: Array, out: Array, scratch: Array) -> Array:
        np.greater(z, 0, out=scratch)
        scratch *= 1.0 - self.slope
        scratch += self.slope
        return np.multiply(da, scratch, out=out)


class Tanh(Activation):
    """g(z) = tanh(z);  g'(z) = 1 − tanh(z)² = 1 − a²."""

    name = "tanh"

    def forward(self, z: Array, out: Array) -> Array:
        return np.tanh(z, out=out)

    def backward(self, da: Array, z: Array, a: Array, out: Array, scratch: Array) -> Array:
        np.multiply(a, a, out=scratch)
        np.subtract(1.0, scratch, out=scratch)
        return np.multiply(da, scratch, out=out)


class Sigmoid(Activation):
    """g(z) = σ(z) = 1 / (1 + e^(−z));  g'(z) = a(1 − a).

    scipy's ``expit`` is used because it never overflows for large |z|.
    """

    name = "sigmoid"

    def forward(self, z: Array, out: Array) -> Array:
        result: Array = expit(z, out=out)
        return result

    def backward(self, da: Array, z: Array, a: Array, out: Array, scratch: Array) -> Array:
        np.subtract(1.0, a, out=scratch)
        scratch *= a
        return np.multiply(da, scratch, out=out)


def get_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The hidden activation called ``name`` (relu, leaky_relu, tanh, sigmoid)."""
    if name == "relu":
        return ReLU()
    if name == "leaky_relu":
        return LeakyReLU(leaky_slope)
    if name == "tanh":
        return Tanh()
    if name == "sigmoid":
        return Sigmoid()
    raise ConfigError(f"unknown activation {name!r}", field="activation")
