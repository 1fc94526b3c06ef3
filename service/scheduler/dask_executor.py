"""Trials on a Dask cluster: the submitting side (one Client per scheduler address) and the
function that runs on the Dask worker.

The worker function is `run_trial_on_dask(database_url, trial_id, memory_mb, timeout_s)`: the
local pool's run_trial arguments plus the server's per-trial limits (HPSEARCH_TRIAL_MEMORY_MB,
HPSEARCH_TRIAL_TIMEOUT_S; both optional), nothing else crosses the network. On the worker it

1. claims the trial in the database: records the worker's address in `trials.worker`;
2. runs `service.scheduler.worker.run_trial` (epochs, Panda controls, pruning and the final
   state all go through the shared database, exactly as in a local process), with a heartbeat
   thread and the store's retry-while-the-database-is-away wrapper, as the local pool has.
   Without limits it runs in the Dask worker's own process. With a limit it runs in a fresh
   process of a `limits.TrialExecutor` kept per worker process, exactly as the local pool
   does: RLIMIT_AS caps its memory (a MemoryError fails the trial "out of memory ... N MB"),
   and past the time limit the process is killed and the trial failed "timed out ... N s".
   The Dask worker itself is unaffected and takes the next task;
3. returns the trial's final state.

The limits need the Dask worker process to start child processes, which a daemonic process
cannot do, and a Nanny starts its worker process as a daemon unless the Dask config says
`distributed.worker.daemon: false` (DASK_DISTRIBUTED__WORKER__DAEMON=False in the
environment of `dask worker`). On a daemonic worker a trial with limits is failed at once with
a reason that says so (it does not crash the worker, nor stay `running`).

A worker lost mid-trial (killed, its machine gone): the Dask scheduler re-runs the task on
another worker. That second run finds the trial already claimed and still `running`, so it does
not train again silently: it hands the trial to `Store.lose_trial`, which re-queues it when the
study's max_retries allows (the runner submits it again; it resumes from its last checkpoint)
or fails it with a readable reason. When the scheduler gives up instead (KilledWorker), the
future fails and the study runner calls lose_trial with that reason. Either way no trial is left
`running`, and the study goes on with the remaining workers.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from sqlalchemy import select, update

from service.models import Trial

log = logging.getLogger("hpsearch.scheduler")

CONNECT_TIMEOUT = "10s"
SLOTS_REFRESH_SECONDS = 5.0
# Trial processes one Dask worker process may run at once with limits on: Dask's threads decide
# the concurrency (one task per thread, each waiting for its trial), this only must not be less.
LIMITED_TRIAL_SLOTS = 1024
DAEMON_CONFIG = "distributed.worker.daemon"

_retrying_installed = False
_executors: dict[tuple[int | None, float | None], Any] = {}
_executors_lock = threading.Lock()


def local_address() -> str:
    """What trials.worker says for a trial run by the server's own process pool."""
    return f"local://{socket.gethostname()}"


def set_trial_worker(database_url: str, trial_id: int, address: str) -> None:
    from service.store import Store

    store = Store.from_url(database_url)
    with store.db.write() as s:
        s.execute(update(Trial).where(Trial.id == trial_id).values(worker=address))


# ------------------------------------------------------------------------ on the Dask worker


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # not inside a Dask worker (direct call, tests)
        return local_address()


def _claim(store: Any, trial_id: int, address: str) -> tuple[str, str | None]:
    """("run", None), ("finished", state), ("deleted", None) or ("lost", previous worker)."""
    from service.store import FINISHED_TRIAL_STATES

    with store.db.write() as s:
        trial = s.execute(
            select(Trial).where(Trial.id == trial_id).with_for_update()
        ).scalar_one_or_none()
        if trial is None:
            return "deleted", None
        if trial.state in FINISHED_TRIAL_STATES:
            return "finished", trial.state
        if trial.state in ("running", "paused"):
            # The runner submits only queued trials: this is Dask re-running the task of a
            # worker that died under it.
            return "lost", trial.worker
        trial.worker = address
        return "run", None


def _trial_executor(memory_mb: int | None, timeout_s: float | None) -> Any:
    """This worker process's TrialExecutor for these limits, made on first use and kept (the
    forkserver behind it imports NumPy and the engine once for all trials)."""
    key = (memory_mb, timeout_s)
    with _executors_lock:
        ex = _executors.get(key)
        if ex is None:
            from service.scheduler.limits import TrialExecutor

            ex = TrialExecutor(LIMITED_TRIAL_SLOTS, memory_mb=memory_mb, timeout_s=timeout_s)
            _executors[key] = ex
        return ex


def _limits_text(memory_mb: int | None, timeout_s: float | None) -> str:
    parts = []
    if memory_mb:
        parts.append(f"HPSEARCH_TRIAL_MEMORY_MB={memory_mb}")
    if timeout_s:
        parts.append(f"HPSEARCH_TRIAL_TIMEOUT_S={timeout_s:g}")
    return ", ".join(parts)


def _fail_unstarted(store: Any, trial_id: int, reason: str) -> str:
    from service.errors import NotFound

    log.error("trial %s: %s", trial_id, reason)
    try:
        store.finish_trial(trial_id, "failed", error=reason, require_active=False)
    except NotFound:
        return "deleted"
    return "failed"


def _run_with_limits(
    store: Any,
    database_url: str,
    trial_id: int,
    address: str,
    memory_mb: int | None,
    timeout_s: float | None,
) -> str:
    """run_trial in a process of its own under the limits; this thread waits for it."""
    import multiprocessing

    from service.scheduler.worker import run_trial

    limits = _limits_text(memory_mb, timeout_s)
    if multiprocessing.current_process().daemon:
        return _fail_unstarted(
            store,
            trial_id,
            f"cannot apply the trial limits ({limits}) on the Dask worker {address}: its "
            "process is daemonic and cannot start the trial's process; start the Dask workers "
            f"with the Dask config {DAEMON_CONFIG}: false "
            "(DASK_DISTRIBUTED__WORKER__DAEMON=False)",
        )
    fut = _trial_executor(memory_mb, timeout_s).submit(run_trial, database_url, trial_id)
    try:
        # The executor always ends the future: past timeout_s it kills the process and fails
        # the trial ("timed out"), and returns "failed".
        return str(fut.result())
    except RuntimeError as e:  # limits.WorkerLost, or the trial raised past run_trial
        # The trial's process died (kernel OOM killer, segfault, killed): as the local pool's
        # runner does, re-queue it when the study allows, else fail it with the reason.
        reason = f"worker lost: {type(e).__name__}: {e} (on the Dask worker {address})"
        state = store.lose_trial(trial_id, reason)
        log.warning("trial %s: %s; now %s", trial_id, reason, state)
        return "lost"
    except Exception as e:  # the trial's process could not be started (fork, resources)
        return _fail_unstarted(
            store,
            trial_id,
            f"cannot apply the trial limits ({limits}) on the Dask worker {address}: the "
            f"trial's process could not be started: {type(e).__name__}: {e}",
        )


def run_trial_on_dask(
    database_url: str,
    trial_id: int,
    memory_mb: int | None = None,
    timeout_s: float | None = None,
) -> str:
    """Run one trial on this Dask worker; returns its final state ("lost" for a re-run).

    With `memory_mb` or `timeout_s` (the server's HPSEARCH_TRIAL_MEMORY_MB and
    HPSEARCH_TRIAL_TIMEOUT_S) the trial runs in a process of its own under those limits."""
    global _retrying_installed
    from service.core.resilience import make_store_retrying
    from service.scheduler.worker import run_trial
    from service.store import Store

    if not _retrying_installed:
        make_store_retrying(Store)
        _retrying_installed = True
    store = Store.from_url(database_url)
    address = _worker_address()
    outcome, detail = _claim(store, trial_id, address)
    if outcome == "deleted":
        return "deleted"
    if outcome == "finished":
        return str(detail)
    if outcome == "lost":
        reason = (
            f"worker lost: the Dask worker {detail or '(unknown)'} running the trial died "
            f"(Dask rescheduled its task on {address})"
        )
        state = store.lose_trial(trial_id, reason)
        log.warning("trial %s: %s; now %s", trial_id, reason, state)
        return "lost"
    if memory_mb or timeout_s:
        return _run_with_limits(store, database_url, trial_id, address, memory_mb, timeout_s)
    return run_trial(database_url, trial_id)  # which keeps the trial's heartbeat


# ------------------------------------------------------------------------ on the server


class DaskExecutors:
    """One distributed.Client per scheduler address, made on first use and kept."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._slots: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def client(self, address: str) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Dask executors are shut down")
            c = self._clients.get(address)
            if c is None:
                from distributed import Client  # optional dependency: hpsearch[dask]

                c = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
                self._clients[address] = c
            return c

    def submit(
        self,
        address: str,
        database_url: str,
        trial_id: int,
        memory_mb: int | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        try:
            client = self.client(address)
            # A fresh key per submission: two submissions of one trial (a retry) are two runs.
            key = f"hpsearch-trial-{trial_id}-{uuid.uuid4().hex[:12]}"
            # The limits only when set: without them the task is the plain 2-argument call.
            limits = (memory_mb, timeout_s) if (memory_mb or timeout_s) else ()
            return client.submit(run_trial_on_dask, database_url, trial_id, *limits, key=key)
        except Exception as e:  # scheduler unreachable: the trial is lost, with the reason
            log.warning("cannot submit trial %s to Dask at %s: %s", trial_id, address, e)
            fut: Future[Any] = Future()
            fut.set_exception(
                ConnectionError(f"Dask scheduler {address} unreachable: {type(e).__name__}: {e}")
            )
            return fut

    def slots(self, address: str) -> int | None:
        """Threads of the cluster's workers (cached a few seconds); None when unknown."""
        now = time.monotonic()
        cached = self._slots.get(address)
        if cached is not None and now - cached[0] < SLOTS_REFRESH_SECONDS:
            return cached[1]
        try:
            n = int(sum(self.client(address).nthreads().values()))
        except Exception:
            return cached[1] if cached else None
        self._slots[address] = (now, n)
        return n

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        for c in clients:
            try:
                c.close(timeout=5)
            except Exception:
                log.debug("closing a Dask client failed", exc_info=True)
