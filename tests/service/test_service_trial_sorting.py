"""Server-side trial sorting by state, round, duration and any hyperparameter, on SQLite and
Postgres: missing values last in both directions, ties by number ascending."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from service_helpers import RECIPE_SPACE

SPACE = RECIPE_SPACE

# (state told, seconds between ask and tell): distinct durations, well apart.
PLAN = [
    ("completed", 0.09),
    ("failed", 0.0),
    ("completed", 0.15),
    ("pruned", 0.03),
    ("completed", 0.06),
    ("completed", 0.12),
    (None, 0.0),  # left running: no duration
]


def create_study(api: httpx.Client) -> int:
    body = {
        "name": "sorting",
        "mode": "ask_tell",
        "objective": {"metric": "score", "direction": "maximize"},
        "space": SPACE,
        "sampler": {"type": "coarse_to_fine", "rounds": 2, "top_fraction": 0.5},
        "n_trials": len(PLAN),
        "seed": 3,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def seed_study(api: httpx.Client) -> tuple[int, list[dict[str, Any]]]:
    sid = create_study(api)
    for i, (state, hold) in enumerate(PLAN):
        r = api.post(f"/studies/{sid}/ask")
        assert r.status_code == 200, r.text
        t = r.json()
        time.sleep(hold)
        if state == "completed":
            tell = {"value": [0.5, None, 0.2, None, 0.5, 0.9][i]}
        elif state == "pruned":
            api.post(f"/trials/{t['id']}/report", json={"epoch": 1, "value": 0.1})
            tell = {"state": "pruned"}
        elif state == "failed":
            tell = {"state": "failed", "error": "boom"}
        else:
            continue
        r = api.post(f"/trials/{t['id']}/tell", json=tell)
        assert r.status_code == 200, r.text
    page = api.get(f"/studies/{sid}/trials", params={"limit": 100}).json()
    return sid, page["items"]


def expected(trials: list[dict[str, Any]], key: Callable[[dict], Any], desc: bool) -> list[int]:
    by_number = sorted(trials, key=lambda t: t["number"])
    present = [t for t in by_number if key(t) is not None]
    missing = [t for t in by_number if key(t) is None]
    # sorted() is stable with reverse=True too: ties keep number order.
    return [t["number"] for t in sorted(present, key=key, reverse=desc) + missing]


def duration(t: dict[str, Any]) -> float | None:
    if not t["started_at"] or not t["finished_at"]:
        return None
    return (
        datetime.fromisoformat(t["finished_at"]) - datetime.fromisoformat(t["started_at"])
    ).total_seconds()


def test_trials_sort_by_state_round_duration_and_params(api: httpx.Client) -> None:
    sid, trials = seed_study(api)
    assert len(trials) == len(PLAN)
    # The data exercises every rule: ties, missing values, several rounds, a conditional param.
    assert {t["state"] for t in trials} == {"completed", "failed", "pruned", "running"}
    assert len({t["round"] for t in trials}) >= 2
    assert any("beta" in t["params"] for t in trials)
    assert any("beta" not in t["params"] for t in trials)
    assert sum(duration(t) is None for t in trials) == 1

    keys: dict[str, Callable[[dict], Any]] = {
        "state": lambda t: t["state"],
        "round": lambda t: t["round"],
        "duration": duration,
    }
    for name in SPACE:
        keys[f"param:{name}"] = lambda t, n=name: t["params"].get(n)
    for sort, key in keys.items():
        for desc in (False, True):
            s = ("-" if desc else "") + sort
            r = api.get(f"/studies/{sid}/trials", params={"sort": s})
            assert r.status_code == 200, r.text
            got = [t["number"] for t in r.json()["items"]]
            assert got == expected(trials, key, desc), s
            # The page is cut from the same order.
            r = api.get(f"/studies/{sid}/trials", params={"sort": s, "limit": 3, "offset": 2})
            assert [t["number"] for t in r.json()["items"]] == got[2:5], s

    # Spot-check the rules themselves, not only the oracle.
    got = api.get(f"/studies/{sid}/trials", params={"sort": "-duration"}).json()["items"]
    assert got[-1]["state"] == "running"
    held = [d for d in map(duration, got[:-1]) if d is not None]
    assert held == sorted(held, reverse=True) and len(held) == len(PLAN) - 1
    got = api.get(f"/studies/{sid}/trials", params={"sort": "-param:beta"}).json()["items"]
    lacking = [t["number"] for t in trials if "beta" not in t["params"]]
    assert [t["number"] for t in got[-len(lacking) :]] == lacking


def test_trials_sort_by_unknown_param_is_422(api: httpx.Client) -> None:
    sid = create_study(api)
    for sort in ("param:nope", "-param:nope", "param:", "params", "-best"):
        r = api.get(f"/studies/{sid}/trials", params={"sort": sort})
        assert r.status_code == 422, (sort, r.text)
        assert any(d["loc"] == ["query", "sort"] for d in r.json()["detail"]), r.text
