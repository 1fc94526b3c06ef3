from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine import Dataset, Splits, load_dataset, split_dataset


@pytest.fixture(scope="session")
def moons() -> Splits:
    return split_dataset(load_dataset("moons", seed=0), seed=0)


@pytest.fixture(scope="session")
def iris() -> Splits:
    return split_dataset(load_dataset("iris"), seed=0)


@pytest.fixture(scope="session")
def diabetes() -> Splits:
    return split_dataset(load_dataset("diabetes"), seed=0)


@pytest.fixture(scope="session")
def random_multiclass() -> Callable[..., Dataset]:
    def make(n: int = 60, n_features: int = 4, n_classes: int = 3, seed: int = 0) -> Dataset:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, n_features))
        y = rng.integers(0, n_classes, n)
        return Dataset(X, y, "multiclass", n_classes, "random")

    return make
