from __future__ import annotations

import pytest

from engine import KNOWN_PARAMS, MUTABLE_PARAMS, ConfigError, EngineError, TrainConfig
from engine.config import validate_mutable


def test_defaults_are_valid_and_complete() -> None:
    config = TrainConfig()
    assert config.optimizer == "adam"
    assert config.dtype == "float32"
    assert config.checkpoint_every == 1
    assert config.hidden_layers == (64, 64)
    design_names = {
        "learning_rate", "optimizer", "beta", "beta1", "beta2", "epsilon", "batch_size",
        "epochs", "layers", "n_layers", "hidden_units", "activation", "init", "l2", "keep_prob",
        "batch_norm", "decay", "decay_rate", "decay_interval", "early_stopping_patience", "seed",
        "checkpoint_every", "dtype",
    }  # fmt: skip
    assert design_names <= KNOWN_PARAMS
    assert {
        "learning_rate", "beta", "beta1", "beta2", "epsilon", "l2", "keep_prob", "decay",
        "decay_rate", "decay_interval",
    } == MUTABLE_PARAMS  # fmt: skip
    assert MUTABLE_PARAMS <= KNOWN_PARAMS


def test_from_params_accepts_json_like_values() -> None:
    config = TrainConfig.from_params(
        {"learning_rate": 1, "batch_size": 32.0, "layers": [16, 8], "batch_norm": True}
    )
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.batch_size == 32 and isinstance(config.batch_size, int)
    assert config.hidden_layers == (16, 8)
    assert TrainConfig.from_params(config.to_dict()) == config


def test_unknown_name_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_params({"learning_rate": 0.1, "lerning_rate": 0.1})
    assert info.value.field == "lerning_rate"
    assert isinstance(info.value, EngineError)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("learning_rate", 0),
        ("learning_rate", -1.0),
        ("learning_rate", float("nan")),
        ("learning_rate", "0.1"),
        ("learning_rate", True),
        ("optimizer", "sgd"),
        ("beta", 1.0),
        ("beta1", -0.1),
        ("beta2", 1.5),
        ("epsilon", 0.0),
        ("batch_size", 0),
        ("batch_size", 32.5),
        ("batch_size", True),
        ("epochs", 0),
        ("layers", [16, 0]),
        ("layers", "16"),
        ("n_layers", -1),
        ("hidden_units", 0),
        ("activation", "gelu"),
        ("init", "orthogonal"),
        ("l2", -0.1),
        ("keep_prob", 0.0),
        ("keep_prob", 1.1),
        ("batch_norm", "yes"),
        ("decay", "cosine"),
        ("decay_rate", 0.0),
        ("decay_interval", 0),
        ("early_stopping_patience", 0),
        ("seed", -1),
        ("checkpoint_every", 0),
        ("dtype", "float16"),
        ("leaky_slope", 1.0),
    ],
)
def test_bad_values_name_their_field(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_params({name: value})
    assert info.value.field == name


def test_exponential_decay_rejects_growing_rate() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(decay="exponential", decay_rate=1.5)
    assert info.value.field == "decay_rate"
    TrainConfig(decay="inverse_time", decay_rate=1.5)  # a rate above 1 is fine there


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (64, 64)),
        ({"layers": [32, 16, 8]}, (32, 16, 8)),
        ({"layers": []}, ()),
        ({"n_layers": 3, "hidden_units": 10}, (10, 10, 10)),
        ({"n_layers": 3}, (64, 64, 64)),
        ({"hidden_units": 10}, (10, 10)),
        # a searched hidden_units resizes a fixed layers list instead of being ignored
        ({"layers": [64, 64, 64], "hidden_units": 16}, (16, 16, 16)),
        ({"layers": [8, 32], "n_layers": 1}, (32,)),
    ],
)
def test_hidden_layer_resolution(params: dict[str, object], expected: tuple[int, ...]) -> None:
    assert TrainConfig.from_params(params).hidden_layers == expected


def test_validate_mutable() -> None:
    assert validate_mutable({"learning_rate": 1}) == {"learning_rate": 1.0}
    with pytest.raises(ConfigError) as info:
        validate_mutable({"batch_size": 8})
    assert info.value.field == "batch_size"
    with pytest.raises(ConfigError) as info:
        validate_mutable({"keep_prob": 0})
    assert info.value.field == "keep_prob"
