"""Load test of the epoch-report write path against Postgres: reports/s at N concurrent writers.

Every Dask (or local) worker writes one row per epoch through the store: what a trial worker's
StoreReporter does after each epoch. This measures how many of those the database takes per
second as writers are added, which bounds how many workers one Postgres can feed
(docs/scaling.md).

Each writer is its own process (like a worker on its own machine) with its own connection, and
reports epochs of its own running trial for --seconds. Paths, through the service's store
functions:

* `record`: Store.record_epoch (one transaction: lock the trial row, upsert the epoch row,
  refresh the heartbeat) - the minimum per epoch;
* `reporter`: what StoreReporter.on_epoch does for a Caviar trial with the default
  checkpoint_every=1: record_epoch + pending_controls + save_checkpoint (a 4 KiB blob);
* `batch`: k epochs in one transaction (a batched reporter, --batch k), to size the gain.

    python bench/report_write_load.py                        # 1, 4, 16 writers, all paths
    python bench/report_write_load.py --writers 1 4 16 --seconds 5 --paths record --json out.json

HPSEARCH_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) names
an existing database of the server; the bench creates and drops its own database there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
METRICS = {"train_loss": 0.5, "dev_loss": 0.6, "train_accuracy": 0.8, "dev_accuracy": 0.75}


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"hpsearch_bench_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_trials(url: str, n: int) -> list[int]:
    from service.core.db import Database
    from service.store import Store, StudySpec

    store = Store(Database(url))
    spec = StudySpec(
        name="report-load",
        mode="caviar",
        objective={"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        space={"learning_rate": {"type": "float", "low": 0.01, "high": 0.5}},
        sampler={"type": "random"},
        pruner={"type": "none"},
        params=None,
        n_trials=n,
        n_workers=n,
        seed=0,
        max_retries=0,
    )
    sid = store.create_study(spec).id
    ids = []
    for _ in range(n):
        t = store.add_trial(sid, {"learning_rate": 0.1}, "queued")
        store.set_trial_state(t.id, "running")
        ids.append(t.id)
    store.db.dispose()
    return ids


def _batch_write(store: Any, trial_id: int, first: int, k: int) -> None:
    """k epoch rows and the heartbeat in one transaction (what a batched reporter would do)."""
    from sqlalchemy import update

    from service.models import Trial, TrialEpoch, utcnow

    now = utcnow()
    with store.db.write() as s:
        s.add_all(
            TrialEpoch(trial_id=trial_id, epoch=first + i, value=0.75, created_at=now, **METRICS)
            for i in range(k)
        )
        s.execute(update(Trial).where(Trial.id == trial_id).values(heartbeat_at=now))


def writer(url: str, trial_id: int, path: str, seconds: float, batch: int, go: Any, q: Any):
    from service.core.db import Database
    from service.store import Store

    store = Store(Database(url, pool_size=1, max_overflow=0))
    store.get_trial(trial_id, history=False)  # connect before the clock starts
    blob = os.urandom(4096)
    lat: list[float] = []
    epochs = 0
    q.put("ready")
    go.wait()
    end = time.time() + seconds
    epoch = 0
    while time.time() < end:
        t0 = time.perf_counter()
        if path == "batch":
            _batch_write(store, trial_id, epoch + 1, batch)
            epoch += batch
            epochs += batch
        else:
            epoch += 1
            store.record_epoch(trial_id, epoch, 0.75, METRICS)
            if path == "reporter":
                store.pending_controls(trial_id)
                store.save_checkpoint(trial_id, epoch, blob, keep_only_latest=True)
            epochs += 1
        lat.append(time.perf_counter() - t0)
    store.db.dispose()
    q.put((epochs, lat))


def run(url: str, n: int, path: str, seconds: float, batch: int) -> dict[str, Any]:
    ids = make_trials(url, n)
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=writer, args=(url, tid, path, seconds, batch, go, q)) for tid in ids
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every process imported and connected before the clock starts
        assert q.get(timeout=120) == "ready"
    go.set()
    results = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    epochs = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    return {
        "path": path if path != "batch" else f"batch{batch}",
        "writers": n,
        "reports_per_s": round(epochs / seconds, 1),
        "transactions_per_s": round(len(lat) / seconds, 1),
        "p50_ms": round(1000 * statistics.median(lat), 2),
        "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument(
        "--paths", nargs="+", default=["record", "reporter", "batch"],
        choices=["record", "reporter", "batch"],
    )  # fmt: skip
    ap.add_argument("--batch", type=int, default=10, help="epochs per transaction for 'batch'")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    admin = os.environ.get("HPSEARCH_BENCH_POSTGRES_URL", DEFAULT_PG)
    from service.core.db import upgrade

    print(f"cpus: {os.cpu_count()}  postgres: {admin.rsplit('@', 1)[-1]}")
    print(f"{'path':>9} {'writers':>7} {'reports/s':>10} {'tx/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    rows = []
    for path in args.paths:
        for n in args.writers:
            url = create_database(admin)
            try:
                upgrade(url)
                r = run(url, n, path, args.seconds, args.batch)
            finally:
                drop_database(admin, url)
            rows.append(r)
            print(
                f"{r['path']:>9} {n:>7} {r['reports_per_s']:>10} {r['transactions_per_s']:>8} "
                f"{r['p50_ms']:>7} {r['p99_ms']:>7}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
