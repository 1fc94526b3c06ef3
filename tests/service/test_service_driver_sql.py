"""Epoch reports written at the driver level (service.driver_sql) read back exactly as rows
written through SQLAlchemy do: aware UTC datetimes, JSON, upserts, heartbeats that the stale
trial sweep compares, errors wrapped as SQLAlchemy's, and nothing half-written."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from service.core.db import Database, upgrade
from service.errors import Conflict, NotFound
from service.store import Store, StudySpec


def _spec(mode: str = "ask_tell") -> StudySpec:
    return StudySpec(
        name="driver",
        mode=mode,
        objective={"metric": "v", "direction": "minimize"},
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler={"type": "random"},
        pruner={"type": "none"},
        params=None,
        n_trials=5,
        n_workers=1,
        seed=0,
        max_retries=0,
    )


@pytest.fixture
def store(backend: str, fresh_database):
    url = fresh_database(backend)
    upgrade(url)
    s = Store(Database(url))
    assert s._driver is not None  # the path under test
    yield s
    s.db.dispose()


def test_reports_round_trip_with_types_and_upserts(store: Store) -> None:
    sid = store.create_study(_spec()).id
    t = store.ask(sid)
    before = datetime.now(UTC)
    got = store.record_epoch(t.id, 1, 0.5, {"train_loss": 2.0, "note": {"k": [1, 2]}})
    # The returned trial is what the ORM would load: aware datetimes, parsed JSON.
    assert got.id == t.id and got.params == t.params and got.state == "running"
    assert got.heartbeat_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= got.heartbeat_at <= datetime.now(UTC)
    # Several epochs in one transaction; epoch 1 reported again: the last report wins.
    store.record_epochs(
        t.id, [(1, 0.25, {"train_loss": 1.0}), (2, math.nan, {"dev_loss": math.inf})]
    )
    hist = store.get_trial(t.id).history
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[0]["value"] == 0.25 and hist[0]["train_loss"] == 1.0
    assert hist[1] == {"epoch": 2}  # NaN/inf stored as null, and nulls are left out
    one = store.record_epoch(t.id, 3, 0.1, {"note": {"k": [1, 2]}, "tag": "x"})
    assert one.heartbeat_at >= got.heartbeat_at
    hist = store.get_trial(t.id).history
    assert hist[2]["value"] == 0.1
    extra = {k: v for k, v in hist[2].items() if k in ("note", "tag")}
    assert extra == {"note": {"k": [1, 2]}, "tag": "x"}


def test_heartbeat_is_seen_by_the_stale_trial_sweep(store: Store) -> None:
    sid = store.create_study(_spec(mode="panda")).id  # the sweep leaves ask/tell trials alone
    t = store.add_trial(sid, {"x": 0.5}, state="queued")
    store.record_epochs(t.id, [(1, 0.5, {})], require_active=False)
    # Compared in SQL with datetimes bound by SQLAlchemy: same storage format on SQLite.
    assert t.id in store.stale_trial_ids(datetime.now(UTC) + timedelta(seconds=5))
    assert t.id not in store.stale_trial_ids(datetime.now(UTC) - timedelta(seconds=60))


def test_queued_trial_starts_running_on_its_first_report(store: Store) -> None:
    sid = store.create_study(_spec(mode="panda")).id
    t = store.add_trial(sid, {"x": 0.5}, state="queued")
    assert t.started_at is None
    got = store.record_epochs(t.id, [(1, 0.5, {})], require_active=False)
    assert got.state == "running" and got.started_at is not None


def test_refusals_write_nothing(store: Store) -> None:
    sid = store.create_study(_spec()).id
    t = store.ask(sid)
    store.record_epoch(t.id, 1, 0.5, {})
    with pytest.raises(NotFound):
        store.record_epoch(10_000, 1, 0.5, {})
    # Wrong mode: refused inside the transaction, so the heartbeat is rolled back too.
    beat = store.get_trial(t.id).heartbeat_at
    with pytest.raises(Conflict, match="ask_tell"):
        store.record_epoch(t.id, 2, 0.5, {}, mode="caviar")
    assert store.get_trial(t.id).heartbeat_at == beat
    assert [h["epoch"] for h in store.get_trial(t.id).history] == [1]
    store.finish_trial(t.id, "completed", value=0.5)
    with pytest.raises(Conflict, match="completed"):
        store.record_epoch(t.id, 2, 0.5, {})
    assert [h["epoch"] for h in store.get_trial(t.id).history] == [1]


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(store: Store) -> None:
    sid = store.create_study(_spec()).id
    t = store.ask(sid)
    beat = store.get_trial(t.id).heartbeat_at
    with store.db.write_conn() as conn:
        conn.execute(text("ALTER TABLE trial_epochs RENAME TO trial_epochs_gone"))
    with pytest.raises(sa_exc.DBAPIError) as info:
        store.record_epoch(t.id, 1, 0.5, {})
    assert not info.value.connection_invalidated
    # The heartbeat ran before the failing upsert, in the same transaction: rolled back.
    assert store.get_trial(t.id, history=False).heartbeat_at == beat
    with store.db.write_conn() as conn:
        conn.execute(text("ALTER TABLE trial_epochs_gone RENAME TO trial_epochs"))
    # The pooled connection is still usable afterwards.
    store.record_epoch(t.id, 1, 0.5, {})
    assert [h["epoch"] for h in store.get_trial(t.id).history] == [1]


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
        {"type": "asha", "reduction_factor": 2, "min_resource": 1},
    ],
)
def test_pruning_reads_one_step_and_decides_as_on_whole_histories(
    store: Store, pruner: dict
) -> None:
    """The store hands pruners each trial's value at the judged step only; the decision is the
    one the pruner takes on complete in-memory histories."""
    import random

    import samplers

    spec = _spec()
    spec.pruner, spec.n_trials = pruner, 12
    sid = store.create_study(spec).id
    rng = random.Random(7)
    curves: dict[int, tuple[str, list[float]]] = {}
    for _ in range(8):  # finished trials of every kind, with ragged histories
        t = store.ask(sid)
        curve = [rng.uniform(0, 1) for _ in range(rng.randint(1, 6))]
        store.record_epochs(t.id, [(e + 1, v, {}) for e, v in enumerate(curve)])
        state = rng.choice(["completed", "completed", "pruned", "failed"])
        store.finish_trial(t.id, state, value=curve[-1] if state == "completed" else None)
        curves[t.number] = (state, curve)
    live = store.ask(sid)  # a running rival, mid-way
    store.record_epochs(live.id, [(1, 0.5, {}), (2, 0.4, {})])
    curves[live.number] = ("running", [0.5, 0.4])
    judged = store.ask(sid)
    reference = samplers.make_pruner(pruner, "minimize")
    decisions = []
    for step in range(1, 7):
        v = rng.uniform(0, 1)
        got = store.report(judged.id, step, v, {})
        mine = [v] if step == 1 else [*curves[judged.number][1], v]
        curves[judged.number] = ("running", mine)
        full = [
            samplers.TrialRecord(
                number=n,
                params={},
                state=st,
                value=c[-1] if st == "completed" else None,
                intermediate={e + 1: x for e, x in enumerate(c)},
            )
            for n, (st, c) in curves.items()
        ]
        me = next(r for r in full if r.number == judged.number)
        want = reference.should_prune(me, step, [r for r in full if r is not me])
        assert got == want, (step, got, want)
        decisions.append(got)
    assert True in decisions and False in decisions  # both answers occur: the check has teeth
