"""Faults inside the worker pool: a worker SIGKILLed mid-trial, a trial that raises, runs out of
its memory limit or out of its time limit. Real server processes, real signals, both backends."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from hardening_helpers import caviar, create, finished, history, study, trial_processes, wait_for

# About 4.5 s a trial on an idle machine. The kill needs both trials running with two batches of
# epochs written (the first batch is written at epoch 1, the next a second later), and the
# second trial starts up to a second after the first: shorter trials left that window too
# narrow to catch on a fast machine.
EPOCHS = 3000


def _running_with_history(c, sid: int, n: int) -> list[dict]:
    running = [t for t in _trials(c, sid) if t["state"] == "running"]
    if len(running) < n:
        return []
    if all(len(history(c, t["id"])) >= 2 for t in running[:n]):
        return running
    return []


def _trials(c, sid: int) -> list[dict]:
    return c.get(f"/studies/{sid}/trials", params={"limit": 1000}).json()["items"]


def _kill_one_trial_process(server) -> int:
    procs = wait_for(lambda: trial_processes(server.pid), what="a trial process")
    victim = procs[0]
    os.kill(victim.pid, signal.SIGKILL)
    return int(victim.pid)


def test_sigkill_worker_mid_trial_fails_it_and_the_study_goes_on(main_server) -> None:
    with main_server.client() as c:
        sid = create(c, caviar(n_trials=3, epochs=EPOCHS, n_workers=2, max_retries=0))
        wait_for(lambda: _running_with_history(c, sid, 2), what="two trials running")
        pid = _kill_one_trial_process(main_server)

        done = finished(c, sid)
        got = _trials(c, sid)
        failed = [t for t in got if t["state"] == "failed"]
        assert len(failed) == 1, got
        assert "worker lost" in failed[0]["error"] and "SIGKILL" in failed[0]["error"]
        assert str(pid) in failed[0]["error"]
        # The other trials ran on to the end, and the study spent its whole budget.
        assert done["state"] == "completed", done
        assert done["progress"]["total"] == 3
        assert done["progress"]["completed"] == 2, done["progress"]
        for t in got:
            if t["state"] == "completed":
                assert len(history(c, t["id"])) == EPOCHS


def test_sigkill_worker_with_retries_reruns_the_trial(main_server) -> None:
    with main_server.client() as c:
        sid = create(c, caviar(n_trials=2, epochs=EPOCHS, n_workers=2, max_retries=1))
        wait_for(lambda: _running_with_history(c, sid, 2), what="two trials running")
        _kill_one_trial_process(main_server)

        done = finished(c, sid)
        got = _trials(c, sid)
        assert done["state"] == "completed"
        assert [t["state"] for t in got] == ["completed", "completed"], got
        retried = [t for t in got if t["retries"] == 1]
        assert len(retried) == 1, got
        # Resumed from its last checkpoint: one row per epoch, no gap, no duplicate.
        assert [h["epoch"] for h in history(c, retried[0]["id"])] == list(range(1, EPOCHS + 1))


def test_trial_raises_out_of_memory_or_time_and_the_pool_survives(main_server) -> None:
    data_dir = Path(main_server.data_dir)
    with main_server.client() as c:
        # A trial that raises: its dataset file disappears before the trial loads it.
        folder = data_dir / "datasets"
        before = set(folder.iterdir()) if folder.exists() else set()
        up = c.post(
            "/datasets",
            files={"file": ("gone.csv", b"a,b,y\n" + b"0,1,0\n1,0,1\n1,1,0\n0,0,1\n" * 10)},
            data={"name": f"gone-{os.getpid()}"},
        )
        assert up.status_code == 201, up.text
        (stored,) = set(folder.iterdir()) - before
        stored.unlink()
        raises = create(c, caviar(n_trials=1, epochs=5, n_workers=1, dataset=up.json()["name"]))
        # Out of memory: eight 4096-unit layers need gigabytes; the limit is 800 MB.
        oom = create(c, caviar(n_trials=1, epochs=5, n_workers=1, layers=[4096] * 8))
        # Out of time: far more epochs than HPSEARCH_TRIAL_TIMEOUT_S=15 allows.
        slow = create(c, caviar(n_trials=1, epochs=100_000, n_workers=1))

        def only_trial(sid: int) -> dict:
            finished(c, sid, timeout=120)
            (t,) = _trials(c, sid)
            assert t["state"] == "failed", t
            return t

        assert "dataset" in only_trial(raises)["error"]
        oom_error = only_trial(oom)["error"]
        assert "out of memory" in oom_error and "800 MB" in oom_error, oom_error
        slow_error = only_trial(slow)["error"]
        assert "timed out" in slow_error and "15 s" in slow_error, slow_error

        # The pool survived all three: later trials run and complete.
        after = create(c, caviar(n_trials=2, epochs=5, n_workers=2))
        assert finished(c, after)["state"] == "completed"
        assert study(c, after)["progress"]["completed"] == 2
