from __future__ import annotations

import pytest

from samplers import SearchSpace

RECIPE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "beta": {
        "type": "float",
        "low": 0.9,
        "high": 0.999,
        "scale": "one_minus_log",
        "condition": {"optimizer": ["momentum"]},
    },
    "beta1": {
        "type": "float",
        "low": 0.8,
        "high": 0.99,
        "scale": "one_minus_log",
        "condition": {"optimizer": ["adam"]},
    },
    "batch_size": {"type": "power_of_two", "low": 16, "high": 512},
    "hidden_units": {"type": "int", "low": 16, "high": 256, "scale": "log"},
    "optimizer": {"type": "categorical", "choices": ["momentum", "adam"]},
}


@pytest.fixture
def recipe() -> SearchSpace:
    return SearchSpace.from_dict(RECIPE)


@pytest.fixture
def recipe_dict() -> dict:
    return RECIPE
