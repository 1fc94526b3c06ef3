"""Every sampler and every pruner in ask/tell mode, through real HTTP, on SQLite and Postgres.

The client runs a synthetic objective: each asked trial reports a short curve, then tells a
value computed from its params. Curves of the "bad" trials are far below the others, so a
median or ASHA pruner must answer prune=true on them (and never on the good ones, whose curves
all tie), while pruner "none" never does.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from service_helpers import RECIPE_SPACE

SPACE: dict[str, dict[str, Any]] = {
    **RECIPE_SPACE,
    "batch_size": {"type": "power_of_two", "low": 16, "high": 256},
    "units": {"type": "int", "low": 4, "high": 64},
}
N_TRIALS = 10
EPOCHS = 3

SAMPLERS: dict[str, dict[str, Any]] = {
    "random": {"type": "random"},
    "grid": {"type": "grid", "points_per_axis": 2},
    "sobol": {"type": "sobol"},
    "coarse_to_fine": {"type": "coarse_to_fine", "rounds": 2, "top_fraction": 0.5},
    # A short startup, so that most asks really go through TPE / CMA-ES, not their warm-up.
    "tpe": {"type": "tpe", "n_startup_trials": 3},
    "cmaes": {"type": "cmaes", "n_startup_trials": 3},
}
PRUNERS: dict[str, dict[str, Any]] = {
    "none": {"type": "none"},
    "median": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
    "asha": {"type": "asha", "reduction_factor": 3, "min_resource": 1},
}


def in_space(params: dict[str, Any]) -> None:
    """Assert params is one point of SPACE: every active parameter, nothing else, in range."""
    active = set(SPACE) - ({"beta"} if params.get("optimizer") != "momentum" else set())
    assert set(params) == active, params
    lr = params["learning_rate"]
    assert isinstance(lr, float) and 1e-4 <= lr <= 1.0, params
    units = params["units"]
    assert isinstance(units, int) and 4 <= units <= 64, params
    bs = params["batch_size"]
    assert isinstance(bs, int) and bs in (16, 32, 64, 128, 256), params
    assert params["optimizer"] in ("momentum", "adam"), params
    if "beta" in params:
        assert 0.9 <= params["beta"] <= 0.999, params


def objective(params: dict[str, Any]) -> float:
    """Synthetic score to maximize: best near learning_rate 1e-2 and 32 units, adam a bit better."""
    score = -((math.log10(params["learning_rate"]) + 2.0) ** 2)
    score -= abs(params["units"] - 32) / 32
    return score + (0.1 if params["optimizer"] == "adam" else 0.0)


def curve(bad: bool, epoch: int) -> float:
    """Every good trial reports the same curve (ties are never pruned); bad ones are far below."""
    return 0.05 * epoch if bad else 0.5 + 0.1 * epoch


def run_study(
    api: httpx.Client, sampler: dict[str, Any], pruner: dict[str, Any], bad: set[int]
) -> dict[str, Any]:
    """Create an ask/tell study and drive it to its end; returns what the client saw."""
    r = api.post(
        "/studies",
        json={
            "name": f"at-{sampler['type']}-{pruner['type']}",
            "mode": "ask_tell",
            "objective": {"metric": "score", "direction": "maximize"},
            "space": SPACE,
            "sampler": sampler,
            "pruner": pruner,
            "n_trials": N_TRIALS,
            "seed": 7,
        },
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    asked: list[dict[str, Any]] = []
    told: dict[int, float] = {}  # number -> value, completed trials only
    pruned_at: dict[int, int] = {}  # number -> epoch whose report answered prune=true
    for i in range(N_TRIALS):
        r = api.post(f"/studies/{sid}/ask")
        assert r.status_code == 200, r.text
        t = r.json()
        assert t["number"] == i and t["state"] == "running", t
        in_space(t["params"])
        asked.append(t)
        for epoch in range(1, EPOCHS + 1):
            r = api.post(
                f"/trials/{t['id']}/report",
                json={"epoch": epoch, "value": curve(i in bad, epoch), "train_loss": 1.0 / epoch},
            )
            assert r.status_code == 200, r.text
            if r.json()["prune"]:
                pruned_at[i] = epoch
                break
        if i in pruned_at:
            r = api.post(f"/trials/{t['id']}/tell", json={"state": "pruned"})
            assert r.status_code == 200 and r.json()["state"] == "pruned", r.text
            continue
        # Bad trials that were not pruned finish far below every good one.
        value = objective(t["params"]) - (100.0 if i in bad else 0.0)
        r = api.post(f"/trials/{t['id']}/tell", json={"value": value})
        assert r.status_code == 200 and r.json()["state"] == "completed", r.text
        told[i] = value

    study = api.get(f"/studies/{sid}").json()
    assert study["state"] == "completed", study
    assert study["progress"]["total"] == N_TRIALS
    assert study["progress"]["completed"] == len(told)
    assert study["progress"]["pruned"] == len(pruned_at)
    best_number = max(told, key=lambda n: (told[n], -n))
    assert study["best_trial"]["number"] == best_number, (study["best_trial"], told)
    assert study["best_trial"]["value"] == pytest.approx(told[best_number])
    # The budget is spent: no more asks.
    assert api.post(f"/studies/{sid}/ask").status_code == 409
    items = api.get(f"/studies/{sid}/trials", params={"limit": 100}).json()["items"]
    assert [t["number"] for t in items] == list(range(N_TRIALS))
    for t, a in zip(items, asked, strict=True):
        assert t["params"] == a["params"]
        assert t["state"] == ("pruned" if t["number"] in pruned_at else "completed")
    return {"id": sid, "asked": asked, "told": told, "pruned_at": pruned_at, "items": items}


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_every_sampler_in_ask_tell(api: httpx.Client, kind: str) -> None:
    got = run_study(api, SAMPLERS[kind], PRUNERS["none"], bad=set())
    assert got["pruned_at"] == {}
    params = [a["params"] for a in got["asked"]]
    if kind in ("grid", "sobol"):
        # Space-filling designs never repeat a point within such a small budget.
        assert len({repr(sorted(p.items())) for p in params}) == N_TRIALS, params
    if kind == "coarse_to_fine":
        rounds = [a["round"] for a in got["asked"]]
        assert all(isinstance(r, int) for r in rounds), rounds
        # Two rounds over the study's own budget of 10: round 0 first, then round 1.
        assert rounds == sorted(rounds) and rounds[0] == 0 and rounds[-1] == 1, rounds
        items = {t["number"]: t for t in got["items"]}
        assert [items[n]["round"] for n in range(N_TRIALS)] == rounds


@pytest.mark.parametrize("kind", list(PRUNERS))
def test_every_pruner_in_ask_tell(api: httpx.Client, kind: str) -> None:
    bad = {3, 5, 7, 9}
    got = run_study(api, SAMPLERS["random"], PRUNERS[kind], bad=bad)
    pruned_at = got["pruned_at"]
    if kind == "none":
        assert pruned_at == {}
        return
    # Every bad curve is pruned at its first report (epoch 1 is a rung of ASHA, and the median
    # of the completed good trials is far above it); no good curve ever is.
    assert pruned_at == {n: 1 for n in bad}, pruned_at
    items = {t["number"]: t for t in got["items"]}
    for n in bad:
        assert items[n]["state"] == "pruned"
        assert items[n]["value"] == pytest.approx(curve(True, 1))  # its last reported value
    for n in set(range(N_TRIALS)) - bad:
        assert items[n]["state"] == "completed"
