"""Telling a database that went away from a real error, and riding it out.

A dropped connection (Postgres restarted, a network cut, a proxy closing sockets) shows up as
SQLAlchemy's OperationalError / InterfaceError, or as a DBAPIError flagged
`connection_invalidated`. The API answers those with 503 (service.api.middleware); the study
runners and the trial workers wait and try again instead of failing the study or the trial.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

log = logging.getLogger("hpsearch.db")

T = TypeVar("T")

# How long a worker keeps retrying one store call before giving up (the trial then fails).
WORKER_DB_RETRY_SECONDS = 60.0


def is_db_unavailable(e: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached right now"."""
    if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
        return True
    if isinstance(e, sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    if isinstance(e, sa_exc.TimeoutError):  # pool exhausted while connections hang
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(e, psycopg.OperationalError | psycopg.InterfaceError)


def describe(e: BaseException) -> str:
    """A short reason without the SQL statement or the parameters."""
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"{type(orig).__name__}: {text}"[:300]


def retrying(fn: Callable[..., T], seconds: float = WORKER_DB_RETRY_SECONDS) -> Callable[..., T]:
    """Wrap a store method: retry it while the database is unreachable, up to `seconds`.

    Only for idempotent writes (the store's worker-side calls are: upserts, deletes, finish
    with require_active=False)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        deadline = time.monotonic() + seconds
        delay = 0.2
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                if not is_db_unavailable(e) or time.monotonic() + delay > deadline:
                    raise
                log.warning("database unavailable (%s); retrying %s", describe(e), fn.__name__)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    wrapper.__hpsearch_retrying__ = True  # type: ignore[attr-defined]
    return wrapper


# The store methods a trial worker calls; each is safe to repeat.
WORKER_STORE_METHODS = (
    "get_trial",
    "get_study",
    "record_epoch",
    "record_epochs",
    "should_prune",
    "pending_controls",
    "mark_controls_applied",
    "set_trial_state",
    "heartbeat",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "truncate_history",
    "finish_trial",
    "get_dataset",
)


def make_store_retrying(store_cls: type, seconds: float = WORKER_DB_RETRY_SECONDS) -> None:
    """Patch the worker-side store methods of `store_cls` to retry (worker processes only)."""
    for name in WORKER_STORE_METHODS:
        fn = getattr(store_cls, name, None)
        if fn is None or getattr(fn, "__hpsearch_retrying__", False):
            continue
        setattr(store_cls, name, retrying(fn, seconds))
