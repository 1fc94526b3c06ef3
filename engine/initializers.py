"""Weight initialisers, one class per rule.

Each draws a weight matrix of shape ``(n_in, n_out)`` (the engine's row-major layout:
``Z = A_prev @ W + b``) from a NumPy ``Generator``. Draws are made in float64 and cast, so a
float32 and a float64 network with the same seed start from the same weights (up to rounding).
Biases always start at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ConfigError


class Initializer:
    """Base class: ``__call__(n_in, n_out, rng) -> W`` of shape ``(n_in, n_out)``, float64."""

    name = ""

    def __call__(self, n_in: int, n_out: int, rng: np.random.Generator) -> NDArray[np.float64]:
        raise NotImplementedError


class Zeros(Initializer):
    """W = 0.

    Symmetric: every hidden unit of a layer computes the same function and receives the same
    gradient, so they stay identical forever. Kept for teaching that failure, not for use.
    """

    name = "zeros"

    def __call__(self, n_in: int, n_out: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return np.zeros((n_in, n_out))


class RandomNormal(Initializer):
    """W ~ N(0, 1) · 0.01 — breaks symmetry, but shrinks the signal layer after layer."""

    name = "random"

    def __init__(self, scale: float = 0.01) -> None:
        self.scale = scale

    def __call__(self, n_in: int, n_out: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.standard_normal((n_in, n_out)) * self.scale


class He(Initializer):
    """W ~ N(0, 1) · √(2 / n_in) — keeps the variance of ReLU activations constant with depth."""

    name = "he"

    def __call__(self, n_in: int, n_out: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)


class Xavier(Initializer):
    """W ~ N(0, 1) · √(1 / n_in) — the variance-preserving scale for tanh/sigmoid units."""

    name = "xavier"

    def __call__(self, n_in: int, n_out: int, rng: np.random.Generator) -> NDArray[np.float64]:
        return rng.standard_normal((n_in, n_out)) * np.sqrt(1.0 / n_in)


INITIALIZERS: dict[str, type[Initializer]] = {
    cls.name: cls for cls in (Zeros, RandomNormal, He, Xavier)
}


def get_initializer(name: str, **kwargs: Any) -> Initializer:
    """The initialiser called ``name`` (he, xavier, random, zeros)."""
    try:
        return INITIALIZERS[name](**kwargs)
    except KeyError:
        raise ConfigError(f"unknown initialiser {name!r}", field="init") from None
