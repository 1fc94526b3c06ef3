from __future__ import annotations

import json
import math

import pytest

from samplers import SamplerError, SearchSpace, SpaceError


def test_recipe_round_trips_through_json(recipe: SearchSpace, recipe_dict: dict) -> None:
    again = SearchSpace.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again == recipe
    assert again.to_dict() == recipe.to_dict()
    assert set(recipe.names) == set(recipe_dict)


def test_parents_come_before_children(recipe: SearchSpace) -> None:
    names = recipe.names
    assert names.index("optimizer") < names.index("beta")
    assert names.index("optimizer") < names.index("beta1")


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"a": {"type": "float", "low": 1.0, "high": 1.0}}, "a.low", "low"),
        ({"a": {"type": "float", "low": 2.0, "high": 1.0}}, "a.low", "< high"),
        ({"a": {"type": "float", "low": 0.0, "high": 1.0, "scale": "log"}}, "a.low", "log"),
        ({"a": {"type": "int", "low": -1, "high": 10, "scale": "log"}}, "a.low", "log"),
        (
            {"a": {"type": "float", "low": 0.9, "high": 1.0, "scale": "one_minus_log"}},
            "a.high",
            "one_minus_log",
        ),
        (
            {"a": {"type": "float", "low": -0.1, "high": 0.9, "scale": "one_minus_log"}},
            "a.low",
            "one_minus_log",
        ),
        ({"a": {"type": "power_of_two", "low": 16, "high": 500}}, "a.high", "power of two"),
        ({"a": {"type": "power_of_two", "low": 0, "high": 512}}, "a.low", "power of two"),
        ({"a": {"type": "categorical", "choices": []}}, "a.choices", "non-empty"),
        (
            {"a": {"type": "categorical", "choices": [[1]]}},
            "a.choices",
            "string, number or boolean",
        ),
        ({"a": {"type": "categorical", "choices": ["x", "x"]}}, "a.choices", "duplicate"),
        (
            {"a": {"type": "float", "low": 0, "high": 1, "condition": {"zz": [1]}}},
            "a.condition.zz",
            "unknown parameter",
        ),
        (
            {"a": {"type": "float", "low": 0, "high": 1, "condition": {"a": [1]}}},
            "a.condition.a",
            "itself",
        ),
        ({"a": {"type": "floaty", "low": 0, "high": 1}}, "a.type", "unknown type"),
        ({"a": {"low": 0, "high": 1}}, "a.type", "unknown type"),
        ({"a": {"type": "float", "low": 0, "high": 1, "scale": "exp"}}, "a.scale", "unknown scale"),
        (
            {"a": {"type": "int", "low": 1, "high": 8, "scale": "one_minus_log"}},
            "a.scale",
            "unknown scale",
        ),
        ({"a": {"type": "float", "low": "0", "high": 1}}, "a.low", "number"),
        ({"a": {"type": "float", "low": True, "high": 1}}, "a.low", "number"),
        ({"a": {"type": "float", "low": 0, "high": math.inf}}, "a.high", "number"),
        ({"a": {"type": "float", "high": 1}}, "a.low", "needs"),
        ({"a": {"type": "int", "low": 0.5, "high": 4}}, "a.low", "integer"),
        ({"a": {"type": "float", "low": 0, "high": 1, "step": 2}}, "a.step", "unknown field"),
        (
            {
                "a": {"type": "categorical", "choices": ["x"], "condition": {"b": ["y"]}},
                "b": {"type": "categorical", "choices": ["y"], "condition": {"a": ["x"]}},
            },
            "a.condition",
            "cycle",
        ),
        (
            {
                "o": {"type": "categorical", "choices": ["adam"]},
                "b": {"type": "float", "low": 0, "high": 1, "condition": {"o": ["sgd"]}},
            },
            "b.condition.o",
            "not a possible value",
        ),
        (
            {"a": {"type": "float", "low": 0, "high": 1, "condition": {}}},
            "a.condition",
            "non-empty",
        ),
        (
            {"a": {"type": "float", "low": 0, "high": 1, "condition": {"a": []}}},
            "a.condition.a",
            "non-empty",
        ),
    ],
)
def test_invalid_specs_name_field_and_rule(spec: dict, field: str, words: str) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict(spec)
    assert info.value.field == field
    assert words in str(info.value)
    assert isinstance(info.value, SamplerError)
    # the message names the parameter, so a 422 is readable on its own
    assert field.split(".")[0] in str(info.value)


def test_empty_space_is_rejected() -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({})
    assert info.value.field == "space"


@pytest.mark.parametrize(
    ("name", "value", "unit"),
    [
        ("learning_rate", 1e-4, 0.0),
        ("learning_rate", 1e-2, 0.5),
        ("learning_rate", 1.0, 1.0),
        ("beta", 0.9, 0.0),
        ("beta", 0.99, 0.5),
        ("beta", 0.999, 1.0),
        ("batch_size", 16, 0.5 / 6),
        ("batch_size", 512, 5.5 / 6),
    ],
)
def test_unit_coordinates_follow_the_scale(
    recipe: SearchSpace, name: str, value: float, unit: float
) -> None:
    spec = recipe[name]
    assert spec.to_unit(value) == pytest.approx(unit)
    assert spec.from_unit(unit) == pytest.approx(value)


def test_ints_round_and_clip(recipe: SearchSpace) -> None:
    spec = recipe["hidden_units"]
    values = {spec.from_unit(u / 1000) for u in range(1001)}
    assert min(values) == 16 and max(values) == 256
    assert all(isinstance(v, int) for v in values)
    assert spec.from_unit(-0.5) == 16 and spec.from_unit(1.5) == 256
    lin = SearchSpace.from_dict({"n": {"type": "int", "low": 1, "high": 3}})["n"]
    assert [lin.from_unit(u) for u in (0.0, 0.34, 0.5, 0.67, 1.0)] == [1, 2, 2, 3, 3]


def test_active_follows_conditions(recipe: SearchSpace) -> None:
    adam = {"optimizer": "adam", "learning_rate": 0.1, "beta1": 0.9}
    assert "beta1" in recipe.active(adam)
    assert "beta" not in recipe.active(adam)
    assert "beta" in recipe.active({"optimizer": "momentum"})


def test_boolean_and_numeric_choices_stay_distinct() -> None:
    space = SearchSpace.from_dict(
        {
            "bn": {"type": "categorical", "choices": [True, False]},
            "n": {"type": "categorical", "choices": [1, 0]},
            "x": {"type": "float", "low": 0, "high": 1, "condition": {"bn": [True]}},
        }
    )
    assert sorted(space.active({"bn": True, "n": 1, "x": 0.5})) == ["bn", "n", "x"]
    assert "x" not in space.active({"bn": 1})
    assert space["n"].index(1) == 0 and space["bn"].index(True) == 0
    with pytest.raises(SpaceError):
        space["n"].index(True)
