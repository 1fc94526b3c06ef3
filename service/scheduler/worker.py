"""What runs in a worker process: one trial, given only the database URL and the trial id.

Nothing else crosses the process boundary, so the same function runs in a local loky process or
on a Dask worker on another machine, as long as it can reach the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from service.errors import Conflict, NotFound
from service.store import FINISHED_TRIAL_STATES, EpochReport, Store, StudyData, TrialData

log = logging.getLogger("hpsearch.worker")

PAUSE_POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 5.0
# A Caviar trial without a pruner writes its epochs (and its latest checkpoint) and reads its
# controls at most this often, not every epoch: with hundreds of workers the per-epoch write
# is what the database sees (docs/scaling.md). A stop or pause waits at most this long.
FLUSH_SECONDS = 1.0


def epoch_value(metric: str, row: dict[str, Any]) -> float | None:
    """The objective metric as seen after one epoch (what pruners compare)."""
    if metric in row and row[metric] is not None:
        return float(row[metric])
    split = metric.split("_", 1)[0]
    if metric.endswith("_error") and split in ("train", "dev"):
        acc = row.get(f"{split}_accuracy")
        if acc is not None:
            return 1.0 - float(acc)
        loss = row.get(f"{split}_loss")
        return None if loss is None else float(loss)
    return None


class Orphaned(Exception):
    """The process that submitted this trial is gone; its successor owns the trial now."""


class StoreReporter:
    """engine.Reporter that writes each epoch to the store and applies controls and pruning."""

    def __init__(self, store: Store, study: StudyData, trial: TrialData, engine: Any) -> None:
        self.store = store
        self.study = study
        self.trial_id = trial.id
        self.engine = engine
        self.metric = str(study.objective.get("metric", "dev_accuracy"))
        self.prunes = str((study.pruner or {}).get("type", "none")) != "none"
        # Caviar trials need only their latest checkpoint (for a retry); Panda keeps them all
        # for rollback.
        self.keep_all_checkpoints = study.mode == "panda"
        # Panda (a person watching one curve) and pruned studies (a verdict per epoch) write
        # every epoch; other Caviar trials batch their epochs, flushed every FLUSH_SECONDS.
        self.batched = not self.prunes and study.mode != "panda"
        self.pending: list[EpochReport] = []
        self.checkpoint: tuple[int, bytes] | None = None  # the latest, not yet written
        self.flushed_at = time.monotonic()
        self.last_epoch = 0
        # A worker whose server died must not keep writing: the next server re-queues or
        # fails the trial, and two writers would interleave their histories.
        self._parent = os.getppid()

    def _check_parent(self) -> None:
        if os.getppid() != self._parent:
            raise Orphaned(f"parent process {self._parent} is gone")

    # -- controls

    def _fold_controls(self, pending: list[Any], d: Any, paused: bool) -> bool:
        """Fold controls, oldest first, into directive `d`, as if applied one by one: the
        last of pause/resume wins (returned: paused or not), a stop sticks, sets accumulate, a
        rollback drops the sets before it (the checkpoint brings back its own parameters, as
        when they apply at different epochs), and of several rollbacks the earliest target wins
        (the rollback to it deleted the later checkpoints: a following one lands there too)."""
        for c in pending:
            payload = c.payload or {}
            if c.action == "stop":
                d.stop = True
            elif c.action == "pause":
                paused = True
            elif c.action == "resume":
                paused = False
            elif c.action == "set":
                d.set_params.update(payload.get("params") or {})
            elif c.action == "rollback":
                target = int(payload["epoch"])
                if d.rollback_epoch is None or target < d.rollback_epoch:
                    d.rollback_epoch = target
                d.set_params.clear()
        return paused

    def _apply_controls(self, epoch: int | None) -> Any:
        pending = self.store.pending_controls(self.trial_id)
        if not pending:
            return None
        d = self.engine.Directive()
        d.pause = self._fold_controls(pending, d, paused=False)
        self.store.mark_controls_applied([c.id for c in pending], epoch)
        return d

    def on_epoch(self, record: Any) -> Any:
        self._check_parent()
        row = record.to_dict()
        epoch = int(row.get("epoch", record.epoch))
        self.last_epoch = epoch
        value = epoch_value(self.metric, row)
        self.pending.append((epoch, value, row))
        if not self._flush_due():
            return None
        try:
            self.flush()
        except Conflict:
            # Finished behind our back (study stopped while queued, or deleted): stop now.
            return self.engine.Directive(stop=True)
        directive = self._apply_controls(epoch)
        if directive is not None and (directive.stop or directive.pause):
            return directive
        if self.prunes and value is not None and self.store.should_prune(self.trial_id, epoch):
            directive = directive or self.engine.Directive()
            directive.prune = True
        return directive

    def _flush_due(self) -> bool:
        return not self.batched or time.monotonic() - self.flushed_at >= FLUSH_SECONDS

    def wants_checkpoint(self, epoch: int) -> bool:
        """Asked by the engine before it builds epoch `epoch`'s checkpoint: a batched trial
        writes only the checkpoint of a flush, so the others need not be built at all."""
        return self._flush_due()

    def flush(self) -> None:
        """Write the pending epochs, then the checkpoint held back for them (in that order: a
        retry resumes from the checkpoint and needs every epoch before it)."""
        self.flushed_at = time.monotonic()
        if self.pending:
            self.store.record_epochs(self.trial_id, self.pending)
            self.pending = []
        if self.checkpoint is not None:
            epoch, blob = self.checkpoint
            self.checkpoint = None
            self.store.save_checkpoint(self.trial_id, epoch, blob, keep_only_latest=True)

    def take_pending(self) -> list[EpochReport]:
        """The epochs not yet written, for the final write of the trial."""
        pending, self.pending = self.pending, []
        return pending

    def save_checkpoint(self, epoch: int, blob: bytes) -> None:
        if self.batched:
            self.checkpoint = (epoch, bytes(blob))  # written with the next flush
            return
        self.store.save_checkpoint(
            self.trial_id, epoch, bytes(blob), keep_only_latest=not self.keep_all_checkpoints
        )

    def load_checkpoint(self, epoch: int) -> bytes | None:
        found = self.store.load_checkpoint(self.trial_id, epoch)
        if found is None:
            return None
        ck_epoch, blob = found
        # The run goes on from ck_epoch: the later epochs of the old timeline are gone.
        self.store.truncate_history(self.trial_id, ck_epoch)
        return blob

    def wait_while_paused(self) -> Any:
        """Paused until a resume (or a stop). Controls are applied in the order they were sent,
        however many one read brings: after [resume, pause] the trial stays paused; the set
        and rollback controls read meanwhile apply when it goes on."""
        self.store.set_trial_state(self.trial_id, "paused")
        resume = self.engine.Directive()
        paused = True
        while True:
            pending = self.store.pending_controls(self.trial_id)
            paused = self._fold_controls(pending, resume, paused)
            self.store.mark_controls_applied([c.id for c in pending], self.last_epoch)
            if resume.stop or not paused:
                self.store.set_trial_state(self.trial_id, "running")
                return resume
            self._check_parent()  # the Heartbeat thread keeps the trial alive meanwhile
            time.sleep(PAUSE_POLL_SECONDS)


class Heartbeat(threading.Thread):
    """Beats for the trial every HEARTBEAT_SECONDS however long an epoch takes, so that a
    stale heartbeat means a dead or cut-off worker, never a slow epoch (the scheduler's reaper
    reads it that way)."""

    def __init__(self, store: Store, trial_id: int, every: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(name=f"heartbeat-{trial_id}", daemon=True)
        self.store = store
        self.trial_id = trial_id
        self.every = every
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            try:
                self.store.heartbeat(self.trial_id)
            except Exception:  # the database is away: the trial's own writes will say so
                log.debug("heartbeat of trial %s failed", self.trial_id, exc_info=True)

    def stop(self) -> None:
        self.done.set()


def _limit_blas_threads() -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of the project
        return None
    # Workers run side by side: one BLAS thread each, or they fight over the cores.
    return threadpool_limits(limits=1)


def warm_worker() -> None:
    import engine  # noqa: F401
    import service.datasets  # noqa: F401


def run_trial(database_url: str, trial_id: int) -> str:
    """Run one trial to its end and write the outcome; returns the final state."""
    store = Store.from_url(database_url)
    try:
        trial = store.get_trial(trial_id, history=False)
        study = store.get_study(trial.study_id)
    except NotFound:
        return "deleted"
    if trial.state in FINISHED_TRIAL_STATES:
        return trial.state
    limits = _limit_blas_threads()
    beat = Heartbeat(store, trial_id)
    beat.start()
    try:
        return _run(store, study, trial)
    except NotFound:
        return "deleted"
    except Orphaned:
        return "orphaned"
    except Exception as e:  # the worker must write a reason rather than die silently
        log.exception("trial %s failed", trial_id)
        from service.scheduler.limits import trial_error_text

        text = trial_error_text(e)  # names the memory limit for a MemoryError
        try:
            store.finish_trial(trial_id, "failed", error=text, require_active=False)
        except NotFound:
            return "deleted"
        return "failed"
    finally:
        beat.stop()
        if limits is not None:
            limits.unregister()


def _fail(store: Store, trial_id: int, text: str, reports: list[EpochReport] | None = None) -> str:
    store.finish_trial(trial_id, "failed", error=text, require_active=False, reports=reports or ())
    return "failed"


def _run(store: Store, study: StudyData, trial: TrialData) -> str:
    import engine
    from service.datasets import load_dataset

    objective = study.objective
    params: dict[str, Any] = dict(objective.get("fixed") or {}) | dict(trial.params)
    seed = study.seed if study.seed is not None else 0
    params.setdefault("seed", seed)
    try:
        config = engine.TrainConfig.from_params(params)
    except engine.EngineError as e:
        return _fail(store, trial.id, f"invalid configuration: {e}")
    try:
        ds = load_dataset(store, str(objective["dataset"]), seed=seed)
        splits = engine.split_dataset(ds, seed=seed)
    except Exception as e:
        return _fail(store, trial.id, f"dataset {objective.get('dataset')!r}: {e}")

    resume_from = None
    if trial.retries > 0:
        # A retried trial goes on from its last checkpoint instead of starting over.
        found = store.latest_checkpoint(trial.id)
        # A worker killed between saving checkpoint k and writing epoch k's row: resuming from
        # k would leave a hole at epoch k in the history: take the one before (Panda keeps
        # them all), or start over.
        if found is not None and not store.history_since(trial.id, found[0] - 1):
            found = store.load_checkpoint(trial.id, found[0] - 1)
        if found is not None:
            resume_from = found[1]
            store.truncate_history(trial.id, found[0])
        else:
            store.truncate_history(trial.id, 0)
    store.set_trial_state(trial.id, "running")
    reporter = StoreReporter(store, study, trial, engine)
    try:
        result = engine.train(config, splits, reporter, resume_from=resume_from)
    except engine.EngineError as e:
        return _fail(store, trial.id, f"{type(e).__name__}: {e}", reporter.take_pending())
    except Exception:
        # Keep the epochs trained so far with the failure (run_trial writes the reason).
        pending = reporter.take_pending()
        if pending:
            with contextlib.suppress(Exception):
                store.record_epochs(trial.id, pending, require_active=False)
        raise

    metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float)}
    metric = str(objective.get("metric", "dev_accuracy"))
    value = metrics.get(metric)
    diagnosis = None
    if "train_error" in metrics and "dev_error" in metrics:
        diagnosis = engine.diagnose(
            metrics["train_error"], metrics["dev_error"], objective.get("human_level_error")
        ).to_dict()
    elif result.diagnosis is not None:
        diagnosis = result.diagnosis.to_dict()
    status = str(result.status)
    if status not in ("completed", "pruned", "diverged", "stopped"):
        status = "failed"
    error = result.error
    if status == "diverged" and not error:
        error = f"diverged at epoch {result.diverged_epoch}"
    store.finish_trial(
        trial.id,
        status,
        value=value if status in ("completed", "pruned") else None,
        error=error if status != "completed" else None,
        metrics=metrics,
        diagnosis=diagnosis,
        best_epoch=result.best_epoch,
        diverged_epoch=result.diverged_epoch,
        require_active=False,
        reports=reporter.take_pending(),
    )
    return status
