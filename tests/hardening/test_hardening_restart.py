"""SIGKILL the server mid-sweep and start it again on the same database.

Extends tests/service/test_service_recovery.py (a clean SIGTERM stop, one trial per study) with
a real crash: several trials, finished ones checked value by value and epoch by epoch, the
Caviar study finishing its budget, and a Panda run resuming from its last checkpoint.
"""

from __future__ import annotations

from datetime import datetime

import psutil
from hardening_helpers import (
    caviar,
    create,
    finished,
    history,
    trial_processes,
    trials,
    wait_for,
)

# About 4.5 s a trial on an idle machine (epochs reach the database in batches, every second):
# long enough that two trials started up to a second apart are both mid-way together for a
# while, and that a trial is still mid-way when another is done, whatever the machine's speed.
CAVIAR_EPOCHS = 3000
# Every epoch written and checkpointed: started once a sweep trial is done, it must still be
# running when the crash comes (400 epochs were over in about a second on a fast machine).
PANDA_EPOCHS = 1000
ENV = {"HPSEARCH_MAX_WORKERS": "3"}


def _panda(max_retries: int) -> dict:
    return {
        "mode": "panda",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        "params": {
            "learning_rate": 0.05,
            "optimizer": "adam",
            "epochs": PANDA_EPOCHS,
            "layers": [8],
            "batch_size": 16,
            "checkpoint_every": 1,
        },
        "max_retries": max_retries,
    }


def test_sigkill_server_mid_sweep_then_resume(backend, fresh_db, launch) -> None:
    url = fresh_db(backend)
    first = launch(url, env=ENV).wait_ready()
    with first.client() as c:
        sweep = create(c, caviar(n_trials=4, epochs=CAVIAR_EPOCHS, n_workers=2, max_retries=1))
        wait_for(
            lambda: any(t["state"] == "completed" for t in trials(c, sweep)),
            timeout=90,
            what="a sweep trial done",
        )
        # Only now: the Panda run starts while the next sweep trials are young.
        panda = create(c, _panda(max_retries=1))

        def mid_sweep() -> bool:
            got = trials(c, sweep)
            done = [t for t in got if t["state"] == "completed"]
            running = [t for t in got if t["state"] == "running"]
            return bool(done) and any(len(history(c, t["id"])) >= 2 for t in running)

        def panda_mid_run() -> list[dict]:
            got = trials(c, panda)
            if got and got[0]["state"] == "running" and len(history(c, got[0]["id"])) >= 3:
                return got
            return []

        # Both at once: the crash must catch the sweep and the Panda run mid-way.
        mid = wait_for(
            lambda: mid_sweep() and panda_mid_run(),
            timeout=90,
            what="one trial done, one mid-way, and panda past epoch 3",
        )
        pt_id = mid[0]["id"]

        running = [t["id"] for t in trials(c, sweep) if t["state"] == "running"]
        _crash(first)

    # What the Panda run had written when the server died (its orphaned worker is gone too).
    rows_before = _epoch_times(url, pt_id)
    checkpoints_before = _checkpoint_epochs(url, pt_id)
    second = launch(url, env=ENV).wait_ready()
    with second.client() as c:
        after_crash = {t["id"]: t for t in trials(c, sweep)}
        done_before = {
            tid: (t, history(c, tid)) for tid, t in after_crash.items() if t["state"] == "completed"
        }
        assert done_before, after_crash

        final = finished(c, sweep, timeout=120)
        assert final["state"] == "completed", final
        assert final["progress"]["total"] == 4
        assert final["progress"]["completed"] == 4, final["progress"]
        end = {t["id"]: t for t in trials(c, sweep)}
        # Every finished trial is still there, with its value and its full history.
        for tid, (t, rows) in done_before.items():
            assert end[tid]["state"] == "completed"
            assert end[tid]["value"] == t["value"]
            assert history(c, tid) == rows
            assert len(rows) == CAVIAR_EPOCHS
        # Trials that were running were re-queued (max_retries=1) and finished.
        for tid in running:
            if tid not in done_before:  # still running when the server died
                assert end[tid]["retries"] == 1, end[tid]
        for tid in end:
            assert [h["epoch"] for h in history(c, tid)] == list(range(1, CAVIAR_EPOCHS + 1))

        # Panda resumes from its last checkpoint: the epochs before the crash stay as they
        # were, and the run goes on to its last epoch without a gap or a repeat.
        pstudy = finished(c, panda, timeout=120)
        assert pstudy["state"] == "completed", pstudy
        (pt,) = trials(c, panda)
        assert pt["id"] == pt_id
        assert pt["state"] == "completed" and pt["retries"] == 1, pt
        rows = history(c, pt["id"])
        assert [h["epoch"] for h in rows] == list(range(1, PANDA_EPOCHS + 1))
    # Resumed from the LAST checkpoint written before the crash, not an earlier one nor from
    # scratch: every epoch row written before the crash is kept as it was (same row, same
    # time), up to that checkpoint's epoch, and the epochs after it are new rows. The engine
    # checkpoints epoch k just before its row is written: a crash in between leaves checkpoint
    # k without its row, and the run resumes from k - 1 (the last checkpoint with its epoch).
    last = max(rows_before)
    assert last >= 3 and sorted(rows_before) == list(range(1, last + 1)), rows_before
    assert last in checkpoints_before and max(checkpoints_before) in (last, last + 1)
    written = _epoch_times(url, pt_id)
    kept = [e for e, at in sorted(written.items()) if rows_before.get(e) == at]
    assert kept == list(range(1, last + 1)), (kept, last, sorted(checkpoints_before))


def test_sigkill_server_without_retries_fails_lost_trials(backend, fresh_db, launch) -> None:
    """max_retries=0: the trials the crash caught are failed (the error says why) by the next
    server, and the study goes on to spend its budget with new trials, then completes."""
    url = fresh_db(backend)
    first = launch(url, env=ENV).wait_ready()
    with first.client() as c:
        sweep = create(c, caviar(n_trials=3, epochs=CAVIAR_EPOCHS, n_workers=2, max_retries=0))

        def two_mid_way() -> list[dict]:
            running = [t for t in trials(c, sweep) if t["state"] == "running"]
            if len(running) == 2 and all(len(history(c, t["id"])) >= 2 for t in running):
                return running
            return []

        running = wait_for(two_mid_way, timeout=90, what="two trials mid-way")
        _crash(first)

    second = launch(url, env=ENV).wait_ready()
    with second.client() as c:
        after = {t["id"]: t for t in trials(c, sweep)}
        # A trial may have finished in the instant before the kill; the others were lost.
        lost = [t["id"] for t in running if after[t["id"]]["state"] != "completed"]
        assert lost, after
        for tid in lost:
            t = after[tid]
            assert t["state"] == "failed" and t["retries"] == 0, t
            assert "lost" in t["error"] and "server" in t["error"], t
            # What it trained before the crash stays, with no hole.
            epochs = [h["epoch"] for h in history(c, tid)]
            assert epochs and epochs == list(range(1, len(epochs) + 1)), epochs

        final = finished(c, sweep, timeout=120)
        assert final["state"] == "completed", final
        p = final["progress"]
        assert p["total"] == 3 and p["failed"] == len(lost), p
        assert p["completed"] == 3 - len(lost), p
        end = {t["id"]: t for t in trials(c, sweep)}
        assert sorted(t["number"] for t in end.values()) == [0, 1, 2]
        for tid in lost:  # failed for good: not re-run by the new server
            assert end[tid]["state"] == "failed" and end[tid]["error"] == after[tid]["error"]


def _crash(server) -> None:
    """SIGKILL the server (no shutdown code runs), then wait for its orphaned trial processes
    to notice and exit: they must not race the next server for their trials."""
    workers = trial_processes(server.pid)
    assert workers
    helpers = [p for p in psutil.Process(server.pid).children() if p not in workers]
    server.kill()
    wait_for(lambda: not [p for p in workers if _alive(p)], timeout=10, what="orphans exit")
    for p in helpers:  # the dead server's forkserver and resource tracker, if still there
        if _alive(p):
            p.kill()


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _checkpoint_epochs(url: str, trial_id: int) -> set[int]:
    from sqlalchemy import select

    from service.core.db import Database
    from service.models import Checkpoint

    db = Database(url)
    try:
        with db.read() as s:
            q = select(Checkpoint.epoch).where(Checkpoint.trial_id == trial_id)
            return {int(e) for e in s.execute(q).scalars()}
    finally:
        db.dispose()


def _epoch_times(url: str, trial_id: int) -> dict[int, datetime]:
    from sqlalchemy import select

    from service.core.db import Database
    from service.models import TrialEpoch

    db = Database(url)
    try:
        with db.read() as s:
            q = select(TrialEpoch.epoch, TrialEpoch.created_at).where(
                TrialEpoch.trial_id == trial_id
            )
            return {int(e): at for e, at in s.execute(q)}
    finally:
        db.dispose()
