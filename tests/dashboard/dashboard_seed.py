"""Real studies for the dashboard tests, made through the REST API (ask/tell: no engine needed),
and a bulk-inserted 10,000-trial study for the speed check."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "beta": {"type": "float", "low": 0.9, "high": 0.999, "scale": "one_minus_log"},
    "batch_size": {"type": "power_of_two", "low": 16, "high": 512},
    "hidden_units": {"type": "int", "low": 16, "high": 256, "scale": "log"},
    "optimizer": {"type": "categorical", "choices": ["momentum", "adam"]},
}


def synthetic_accuracy(p: dict[str, Any]) -> float:
    """A smooth objective with its peak near lr = 0.01, beta = 0.99, batch 64."""
    lr = math.log10(p.get("learning_rate", 0.01))
    beta = -math.log10(1 - p.get("beta", 0.99))
    bs = math.log2(p.get("batch_size", 64))
    acc = 0.95 - 0.08 * (lr + 2) ** 2 - 0.03 * (beta - 2) ** 2 - 0.01 * (bs - 6) ** 2
    if p.get("optimizer") == "adam":
        acc += 0.01
    return max(0.05, min(0.99, acc))


def make_ask_tell_study(
    api: httpx.Client, name: str, n_trials: int = 24, rounds: int = 3, epochs: int = 6
) -> dict[str, Any]:
    """A finished coarse-to-fine ask/tell study with intermediate values (train/dev loss),
    final metrics (train/dev error, for the diagnosis), one pruned and one failed trial."""
    body = {
        "name": name,
        "mode": "ask_tell",
        "objective": {"metric": "dev_accuracy", "direction": "maximize", "human_level_error": 0.02},
        "space": SPACE,
        "sampler": {"type": "coarse_to_fine", "rounds": rounds, "top_fraction": 0.25},
        "n_trials": n_trials,
        "seed": 1,
    }
    r = api.post("/studies", json=body)
    r.raise_for_status()
    study = r.json()
    for i in range(n_trials):
        r = api.post(f"/studies/{study['id']}/ask")
        r.raise_for_status()
        t = r.json()
        final = synthetic_accuracy(t["params"])
        for epoch in range(1, epochs + 1):
            frac = epoch / epochs
            acc = final * (0.6 + 0.4 * frac)
            api.post(
                f"/trials/{t['id']}/report",
                json={
                    "epoch": epoch,
                    "value": acc,
                    "train_loss": 1.2 * (1 - acc) + 0.05,
                    "dev_loss": 1.2 * (1 - acc) + 0.12,
                },
            ).raise_for_status()
        if i == 3:
            tell: dict[str, Any] = {"state": "pruned", "error": "pruned by the test"}
        elif i == 5:
            tell = {"state": "failed", "error": "failed on purpose"}
        else:
            tell = {
                "value": final,
                "metrics": {"train_error": max(0.0, 1 - final - 0.03), "dev_error": 1 - final},
            }
        api.post(f"/trials/{t['id']}/tell", json=tell).raise_for_status()
    return api.get(f"/studies/{study['id']}").json()


def make_simple_study(api: httpx.Client, name: str, n_trials: int = 5) -> dict[str, Any]:
    body = {
        "name": name,
        "mode": "ask_tell",
        "objective": {"metric": "loss", "direction": "minimize"},
        "space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
        "sampler": {"type": "random"},
        "n_trials": n_trials,
    }
    r = api.post("/studies", json=body)
    r.raise_for_status()
    study = r.json()
    for _ in range(n_trials):
        t = api.post(f"/studies/{study['id']}/ask").json()
        api.post(
            f"/trials/{t['id']}/tell", json={"value": t["params"]["x"] ** 2}
        ).raise_for_status()
    return api.get(f"/studies/{study['id']}").json()


# Full-batch gradient descent on the diabetes regression: at learning rate 1.0 the squared loss
# grows geometrically and overflows at epoch 4 whatever the seed (3 finite epochs first); at 0.01
# it trains normally. The tell API accepts only completed/failed/pruned, so a diverged trial is
# one the engine really ran into NaN/inf.
DIVERGING_LR = 1.0
SAFE_LR = 0.01


def make_diverged_study(api: httpx.Client, name: str, timeout: float = 120.0) -> dict[str, Any]:
    """A Caviar study the server runs with the engine: a grid over two learning rates, one that
    trains and one that diverges. Returns the finished study with its `trials`."""
    body = {
        "name": name,
        "mode": "caviar",
        "objective": {
            "dataset": "diabetes",
            "metric": "dev_loss",
            "direction": "minimize",
            "fixed": {"optimizer": "gd", "epochs": 8, "layers": [8], "batch_size": 1024},
        },
        "space": {"learning_rate": {"type": "categorical", "choices": [SAFE_LR, DIVERGING_LR]}},
        "sampler": {"type": "grid"},
        "pruner": {"type": "none"},
        "n_trials": 2,
        "n_workers": 1,
        "seed": 0,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    deadline = time.monotonic() + timeout
    study = r.json()
    while study["state"] not in ("completed", "failed", "stopped"):
        if time.monotonic() > deadline:
            raise AssertionError(f"study {sid} still {study['state']} after {timeout} s")
        time.sleep(0.3)
        study = api.get(f"/studies/{sid}").json()
    items = api.get(f"/studies/{sid}/trials", params={"limit": 10}).json()["items"]
    study["trials"] = [api.get(f"/trials/{t['id']}").json() for t in items]
    states = sorted(t["state"] for t in study["trials"])
    assert states == ["completed", "diverged"], (study["state"], study["trials"])
    return study


def bulk_study(
    api: httpx.Client, database_url: str, n: int = 10_000, epochs: int = 5
) -> dict[str, Any]:
    """A 10,000-trial study: created through the API, its trials bulk-inserted with SQL."""
    from sqlalchemy import create_engine, insert, update

    from service.models import Study, Trial, TrialEpoch

    body = {
        "name": "bulk-10k",
        "mode": "ask_tell",
        "objective": {"metric": "dev_accuracy", "direction": "maximize"},
        "space": SPACE,
        "sampler": {"type": "coarse_to_fine", "rounds": 4, "top_fraction": 0.25},
        "n_trials": n,
    }
    r = api.post("/studies", json=body)
    r.raise_for_status()
    sid = r.json()["id"]
    rng = random.Random(0)
    t0 = datetime.now(UTC) - timedelta(hours=3)
    rows = []
    for i in range(n):
        p = {
            "learning_rate": 10 ** rng.uniform(-4, 0),
            "beta": 1 - 10 ** rng.uniform(-3, -1),
            "batch_size": 2 ** rng.randint(4, 9),
            "hidden_units": round(10 ** rng.uniform(math.log10(16), math.log10(256))),
            "optimizer": rng.choice(["momentum", "adam"]),
        }
        state = "completed" if i % 50 else "pruned"
        start = t0 + timedelta(seconds=i)
        rows.append(
            {
                "study_id": sid,
                "number": i,
                "state": state,
                "params": p,
                "value": synthetic_accuracy(p) if state == "completed" else None,
                "round": min(3, i * 4 // n),
                "retries": 0,
                "created_at": start,
                "started_at": start,
                "finished_at": start + timedelta(seconds=0.8),
            }
        )
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Trial), rows)
            ids = [
                r[0]
                for r in conn.execute(
                    Trial.__table__.select()
                    .with_only_columns(Trial.id)
                    .where(Trial.study_id == sid)
                )
            ]
            epochs_rows = [
                {
                    "trial_id": tid,
                    "epoch": e,
                    "value": 0.5 + 0.05 * e,
                    "train_loss": 1.0 / e,
                    "dev_loss": 1.1 / e,
                    "created_at": t0,
                }
                for tid in ids
                for e in range(1, epochs + 1)
            ]
            conn.execute(insert(TrialEpoch), epochs_rows)
            conn.execute(
                update(Study)
                .where(Study.id == sid)
                .values(next_number=n, n_finished=n, state="completed", started_at=t0)
            )
    finally:
        engine.dispose()
    return api.get(f"/studies/{sid}").json()
