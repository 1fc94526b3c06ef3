"""Two-sided gradient checking over the flattened parameter vector θ.

For each component i: dθ_approx[i] = (J(θ + εeᵢ) − J(θ − εeᵢ)) / (2ε), then
diff = ‖dθ_approx − dθ‖₂ / (‖dθ_approx‖₂ + ‖dθ‖₂). In float64 a correct backward pass gives
diff ≈ 1e-9..1e-8; anything above ~1e-5 means a bug. Run it with dropout off: a random mask is a
different function at every evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import EngineError
from .network import Network

Array = NDArray[Any]


@dataclass
class GradientCheck:
    """The overall ``difference`` and the same measure for each parameter array (W1, b1, ...)."""

    difference: float
    per_parameter: dict[str, float]
    approx: Array
    analytic: Array

    def passed(self, threshold: float = 1e-7) -> bool:
        return self.difference < threshold


def _relative(a: Array, b: Array) -> float:
    denom = float(np.linalg.norm(a) + np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / denom if denom > 0 else 0.0


def gradient_check(
    network: Network, X: Array, Y: Array, *, l2: float = 0.0, epsilon: float = 1e-7
) -> GradientCheck:
    """Compare ``network.backward`` with central differences of ``network.cost`` at θ."""
    if network.dtype != np.float64:
        raise EngineError("gradient checking needs a float64 network", field="dtype")
    theta = network.theta
    network.cost(X, Y, l2=l2)
    analytic = network.backward(Y, l2=l2).copy()
    approx = np.empty_like(analytic)
    for i in range(theta.size):
        saved = theta[i]
        theta[i] = saved + epsilon
        plus = network.cost(X, Y, l2=l2)
        theta[i] = saved - epsilon
        minus = network.cost(X, Y, l2=l2)
        theta[i] = saved
        approx[i] = (plus - minus) / (2.0 * epsilon)
    per = {name: _relative(approx[sl], analytic[sl]) for name, sl in network.parameter_slices()}
    return GradientCheck(_relative(approx, analytic), per, approx, analytic)
