"""Every bad input is a 422 whose detail names the field; never a 500. In-process, fast."""

from __future__ import annotations

import pytest

GOOD_SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def body(**over) -> dict:
    b = {
        "mode": "ask_tell",
        "objective": {"metric": "score", "direction": "maximize"},
        "space": GOOD_SPACE,
        "n_trials": 3,
    }
    b.update(over)
    return b


def locs(resp) -> list[list]:
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and detail
    return [d["loc"] for d in detail]


@pytest.mark.parametrize(
    ("space", "loc"),
    [
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, ["body", "space", "lr"]),
        (
            {"lr": {"type": "float", "low": 0.0, "high": 1.0, "scale": "log"}},
            ["body", "space", "lr"],
        ),
        (
            {"b": {"type": "float", "low": 0.5, "high": 1.5, "scale": "one_minus_log"}},
            ["body", "space", "b"],
        ),
        ({"bs": {"type": "power_of_two", "low": 10, "high": 64}}, ["body", "space", "bs"]),
        ({"o": {"type": "categorical", "choices": []}}, ["body", "space", "o"]),
        ({"o": {"type": "nope"}}, ["body", "space", "o"]),
        (
            {"x": {"type": "float", "low": 0, "high": 1, "condition": {"ghost": [1]}}},
            ["body", "space", "x"],
        ),
    ],
)
def test_bad_space_names_the_field(client, space, loc) -> None:
    got = locs(client.post("/studies", json=body(space=space)))
    assert got[0][: len(loc)] == loc, got


@pytest.mark.parametrize(
    ("over", "loc"),
    [
        ({"n_trials": 0}, ["body", "n_trials"]),
        ({"n_trials": "many"}, ["body", "n_trials"]),
        ({"mode": "turbo"}, ["body", "mode"]),
        ({"objective": {"metric": "score"}}, ["body", "objective", "direction"]),
        ({"objective": {"metric": "s", "direction": "up"}}, ["body", "objective", "direction"]),
        ({"space": None}, ["body", "space"]),
        ({"n_trials": None}, ["body", "n_trials"]),
        ({"sampler": {"type": "bogus"}}, ["body", "sampler"]),
        ({"pruner": {"type": "bogus"}}, ["body", "pruner"]),
        # The sampler is checked against the study's own budget: 5 rounds cannot fit 3 trials.
        ({"sampler": {"type": "coarse_to_fine", "rounds": 5}}, ["body", "sampler"]),
        ({"unknown_field": 1}, ["body", "unknown_field"]),
        ({"params": {"learning_rate": 0.1}}, ["body", "params"]),
        ({"max_retries": -1}, ["body", "max_retries"]),
    ],
)
def test_bad_study_fields(client, over, loc) -> None:
    got = locs(client.post("/studies", json=body(**over)))
    assert got[0][: len(loc)] == loc, got


def test_caviar_needs_known_dataset_and_metric(client) -> None:
    b = body(mode="caviar", objective={"metric": "dev_accuracy", "direction": "maximize"})
    assert locs(client.post("/studies", json=b))[0] == ["body", "objective", "dataset"]
    b["objective"]["dataset"] = "no-such-data"
    assert locs(client.post("/studies", json=b))[0] == ["body", "objective", "dataset"]
    b["objective"] |= {"dataset": "moons", "metric": "score"}
    assert locs(client.post("/studies", json=b))[0] == ["body", "objective", "metric"]


def test_panda_needs_params(client) -> None:
    b = {
        "mode": "panda",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
    }
    assert locs(client.post("/studies", json=b))[0] == ["body", "params"]
    b["params"] = {"learning_rate": 0.1}
    b["n_trials"] = 5
    assert locs(client.post("/studies", json=b))[0] == ["body", "n_trials"]


def test_malformed_json_is_422(client) -> None:
    r = client.post("/studies", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_report_and_tell_bodies(client) -> None:
    s = client.post("/studies", json=body()).json()
    t = client.post(f"/studies/{s['id']}/ask").json()
    tid = t["id"]
    assert locs(client.post(f"/trials/{tid}/report", json={"value": 1.0}))[0] == ["body", "epoch"]
    assert locs(client.post(f"/trials/{tid}/report", json={"epoch": 1}))[0] == ["body", "value"]
    assert locs(client.post(f"/trials/{tid}/report", json={"epoch": -1, "value": 1}))[0] == [
        "body",
        "epoch",
    ]
    r = client.post(
        f"/trials/{tid}/report",
        content=b'{"epoch": 1, "value": NaN}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    r = client.post(f"/trials/{tid}/report", json={"epoch": 1, "value": 1, "dev_loss": "high"})
    assert r.status_code == 422 and "dev_loss" in r.text
    assert locs(client.post(f"/trials/{tid}/tell", json={}))[0] == ["body", "value"]
    assert locs(client.post(f"/trials/{tid}/tell", json={"state": "exploded"}))[0] == [
        "body",
        "state",
    ]
    assert client.post(f"/trials/{tid}/tell", json={"value": 0.5}).status_code == 200


def test_pagination_bounds(client) -> None:
    assert client.get("/studies", params={"limit": 5000}).status_code == 422
    assert client.get("/studies", params={"offset": -1}).status_code == 422
    assert client.get("/studies", params={"state": "weird"}).status_code == 422
    page = client.get("/studies", params={"limit": 1}).json()
    assert set(page) == {"items", "total"}


def test_api_token(app_settings) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app

    settings = app_settings.model_copy(update={"api_token": "s3cret"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/api/v1/studies")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/api/v1/studies", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/api/v1/studies", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
