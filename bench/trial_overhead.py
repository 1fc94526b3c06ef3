"""Per-trial overhead of ask -> report (10 epochs) -> tell, and listing a 10,000-trial study.

What is timed, each against Optuna doing the same on the same database kind in the same run:

* store level: hpsearch's service.store.Store vs optuna.Study with RDBStorage (SQLite file,
  Postgres) and JournalStorage (file);
* REST: the same loop through a real uvicorn server (httpx, keep-alive), SQLite and Postgres:
  one HTTP call per report (as a study with a pruner needs), and through the SDK, which
  buffers the reports of a study without a pruner and sends them with tell (two calls a trial);
* pruned: the same loop in a study with a median pruner, where every report asks whether to
  prune (one HTTP call per report; the answer is read and the trial carries on, so both sides
  do the same ten reports), against Optuna's MedianPruner with trial.should_prune() per report;
* growth: the same per-trial loop on a study that already holds --list-trials finished trials
  (trial 10,000 onwards by default), against Optuna on a study of the same size;
* listing: one page of 100 trials (by number, and sorted by value) and the study summary
  (progress counts and best trial) of a study holding --list-trials finished trials, vs Optuna's
  study.get_trials() and study.best_trial on the same number of trials.

The objective is trivial (a formula of the parameters), so the times are pure bookkeeping.

    python bench/trial_overhead.py                  # SQLite and Postgres (skipped if unreachable)
    python bench/trial_overhead.py --trials 50 --list-trials 2000 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "hidden_units": {"type": "int", "low": 16, "high": 256, "scale": "log"},
    "optimizer": {"type": "categorical", "choices": ["momentum", "adam"]},
}
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def objective(params: dict[str, Any], epoch: int) -> float:
    return math.log10(params["learning_rate"]) * 0.01 + epoch * 0.01 + params["hidden_units"] * 1e-4


# ----------------------------------------------------------------------------------- databases


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def pg_database(server_url: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"hpsearch_bench_{secrets.token_hex(5)}"
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(kind: str, tmp: Path, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'hp-{secrets.token_hex(4)}.db'}"
    else:
        with pg_database(pg_url) as url:
            yield url


# ----------------------------------------------------------------------------------- hpsearch


def hp_store(url: str) -> Any:
    from service.core.db import Database, upgrade
    from service.store import Store

    upgrade(url)
    return Store(Database(url))


MEDIAN = {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0}


def hp_study(store: Any, n_trials: int, pruner: dict[str, Any] | None = None) -> int:
    from service.store import StudySpec

    spec = StudySpec(
        name="bench",
        mode="ask_tell",
        objective={"metric": "score", "direction": "maximize"},
        space=SPACE,
        sampler={"type": "random"},
        pruner=pruner or {"type": "none"},
        params=None,
        n_trials=n_trials,
        n_workers=1,
        seed=0,
        max_retries=0,
    )
    return int(store.create_study(spec).id)


def hp_store_loop(
    url: str, n: int, epochs: int, pruner: dict[str, Any] | None = None
) -> list[float]:
    store = hp_store(url)
    sid = hp_study(store, n + 1, pruner)
    # One untimed trial first: imports and connection set-up are not per-trial costs.
    t = store.ask(sid)
    store.finish_trial(t.id, "completed", value=0.0)
    times = hp_trials(store, sid, n, epochs)
    store.db.dispose()
    return times


def hp_trials(store: Any, sid: int, n: int, epochs: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        trial = store.ask(sid)
        for e in range(1, epochs + 1):
            store.report(trial.id, e, objective(trial.params, e), {})
        store.finish_trial(trial.id, "completed", value=objective(trial.params, epochs))
        times.append(time.perf_counter() - t0)
    return times


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(url: str, tmp: Path) -> Iterator[str]:
    import httpx

    from service.core.db import upgrade

    upgrade(url)
    port = free_port()
    env = dict(os.environ)
    env.update(
        HPSEARCH_DATABASE_URL=url,
        HPSEARCH_PORT=str(port),
        HPSEARCH_DATA_DIR=str(tmp / "data"),
        HPSEARCH_RUN_SCHEDULER="false",
        HPSEARCH_LOG_LEVEL="warning",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("HPSEARCH_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "service.server"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready")
            time.sleep(0.2)
        yield base + "/api/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hp_rest_loop(
    api: str, n: int, epochs: int, pruner: dict[str, Any] | None = None
) -> list[float]:
    import httpx

    times = []
    with httpx.Client(base_url=api, timeout=60) as c:
        body = {
            "mode": "ask_tell",
            "objective": {"metric": "score", "direction": "maximize"},
            "space": SPACE,
            "sampler": {"type": "random"},
            "pruner": pruner or {"type": "none"},
            "n_trials": n,
        }
        body["n_trials"] = n + 1
        sid = c.post("/studies", json=body).raise_for_status().json()["id"]
        warm = c.post(f"/studies/{sid}/ask").raise_for_status().json()
        c.post(f"/trials/{warm['id']}/tell", json={"value": 0.0}).raise_for_status()
        for _ in range(n):
            t0 = time.perf_counter()
            t = c.post(f"/studies/{sid}/ask").raise_for_status().json()
            for e in range(1, epochs + 1):
                c.post(
                    f"/trials/{t['id']}/report",
                    json={"epoch": e, "value": objective(t["params"], e)},
                ).raise_for_status()
            c.post(
                f"/trials/{t['id']}/tell", json={"value": objective(t["params"], epochs)}
            ).raise_for_status()
            times.append(time.perf_counter() - t0)
    return times


def hp_sdk_loop(api: str, n: int, epochs: int) -> list[float]:
    """The same loop through the SDK: without a pruner its reports are buffered and sent with
    tell, so a trial is two HTTP calls (ask, tell + 10 reports) instead of twelve."""
    from hpsearch import Client

    times = []
    with Client(api.removesuffix("/api/v1"), timeout=60) as client:
        study = client.create_study(
            mode="ask_tell",
            objective={"metric": "score", "direction": "maximize"},
            space=SPACE,
            sampler="random",
            n_trials=n + 1,
        )
        study.ask().tell(0.0)  # untimed warm-up, as for the others
        for _ in range(n):
            t0 = time.perf_counter()
            trial = study.ask()
            for e in range(1, epochs + 1):
                trial.report(e, objective(trial.params, e))
            trial.tell(objective(trial.params, epochs))
            times.append(time.perf_counter() - t0)
    return times


def hp_fill(url: str, n: int, epochs: int = 10) -> int:
    """A study of n finished trials (with `epochs` history rows each), bulk-inserted."""
    from sqlalchemy import insert, select

    from service.models import Study, Trial, TrialEpoch, utcnow

    store = hp_store(url)
    # Budget left over, so that asks on the full study can be timed too.
    sid = hp_study(store, n + 100)
    rng = random.Random(0)
    now = utcnow()
    rows = []
    for i in range(n):
        params = {
            "learning_rate": 10 ** rng.uniform(-4, 0),
            "hidden_units": rng.randint(16, 256),
            "optimizer": rng.choice(["momentum", "adam"]),
        }
        rows.append(
            {
                "study_id": sid,
                "number": i,
                "state": "completed" if i % 10 else "pruned",
                "params": params,
                "value": objective(params, epochs),
                "retries": 0,
                "created_at": now,
                "started_at": now,
                "finished_at": now,
            }
        )
    with store.db.write() as s:
        s.execute(insert(Trial), rows)
        ids = list(s.execute(select(Trial.id).where(Trial.study_id == sid)).scalars())
        s.execute(
            insert(TrialEpoch),
            [
                {"trial_id": tid, "epoch": e, "value": 0.01 * e, "created_at": now}
                for tid in ids
                for e in range(1, epochs + 1)
            ],
        )
        study = s.get(Study, sid)
        assert study is not None
        study.next_number = n
        study.n_finished = n
    store.db.dispose()
    return sid


# ----------------------------------------------------------------------------------- optuna


def optuna_study(storage: Any, pruned: bool = False) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if pruned
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=pruner,
    )


def optuna_loop(storage: Any, n: int, epochs: int, pruned: bool = False) -> list[float]:
    study = optuna_study(storage, pruned)
    _optuna_ask_tell_once(study)  # untimed, as for hpsearch
    return optuna_trials(study, n, epochs, pruned)


def optuna_trials(study: Any, n: int, epochs: int, pruned: bool = False) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        t = study.ask()
        p = {
            "learning_rate": t.suggest_float("learning_rate", 1e-4, 1.0, log=True),
            "hidden_units": t.suggest_int("hidden_units", 16, 256, log=True),
            "optimizer": t.suggest_categorical("optimizer", ["momentum", "adam"]),
        }
        for e in range(1, epochs + 1):
            t.report(objective(p, e), e)
            if pruned:
                t.should_prune()  # asked, as the REST report answers it; the trial goes on
        study.tell(t, objective(p, epochs))
        times.append(time.perf_counter() - t0)
    return times


def optuna_fill(storage: Any, n: int, epochs: int = 10) -> Any:
    import optuna

    study = optuna_study(storage)
    rng = random.Random(0)
    dists = {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
        "hidden_units": optuna.distributions.IntDistribution(16, 256, log=True),
        "optimizer": optuna.distributions.CategoricalDistribution(["momentum", "adam"]),
    }
    trials = []
    for i in range(n):
        params = {
            "learning_rate": 10 ** rng.uniform(-4, 0),
            "hidden_units": rng.randint(16, 256),
            "optimizer": rng.choice(["momentum", "adam"]),
        }
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=objective(params, epochs) if i % 10 else None,
                state=optuna.trial.TrialState.COMPLETE
                if i % 10
                else optuna.trial.TrialState.PRUNED,
                intermediate_values={e: 0.01 * e for e in range(1, epochs + 1)},
            )
        )
    study.add_trials(trials)
    return study


def optuna_storage(kind: str, url: str) -> Any:
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if kind == "journal":
        return JournalStorage(JournalFileBackend(url))
    return RDBStorage(url)


# ----------------------------------------------------------------------------------- running


def summary(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "median_ms": statistics.median(ms),
        "mean_ms": statistics.fmean(ms),
        "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        "n": len(ms),
    }


_STORES: dict[str, Any] = {}


def _ask_tell_once(url: str, sid: int) -> None:
    store = _STORES.get(url) or _STORES.setdefault(url, hp_store(url))
    t = store.ask(sid)
    store.finish_trial(t.id, "completed", value=objective(t.params, 10))


def _optuna_ask_tell_once(study: Any) -> None:
    t = study.ask()
    p = {
        "learning_rate": t.suggest_float("learning_rate", 1e-4, 1.0, log=True),
        "hidden_units": t.suggest_int("hidden_units", 16, 256, log=True),
        "optimizer": t.suggest_categorical("optimizer", ["momentum", "adam"]),
    }
    study.tell(t, objective(p, 10))


def _get(c: Any, path: str, params: dict[str, Any] | None) -> None:
    c.get(path, params=params).raise_for_status()


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _peers(kind: str) -> list[str]:
    return ["rdb", "journal"] if kind == "sqlite" else ["rdb"]


@contextlib.contextmanager
def optuna_db(kind: str, peer: str, tmp: Path, pg_url: str) -> Iterator[tuple[str, str]]:
    """(label, url) of a fresh Optuna storage; never shared with hpsearch's tables."""
    if peer == "journal":
        yield "optuna JournalStorage (file)", str(tmp / f"journal-{secrets.token_hex(4)}.log")
    else:
        with database(kind, tmp, pg_url) as url:
            yield f"optuna RDBStorage ({kind})", url


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    per: dict[str, Any] = {}
    pruned: dict[str, Any] = {}
    grown: dict[str, Any] = {}
    lst: dict[str, float] = {}
    n, pg = args.list_trials, args.postgres_url

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        kinds = ["sqlite"]
        if not args.skip_postgres:
            try:
                with pg_database(pg):
                    kinds.append("postgres")
            except Exception as e:
                log(f"[postgres] skipped: {e}")
        for kind in kinds:
            with database(kind, tmp, pg) as url:
                per[f"hpsearch store ({kind})"] = summary(
                    hp_store_loop(url, args.trials, args.epochs)
                )
            with database(kind, tmp, pg) as url:
                pruned[f"hpsearch store ({kind})"] = summary(
                    hp_store_loop(url, args.trials, args.epochs, MEDIAN)
                )
            log(f"[{kind}] hpsearch store done")
            if not args.skip_rest:
                with database(kind, tmp, pg) as url, server(url, tmp) as api:
                    per[f"hpsearch REST ({kind})"] = summary(
                        hp_rest_loop(api, args.trials, args.epochs)
                    )
                    pruned[f"hpsearch REST ({kind})"] = summary(
                        hp_rest_loop(api, args.trials, args.epochs, MEDIAN)
                    )
                    log(f"[{kind}] hpsearch REST done")
                    per[f"hpsearch SDK, batched ({kind})"] = summary(
                        hp_sdk_loop(api, args.trials, args.epochs)
                    )
                    log(f"[{kind}] hpsearch SDK done")
                    sid = hp_fill(url, n)
                    _ask_tell_once(url, sid)  # untimed: loads the finished trials once
                    grown[f"hpsearch store ({kind})"] = summary(
                        hp_trials(_STORES[url], sid, args.grown_trials, args.epochs)
                    )
                    with httpx.Client(base_url=api, timeout=120) as c:
                        page = {"limit": 100, "offset": n // 2}
                        lst[f"hpsearch REST ({kind}): page of 100 by number"] = best_of(
                            partial(_get, c, f"/studies/{sid}/trials", page)
                        )
                        by_value = {"limit": 100, "sort": "-value"}
                        lst[f"hpsearch REST ({kind}): page of 100 by value"] = best_of(
                            partial(_get, c, f"/studies/{sid}/trials", by_value)
                        )
                        lst[f"hpsearch REST ({kind}): study summary (progress, best)"] = best_of(
                            partial(_get, c, f"/studies/{sid}", None)
                        )
                    log(f"[{kind}] hpsearch listing done")
            for peer in _peers(kind):
                with optuna_db(kind, peer, tmp, pg) as (label, url):
                    per[label] = summary(
                        optuna_loop(optuna_storage(peer, url), args.trials, args.epochs)
                    )
                with optuna_db(kind, peer, tmp, pg) as (label, url):
                    pruned[label] = summary(
                        optuna_loop(optuna_storage(peer, url), args.trials, args.epochs, True)
                    )
                log(f"[{kind}] {label} done")
                with optuna_db(kind, peer, tmp, pg) as (label, url):
                    # Optuna has no paged listing: the peer loads every trial, and the best.
                    study = optuna_fill(optuna_storage(peer, url), n)
                    lst[f"{label}: get_trials() (all)"] = best_of(
                        partial(study.get_trials, deepcopy=False), repeat=3
                    )
                    lst[f"{label}: best_trial"] = best_of(
                        partial(getattr, study, "best_trial"), repeat=3
                    )
                    _optuna_ask_tell_once(study)  # untimed, as for hpsearch
                    grown[label] = summary(optuna_trials(study, args.grown_trials, args.epochs))
                log(f"[{kind}] {label} listing done")
    for store in _STORES.values():
        store.db.dispose()
    _STORES.clear()
    return {"per_trial": per, "per_trial_pruned": pruned, "per_trial_grown": grown, "listing": lst}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=100, help="trials per loop (default 100)")
    ap.add_argument("--epochs", type=int, default=10, help="reports per trial (default 10)")
    ap.add_argument("--list-trials", type=int, default=10_000, help="trials in the listed study")
    ap.add_argument(
        "--grown-trials", type=int, default=20, help="trials timed on the --list-trials study"
    )
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("HPSEARCH_TEST_POSTGRES_URL", DEFAULT_PG),
        help="an existing database on the Postgres server (a fresh one is created next to it)",
    )
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-rest", action="store_true")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    res = run(args)
    n = args.list_trials
    for key, title in (
        ("per_trial", f"trials 1..{args.trials} of a new study"),
        ("per_trial_pruned", f"median pruner asked at every report, trials 1..{args.trials}"),
        ("per_trial_grown", f"trials {n}..{n + args.grown_trials - 1} of a {n}-trial study"),
    ):
        print(f"\nper trial: ask -> report x{args.epochs} -> tell, {title}")
        print(
            f"{'':48} {'median ms':>10} {'mean ms':>10} {'p95 ms':>10}"
            f" {'× optuna rdb':>13} {'× journal':>10}"
        )
        for k, v in res[key].items():
            kind = "postgres" if "postgres" in k else "sqlite"
            ratios = ""
            for peer in (f"optuna RDBStorage ({kind})", "optuna JournalStorage (file)"):
                ref = res[key].get(peer)
                ratios += f" {v['median_ms'] / ref['median_ms']:>12.2f}×" if ref else f" {'—':>13}"
            print(f"{k:48} {v['median_ms']:10.2f} {v['mean_ms']:10.2f} {v['p95_ms']:10.2f}{ratios}")
    print(f"\nlisting a {args.list_trials}-trial study (best of repeats)")
    for k, v in res["listing"].items():
        print(f"{k:72} {v:10.1f} ms")
    if args.json:
        res["config"] = {k: str(v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
