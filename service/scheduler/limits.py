"""The local worker pool: one fresh process per trial, with a memory and a time limit.

Why not loky's reusable executor: when one of its workers dies (SIGKILL, the kernel's OOM
killer, a segfault), loky marks the whole executor broken and every other in-flight trial
fails with it. Here each trial owns its process, so a lost process loses only its own trial.

Processes are forked from a forkserver that imported NumPy and the engine once, so a trial
starts in milliseconds, not seconds. In each trial process:

- HPSEARCH_TRIAL_MEMORY_MB caps the address space (RLIMIT_AS): an allocation beyond it raises
  MemoryError inside the trial, which fails with a readable reason; the pool is unaffected.
- a watchdog thread exits the process at once if its parent is gone (the server was killed):
  the next server owns the trial then, and must not race a leftover writer. (The heartbeat is
  run_trial's own thread, the same on every executor.)
- the store's worker-side calls retry while the database is briefly unreachable.

The parent enforces HPSEARCH_TRIAL_TIMEOUT_S: past it the process is killed and the trial
failed with the reason. The executor mimics the part of loky's API the runner uses: submit,
shutdown and `_processes`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("hpsearch.scheduler")

ORPHAN_CHECK_SECONDS = 0.5
_PRELOAD = ["service.scheduler.preload"]  # imports NumPy, the engine, the store, ...


class WorkerLost(RuntimeError):
    """The trial's process ended without reporting (killed, crashed)."""


def trial_error_text(e: BaseException) -> str:
    """The readable reason a trial failed with, for an exception raised inside it."""
    if isinstance(e, MemoryError):
        mb = os.environ.get("HPSEARCH_TRIAL_MEMORY_MB")
        limit = f" of {mb} MB (HPSEARCH_TRIAL_MEMORY_MB)" if mb else ""
        detail = str(e) or "allocation failed"
        return f"out of memory: the trial exceeded its memory limit{limit}: MemoryError: {detail}"
    return f"{type(e).__name__}: {e}"


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _is_run_trial(fn: Any) -> bool:
    return getattr(fn, "__name__", "") == "run_trial" and "scheduler" in getattr(
        fn, "__module__", ""
    )


def _watchdog(lifeline: Any) -> None:
    # The heartbeat itself is run_trial's (service.scheduler.worker.Heartbeat), on every
    # executor; this thread only watches for the server's death.
    while True:
        # The server holds the other end of the lifeline until the trial ends: EOF here means
        # it died (SIGKILL, OOM killer). The forkserver outlives it, so the parent pid is no
        # use. Stop writing, now: the next server owns this trial.
        try:
            if lifeline.poll(ORPHAN_CHECK_SECONDS):
                os._exit(70)
        except (EOFError, OSError):
            os._exit(70)


def _child(fn: Any, args: tuple[Any, ...], memory_mb: int | None, conn: Any, lifeline: Any) -> None:
    if memory_mb:
        import resource

        limit = int(memory_mb) * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        os.environ["HPSEARCH_TRIAL_MEMORY_MB"] = str(memory_mb)
    threading.Thread(target=_watchdog, args=(lifeline,), name="trial-watchdog", daemon=True).start()
    from service.core.resilience import make_store_retrying
    from service.store import Store

    make_store_retrying(Store)
    try:
        result = fn(*args)
    except BaseException as e:
        with contextlib.suppress(Exception):
            conn.send(("error", trial_error_text(e)))
        raise
    conn.send(("ok", result))
    conn.close()


def _noop() -> None:
    return None


class TrialExecutor:
    """At most `max_workers` trial processes at a time; one process per submitted call."""

    def __init__(
        self,
        max_workers: int,
        memory_mb: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.max_workers = max_workers
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        # One BLAS thread per trial process (the worker limits it too): trials run side by side,
        # and every idle BLAS thread also reserves address space under RLIMIT_AS.
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._slots = threading.BoundedSemaphore(max_workers)
        self._lock = threading.Lock()
        self._closed = False
        self._processes: dict[int, Any] = {}
        self._threads: set[threading.Thread] = set()
        self._started = False

    def prewarm(self) -> None:
        """Start the forkserver (it imports NumPy and the engine once for all trials)."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        p = self._ctx.Process(target=_noop, name="hpsearch-prewarm")
        p.start()
        p.join(60)

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        if getattr(fn, "__name__", "") == "warm_worker":
            threading.Thread(target=self.prewarm, name="pool-prewarm", daemon=True).start()
            fut.set_result(None)
            return fut
        with self._lock:
            if self._closed:
                raise RuntimeError("the trial executor is shut down")
            t = threading.Thread(
                target=self._run, args=(fut, fn, args), name="trial-process", daemon=True
            )
            self._threads.add(t)
        t.start()
        return fut

    def _run(self, fut: Future[Any], fn: Any, args: tuple[Any, ...]) -> None:
        try:
            self._slots.acquire()
            try:
                if self._closed or not fut.set_running_or_notify_cancel():
                    if not fut.done():
                        fut.cancel()
                    return
                self._run_process(fut, fn, args)
            finally:
                self._slots.release()
        except BaseException as e:  # never leave a future pending
            if not fut.done():
                fut.set_exception(e)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _run_process(self, fut: Future[Any], fn: Any, args: tuple[Any, ...]) -> None:
        recv, send = self._ctx.Pipe(duplex=False)
        life_r, life_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_child,
            args=(fn, args, self.memory_mb, send, life_r),
            name="hpsearch-trial",
        )
        proc.start()
        send.close()
        life_r.close()
        with self._lock:
            self._processes[proc.pid] = proc
        timed_out = False
        try:
            proc.join(self.timeout_s)
            if proc.exitcode is None:
                timed_out = not self._closed
                proc.kill()
                proc.join(10)
            outcome = None
            with contextlib.suppress(EOFError, OSError):
                if recv.poll(0):
                    outcome = recv.recv()
        finally:
            recv.close()
            life_w.close()
            with self._lock:
                self._processes.pop(proc.pid, None)
        if timed_out and _is_run_trial(fn):
            fut.set_result(self._fail_timed_out(args[0], args[1]))
        elif outcome is not None and outcome[0] == "ok":
            fut.set_result(outcome[1])
        elif outcome is not None:
            fut.set_exception(RuntimeError(outcome[1]))
        else:
            why = "timed out" if timed_out else _exit_reason(proc.exitcode)
            fut.set_exception(
                WorkerLost(f"worker process {proc.pid} {why} (no heartbeat since then)")
            )

    def _fail_timed_out(self, database_url: str, trial_id: int) -> str:
        from service.core.resilience import retrying
        from service.store import Store

        store = Store.from_url(database_url)
        reason = (
            f"timed out: the trial ran longer than its limit of {self.timeout_s:g} s "
            "(HPSEARCH_TRIAL_TIMEOUT_S) and was killed"
        )
        retrying(store.finish_trial, 30.0)(trial_id, "failed", error=reason, require_active=False)
        log.warning("trial %s %s", trial_id, reason)
        return "failed"

    def shutdown(self, wait: bool = True, kill_workers: bool = False) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._processes.values())
            threads = list(self._threads)
        if kill_workers:
            for p in procs:
                with contextlib.suppress(Exception):
                    p.kill()
        if wait:
            deadline = time.monotonic() + 10
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
