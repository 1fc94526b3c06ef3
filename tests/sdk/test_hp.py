"""hpsearch.hp produces exactly the search-space JSON of design.md §2."""

from __future__ import annotations

import json

import pytest

from hpsearch import hp

# The course's recipe, verbatim from design.md §2.
RECIPE_JSON = """
{
  "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
  "beta":          {"type": "float", "low": 0.9, "high": 0.999, "scale": "one_minus_log",
                    "condition": {"optimizer": ["momentum"]}},
  "beta1":         {"type": "float", "low": 0.8, "high": 0.99, "scale": "one_minus_log",
                    "condition": {"optimizer": ["adam"]}},
  "batch_size":    {"type": "power_of_two", "low": 16, "high": 512},
  "hidden_units":  {"type": "int", "low": 16, "high": 256, "scale": "log"},
  "optimizer":     {"type": "categorical", "choices": ["momentum", "adam"]}
}
"""


def test_the_course_recipe_round_trips_to_the_design_json() -> None:
    space = {
        "learning_rate": hp.log_float(1e-4, 1),
        "beta": hp.one_minus_log_float(0.9, 0.999, condition={"optimizer": ["momentum"]}),
        "beta1": hp.one_minus_log_float(0.8, 0.99, condition={"optimizer": "adam"}),
        "batch_size": hp.power_of_two(16, 512),
        "hidden_units": hp.int_(16, 256, log=True),
        "optimizer": hp.categorical(["momentum", "adam"]),
    }
    produced = hp.space_to_dict(space)
    assert produced == json.loads(RECIPE_JSON)
    assert json.loads(json.dumps(produced)) == produced  # plain JSON types only


def test_each_helper() -> None:
    assert hp.float_(0, 1).to_dict() == {
        "type": "float",
        "low": 0.0,
        "high": 1.0,
        "scale": "linear",
    }
    assert hp.float_(1e-3, 1, log=True).to_dict()["scale"] == "log"
    assert hp.int_(1, 4).to_dict() == {"type": "int", "low": 1, "high": 4, "scale": "linear"}
    assert hp.categorical([True, False, 3, "x"]).to_dict() == {
        "type": "categorical",
        "choices": [True, False, 3, "x"],
    }
    spec = hp.int_(2, 8, condition={"n_layers": (2, 3)})
    assert spec.to_dict()["condition"] == {"n_layers": [2, 3]}


def test_plain_dicts_and_specs_mix() -> None:
    raw = {"type": "categorical", "choices": ["relu"]}
    out = hp.space_to_dict({"a": hp.log_float(0.1, 1), "act": raw})
    assert out["act"] == raw and out["act"] is not raw
    with pytest.raises(TypeError):
        hp.space_to_dict({"a": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        hp.space_to_dict([("a", raw)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: hp.float_(1, 1),
        lambda: hp.float_(2, 1),
        lambda: hp.float_(0, float("inf")),
        lambda: hp.log_float(0, 1),
        lambda: hp.log_float(-1, 1),
        lambda: hp.one_minus_log_float(0.9, 1.0),
        lambda: hp.one_minus_log_float(-0.1, 0.5),
        lambda: hp.int_(1.5, 3),
        lambda: hp.int_(0, 10, log=True),
        lambda: hp.power_of_two(16, 500),
        lambda: hp.power_of_two(0, 16),
        lambda: hp.power_of_two(32, 16),
        lambda: hp.categorical([]),
        lambda: hp.categorical("abc"),
        lambda: hp.categorical([[1, 2]]),
        lambda: hp.float_(0, 1, condition={}),
        lambda: hp.float_(0, 1, condition={"opt": []}),
        lambda: hp.float_(0, 1, scale="cubic"),  # type: ignore[arg-type]
    ],
)
def test_invalid_specs_fail_early(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()
