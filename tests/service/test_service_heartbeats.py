"""Worker liveness and batched epoch writes, on SQLite and Postgres.

* a trial's Heartbeat thread beats however long its epochs take;
* the scheduler's reaper fails (or re-queues) a trial whose worker stopped beating, and only
  that one;
* a Caviar trial without a pruner writes its epochs in batches; with a pruner, or in Panda
  mode, every epoch.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from service.core.config import Settings
from service.core.db import Database, upgrade
from service.models import Trial, utcnow
from service.scheduler import worker
from service.scheduler.runner import Scheduler
from service.store import Store, StudySpec


def _spec(mode: str = "caviar", pruner: str = "none", epochs: int = 30, retries: int = 0):
    return StudySpec(
        name="hb",
        mode=mode,
        objective={
            "dataset": "moons",
            "metric": "dev_accuracy",
            "direction": "maximize",
            "fixed": {"epochs": epochs, "layers": [8], "batch_size": 32},
        },
        space={"learning_rate": {"type": "float", "low": 1e-3, "high": 0.1, "scale": "log"}},
        sampler={"type": "random"},
        pruner={"type": pruner} if pruner == "none" else {"type": pruner, "n_startup_trials": 5},
        params={"learning_rate": 0.05} if mode == "panda" else None,
        n_trials=4,
        n_workers=1,
        seed=0,
        max_retries=retries,
    )


@pytest.fixture
def store(backend: str, fresh_database):
    url = fresh_database(backend)
    upgrade(url)
    s = Store(Database(url))
    yield s
    s.db.dispose()


def _running_trial(store: Store, sid: int, beat_age_s: float) -> int:
    tid = store.add_trial(sid, {"learning_rate": 0.01}, "running").id
    with store.db.write_conn() as conn:
        conn.execute(
            update(Trial)
            .where(Trial.id == tid)
            .values(heartbeat_at=utcnow() - timedelta(seconds=beat_age_s))
        )
    return tid


def test_heartbeat_thread_beats_while_the_trial_trains(store: Store) -> None:
    sid = store.create_study(_spec()).id
    tid = _running_trial(store, sid, beat_age_s=3600)
    old = store.get_trial(tid, history=False).heartbeat_at
    beat = worker.Heartbeat(store, tid, every=0.1)
    beat.start()
    try:
        deadline = time.monotonic() + 10
        while store.get_trial(tid, history=False).heartbeat_at == old:
            assert time.monotonic() < deadline, "no heartbeat in 10 s"
            time.sleep(0.05)
    finally:
        beat.stop()
        beat.join(5)
    assert store.get_trial(tid, history=False).heartbeat_at > old + timedelta(seconds=3000)
    # A finished trial's row is left alone.
    store.finish_trial(tid, "completed", value=0.5)
    done = store.get_trial(tid, history=False).heartbeat_at
    store.heartbeat(tid)
    assert store.get_trial(tid, history=False).heartbeat_at == done


def test_reaper_fails_only_the_trial_whose_worker_went_silent(store: Store, tmp_path: Path) -> None:
    study = store.create_study(_spec())
    store.stop_study(study.id)  # no runner starts trials of its own: only ours are running
    settings = Settings(
        database_url=str(store.db.engine.url.render_as_string(hide_password=False)),
        data_dir=tmp_path,
        heartbeat_timeout=2.0,
        max_workers=1,
    )
    silent = _running_trial(store, study.id, beat_age_s=3600)
    alive = _running_trial(store, study.id, beat_age_s=0)
    beat = worker.Heartbeat(store, alive, every=0.2)
    beat.start()
    scheduler = Scheduler(settings, store)  # not started: only its reaper runs here
    try:
        threading.Thread(target=scheduler._reap_stale, daemon=True).start()
        deadline = time.monotonic() + 20
        while store.get_trial(silent, history=False).state != "failed":
            assert time.monotonic() < deadline, "the silent trial was never reaped"
            time.sleep(0.1)
        got = store.get_trial(silent, history=False)
        assert "no heartbeat" in (got.error or "") and "2 s" in got.error
        assert store.get_trial(alive, history=False).state == "running"
    finally:
        beat.stop()
        scheduler.shutdown()


class _Counting:
    """Counts the store writes a trial makes (patched onto the Store class)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.epoch_writes = 0
        self.checkpoint_writes = 0
        record, save = Store.record_epochs, Store.save_checkpoint

        def record_epochs(s: Store, *a: Any, **kw: Any) -> Any:
            self.epoch_writes += 1
            return record(s, *a, **kw)

        def save_checkpoint(s: Store, *a: Any, **kw: Any) -> Any:
            self.checkpoint_writes += 1
            return save(s, *a, **kw)

        monkeypatch.setattr(Store, "record_epochs", record_epochs)
        monkeypatch.setattr(Store, "save_checkpoint", save_checkpoint)


def _run_one(store: Store, spec: StudySpec) -> Any:
    sid = store.create_study(spec).id
    tid = (
        store.add_trial(sid, spec.params or {}, "queued")
        if spec.mode == "panda"
        else store.ask(sid, state="queued")
    ).id
    url = store.db.engine.url.render_as_string(hide_password=False)
    assert worker.run_trial(url, tid) == "completed"
    return store.get_trial(tid, history=True)


def test_caviar_epochs_are_written_in_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = _Counting(monkeypatch)
    monkeypatch.setattr(worker, "FLUSH_SECONDS", 3600.0)  # never due: all go with the finish
    trial = _run_one(store, _spec(epochs=30))
    assert [h["epoch"] for h in trial.history] == list(range(1, 31))
    assert counts.epoch_writes == 0 and counts.checkpoint_writes == 0
    assert trial.value == trial.history[-1]["dev_accuracy"]

    monkeypatch.setattr(worker, "FLUSH_SECONDS", 0.0)  # always due: one write per epoch
    counts.epoch_writes = counts.checkpoint_writes = 0
    trial = _run_one(store, _spec(epochs=30))
    assert [h["epoch"] for h in trial.history] == list(range(1, 31))
    assert counts.epoch_writes == 30
    # Each epoch's checkpoint goes out with its flush, after the epoch (epoch 0's is replaced
    # in memory before the first flush).
    assert counts.checkpoint_writes == 30
    assert store.latest_checkpoint(trial.id)[0] == 30


@pytest.mark.parametrize("mode, pruner", [("caviar", "median"), ("panda", "none")])
def test_pruned_and_panda_trials_write_every_epoch(
    store: Store, monkeypatch: pytest.MonkeyPatch, mode: str, pruner: str
) -> None:
    counts = _Counting(monkeypatch)
    monkeypatch.setattr(worker, "FLUSH_SECONDS", 3600.0)
    trial = _run_one(store, _spec(mode=mode, pruner=pruner, epochs=12))
    assert [h["epoch"] for h in trial.history] == list(range(1, 13))
    assert counts.epoch_writes == 12
    assert counts.checkpoint_writes == 13  # epoch 0 and every epoch, as they come
