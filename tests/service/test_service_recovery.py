"""A server that stops under running trials: the next one fails them or re-queues them."""

from __future__ import annotations

import time

import httpx
from service_helpers import wait_for


def _study(c: httpx.Client, max_retries: int) -> int:
    body = {
        "mode": "caviar",
        "objective": {
            "dataset": "moons",
            "metric": "dev_accuracy",
            "direction": "maximize",
            "fixed": {"epochs": 100_000, "layers": [8], "batch_size": 16},
        },
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 0.1, "scale": "log"}},
        "n_trials": 1,
        "n_workers": 1,
        "max_retries": max_retries,
    }
    r = c.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _trial(c: httpx.Client, sid: int) -> dict:
    items = c.get(f"/studies/{sid}/trials").json()["items"]
    return items[0] if items else {}


def test_restart_fails_or_requeues_lost_trials(backend, fresh_database, start_server) -> None:
    url = fresh_database(backend)
    first = start_server(url)
    with httpx.Client(base_url=first.base_url + "/api/v1", timeout=30) as c:
        no_retry, retry = _study(c, 0), _study(c, 1)
        for sid in (no_retry, retry):
            wait_for(lambda sid=sid: _trial(c, sid).get("state") == "running")
            wait_for(
                lambda sid=sid: len(c.get(f"/trials/{_trial(c, sid)['id']}").json()["history"]) >= 2
            )
    first.stop()

    second = start_server(url)
    with httpx.Client(base_url=second.base_url + "/api/v1", timeout=30) as c:
        lost = _trial(c, no_retry)
        assert lost["state"] == "failed"
        assert "lost" in lost["error"]
        study = wait_for(
            lambda: (s := c.get(f"/studies/{no_retry}").json())["state"] != "running" and s
        )
        assert study["state"] == "failed"

        again = wait_for(
            lambda: (t := _trial(c, retry))["state"] == "running" and t["retries"] == 1 and t
        )
        assert "retry 1 of 1" in again["error"]
        # It goes on from its last checkpoint: the epochs before the restart are still there.
        time.sleep(0.5)
        assert len(c.get(f"/trials/{again['id']}").json()["history"]) >= 2
        assert c.post(f"/studies/{retry}/stop").status_code == 200
        final = wait_for(
            lambda: (t := _trial(c, retry))["state"] not in ("running", "queued") and t
        )
        assert final["state"] == "stopped"
