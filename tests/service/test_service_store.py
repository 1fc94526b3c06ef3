"""The store under concurrent writers: no "database is locked", no lost update, no duplicate
trial number. Separate Database objects stand for separate processes (own connections)."""

from __future__ import annotations

import concurrent.futures as cf

from service.core.db import Database, upgrade
from service.store import Store, StudySpec


def _spec(n: int) -> StudySpec:
    return StudySpec(
        name="conc",
        mode="ask_tell",
        objective={"metric": "v", "direction": "minimize"},
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        sampler={"type": "random"},
        pruner={"type": "median", "n_startup_trials": 1},
        params=None,
        n_trials=n,
        n_workers=1,
        seed=0,
        max_retries=0,
    )


def test_concurrent_writers(backend: str, fresh_database) -> None:
    url = fresh_database(backend)
    upgrade(url)
    writers, per_writer, epochs = 4, 8, 3
    main = Store(Database(url))
    sid = main.create_study(_spec(writers * per_writer)).id

    def work(_: int) -> list[int]:
        store = Store(Database(url))
        numbers = []
        try:
            for _ in range(per_writer):
                t = store.ask(sid)
                numbers.append(t.number)
                for e in range(1, epochs + 1):
                    store.report(t.id, e, t.params["x"] * e, {"train_loss": 1.0 / e})
                store.finish_trial(t.id, "completed", value=t.params["x"])
        finally:
            store.db.dispose()
        return numbers

    with cf.ThreadPoolExecutor(writers) as pool:
        got = [n for ns in pool.map(work, range(writers)) for n in ns]
    assert sorted(got) == list(range(writers * per_writer))
    study = main.get_study(sid)
    assert study.state == "completed"
    assert study.progress["completed"] == writers * per_writer
    items, total = main.list_trials(sid, limit=1000)
    assert total == writers * per_writer
    assert all(len(main.get_trial(t.id).history or []) == epochs for t in items[:5])
    main.db.dispose()


def test_worker_start_never_overrides_a_concurrent_stop(backend: str, fresh_database) -> None:
    """A worker marks its trial running while stop_study is mid-transaction: the stop wins.

    On Postgres a read-then-write would read "queued", wait for the stop's row lock and then
    overwrite "stopped" with "running": the trial would run on with no stop control.
    """
    import threading
    import time

    from sqlalchemy import update

    from service.models import Trial

    url = fresh_database(backend)
    upgrade(url)
    main = Store(Database(url))
    other = Store(Database(url))
    sid = main.create_study(_spec(2)).id
    tid = main.ask(sid, state="queued").id
    started = threading.Event()

    def worker() -> None:
        started.set()
        main.set_trial_state(tid, "running")

    try:
        with other.db.write_conn() as conn:  # the stop, holding the trial's row lock
            conn.execute(update(Trial).where(Trial.id == tid).values(state="stopped"))
            t = threading.Thread(target=worker)
            t.start()
            started.wait(5)
            time.sleep(0.5)  # the worker's write is now waiting for the lock
        t.join(30)
        assert not t.is_alive()
        assert main.get_trial(tid).state == "stopped"
        main.set_trial_state(tid, "paused")  # finished trials take no more transitions
        assert main.get_trial(tid).state == "stopped"
    finally:
        main.db.dispose()
        other.db.dispose()
