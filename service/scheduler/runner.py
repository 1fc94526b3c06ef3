"""Study runners: one thread per running Caviar or Panda study, one shared worker pool.

A runner keeps at most min(n_workers, HPSEARCH_MAX_WORKERS) trials of its study in flight: it
asks the sampler for the next trial (the store allocates the number), submits
run_trial(database_url, trial_id) to the pool, and reacts when a future ends. The pool is loky
processes (joblib's reusable executor) or, with HPSEARCH_DASK_SCHEDULER, a Dask cluster.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

from service.core.config import Settings
from service.core.resilience import is_db_unavailable
from service.errors import Conflict, NotFound
from service.executors import DASK, check_settings
from service.executors import resolve as resolve_executor
from service.models import utcnow
from service.scheduler.dask_executor import DaskExecutors, local_address, set_trial_worker
from service.scheduler.worker import run_trial, warm_worker
from service.store import ACTIVE_STUDY_STATES, Store

log = logging.getLogger("hpsearch.scheduler")

IDLE_WAIT_SECONDS = 1.0
DB_RETRY_SECONDS = 1.0


class Pool:
    """The worker pool: loky processes, or a Dask client when a scheduler address is set."""

    def __init__(self, settings: Settings) -> None:
        self.max_workers = settings.max_workers
        self.settings = settings
        self._executor: Any = None
        # Dask: one client per scheduler address (the server's HPSEARCH_DASK_SCHEDULER and the
        # studies' own executors), made on first use (service/scheduler/dask_executor.py).
        check_settings(settings)  # no Dask executor on a SQLite file
        self._dask = DaskExecutors()

    def _local_executor(self) -> Any:
        if self._executor is None:
            # One process per trial (not loky: one lost worker would break every trial in
            # flight), with the per-trial memory and time limits.
            from service.scheduler.limits import TrialExecutor

            self._executor = TrialExecutor(
                self.max_workers,
                memory_mb=self.settings.trial_memory_mb,
                timeout_s=self.settings.trial_timeout_s,
            )
        return self._executor

    def prewarm(self) -> None:
        """Start the local workers and import the engine in them ahead of the first trial:
        a cold loky worker takes seconds to spawn and import NumPy and the engine."""
        if self.settings.dask_scheduler:
            self._dask.client(self.settings.dask_scheduler)  # connect ahead of the first trial
            return
        ex = self._local_executor()
        for _ in range(self.max_workers):
            ex.submit(warm_worker)

    def slots(self, executor: dict[str, Any] | None = None) -> int:
        """Trials a study may keep in flight on its executor: the local pool's size, or the
        threads of the Dask cluster's workers."""
        kind, address = resolve_executor(executor, self.settings)
        if kind == DASK and address:
            n = self._dask.slots(address)
            return self.max_workers if n is None else max(1, n)
        return self.max_workers

    def submit(
        self, database_url: str, trial_id: int, executor: dict[str, Any] | None = None
    ) -> Any:
        kind, address = resolve_executor(executor, self.settings)
        if kind == DASK and address:
            # The per-trial limits hold on Dask too: the worker runs the trial under them.
            return self._dask.submit(
                address,
                database_url,
                trial_id,
                memory_mb=self.settings.trial_memory_mb,
                timeout_s=self.settings.trial_timeout_s,
            )
        try:
            set_trial_worker(database_url, trial_id, local_address())
        except Exception:  # only a record: the trial runs anyway
            log.debug("could not record the worker of trial %s", trial_id, exc_info=True)
        return self._local_executor().submit(run_trial, database_url, trial_id)

    def shutdown(self) -> None:
        if self._dask is not None:
            self._dask.close()
        if self._executor is not None:
            # Running trials are recovered at the next start (re-queued or failed). The workers
            # are killed here and now: shutdown(wait=False) alone leaves a busy worker to finish
            # its trial as an orphan after this process has gone.
            for proc in list(getattr(self._executor, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    proc.terminate()
            self._executor.shutdown(wait=True, kill_workers=True)


class StudyRunner(threading.Thread):
    def __init__(self, scheduler: Scheduler, study_id: int) -> None:
        super().__init__(name=f"study-{study_id}", daemon=True)
        self.scheduler = scheduler
        self.store = scheduler.store
        self.study_id = study_id
        self.wakeup = threading.Event()
        self.closing = threading.Event()
        self.in_flight: dict[int, Any] = {}

    def wake(self) -> None:
        self.wakeup.set()

    def close(self) -> None:
        self.closing.set()
        self.wakeup.set()

    def run(self) -> None:
        try:
            while True:
                try:
                    self._loop()
                    break
                except Exception as e:
                    # The database went away for a while: wait and go on, in-flight trials kept.
                    if not is_db_unavailable(e):
                        raise
                    log.warning("study %s: database unavailable (%s)", self.study_id, e)
                    if self.closing.wait(DB_RETRY_SECONDS):
                        break
        except NotFound:
            pass  # deleted while running
        except Exception:
            log.exception("runner of study %s crashed", self.study_id)
            with contextlib.suppress(NotFound):
                self.store.set_study_state(self.study_id, "failed", error="scheduler error")
        finally:
            self.scheduler._runner_done(self)

    def _loop(self) -> None:
        while not self.closing.is_set():
            self.wakeup.clear()
            self._reap()
            study = self.store.get_study(self.study_id)
            active = study.state in ACTIVE_STUDY_STATES
            if active:
                self._fill(study)
            if not self.in_flight:
                study = self.store.get_study(self.study_id)
                if study.state not in ACTIVE_STUDY_STATES:
                    return
                if study.progress.get("queued", 0) == 0 and self._budget_spent(study):
                    self._finish(study)
                    return
            self.wakeup.wait(IDLE_WAIT_SECONDS)

    @staticmethod
    def _budget_spent(study: Any) -> bool:
        p = study.progress
        live = p.get("queued", 0) + p.get("running", 0) + p.get("paused", 0)
        return p.get("total", 0) >= study.n_trials and live == 0

    def _finish(self, study: Any) -> None:
        p = study.progress
        if p.get("total", 0) and p.get("completed", 0) == 0 and p.get("failed", 0) == p["total"]:
            first = self.store.list_trials(self.study_id, limit=1, state=["failed"])[0]
            reason = first[0].error if first else None
            self.store.set_study_state(
                self.study_id, "failed", error=f"every trial failed; first: {reason}"
            )
        else:
            self.store.set_study_state(self.study_id, "completed")

    def _capacity(self, study: Any) -> int:
        return max(1, min(study.n_workers, self.scheduler.pool.slots(study.executor)))

    def _fill(self, study: Any) -> None:
        if study.state == "queued":
            self.store.set_study_state(self.study_id, "running")
        cap = self._capacity(study)
        # Re-queued trials (retries) go first, then new ones.
        for tid in self.store.queued_trial_ids(self.study_id):
            if len(self.in_flight) >= cap:
                return
            if tid not in self.in_flight:
                self._submit(tid, study.executor)
        while len(self.in_flight) < cap:
            try:
                if study.mode == "panda":
                    if self.store.get_study(self.study_id).progress.get("total", 0) >= 1:
                        return
                    trial = self.store.add_trial(self.study_id, study.params or {}, "queued")
                else:
                    trial = self.store.ask(self.study_id, state="queued")
            except Conflict:
                return  # budget spent or study no longer active
            self._submit(trial.id, study.executor)

    def _submit(self, trial_id: int, executor: dict[str, Any] | None = None) -> None:
        fut = self.scheduler.pool.submit(self.scheduler.settings.database_url, trial_id, executor)
        self.in_flight[trial_id] = fut
        if isinstance(fut, Future) or hasattr(fut, "add_done_callback"):
            fut.add_done_callback(lambda _f: self.wakeup.set())

    def _reap(self) -> None:
        for tid, fut in list(self.in_flight.items()):
            if not fut.done():
                continue
            try:
                exc = fut.exception()
            except Exception as e:  # cancelled
                exc = e
            if exc is not None:
                # The worker process died (OOM, segfault, killed): run_trial never wrote a state.
                state = self.store.lose_trial(tid, f"worker lost: {type(exc).__name__}: {exc}")
                log.warning("trial %s: worker lost (%s), now %s", tid, exc, state)
            # Only now: if lose_trial failed (database down), the next pass tries again.
            del self.in_flight[tid]


class Scheduler:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.pool = Pool(settings)
        self._runners: dict[int, StudyRunner] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stopping = threading.Event()

    def start(self) -> None:
        older = None
        if self.settings.dask_scheduler:
            # Remote workers outlive this server: only silent ones are lost.
            older = utcnow() - timedelta(seconds=self.settings.heartbeat_timeout)
        for tid, state in self.store.recover_lost_trials(older_than=older):
            log.warning("trial %s was left running by a previous server: %s", tid, state)
        for sid in self.store.active_study_ids():
            self.wake(sid)
        threading.Thread(target=self._prewarm, name="pool-prewarm", daemon=True).start()
        threading.Thread(target=self._reap_stale, name="heartbeat-reaper", daemon=True).start()

    def _reap_stale(self) -> None:
        """Fail or re-queue trials whose worker stopped beating: the loss a runner's future
        cannot see, e.g. a Dask worker that dies after this server restarted (the trial has no
        future here) or one cut off from the database. Workers beat every few seconds
        whatever their epochs take (service.scheduler.worker.Heartbeat)."""
        timeout = self.settings.heartbeat_timeout
        while not self._stopping.wait(max(1.0, timeout / 4)):
            try:
                cutoff = utcnow() - timedelta(seconds=timeout)
                for tid in self.store.stale_trial_ids(cutoff):
                    reason = f"lost: no heartbeat from its worker for {timeout:g} s"
                    state = self.store.lose_trial(tid, reason, stale_before=cutoff)
                    if state is not None:
                        log.warning("trial %s: %s, now %s", tid, reason, state)
                        self.wake(self.store.get_trial(tid, history=False).study_id)
            except Exception as e:  # the database is away: try again next round
                log.warning("heartbeat reaper: %s", e)

    def _prewarm(self) -> None:
        try:
            self.pool.prewarm()
        except Exception:  # only an optimisation: the first trial would start the pool anyway
            log.warning("could not prewarm the worker pool", exc_info=True)

    def wake(self, study_id: int) -> None:
        with self._lock:
            if self._closed:
                return
            runner = self._runners.get(study_id)
            if runner is not None and runner.is_alive():
                runner.wake()
                return
            runner = StudyRunner(self, study_id)
            self._runners[study_id] = runner
            runner.start()

    def forget(self, study_id: int) -> None:
        with self._lock:
            runner = self._runners.pop(study_id, None)
        if runner is not None:
            runner.close()

    def _runner_done(self, runner: StudyRunner) -> None:
        with self._lock:
            if self._runners.get(runner.study_id) is runner:
                del self._runners[runner.study_id]

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            self._closed = True
            runners = list(self._runners.values())
        for r in runners:
            r.close()
        for r in runners:
            r.join(timeout=5)
        self.pool.shutdown()
