"""The operations of the SDK, written once as plans (see :mod:`hpsearch._core`), and the
client-bound :class:`Study`, :class:`Trial` and :class:`Run`.

:class:`hpsearch.Client` and :class:`hpsearch.AsyncClient` subclass :class:`ClientBase` and only
supply ``_run`` (drive a plan) and the SSE stream. A bound object calls ``self._client._run(...)``,
so with a sync client ``trial.tell(0.9)`` returns at once and with an async client it returns an
awaitable: the same classes serve both.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch import __version__
from hpsearch._core import Call, Plan, RetryPolicy, ServerSentEvent, Sleep
from hpsearch.errors import ConflictError, HpsearchError, TrialPruned, ValidationError
from hpsearch.hp import Spec, space_to_dict
from hpsearch.models import (
    FINISHED_TRIAL_STATES,
    Dataset,
    Epoch,
    StudyData,
    TrialData,
)

log = logging.getLogger("hpsearch")

DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"

__all__ = ["DEFAULT_URL", "ClientBase", "Run", "Study", "Trial"]


def _items(data: Any) -> tuple[list[Any], int | None]:
    """(items, total) of a paginated answer; a bare list is one complete page."""
    if isinstance(data, list):
        return data, len(data)
    if isinstance(data, dict):
        items = data.get("items")
        if items is None:
            items = data.get("results", [])
        total = data.get("total")
        return list(items), int(total) if isinstance(total, int) else None
    return [], 0


def _drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def infer_direction(metric: str) -> str:
    """``maximize`` for accuracy-like metrics, ``minimize`` for losses and errors."""
    lowered = metric.lower()
    if any(word in lowered for word in ("acc", "score", "auc", "f1", "precision", "recall", "r2")):
        return "maximize"
    return "minimize"


class ClientBase:
    """Settings, request building and every plan. Subclasses supply ``_run``."""

    _is_async = False

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        headers: Mapping[str, str] | None = None,
        page_size: int = 200,
    ) -> None:
        self.url = (url or os.environ.get("HPSEARCH_URL") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("HPSEARCH_API_TOKEN") or None
        self.token = token
        self.timeout = timeout
        self.page_size = page_size
        self.retry = RetryPolicy(retries=retries, backoff=backoff, max_backoff=max_backoff)
        self.headers: dict[str, str] = {
            "User-Agent": f"hpsearch-python/{__version__}",
            "Accept": "application/json",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.headers.update(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def _run(self, plan: Plan) -> Any:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    # ---- binding JSON to typed objects ------------------------------------------------------

    def _trial(self, data: dict[str, Any]) -> Trial:
        trial = Trial.from_dict(data)
        trial._client = self
        return trial

    def _study(self, data: dict[str, Any]) -> Study:
        best = data.get("best_trial")
        data = dict(data)
        if isinstance(best, dict):
            data["best_trial"] = self._trial(best)
        elif best is not None:
            data["best_trial"] = None
            data["best_trial_id"] = best
        study = Study.from_dict(data)
        study._client = self
        return study

    # ---- plans ------------------------------------------------------------------------------

    def _p_paged(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        limit: int | None,
        offset: int,
    ) -> Plan:
        out: list[Any] = []
        base = _drop_none(params or {})
        while True:
            want = self.page_size if limit is None else min(self.page_size, limit - len(out))
            if want <= 0:
                return out
            data = yield Call("GET", path, params={**base, "limit": want, "offset": offset})
            page, total = _items(data)
            out.extend(page)
            offset += len(page)
            if isinstance(data, list) or len(page) < want:
                return out
            if total is not None and offset >= total:
                return out

    def _p_health(self) -> Plan:
        return (yield Call("GET", "/healthz"))

    def _p_create_study(self, body: dict[str, Any]) -> Plan:
        data = yield Call("POST", f"{API}/studies", json=body)
        return self._study(data)

    def _p_get_study(self, study_id: int) -> Plan:
        return self._study((yield Call("GET", f"{API}/studies/{int(study_id)}")))

    def _p_list_studies(self, state: str | None, limit: int | None, offset: int) -> Plan:
        rows = yield from self._p_paged(f"{API}/studies", {"state": state}, limit, offset)
        return [self._study(row) for row in rows]

    def _p_list_trials(
        self,
        study_id: int,
        state: str | Sequence[str] | None,
        sort: str | None,
        limit: int | None,
        offset: int,
    ) -> Plan:
        if isinstance(state, (list, tuple, set, frozenset)):
            state = list(state)  # sent as repeated ?state=a&state=b
        rows = yield from self._p_paged(
            f"{API}/studies/{int(study_id)}/trials", {"state": state, "sort": sort}, limit, offset
        )
        return [self._trial(row) for row in rows]

    def _p_get_trial(self, trial_id: int) -> Plan:
        return self._trial((yield Call("GET", f"{API}/trials/{int(trial_id)}")))

    def _p_control(self, trial_id: int, action: str, body: Mapping[str, Any]) -> Plan:
        # pause/resume/stop/set are idempotent (applying one twice leaves the same state), so they
        # are retried on connection errors; a rollback is not: a retry after the first one went
        # through would throw away the epochs trained in between.
        call = Call(
            "POST",
            f"{API}/trials/{int(trial_id)}/control",
            json={"action": action, **body},
            idempotent=action != "rollback",
        )
        return (yield call)

    def _p_ask(self, study_id: int) -> Plan:
        return self._trial((yield Call("POST", f"{API}/studies/{int(study_id)}/ask")))

    def _p_report(
        self, trial_id: int, epoch: int, value: float, metrics: Mapping[str, Any]
    ) -> Plan:
        body = {**metrics, "epoch": int(epoch), "value": float(value)}
        data = yield Call("POST", f"{API}/trials/{int(trial_id)}/report", json=body)
        return bool(data.get("prune", False)) if isinstance(data, dict) else bool(data)

    def _p_tell(self, trial_id: int, body: dict[str, Any]) -> Plan:
        data = yield Call("POST", f"{API}/trials/{int(trial_id)}/tell", json=body)
        return self._trial(data) if isinstance(data, dict) and "id" in data else data

    def _p_upload(self, path: Path, fields: dict[str, Any]) -> Plan:
        content = path.read_bytes()
        files = {"file": (path.name, content, "application/octet-stream")}
        data = yield Call(
            "POST", f"{API}/datasets", files=files, data={k: str(v) for k, v in fields.items()}
        )
        return Dataset.from_dict(data)

    def _p_list_datasets(self) -> Plan:
        data = yield Call("GET", f"{API}/datasets")
        rows, _ = _items(data)
        return [Dataset.from_dict(row) for row in rows]

    def _p_panda(self, body: dict[str, Any], wait_timeout: float) -> Plan:
        study = yield from self._p_create_study(body)
        deadline = time.monotonic() + wait_timeout
        delay = 0.05
        while True:
            trials = yield from self._p_list_trials(study.id, None, None, 1, 0)
            if trials:
                return Run(study, trials[0])
            if time.monotonic() > deadline:
                raise HpsearchError(f"panda study {study.id} started no trial in {wait_timeout}s")
            yield Sleep(delay)
            delay = min(1.0, delay * 2)

    # ---- public API: each returns the value (sync) or an awaitable (async) --------------------

    def health(self) -> Any:
        """``GET /healthz``: the server's liveness and database reachability."""
        return self._run(self._p_health())

    def create_study(
        self,
        name: str | None = None,
        *,
        mode: str = "caviar",
        space: Mapping[str, Spec | Mapping[str, Any]] | None = None,
        objective: Mapping[str, Any] | None = None,
        metric: str | None = None,
        direction: str | None = None,
        dataset: str | None = None,
        sampler: Mapping[str, Any] | str | None = None,
        pruner: Mapping[str, Any] | str | None = None,
        n_trials: int | None = None,
        n_workers: int | None = None,
        seed: int | None = None,
        max_retries: int | None = None,
        params: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Any:
        """Create (and start) a study; returns a :class:`Study`.

        ``space`` maps names to :mod:`hpsearch.hp` specs or plain dicts (design.md §2).
        ``metric``, ``direction`` and ``dataset`` are shortcuts merged into ``objective``;
        ``sampler`` / ``pruner`` may be given as a bare type name (``"tpe"``). Not retried: a
        retry could create a second study.
        """
        obj = dict(objective or {})
        for key, value in (("metric", metric), ("direction", direction), ("dataset", dataset)):
            if value is not None:
                obj[key] = value
        if obj.get("metric") and not obj.get("direction"):
            obj["direction"] = infer_direction(str(obj["metric"]))
        body: dict[str, Any] = {"name": name, "mode": mode, "objective": obj or None}
        if space is not None:
            body["space"] = space_to_dict(space)
        if isinstance(sampler, str):
            sampler = {"type": sampler}
        if isinstance(pruner, str):
            pruner = {"type": pruner}
        body.update(
            sampler=dict(sampler) if sampler is not None else None,
            pruner=dict(pruner) if pruner is not None else None,
            n_trials=n_trials,
            n_workers=n_workers,
            seed=seed,
            max_retries=max_retries,
            params=dict(params) if params is not None else None,
        )
        body.update(extra)
        return self._run(self._p_create_study(_drop_none(body)))

    def get_study(self, study_id: int) -> Any:
        """One :class:`Study`, with its progress and best trial."""
        return self._run(self._p_get_study(study_id))

    def list_studies(
        self, *, state: str | None = None, limit: int | None = None, offset: int = 0
    ) -> Any:
        """Studies as a list of :class:`Study` (every page unless ``limit`` is given)."""
        return self._run(self._p_list_studies(state, limit, offset))

    def stop_study(self, study_id: int) -> Any:
        """Stop a study's running trials cleanly (idempotent, retried)."""
        call = Call("POST", f"{API}/studies/{int(study_id)}/stop", idempotent=True)
        return self._run(self._p_single(call, self._study_or_raw))

    def delete_study(self, study_id: int) -> Any:
        """Delete a study and its trials."""
        return self._run(self._p_single(Call("DELETE", f"{API}/studies/{int(study_id)}")))

    def list_trials(
        self,
        study_id: int,
        *,
        state: str | Sequence[str] | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Any:
        """A study's trials as :class:`Trial` objects, optionally filtered by state."""
        return self._run(self._p_list_trials(study_id, state, sort, limit, offset))

    def get_trial(self, trial_id: int) -> Any:
        """One :class:`Trial` with its full history."""
        return self._run(self._p_get_trial(trial_id))

    def control(self, trial_id: int, action: str, **body: Any) -> Any:
        """A Panda control: ``pause``, ``resume``, ``stop``, ``set`` (params=...), ``rollback``."""
        return self._run(self._p_control(trial_id, action, body))

    def ask(self, study_id: int) -> Any:
        """A new :class:`Trial` of an ask/tell study (not retried)."""
        return self._run(self._p_ask(study_id))

    def report(self, trial_id: int, epoch: int, value: float, **metrics: Any) -> Any:
        """Report an intermediate value; True when the pruner says to stop this trial."""
        return self._run(self._p_report(trial_id, epoch, value, metrics))

    def tell(
        self,
        trial_id: int,
        value: float | None = None,
        *,
        state: str | None = None,
        error: str | None = None,
    ) -> Any:
        """Finish an ask/tell trial with its ``value``, or as ``state="failed"|"pruned"``."""
        return self._run(self._p_tell(trial_id, _tell_body(value, state, error)))

    def list_datasets(self) -> Any:
        """Built-in and uploaded datasets as :class:`Dataset` objects."""
        return self._run(self._p_list_datasets())

    def upload_dataset(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        target: str | int | None = None,
        task: str | None = None,
    ) -> Any:
        """Upload a CSV or NPZ file (never pickle); returns its :class:`Dataset`."""
        fields = _drop_none({"name": name, "target": target, "task": task})
        return self._run(self._p_upload(Path(path), fields))

    def panda(
        self,
        params: Mapping[str, Any],
        dataset: str,
        *,
        name: str | None = None,
        metric: str | None = None,
        direction: str | None = None,
        human_level_error: float | None = None,
        objective: Mapping[str, Any] | None = None,
        wait_timeout: float = 30.0,
    ) -> Any:
        """Start one babysat training run (a Panda study); returns a :class:`Run`.

        ``metric`` defaults to ``dev_loss`` and ``direction`` to what the metric's name says
        (accuracy-like: maximize, losses and errors: minimize).
        """
        obj = dict(objective or {})
        obj["dataset"] = dataset
        for key, value in (
            ("metric", metric),
            ("direction", direction),
            ("human_level_error", human_level_error),
        ):
            if value is not None:
                obj[key] = value
        obj.setdefault("metric", "dev_loss")
        obj.setdefault("direction", infer_direction(str(obj["metric"])))
        body = _drop_none({"name": name, "mode": "panda", "objective": obj, "params": dict(params)})
        return self._run(self._p_panda(body, wait_timeout))

    # ---- helpers ------------------------------------------------------------------------------

    def _p_single(self, call: Call, parse: Callable[[Any], Any] | None = None) -> Plan:
        data = yield call
        return parse(data) if parse is not None else data

    def _study_or_raw(self, data: Any) -> Any:
        return self._study(data) if isinstance(data, dict) and "id" in data else data


REPORT_FLUSH_SECONDS = 1.0
REPORT_BATCH_MAX = 1000


def _report_body(epoch: int, value: float, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A buffered report, checked as the server checks one, so a bad one fails at its call."""
    if int(epoch) < 0:
        raise ValidationError(f"report epoch must be >= 0, got {epoch}", field="epoch")
    body: dict[str, Any] = {}
    for name, v in {**metrics, "value": value}.items():
        if v is None and name != "value":
            body[name] = None
            continue
        try:  # NumPy scalars too, as json would need anyway
            number = float(v) if not isinstance(v, bool | str) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise ValidationError(f"report {name} must be a finite number, got {v!r}", field=name)
        body[name] = number
    return {**body, "epoch": int(epoch)}


def _tell_body(value: float | None, state: str | None, error: str | None) -> dict[str, Any]:
    if value is not None and state is None:
        value = float(value)
        if not math.isfinite(value):
            return {"state": "failed", "error": error or f"objective value is {value}"}
        return {"value": value}
    if state is None:
        raise ValueError("tell needs a value, or state='failed' / 'pruned'")
    return _drop_none({"state": state, "error": error, "value": value})


# ======================================================================================
# Bound objects
# ======================================================================================


@dataclass
class Trial(TrialData):
    """A trial bound to its client.

    Ask/tell: :meth:`report` (returns whether to prune), :meth:`tell`, :meth:`fail`,
    :meth:`prune`. Panda controls on a running engine trial: :meth:`pause`, :meth:`resume`,
    :meth:`set`, :meth:`rollback`, :meth:`stop`. With an :class:`~hpsearch.AsyncClient` each
    returns an awaitable.
    """

    def __post_init__(self) -> None:
        self._client: Any = None
        self.should_prune = False
        # Reports of a trial whose study has no pruner never need an answer one by one: they
        # are buffered and sent in batches (at least every REPORT_FLUSH_SECONDS, and with
        # tell), as W&B and MLflow batch their logging. Set by Study.ask.
        self._buffer_reports = False
        self._pending: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()

    # ask/tell -------------------------------------------------------------------------------

    def report(self, epoch: int, value: float, **metrics: Any) -> Any:
        """Report the value at ``epoch`` (a step); True when the trial should be pruned.

        In a study without a pruner the answer is always False and the reports are buffered:
        they reach the server at least every second and with :meth:`tell` (or :meth:`flush`).
        """
        return self._client._run(self._p_report(epoch, value, metrics))

    def _p_report(self, epoch: int, value: float, metrics: Mapping[str, Any]) -> Plan:
        if not self._buffer_reports:
            prune = yield from self._client._p_report(self.id, epoch, value, metrics)
            self.should_prune = bool(prune)
            return self.should_prune
        # Checked here as the server would, so a bad report fails at its call, not at tell.
        self._pending.append(_report_body(epoch, value, metrics))
        if (
            len(self._pending) >= REPORT_BATCH_MAX
            or time.monotonic() - self._flushed_at >= REPORT_FLUSH_SECONDS
        ):
            yield from self._p_flush()
        return False

    def flush(self) -> Any:
        """Send the buffered reports now (a no-op when none are pending)."""
        return self._client._run(self._p_flush())

    def _p_flush(self) -> Plan:
        self._flushed_at = time.monotonic()
        if not self._pending:
            return None
        batch = list(self._pending)
        # An upsert per epoch: sending a batch twice leaves the same history, so it is retried.
        call = Call(
            "POST", f"{API}/trials/{int(self.id)}/reports", json={"reports": batch}, idempotent=True
        )
        answer = yield call
        del self._pending[: len(batch)]
        return answer

    def tell(self, value: float, **metrics: float | None) -> Any:
        """Finish the trial as completed with ``value`` (a NaN/inf value marks it failed);
        keyword arguments are further final metrics stored with the trial."""
        body = _tell_body(value, None, None)
        if metrics and "value" in body:
            body["metrics"] = {k: None if v is None else float(v) for k, v in metrics.items()}
        return self._client._run(self._p_tell(body))

    def fail(self, error: BaseException | str = "") -> Any:
        """Finish the trial as failed, with a readable reason."""
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        return self._client._run(self._p_tell(_tell_body(None, "failed", error or "failed")))

    def prune(self, reason: str | None = None) -> Any:
        """Finish the trial as pruned."""
        return self._client._run(self._p_tell(_tell_body(None, "pruned", reason)))

    def _p_tell(self, body: dict[str, Any]) -> Plan:
        pending = list(self._pending)
        if pending:
            body = {**body, "reports": pending}  # written with the final state, one call
        answer = yield from self._client._p_tell(self.id, body)
        self._pending.clear()
        if isinstance(answer, Trial):
            self._update_from(answer)
        else:
            self.state = body.get("state", "completed")
            self.value = body.get("value", self.value)
        return self

    # reads -----------------------------------------------------------------------------------

    def refresh(self) -> Any:
        """Re-read the trial (state, value, history) from the server, in place."""
        return self._client._run(self._p_refresh())

    def _p_refresh(self) -> Plan:
        fresh = yield from self._client._p_get_trial(self.id)
        self._update_from(fresh)
        return self

    # Panda controls ----------------------------------------------------------------------------

    def pause(self) -> Any:
        return self._client.control(self.id, "pause")

    def resume(self) -> Any:
        return self._client.control(self.id, "resume")

    def stop(self) -> Any:
        return self._client.control(self.id, "stop")

    def set(self, **params: Any) -> Any:
        """Change mutable hyperparameters (learning_rate, beta, l2...) from the next epoch."""
        if not params:
            raise ValueError("set() needs at least one hyperparameter, e.g. learning_rate=0.01")
        return self._client.control(self.id, "set", params=params)

    def rollback(self, epoch: int) -> Any:
        """Restore the checkpoint taken at or before ``epoch`` and train on from there."""
        return self._client.control(self.id, "rollback", epoch=int(epoch))

    def stream(self) -> Any:
        """Follow this (server-run) trial's epochs live, as :meth:`Run.stream` does."""
        return Run(None, self).stream()


@dataclass
class Study(StudyData):
    """A study bound to its client (sync or async)."""

    def __post_init__(self) -> None:
        self._client: Any = None

    def refresh(self) -> Any:
        """Re-read state, progress and best trial from the server, in place."""
        return self._client._run(self._p_refresh())

    def _p_refresh(self) -> Plan:
        fresh = yield from self._client._p_get_study(self.id)
        self._update_from(fresh)
        return self

    def trials(
        self,
        state: str | Sequence[str] | None = None,
        *,
        sort: str | None = None,
        limit: int | None = None,
    ) -> Any:
        """This study's trials, optionally only those in ``state``."""
        return self._client.list_trials(self.id, state=state, sort=sort, limit=limit)

    def stop(self) -> Any:
        """Stop the study's running trials cleanly; the study ends ``stopped``."""
        return self._client._run(self._p_stop())

    def _p_stop(self) -> Plan:
        call = Call("POST", f"{API}/studies/{int(self.id)}/stop", idempotent=True)
        data = yield call
        if isinstance(data, dict) and "id" in data:
            self._update_from(self._client._study(data))
        return self

    def delete(self) -> Any:
        return self._client.delete_study(self.id)

    def ask(self) -> Any:
        """A new trial of this ask/tell study (its reports are buffered when the study has no
        pruner: see :meth:`Trial.report`)."""
        return self._client._run(self._p_ask())

    def _p_ask(self) -> Plan:
        trial = yield from self._client._p_ask(self.id)
        trial._buffer_reports = str((self.pruner or {}).get("type", "none")) == "none"
        return trial

    def wait(
        self,
        *,
        progress: bool = False,
        poll: float = 1.0,
        timeout: float | None = None,
        console: Any = None,
    ) -> Any:
        """Block until the study finishes (completed, stopped or failed); returns the study.

        ``progress=True`` shows a rich progress bar: trials done / total and the best value so
        far. ``timeout`` (seconds) raises ``TimeoutError`` when the study is still running.
        """
        return self._client._run(self._p_wait(progress, poll, timeout, console))

    def _p_wait(self, progress: bool, poll: float, timeout: float | None, console: Any) -> Plan:
        from hpsearch._progress import StudyProgress  # rich only when asked for

        bar = StudyProgress(self, console=console) if progress else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                yield from self._p_refresh()
                if bar is not None:
                    bar.update(self)
                if self.finished:
                    return self
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"study {self.id} still {self.state} after {timeout}s")
                yield Sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def to_dataframe(self, state: str | Sequence[str] | None = None) -> Any:
        """The trials as a pandas DataFrame (``params_*``, ``metrics_*`` columns).

        Needs pandas: ``pip install 'hpsearch[pandas]'``.
        """
        return self._client._run(self._p_to_dataframe(state))

    def _p_to_dataframe(self, state: str | Sequence[str] | None) -> Plan:
        pd = _import_pandas()
        trials = yield from self._client._p_list_trials(self.id, state, None, None, 0)
        return pd.DataFrame(trials_to_rows(trials), columns=_columns(trials))

    def optimize(
        self,
        objective: Callable[..., Any],
        n_trials: int | None = None,
        n_jobs: int = 1,
        *,
        timeout: float | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        callbacks: Iterable[Callable[[Study, Trial], None]] = (),
    ) -> Any:
        """Run the ask → objective → tell loop; returns the trials finished by this call.

        ``objective(params, trial)`` returns the value to tell; ``trial.report(step, value)``
        answers whether to prune, and raising :class:`hpsearch.TrialPruned` ends the trial as
        pruned. Any other exception (of ``catch``) marks the trial failed and the loop goes on.
        ``n_trials`` is the number of trials for this call (None: until the study is full);
        ``n_jobs > 1`` runs that many objectives at once in threads (tasks with an async client;
        the objective may then be a coroutine function).
        """
        if n_jobs < 1:
            raise ValueError("n_jobs must be at least 1")
        if self._client._is_async:
            from hpsearch.aio import optimize_async

            return optimize_async(self, objective, n_trials, n_jobs, timeout, catch, callbacks)
        return _optimize_sync(self, objective, n_trials, n_jobs, timeout, catch, callbacks)

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best_trial
        return dict(best.params) if best is not None else None


def _import_pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_dataframe() needs pandas, an optional extra: pip install 'hpsearch[pandas]'"
        ) from exc
    return pd


def _columns(trials: Sequence[TrialData]) -> list[str]:
    params = sorted({k for t in trials for k in t.params})
    metrics = sorted({k for t in trials for k in (t.metrics or {})})
    return [
        "number",
        "id",
        "state",
        "value",
        "round",
        *(f"params_{k}" for k in params),
        *(f"metrics_{k}" for k in metrics),
        "best_epoch",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "duration_s",
    ]


def trials_to_rows(trials: Sequence[TrialData]) -> list[dict[str, Any]]:
    """Flat rows (one per trial) for CSV export and DataFrames."""
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number,
            "id": t.id,
            "state": t.state,
            "value": t.value,
            "round": t.round,
            "best_epoch": t.best_epoch,
            "error": t.error,
            "created_at": t.created_at,
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            "duration_s": (
                (t.finished_at - t.started_at).total_seconds()
                if t.finished_at and t.started_at
                else None
            ),
        }
        row.update({f"params_{k}": v for k, v in t.params.items()})
        row.update({f"metrics_{k}": v for k, v in (t.metrics or {}).items()})
        rows.append(row)
    return rows


def _objective_value(result: Any) -> float:
    if isinstance(result, Mapping):  # {"value": v, ...}
        result = result.get("value")
    if isinstance(result, bool) or result is None:
        raise TypeError(f"the objective must return a number, got {result!r}")
    return float(result)


def _call_objective(objective: Callable[..., Any], trial: Trial) -> Any:
    return objective(dict(trial.params), trial)


def _optimize_sync(
    study: Study,
    objective: Callable[..., Any],
    n_trials: int | None,
    n_jobs: int,
    timeout: float | None,
    catch: type[BaseException] | tuple[type[BaseException], ...],
    callbacks: Iterable[Callable[[Study, Trial], None]],
) -> list[Trial]:
    if inspect.iscoroutinefunction(objective):
        raise TypeError("an async objective needs hpsearch.AsyncClient")
    callbacks = list(callbacks)
    lock = threading.Lock()
    deadline = None if timeout is None else time.monotonic() + timeout
    state = {"started": 0, "stop": False}
    done: list[Trial] = []
    errors: list[BaseException] = []

    def claim() -> bool:
        with lock:
            if state["stop"] or (n_trials is not None and state["started"] >= n_trials):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            state["started"] += 1
            return True

    def worker() -> None:
        while claim():
            try:
                trial = study.ask()
            except ConflictError as exc:  # the study is full or no longer running
                log.info("study %s takes no more trials: %s", study.id, exc)
                with lock:
                    state["stop"] = True
                return
            _run_one(trial)
            with lock:
                done.append(trial)
            for callback in callbacks:
                callback(study, trial)

    def _run_one(trial: Trial) -> None:
        try:
            result = _call_objective(objective, trial)
            value = _objective_value(result)
        except TrialPruned as exc:
            trial.prune(str(exc) or None)
        except catch as exc:
            log.warning("trial %s failed: %s: %s", trial.number, type(exc).__name__, exc)
            trial.fail(exc)
        except BaseException:
            with lock:
                state["stop"] = True
            trial.fail("interrupted")
            raise
        else:
            trial.tell(value)

    def guarded() -> None:
        try:
            worker()
        except BaseException as exc:
            with lock:
                errors.append(exc)
                state["stop"] = True  # the other threads finish their trial and end

    if n_jobs == 1:
        worker()
    else:
        threads = [
            threading.Thread(target=guarded, name=f"hpsearch-optimize-{i}") for i in range(n_jobs)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C in the main thread: no new trials, let running ones end
            with lock:
                state["stop"] = True
            raise
        if errors:
            raise errors[0]
    study.refresh()
    return sorted(done, key=lambda t: t.number if t.number is not None else -1)


# ======================================================================================
# Panda runs
# ======================================================================================

_END_EVENTS = frozenset({"end", "final", "done", "finished", "complete"})
_END = object()


class Run:
    """One babysat training run (a Panda study and its single trial).

    ``for epoch in run.stream(): ...`` follows the live history (server-sent events) until the
    trial finishes; :meth:`pause`, :meth:`resume`, :meth:`set`, :meth:`rollback` and :meth:`stop`
    steer it. With an :class:`~hpsearch.AsyncClient`, ``stream()`` is an async iterator and the
    controls are awaitables.
    """

    def __init__(self, study: Study | None, trial: Trial) -> None:
        self.study = study
        self.trial = trial
        self.history: list[Epoch] = []
        self._replay_through: int | None = None

    def __repr__(self) -> str:
        study = self.study.id if self.study is not None else self.trial.study_id
        return f"Run(study={study}, trial={self.trial.id}, state={self.state!r})"

    @property
    def id(self) -> int:
        return self.trial.id

    @property
    def state(self) -> str:
        return self.trial.state

    @property
    def finished(self) -> bool:
        return self.trial.state in FINISHED_TRIAL_STATES

    @property
    def _client(self) -> Any:
        return self.trial._client

    def pause(self) -> Any:
        return self.trial.pause()

    def resume(self) -> Any:
        return self.trial.resume()

    def stop(self) -> Any:
        return self.trial.stop()

    def set(self, **params: Any) -> Any:
        return self.trial.set(**params)

    def rollback(self, epoch: int) -> Any:
        return self.trial.rollback(epoch)

    def refresh(self) -> Any:
        return self.trial.refresh()

    def stream(self) -> Any:
        """Epochs as they are trained (:class:`~hpsearch.models.Epoch`), until the run ends."""
        path = f"{API}/trials/{int(self.trial.id)}/stream"
        if self._client._is_async:
            return self._client._astream_run(self, path)
        return self._client._stream_run(self, path)

    def _handle(self, event: ServerSentEvent) -> Any:
        """An Epoch to yield, ``_END`` when the run is over, or None (nothing to yield)."""
        try:
            data = event.json()
        except ValueError:
            data = None
        name = event.event
        if name == "rollback":
            # {"epoch": N}: the server rewound the history to epoch N (a Panda rollback); the
            # epochs after N follow again. Not an epoch of its own: nothing to yield.
            if isinstance(data, dict) and isinstance(data.get("epoch"), int):
                self._rewind(data["epoch"])
            return None
        if isinstance(data, dict) and "epoch" in data and name not in _END_EVENTS:
            epoch = Epoch.from_dict(data)
            if self._replay_through is not None:
                if epoch.epoch <= self._replay_through:
                    return None  # replayed after a reconnect
                self._replay_through = None
            if self.history and epoch.epoch <= self.history[-1].epoch:
                # a rollback: history from that epoch on is replaced
                self.history = [e for e in self.history if e.epoch < epoch.epoch]
            self.history.append(epoch)
            if self.trial.state == "queued":
                self.trial.state = "running"
            self.trial.history = list(self.history)
            return epoch
        if isinstance(data, dict):
            if "id" in data and "state" in data:
                self.trial._update_from(self._client._trial(data))
                self.trial.history = list(self.history) or self.trial.history
            elif "state" in data:
                self.trial.state = str(data["state"])
                for key in ("value", "error"):
                    if key in data:
                        setattr(self.trial, key, data[key])
        # A finished "state" event is followed by the last epochs and the "end" event with the
        # final trial, so only "end" (or the stream closing) ends the iteration.
        if name in _END_EVENTS:
            return _END
        return None

    def _rewind(self, epoch: int) -> None:
        """Keep the history through ``epoch``: the later epochs belong to an abandoned timeline."""
        self.history = [e for e in self.history if e.epoch <= epoch]
        self.trial.history = list(self.history)
        if self._replay_through is not None and self._replay_through > epoch:
            self._replay_through = None  # what follows is new, not a replay

    def _reconnected(self) -> None:
        """After a reconnect the server replays the history: skip epochs already yielded."""
        self._replay_through = self.history[-1].epoch if self.history else None
