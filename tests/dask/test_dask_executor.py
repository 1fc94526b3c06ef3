"""Trials on a real Dask cluster (LocalCluster, 2 process workers on 127.0.0.1) and the real
Postgres: sweeps, pruning, a study stopped mid-sweep, Panda controls, a worker killed mid-sweep
and a sweep run by an `hpsearch worker` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from dask_helpers import wait_for

pytestmark = pytest.mark.postgres

MOONS = {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"}
FINISHED = ("completed", "pruned", "failed", "stopped", "diverged")
SPACE = {"learning_rate": {"type": "float", "low": 0.01, "high": 0.5, "scale": "log"}}


def _sweep(epochs: int, n_trials: int, **extra) -> dict:
    return {
        "name": "dask-sweep",
        "mode": "caviar",
        "objective": MOONS | {"fixed": {"epochs": epochs, "layers": [8], "batch_size": 64}},
        "space": SPACE,
        "sampler": {"type": "random"},
        "n_trials": n_trials,
        "n_workers": 2,
        "seed": 1,
        **extra,
    }


def _trials(api: httpx.Client, sid: int) -> list[dict]:
    return api.get(f"/studies/{sid}/trials", params={"limit": 1000}).json()["items"]


def _finished(api: httpx.Client, sid: int) -> dict | None:
    s = api.get(f"/studies/{sid}").json()
    return s if s["state"] in ("completed", "failed", "stopped") else None


@pytest.fixture(scope="module")
def dask_server(cluster, fresh_pg, start_server):
    """A server whose default executor is the cluster (HPSEARCH_DASK_SCHEDULER)."""
    lc, _ = cluster
    srv = start_server(
        HPSEARCH_DATABASE_URL=fresh_pg(), HPSEARCH_DASK_SCHEDULER=lc.scheduler_address
    )
    with httpx.Client(base_url=srv.base_url + "/api/v1", timeout=30.0) as api:
        yield api


@pytest.fixture(scope="module")
def plain_server(fresh_pg, start_server):
    """A server without HPSEARCH_DASK_SCHEDULER: studies name their Dask executor themselves."""
    srv = start_server(HPSEARCH_DATABASE_URL=fresh_pg())
    with httpx.Client(base_url=srv.base_url + "/api/v1", timeout=30.0) as api:
        yield api


def test_sweep_runs_every_trial_on_a_dask_worker(cluster, dask_server) -> None:
    _, client = cluster
    workers = set(client.scheduler_info()["workers"])
    r = dask_server.post("/studies", json=_sweep(epochs=3, n_trials=6))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    study = wait_for(lambda: _finished(dask_server, sid), timeout=60)
    assert study["state"] == "completed", study
    trials = _trials(dask_server, sid)
    assert len(trials) == 6
    assert all(t["state"] == "completed" for t in trials), trials
    assert {t["worker"] for t in trials} <= workers, (trials, workers)
    one = dask_server.get(f"/trials/{trials[0]['id']}").json()
    assert one["worker"] in workers and len(one["history"]) == 3


GOOD_LR = (0.3, 0.1)
BAD_LR = (1e-5, 2e-5, 5e-5, 1e-4)  # moons stays near chance (~0.47 dev accuracy) for epochs


def test_median_pruner_prunes_bad_trials_on_dask_workers(cluster, dask_server) -> None:
    """Pruning on Dask: each epoch's verdict is the study's pruner's, judged by the worker
    against the other trials' epochs in Postgres. The grid (not shuffled) runs the two good
    learning rates first; each later trial starts after one of them completed, and its curve
    is far below theirs, so every one of them is pruned."""
    _, client = cluster
    workers = set(client.scheduler_info()["workers"])
    epochs = 15
    choices = [*GOOD_LR, *BAD_LR]
    body = _sweep(epochs=epochs, n_trials=len(choices))
    body |= {
        "space": {"learning_rate": {"type": "categorical", "choices": choices}},
        "sampler": {"type": "grid", "shuffle": False},
        "pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 2},
    }
    r = dask_server.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    study = wait_for(lambda: _finished(dask_server, sid), timeout=90)
    assert study["state"] == "completed", study
    trials = _trials(dask_server, sid)
    assert len(trials) == len(choices)
    assert not [t for t in trials if t["state"] in ("running", "queued", "paused")], trials
    assert {t["worker"] for t in trials} <= workers, (trials, workers)
    by_lr = {t["params"]["learning_rate"]: t for t in trials}
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned, trials
    # The first good trial to finish had no completed peer to be judged against. (The other
    # one may be pruned too: 0.1 trails 0.3 at some early epochs.)
    assert "completed" in {by_lr[lr]["state"] for lr in GOOD_LR}, trials
    for lr in BAD_LR:
        t = by_lr[lr]
        assert t["state"] == "pruned", t
        # Stopped at the first epoch past the warm-up, not trained to the end.
        history = dask_server.get(f"/trials/{t['id']}").json()["history"]
        assert 2 <= len(history) < epochs, (t, len(history))
    assert study["progress"]["pruned"] == len(pruned) >= len(BAD_LR), study


def test_stopping_a_study_stops_its_trials_on_the_dask_workers(cluster, dask_server) -> None:
    """POST /studies/{id}/stop mid-sweep: the running trials read their stop control through
    Postgres, end `stopped` well before their 100,000 epochs, no trial is left queued or
    running, and the Dask workers are free again."""
    _, client = cluster
    workers = set(client.scheduler_info()["workers"])
    epochs = 100_000
    r = dask_server.post("/studies", json=_sweep(epochs=epochs, n_trials=6))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def both_training():
        running = [t for t in _trials(dask_server, sid) if t["state"] == "running"]
        if len(running) < 2:
            return None
        if all(dask_server.get(f"/trials/{t['id']}").json()["history"] for t in running):
            return running
        return None

    running = wait_for(both_training, timeout=60)
    assert {t["worker"] for t in running} == workers, (running, workers)
    t0 = time.monotonic()
    r = dask_server.post(f"/studies/{sid}/stop")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "stopped"

    def settled():
        items = _trials(dask_server, sid)
        return items if all(t["state"] in FINISHED for t in items) else None

    trials = wait_for(settled, timeout=30)
    elapsed = time.monotonic() - t0
    # Workers read controls at each flush (once a second): seconds, not the trials' length.
    assert elapsed < 20, elapsed
    assert dask_server.get(f"/studies/{sid}").json()["state"] == "stopped"
    for t in running:
        t = next(x for x in trials if x["id"] == t["id"])
        assert t["state"] == "stopped", t
        assert t["worker"] in workers, t
        assert len(dask_server.get(f"/trials/{t['id']}").json()["history"]) < epochs
    # Two trials were in flight (one per worker), and the stop started no other.
    assert len(trials) == 2 and all(t["state"] == "stopped" for t in trials), trials
    # The tasks ended too: no trial keeps a Dask worker busy after the stop.
    wait_for(lambda: not any(client.processing().values()), timeout=30)
    time.sleep(1.5)  # past a runner pass and a flush: still nothing new
    assert len(_trials(dask_server, sid)) == len(trials)


def test_panda_set_reaches_a_trial_on_a_dask_worker(cluster, plain_server) -> None:
    lc, client = cluster
    workers = set(client.scheduler_info()["workers"])
    body = {
        "name": "dask-panda",
        "mode": "panda",
        "objective": MOONS,
        "params": {"learning_rate": 0.05, "epochs": 5000, "layers": [8], "batch_size": 64},
        "executor": {"type": "dask", "address": lc.scheduler_address},
    }
    r = plain_server.post("/studies", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["executor"] == {"type": "dask", "address": lc.scheduler_address}
    sid = r.json()["id"]

    def running_trial():
        items = _trials(plain_server, sid)
        if items and items[0]["state"] == "running" and items[0]["worker"]:
            t = plain_server.get(f"/trials/{items[0]['id']}").json()
            return t if len(t["history"]) >= 2 else None
        return None

    trial = wait_for(running_trial, timeout=60)
    assert trial["worker"] in workers
    tid = trial["id"]
    r = plain_server.post(
        f"/trials/{tid}/control", json={"action": "set", "params": {"learning_rate": 0.0123}}
    )
    assert r.status_code < 300, r.text

    def lr_applied():
        h = plain_server.get(f"/trials/{tid}").json()["history"]
        return any(abs(row.get("learning_rate", 0) - 0.0123) < 1e-9 for row in h)

    wait_for(lr_applied, timeout=30)
    assert plain_server.post(f"/trials/{tid}/control", json={"action": "stop"}).status_code < 300
    wait_for(lambda: plain_server.get(f"/trials/{tid}").json()["state"] == "stopped", timeout=30)
    history = plain_server.get(f"/trials/{tid}").json()["history"]
    assert history[0]["learning_rate"] == pytest.approx(0.05)
    assert history[-1]["learning_rate"] == pytest.approx(0.0123)


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_worker_killed_mid_sweep_loses_only_its_trial(
    cluster, dask_server, max_retries: int
) -> None:
    _, client = cluster
    n_trials = 3
    r = dask_server.post(
        "/studies", json=_sweep(epochs=3000, n_trials=n_trials, max_retries=max_retries)
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def pids() -> dict[str, int]:
        # Newer distributed no longer lists "pid" in scheduler_info(): ask the workers then.
        info = client.scheduler_info()["workers"]
        if all("pid" in w for w in info.values()):
            return {addr: int(w["pid"]) for addr, w in info.items()}
        return {addr: int(pid) for addr, pid in client.run(os.getpid).items()}

    def victim():
        by_address = pids()
        for t in _trials(dask_server, sid):
            if t["state"] == "running" and t["worker"] in by_address:
                h = dask_server.get(f"/trials/{t['id']}").json()["history"]
                if len(h) >= 2:
                    return t, by_address[t["worker"]]
        return None

    trial, pid = wait_for(victim, timeout=60, every=0.1)
    os.kill(pid, signal.SIGKILL)

    study = wait_for(lambda: _finished(dask_server, sid), timeout=90)
    assert study["state"] == "completed", study
    trials = _trials(dask_server, sid)
    assert len(trials) == n_trials
    assert not [t for t in trials if t["state"] in ("running", "queued", "paused")], trials
    lost = next(t for t in trials if t["id"] == trial["id"])
    if max_retries == 0:
        assert lost["state"] == "failed", lost
        assert "worker lost" in (lost["error"] or ""), lost
        assert sum(t["state"] == "completed" for t in trials) == n_trials - 1
    else:
        assert lost["retries"] == 1, lost
        assert lost["state"] == "completed", lost
        assert all(t["state"] == "completed" for t in trials), trials


@pytest.fixture
def lone_scheduler():
    """A Dask scheduler on 127.0.0.1 with no worker of its own: whatever joins it runs all of
    its tasks."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=0, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as lc:
        yield lc


def test_hpsearch_worker_runs_a_sweep_pinned_to_it(lone_scheduler, dask_server, tmp_path) -> None:
    """`hpsearch worker --scheduler ADDR` starts a Dask worker that joins and runs the service's
    trials: a study whose executor is a scheduler with only that worker runs every trial on it."""
    from distributed import Client

    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hpsearch.cli.main", "worker"),
            *("--scheduler", lone_scheduler.scheduler_address),
            *("--name", "hpsearch-cli-worker", "--host", "127.0.0.1"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with Client(lone_scheduler.scheduler_address, set_as_default=False) as client:
            workers = wait_for(lambda: client.scheduler_info()["workers"], timeout=60, every=0.3)
            ((address, info),) = workers.items()
            assert info["name"] == "hpsearch-cli-worker" and info["nthreads"] == 1
            assert address.startswith("tcp://127.0.0.1:"), address
            # Not daemonic (trials with limits start a child process there): the Dask config
            # the nanny reads when it starts the worker process.
            import dask

            assert client.run(dask.config.get, "distributed.worker.daemon") == {address: False}
        # --host 127.0.0.1: the nanny, the worker and its diagnostics page listen there only.
        listening = _listening(proc.pid)
        assert listening and {ip for ip, _ in listening} == {"127.0.0.1"}, listening

        body = _sweep(epochs=3, n_trials=3)
        body["executor"] = {"type": "dask", "address": lone_scheduler.scheduler_address}
        r = dask_server.post("/studies", json=body)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        study = wait_for(lambda: _finished(dask_server, sid), timeout=90)
        assert study["state"] == "completed", (study, log_path.read_text()[-3000:])
        trials = _trials(dask_server, sid)
        assert len(trials) == 3 and all(t["state"] == "completed" for t in trials), trials
        assert {t["worker"] for t in trials} == {address}, trials
        for t in trials:
            assert len(dask_server.get(f"/trials/{t['id']}").json()["history"]) == 3
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def _listening(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of the TCP sockets a process and its children listen on."""
    import psutil

    root = psutil.Process(pid)
    out = set()
    for p in [root, *root.children(recursive=True)]:
        for c in p.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN:
                out.add((c.laddr.ip, c.laddr.port))
    return out
