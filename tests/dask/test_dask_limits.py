"""The per-trial memory and time limits (HPSEARCH_TRIAL_MEMORY_MB, HPSEARCH_TRIAL_TIMEOUT_S)
on a real Dask cluster (LocalCluster, 2 process workers on 127.0.0.1) and the real Postgres: a
trial past either limit fails with a readable reason, the Dask workers survive and run the next
study; on a daemonic worker (no child processes) a trial with limits fails with the reason."""

from __future__ import annotations

import multiprocessing
import os

import httpx
import pytest
from dask_helpers import wait_for

pytestmark = pytest.mark.postgres

TIMEOUT_S = 5
MEMORY_MB = 800
MOONS = {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"}


def _study(n_trials: int, epochs: int, layers: list[int], n_workers: int = 1) -> dict:
    return {
        "name": "dask-limits",
        "mode": "caviar",
        "objective": MOONS | {"fixed": {"epochs": epochs, "layers": layers, "batch_size": 64}},
        "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "scale": "log"}},
        "sampler": {"type": "random"},
        "n_trials": n_trials,
        "n_workers": n_workers,
        "max_retries": 0,
        "seed": 1,
    }


def _create(api: httpx.Client, body: dict) -> int:
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _trials(api: httpx.Client, sid: int) -> list[dict]:
    return api.get(f"/studies/{sid}/trials", params={"limit": 1000}).json()["items"]


def _finished(api: httpx.Client, sid: int) -> dict | None:
    s = api.get(f"/studies/{sid}").json()
    return s if s["state"] in ("completed", "failed", "stopped") else None


def _only_trial(api: httpx.Client, sid: int) -> dict:
    wait_for(lambda: _finished(api, sid), timeout=60)
    (t,) = _trials(api, sid)
    return t


def _is_daemon() -> bool:
    return bool(multiprocessing.current_process().daemon)


def _set_daemon(flag: bool) -> None:
    # What a Nanny's worker process looks like by default (distributed.worker.daemon: true);
    # multiprocessing reads this very flag when the process starts a child.
    multiprocessing.current_process()._config["daemon"] = flag


@pytest.fixture(scope="module")
def limits_server(cluster, fresh_pg, start_server):
    """A server with the per-trial limits whose default executor is the cluster."""
    lc, _ = cluster
    srv = start_server(
        HPSEARCH_DATABASE_URL=fresh_pg(),
        HPSEARCH_DASK_SCHEDULER=lc.scheduler_address,
        HPSEARCH_TRIAL_TIMEOUT_S=str(TIMEOUT_S),
        HPSEARCH_TRIAL_MEMORY_MB=str(MEMORY_MB),
    )
    with httpx.Client(base_url=srv.base_url + "/api/v1", timeout=30.0) as api:
        yield api


def test_trial_out_of_memory_or_time_fails_and_the_dask_workers_survive(
    cluster, limits_server
) -> None:
    _, client = cluster
    api = limits_server
    workers = set(client.scheduler_info()["workers"])
    # The deployment requirement of the limits (docs/scaling.md), set by the cluster fixture.
    assert not any(client.run(_is_daemon).values())
    pids = client.run(os.getpid)

    # Out of memory: eight 4096-unit layers need gigabytes; out of time: 100,000 epochs.
    oom = _create(api, _study(n_trials=1, epochs=5, layers=[4096] * 8))
    slow = _create(api, _study(n_trials=1, epochs=100_000, layers=[8]))

    oom_trial = _only_trial(api, oom)
    assert oom_trial["state"] == "failed", oom_trial
    assert "out of memory" in oom_trial["error"], oom_trial
    assert f"{MEMORY_MB} MB" in oom_trial["error"], oom_trial
    slow_trial = _only_trial(api, slow)
    assert slow_trial["state"] == "failed", slow_trial
    assert "timed out" in slow_trial["error"], slow_trial
    assert f"{TIMEOUT_S} s" in slow_trial["error"], slow_trial
    # It trained until it was killed: the limit stopped it, not an early error.
    assert api.get(f"/trials/{slow_trial['id']}").json()["history"], slow_trial

    # The workers survived both: the same processes run a normal study to its end.
    after = _create(api, _study(n_trials=2, epochs=5, layers=[8], n_workers=2))
    done = wait_for(lambda: _finished(api, after), timeout=60)
    assert done["state"] == "completed", done
    trials = _trials(api, after)
    assert [t["state"] for t in trials] == ["completed", "completed"], trials
    assert client.run(os.getpid) == pids

    # Every trial ran on a Dask worker, not in the server's local pool.
    ran_on = {t["worker"] for t in [oom_trial, slow_trial, *trials]}
    assert ran_on <= workers, (ran_on, workers)


def test_limits_on_a_daemonic_worker_fail_the_trial_with_the_reason(cluster, limits_server) -> None:
    _, client = cluster
    api = limits_server
    client.run(_set_daemon, True)
    try:
        sid = _create(api, _study(n_trials=1, epochs=5, layers=[8]))
        trial = _only_trial(api, sid)
    finally:
        client.run(_set_daemon, False)
    assert trial["state"] == "failed", trial
    error = trial["error"]
    assert "daemonic" in error and "distributed.worker.daemon: false" in error, error
    assert f"HPSEARCH_TRIAL_TIMEOUT_S={TIMEOUT_S}" in error, error
    assert trial["worker"] in set(client.scheduler_info()["workers"]), trial
    # The worker itself is fine: with the flag back, the next trial runs under the limits.
    again = _create(api, _study(n_trials=1, epochs=5, layers=[8]))
    assert _only_trial(api, again)["state"] == "completed"
