"""The store: every read and write of studies, trials and their history.

Callers get plain dataclasses, never ORM objects, so nothing outside this module holds a session.
Each write is one short transaction (BEGIN IMMEDIATE on SQLite, a row lock on Postgres), which is
what keeps concurrent writers from seeing "database is locked" or losing an update.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, case, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from service.core.db import Database, get_database
from service.driver_sql import DriverSQL
from service.errors import Conflict, InvalidInput, NotFound
from service.models import Checkpoint, Dataset, Study, Trial, TrialControl, TrialEpoch, utcnow

STUDY_STATES = ("queued", "running", "completed", "stopped", "failed")
TRIAL_STATES = (
    "queued",
    "running",
    "paused",
    "completed",
    "pruned",
    "diverged",
    "failed",
    "stopped",
)
# One reported epoch: (epoch, value of the objective metric, further metrics).
EpochReport = tuple[int, float | None, Mapping[str, Any]]

ACTIVE_TRIAL_STATES = frozenset({"queued", "running", "paused"})
FINISHED_TRIAL_STATES = frozenset(TRIAL_STATES) - ACTIVE_TRIAL_STATES
ACTIVE_STUDY_STATES = frozenset({"queued", "running"})
EPOCH_COLUMNS = ("train_loss", "dev_loss", "train_accuracy", "dev_accuracy", "learning_rate")
# A trial listing's sort: best (value in the objective's direction), or a column or "param:NAME"
# (any hyperparameter of the study), ascending or descending with a "-" prefix.
TRIAL_SORT_PATTERN = r"^(best|-?(number|value|state|round|duration|param:.+))$"
# Rewinds of a trial's history logged on its row (Trial.history_rewinds): a stream more than
# this many rewinds behind resends the whole history.
HISTORY_REWINDS_KEPT = 50


@dataclass
class TrialData:
    id: int
    study_id: int
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    metrics: dict[str, Any] | None
    error: str | None
    round: int | None
    diagnosis: dict[str, Any] | None
    best_epoch: int | None
    diverged_epoch: int | None
    retries: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    history: list[dict[str, Any]] | None = None
    worker: str | None = None  # the Dask worker address or local://host that ran it
    # Rewinds of the history (Panda rollbacks, retries): see Trial.history_generation.
    history_generation: int = 0
    history_rewinds: list[Any] | None = None

    def rewound_to(self, generation: int) -> int | None:
        """The epoch through which the history is unchanged since `generation` (a
        history_generation read earlier), or None if it was not rewound since: a client that
        read epochs at `generation` must drop those after it. 0 if the log no longer reaches
        back that far."""
        if self.history_generation <= generation:
            return None
        log = [(int(g), int(e)) for g, e in self.history_rewinds or ()]
        later = [e for g, e in log if g > generation]
        if len(later) < self.history_generation - generation:
            return 0  # older rewinds fell out of the log: the whole history may differ
        return min(later)


@dataclass
class StudyData:
    id: int
    name: str
    mode: str
    state: str
    objective: dict[str, Any]
    space: dict[str, Any] | None
    sampler: dict[str, Any] | None
    pruner: dict[str, Any] | None
    params: dict[str, Any] | None
    n_trials: int
    n_workers: int
    seed: int | None
    max_retries: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: dict[str, int] = field(default_factory=dict)
    best_trial: TrialData | None = None
    executor: dict[str, Any] | None = None  # service/executors.py; None: the server default

    @property
    def direction(self) -> str:
        return str(self.objective.get("direction", "maximize"))


@dataclass
class StudySpec:
    """A validated create request."""

    name: str | None
    mode: str
    objective: dict[str, Any]
    space: dict[str, Any] | None
    sampler: dict[str, Any] | None
    pruner: dict[str, Any] | None
    params: dict[str, Any] | None
    n_trials: int
    n_workers: int
    seed: int | None
    max_retries: int
    executor: dict[str, Any] | None = None


def _trial_data(t: Trial, history: list[dict[str, Any]] | None = None) -> TrialData:
    return TrialData(
        id=t.id,
        study_id=t.study_id,
        number=t.number,
        state=t.state,
        params=dict(t.params or {}),
        value=t.value,
        metrics=t.metrics,
        error=t.error,
        round=t.round,
        diagnosis=t.diagnosis,
        best_epoch=t.best_epoch,
        diverged_epoch=t.diverged_epoch,
        retries=t.retries,
        created_at=t.created_at,
        started_at=t.started_at,
        finished_at=t.finished_at,
        heartbeat_at=t.heartbeat_at,
        history=history,
        worker=t.worker,
        history_generation=t.history_generation or 0,
        history_rewinds=t.history_rewinds,
    )


# Core tables: the per-trial hot paths (ask, report, tell) and listings use Core statements on
# the session's connection, not the ORM unit of work, whose flush costs several times the SQL.
_TRIALS = Trial.__table__
_STUDIES = Study.__table__
_EPOCHS = TrialEpoch.__table__
_T, _S, _E = _TRIALS.c, _STUDIES.c, _EPOCHS.c
# Built once: constructing a statement (coercions, cache key) costs more than running it.
_SQL_TRIAL_LOCKED = select(_TRIALS).where(_T.id == bindparam("p_id")).with_for_update()
_SQL_TRIAL_STUDY_ID = select(_T.study_id).where(_T.id == bindparam("p_id"))
_SQL_STUDY = select(_STUDIES).where(_S.id == bindparam("p_id"))
_SQL_STUDY_LOCKED = _SQL_STUDY.with_for_update()
_SQL_UPDATE_TRIAL = update(_TRIALS).where(_T.id == bindparam("p_id"))  # SET from the params
_SQL_UPDATE_STUDY = update(_STUDIES).where(_S.id == bindparam("p_id"))
_SQL_INSERT_TRIAL = insert(_TRIALS)
_SQL_INSERT_EPOCH = insert(_EPOCHS)
_SQL_EPOCH_ID = select(_E.id).where(
    _E.trial_id == bindparam("p_tid"), _E.epoch == bindparam("p_ep")
)
_SQL_UPDATE_EPOCH = update(_EPOCHS).where(_E.id == bindparam("p_id"))
_SQL_LAST_VALUE = (
    select(_E.value)
    .where(_E.trial_id == bindparam("p_id"), _E.value.is_not(None))
    .order_by(_E.epoch.desc())
    .limit(1)
)
_SQL_RECORDS = select(_T.number, _T.params, _T.state, _T.value, _T.round).where(
    _T.study_id == bindparam("p_sid")
)
# Two statements, not one OR: SQLite would scan the whole study for "IN (...) OR number > n".
_SQL_RECORDS_NEWER = _SQL_RECORDS.where(_T.number > bindparam("p_top"))
_SQL_RECORDS_LIVE = _SQL_RECORDS.where(_T.number.in_(bindparam("p_live", expanding=True)))
_NOW = bindparam("p_now", type_=_T.heartbeat_at.type)
# A report's trial update in one statement (RETURNING: SQLite >= 3.35, Postgres): heartbeat,
# queued -> running. The SET expressions read the row's old values on both backends.
_SQL_BEAT_ANY = (
    update(_TRIALS)
    .where(_T.id == bindparam("p_id"))
    .values(
        heartbeat_at=_NOW,
        state=case((_T.state == "queued", "running"), else_=_T.state),
        started_at=case(
            (_T.state == "queued", func.coalesce(_T.started_at, _NOW)), else_=_T.started_at
        ),
    )
    .returning(*_TRIALS.c)
)
# OR of literals rather than IN (...): an IN list is an "expanding" parameter that SQLAlchemy
# re-renders on every execution of this, the hottest statement.
_SQL_BEAT_ACTIVE = _SQL_BEAT_ANY.where(
    or_(*(_T.state == literal_column(f"'{st}'") for st in sorted(ACTIVE_TRIAL_STATES)))
)
_SQL_TRIAL_STATE = select(_T.state).where(_T.id == bindparam("p_id"))
_SQL_AT_STEP = (
    select(_T.number, _T.state, _T.value, _E.value)
    .select_from(
        _TRIALS.outerjoin(_EPOCHS, (_E.trial_id == _T.id) & (_E.epoch == bindparam("p_step")))
    )
    .where(_T.study_id == bindparam("p_sid"))
)
_EPOCH_VALUE_COLUMNS = ("value", *EPOCH_COLUMNS, "extra")
_EPOCH_UPSERTS: dict[str, Any] = {}


def _epoch_upsert(dialect: str) -> Any | None:
    """INSERT ... ON CONFLICT (trial_id, epoch) DO UPDATE, on SQLite and Postgres."""
    stmt = _EPOCH_UPSERTS.get(dialect)
    if stmt is None and dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        ins = dialect_insert(_EPOCHS)
        stmt = _EPOCH_UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=[_E.trial_id, _E.epoch],
            set_={c: ins.excluded[c] for c in _EPOCH_VALUE_COLUMNS},
        )
    return stmt


def _epoch_rows(reports: Sequence[EpochReport]) -> dict[int, dict[str, Any]]:
    """epoch -> column values of its history row. The last report of an epoch wins, as with
    separate calls (and Postgres refuses an upsert that touches one row twice)."""
    rows: dict[int, dict[str, Any]] = {}
    for epoch, value, metrics in reports:
        cols = {c: _finite_or_none(metrics.get(c)) for c in EPOCH_COLUMNS}
        extra = {k: v for k, v in metrics.items() if k not in EPOCH_COLUMNS and k != "epoch"}
        rows[int(epoch)] = {"value": _finite_or_none(value), **cols, "extra": extra or None}
    return rows


def _trial_data_map(m: Mapping[str, Any], history: list[dict[str, Any]] | None = None) -> TrialData:
    """TrialData from a Core row mapping of the trials table."""
    return TrialData(
        id=m["id"],
        study_id=m["study_id"],
        number=m["number"],
        state=m["state"],
        params=dict(m["params"] or {}),
        value=m["value"],
        metrics=m["metrics"],
        error=m["error"],
        round=m["round"],
        diagnosis=m["diagnosis"],
        best_epoch=m["best_epoch"],
        diverged_epoch=m["diverged_epoch"],
        retries=m["retries"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        heartbeat_at=m["heartbeat_at"],
        history=history,
        worker=m["worker"],
        history_generation=m.get("history_generation") or 0,
        history_rewinds=m.get("history_rewinds"),
    )


def _record_number(r: Any) -> int:
    return int(r.number)


@dataclass
class _RecordCache:
    """The finished trials of one study, as sampler records, kept by the Store process.

    Finished trials never change, so each is read from the database once. Every ask reads, inside
    its locked transaction, only the trials that were live at the previous ask and those numbered
    above the highest number seen: numbers are allocated under the study lock, so every trial
    numbered at or below it was visible then, and a trial seen finished stays finished.
    """

    token: Any  # the study's created_at: a study id reused after a delete starts afresh
    finished: list[Any] = field(default_factory=list)  # sorted by number
    live: list[int] = field(default_factory=list)
    max_number: int = -1


def _study_data(s: Study) -> StudyData:
    return StudyData(
        id=s.id,
        name=s.name,
        mode=s.mode,
        state=s.state,
        objective=dict(s.objective or {}),
        space=s.space,
        sampler=s.sampler,
        pruner=s.pruner,
        params=s.params,
        n_trials=s.n_trials,
        n_workers=s.n_workers,
        seed=s.seed,
        max_retries=s.max_retries,
        executor=s.executor,
        error=s.error,
        created_at=s.created_at,
        updated_at=s.updated_at,
        started_at=s.started_at,
        finished_at=s.finished_at,
    )


def epoch_dict(e: TrialEpoch) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": e.epoch}
    if e.value is not None:
        row["value"] = e.value
    for col in EPOCH_COLUMNS:
        v = getattr(e, col)
        if v is not None:
            row[col] = v
    if e.extra:
        row.update({k: v for k, v in e.extra.items() if k not in row})
    return row


def _finite_or_none(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class ControlData:
    id: int
    trial_id: int
    action: str
    payload: dict[str, Any] | None
    created_at: datetime


def _control_data(c: TrialControl) -> ControlData:
    return ControlData(
        id=c.id, trial_id=c.trial_id, action=c.action, payload=c.payload, created_at=c.created_at
    )


class _ControlsMixin:
    """Panda controls and checkpoints: the reporter's side of the store."""

    db: Database

    def add_control(
        self, trial_id: int, action: str, payload: dict[str, Any] | None = None
    ) -> ControlData:
        with self.db.write() as s:
            trial = s.get(Trial, trial_id)
            if trial is None:
                raise NotFound(f"trial {trial_id} not found")
            if trial.state not in ACTIVE_TRIAL_STATES:
                raise Conflict(f"trial {trial_id} is {trial.state}: controls apply to live trials")
            row = TrialControl(
                trial_id=trial_id, action=action, payload=payload, created_at=utcnow()
            )
            s.add(row)
            s.flush()
            return _control_data(row)

    def pending_controls(self, trial_id: int) -> list[ControlData]:
        with self.db.read() as s:
            rows = s.execute(
                select(TrialControl)
                .where(TrialControl.trial_id == trial_id, TrialControl.applied_at.is_(None))
                .order_by(TrialControl.id)
            ).scalars()
            return [_control_data(c) for c in rows]

    def mark_controls_applied(self, ids: Sequence[int], epoch: int | None) -> None:
        if not ids:
            return
        with self.db.write() as s:
            s.execute(
                update(TrialControl)
                .where(TrialControl.id.in_(list(ids)))
                .values(applied_at=utcnow(), applied_epoch=epoch)
            )

    def set_trial_state(self, trial_id: int, state: str) -> None:
        """running <-> paused (and queued -> running) without finishing the trial."""
        now = utcnow()
        # One conditional UPDATE, not read-then-write: on Postgres a worker that read "queued"
        # would otherwise overwrite a concurrent stop_study's "stopped" with "running", and
        # the trial would run on with no stop control to end it.
        values: dict[str, Any] = {"state": state, "heartbeat_at": now}
        if state == "running":
            values["started_at"] = func.coalesce(Trial.started_at, now)
        with self.db.write_conn() as conn:
            conn.execute(
                update(Trial)
                .where(Trial.id == trial_id, Trial.state.in_(sorted(ACTIVE_TRIAL_STATES)))
                .values(**values)
            )

    def heartbeat(self, trial_id: int) -> None:
        with self.db.write_conn() as conn:
            conn.execute(
                update(Trial)
                .where(Trial.id == trial_id, Trial.state.in_(sorted(ACTIVE_TRIAL_STATES)))
                .values(heartbeat_at=utcnow())
            )

    def save_checkpoint(
        self, trial_id: int, epoch: int, blob: bytes, keep_only_latest: bool = False
    ) -> None:
        with self.db.write() as s:
            cond = [Checkpoint.trial_id == trial_id]
            if not keep_only_latest:
                cond.append(Checkpoint.epoch == epoch)
            s.execute(delete(Checkpoint).where(*cond))
            s.add(Checkpoint(trial_id=trial_id, epoch=epoch, blob=blob, created_at=utcnow()))

    def load_checkpoint(self, trial_id: int, epoch: int) -> tuple[int, bytes] | None:
        """The latest checkpoint at or before `epoch`."""
        with self.db.read() as s:
            row = s.execute(
                select(Checkpoint.epoch, Checkpoint.blob)
                .where(Checkpoint.trial_id == trial_id, Checkpoint.epoch <= epoch)
                .order_by(Checkpoint.epoch.desc())
                .limit(1)
            ).first()
            return (row[0], bytes(row[1])) if row is not None else None

    def latest_checkpoint(self, trial_id: int) -> tuple[int, bytes] | None:
        return self.load_checkpoint(trial_id, 2**31 - 1)

    def truncate_history(self, trial_id: int, after_epoch: int) -> None:
        """After a rollback to `after_epoch`, later epochs and checkpoints are rewritten.

        When epochs were deleted, the trial's history_generation is bumped and the rewind
        logged in the same transaction: live streams compare the generation on every poll, so
        they see the rewind even when the new timeline has already grown past the old one."""
        with self.db.write() as s:
            # The trial row first (the lock order of finish_trial: trial, then its epochs).
            trial = s.execute(
                select(Trial).where(Trial.id == trial_id).with_for_update()
            ).scalar_one_or_none()
            deleted = s.execute(
                delete(TrialEpoch).where(
                    TrialEpoch.trial_id == trial_id, TrialEpoch.epoch > after_epoch
                )
            )
            gone = cast("CursorResult[Any]", deleted).rowcount
            s.execute(
                delete(Checkpoint).where(
                    Checkpoint.trial_id == trial_id, Checkpoint.epoch > after_epoch
                )
            )
            if trial is not None and gone:
                generation = (trial.history_generation or 0) + 1
                log = list(trial.history_rewinds or [])[-(HISTORY_REWINDS_KEPT - 1) :]
                trial.history_rewinds = [*log, [generation, int(after_epoch)]]
                trial.history_generation = generation


class Store(_ControlsMixin):
    def __init__(self, db: Database) -> None:
        self.db = db
        # Samplers are deterministic given (config, seed, number, trials), so one built object per
        # study can be shared; building a TPE or CMA-ES sampler on every ask would be waste.
        self._samplers: dict[int, Any] = {}
        self._pruners: dict[int, Any] = {}
        self._static_cache: dict[int, tuple[str, dict[str, Any]]] = {}
        self._records: dict[int, _RecordCache] = {}
        # created_at of the study each cached sampler/pruner was built for: SQLite may hand a
        # deleted study's id to the next new study.
        self._tokens: dict[int, Any] = {}
        self._cache_lock = threading.Lock()
        # Epoch reports, the bulk of a trial's writes, go through the driver directly.
        self._driver = (
            DriverSQL(db, sorted(ACTIVE_TRIAL_STATES), EPOCH_COLUMNS)
            if db.engine.dialect.name in ("sqlite", "postgresql")
            else None
        )

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(get_database(url))

    # ----------------------------------------------------------------------------- studies

    def create_study(self, spec: StudySpec) -> StudyData:
        now = utcnow()
        with self.db.write() as s:
            study = Study(
                name=spec.name or "",
                mode=spec.mode,
                # ask/tell studies run from the moment they exist: the client drives them.
                state="running" if spec.mode == "ask_tell" else "queued",
                objective=spec.objective,
                space=spec.space,
                sampler=spec.sampler,
                pruner=spec.pruner,
                params=spec.params,
                n_trials=spec.n_trials,
                n_workers=spec.n_workers,
                seed=spec.seed,
                max_retries=spec.max_retries,
                executor=spec.executor or None,
                next_number=0,
                n_finished=0,
                created_at=now,
                updated_at=now,
                started_at=now if spec.mode == "ask_tell" else None,
            )
            s.add(study)
            s.flush()
            if not spec.name:
                study.name = f"study-{study.id}"
            data = _study_data(study)
        data.progress = {st: 0 for st in TRIAL_STATES} | {"total": 0}
        return data

    def _load_study(self, s: Session, study_id: int, lock: bool = False) -> Study:
        q = select(Study).where(Study.id == study_id)
        if lock:
            q = q.with_for_update()
        study = s.execute(q).scalar_one_or_none()
        if study is None:
            raise NotFound(f"study {study_id} not found")
        return study

    def _progress(self, s: Session, study_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        out = {sid: {st: 0 for st in TRIAL_STATES} | {"total": 0} for sid in study_ids}
        if not study_ids:
            return out
        rows = s.execute(
            select(Trial.study_id, Trial.state, func.count())
            .where(Trial.study_id.in_(study_ids))
            .group_by(Trial.study_id, Trial.state)
        )
        for sid, state, n in rows:
            out[sid][state] = n
            out[sid]["total"] += n
        return out

    def _best(self, s: Session, study_id: int, direction: str) -> Trial | None:
        order = Trial.value.desc() if direction == "maximize" else Trial.value.asc()
        return s.execute(
            select(Trial)
            .where(
                Trial.study_id == study_id,
                Trial.state == "completed",
                Trial.value.is_not(None),
            )
            .order_by(order, Trial.number)
            .limit(1)
        ).scalar_one_or_none()

    def get_study_mode(self, study_id: int) -> str:
        with self.db.read() as s:
            mode = s.execute(select(Study.mode).where(Study.id == study_id)).scalar_one_or_none()
            if mode is None:
                raise NotFound(f"study {study_id} not found")
            return mode

    def get_study(self, study_id: int) -> StudyData:
        with self.db.read() as s:
            study = self._load_study(s, study_id)
            data = _study_data(study)
            data.progress = self._progress(s, [study_id])[study_id]
            best = self._best(s, study_id, data.direction)
            data.best_trial = _trial_data(best) if best is not None else None
            return data

    def list_studies(
        self, limit: int = 50, offset: int = 0, state: str | None = None
    ) -> tuple[list[StudyData], int]:
        with self.db.read() as s:
            q = select(Study)
            cq = select(func.count()).select_from(Study)
            if state:
                q = q.where(Study.state == state)
                cq = cq.where(Study.state == state)
            total = s.execute(cq).scalar_one()
            studies = s.execute(q.order_by(Study.id.desc()).limit(limit).offset(offset)).scalars()
            items = [_study_data(st) for st in studies]
            progress = self._progress(s, [d.id for d in items])
            for d in items:
                d.progress = progress[d.id]
                best = self._best(s, d.id, d.direction)
                d.best_trial = _trial_data(best) if best is not None else None
            return items, total

    def active_study_ids(self, modes: Sequence[str] = ("caviar", "panda")) -> list[int]:
        with self.db.read() as s:
            return list(
                s.execute(
                    select(Study.id)
                    .where(Study.state.in_(ACTIVE_STUDY_STATES), Study.mode.in_(modes))
                    .order_by(Study.id)
                ).scalars()
            )

    def set_study_state(
        self, study_id: int, state: str, error: str | None = None, only_if_active: bool = True
    ) -> bool:
        """Move a study to `state`; with only_if_active a stopped study is never revived."""
        now = utcnow()
        with self.db.write() as s:
            study = self._load_study(s, study_id, lock=True)
            if only_if_active and study.state not in ACTIVE_STUDY_STATES:
                return False
            study.state = state
            study.updated_at = now
            if state == "running" and study.started_at is None:
                study.started_at = now
            if state not in ACTIVE_STUDY_STATES:
                study.finished_at = now
            if error is not None:
                study.error = error
            return True

    def stop_study(self, study_id: int) -> StudyData:
        """Stop cleanly: queued trials never start, running ones get a stop control."""
        now = utcnow()
        with self.db.write() as s:
            study = self._load_study(s, study_id, lock=True)
            if study.state in ACTIVE_STUDY_STATES:
                study.state = "stopped"
                study.finished_at = now
                study.updated_at = now
            s.execute(
                update(Trial)
                .where(Trial.study_id == study_id, Trial.state == "queued")
                .values(
                    state="stopped", error="study stopped before the trial started", finished_at=now
                )
            )
            running = s.execute(
                select(Trial.id).where(
                    Trial.study_id == study_id, Trial.state.in_(("running", "paused"))
                )
            ).scalars()
            for tid in running:
                s.add(TrialControl(trial_id=tid, action="stop", payload=None, created_at=now))
            if study.mode == "ask_tell":
                # No worker reads controls for client-run trials: finish them here.
                s.execute(
                    update(Trial)
                    .where(Trial.study_id == study_id, Trial.state.in_(("running", "paused")))
                    .values(state="stopped", error="study stopped", finished_at=now)
                )
        return self.get_study(study_id)

    def delete_study(self, study_id: int) -> None:
        with self.db.write() as s:
            study = self._load_study(s, study_id, lock=True)
            # Bulk deletes: the ORM cascade would load every trial and epoch first.
            trial_ids = select(Trial.id).where(Trial.study_id == study_id).scalar_subquery()
            for model in (TrialEpoch, TrialControl, Checkpoint):
                s.execute(delete(model).where(model.trial_id.in_(trial_ids)))
            s.execute(delete(Trial).where(Trial.study_id == study_id))
            s.delete(study)
        with self._cache_lock:
            self._samplers.pop(study_id, None)
            self._pruners.pop(study_id, None)
            self._static_cache.pop(study_id, None)
            self._records.pop(study_id, None)
            self._tokens.pop(study_id, None)

    def _check_token(self, study: Any) -> None:
        """Drop the per-study caches if `study` is not the study they were built for."""
        token = getattr(study, "created_at", None)
        if token is None:
            return
        with self._cache_lock:
            if self._tokens.get(study.id, token) != token:
                self._samplers.pop(study.id, None)
                self._pruners.pop(study.id, None)
                self._static_cache.pop(study.id, None)
                self._records.pop(study.id, None)
            self._tokens[study.id] = token

    # ----------------------------------------------------------------------------- samplers

    def sampler_for(self, study: StudyData | Study) -> Any:
        import samplers

        self._check_token(study)
        with self._cache_lock:
            sampler = self._samplers.get(study.id)
        if sampler is None:
            space = samplers.SearchSpace.from_dict(study.space or {})
            sampler = samplers.make_sampler(
                study.sampler or {"type": "random"},
                space,
                str(study.objective.get("direction", "maximize")),
                study.seed if study.seed is not None else 0,
                # The study's budget: grid's points per axis and coarse-to-fine's round sizes
                # default from it (without it coarse-to-fine ran 20-trial rounds whatever
                # n_trials was, so a smaller study never left its first round).
                n_trials=study.n_trials,
            )
            with self._cache_lock:
                self._samplers[study.id] = sampler
        return sampler

    def pruner_for(self, study: StudyData | Study) -> Any:
        import samplers

        self._check_token(study)
        with self._cache_lock:
            pruner = self._pruners.get(study.id)
        if pruner is None:
            pruner = samplers.make_pruner(
                study.pruner, str(study.objective.get("direction", "maximize"))
            )
            with self._cache_lock:
                self._pruners[study.id] = pruner
        return pruner

    def _records_at_step(self, s: Session, study_id: int, step: int) -> list[Any]:
        """Every trial of the study as a pruner sees it: state, final value and the value it
        reported at `step` (its only intermediate value here). Pruners compare trials at the
        step being judged (samplers.pruners.base), so one row per trial is read, not every
        trial's whole history."""
        import samplers

        rows = s.execute(_SQL_AT_STEP, {"p_sid": study_id, "p_step": step})
        return [
            samplers.TrialRecord(
                number=n,
                params={},
                state=st,
                value=v,
                intermediate={} if at is None else {step: at},
            )
            for n, st, v, at in rows
        ]

    def _cached_trial_records(self, conn: Connection, study: Any) -> list[Any]:
        """Every trial of the study as sampler records (params, state, value, round), by number.

        Call only inside a write transaction that holds the study lock (see _RecordCache).
        """
        import samplers

        self._check_token(study)
        with self._cache_lock:
            cache = self._records.get(study.id)
            if cache is None:
                cache = self._records[study.id] = _RecordCache(study.created_at)
        if cache.max_number < 0:
            rows = list(conn.execute(_SQL_RECORDS, {"p_sid": study.id}))
        else:
            rows = list(
                conn.execute(_SQL_RECORDS_NEWER, {"p_sid": study.id, "p_top": cache.max_number})
            )
            if cache.live:
                rows += conn.execute(_SQL_RECORDS_LIVE, {"p_sid": study.id, "p_live": cache.live})
        live: list[Any] = []
        done: list[Any] = []
        top = cache.max_number
        for n, p, st, v, r in rows:
            rec = samplers.TrialRecord(
                number=n, params=dict(p or {}), state=st, value=v, intermediate={}, round=r
            )
            (done if st in FINISHED_TRIAL_STATES else live).append(rec)
            top = max(top, n)
        fin = cache.finished
        if done:
            done.sort(key=_record_number)
            if not fin or done[0].number > fin[-1].number:
                fin.extend(done)
            else:
                for rec in done:
                    bisect.insort(fin, rec, key=_record_number)
        live.sort(key=_record_number)
        cache.live = [r.number for r in live]
        cache.max_number = top
        # Merge the live records into the finished ones (few live, many finished).
        out: list[Any] = []
        lo = 0
        for rec in live:
            i = bisect.bisect_left(fin, rec.number, lo=lo, key=_record_number)
            out.extend(fin[lo:i])
            out.append(rec)
            lo = i
        out.extend(fin[lo:])
        return out

    # ----------------------------------------------------------------------------- ask/tell

    def ask(self, study_id: int, state: str = "running") -> TrialData:
        """Allocate the next trial number and its parameters in one transaction."""
        now = utcnow()
        with self.db.write_conn() as conn:
            study = conn.execute(_SQL_STUDY_LOCKED, {"p_id": study_id}).first()
            if study is None:
                raise NotFound(f"study {study_id} not found")
            if study.state not in ACTIVE_STUDY_STATES:
                raise Conflict(f"study {study_id} is {study.state}: it takes no new trials")
            if study.next_number >= study.n_trials:
                raise Conflict(
                    f"study {study_id} has already asked all of its n_trials={study.n_trials} trials"
                )
            number = study.next_number
            records = self._cached_trial_records(conn, study)
            suggestion = self.sampler_for(study).ask(number, records)
            sv: dict[str, Any] = {"p_id": study_id, "next_number": number + 1, "updated_at": now}
            if study.state == "queued":
                sv["state"] = "running"
                sv["started_at"] = study.started_at or now
            conn.execute(_SQL_UPDATE_STUDY, sv)
            row: dict[str, Any] = {
                "study_id": study_id,
                "number": number,
                "state": state,
                "params": dict(suggestion.params),
                "value": None,
                "metrics": None,
                "error": None,
                "round": suggestion.round,
                "diagnosis": None,
                "best_epoch": None,
                "diverged_epoch": None,
                "retries": 0,
                "created_at": now,
                "started_at": now if state == "running" else None,
                "finished_at": None,
                "heartbeat_at": now if state == "running" else None,
                "worker": None,
            }
            ins = {k: v for k, v in row.items() if v is not None or k == "round"}
            row["id"] = conn.execute(_SQL_INSERT_TRIAL, ins).inserted_primary_key[0]
        return _trial_data_map(row)

    def add_trial(
        self, study_id: int, params: Mapping[str, Any], state: str = "queued"
    ) -> TrialData:
        """A trial with given parameters (Panda), numbered like any other."""
        now = utcnow()
        with self.db.write() as s:
            study = self._load_study(s, study_id, lock=True)
            number = study.next_number
            study.next_number = number + 1
            trial = Trial(
                study_id=study_id,
                number=number,
                state=state,
                params=dict(params),
                retries=0,
                created_at=now,
            )
            s.add(trial)
            s.flush()
            return _trial_data(trial)

    def _study_id_of(self, s: Session, trial_id: int) -> int:
        sid = s.execute(select(Trial.study_id).where(Trial.id == trial_id)).scalar_one_or_none()
        if sid is None:
            raise NotFound(f"trial {trial_id} not found")
        return int(sid)

    def _load_trial(self, s: Session, trial_id: int, lock: bool = False) -> Trial:
        q = select(Trial).where(Trial.id == trial_id)
        if lock:
            q = q.with_for_update()
        trial = s.execute(q).scalar_one_or_none()
        if trial is None:
            raise NotFound(f"trial {trial_id} not found")
        return trial

    def record_epoch(
        self,
        trial_id: int,
        epoch: int,
        value: float | None,
        metrics: Mapping[str, Any],
        require_active: bool = True,
        mode: str | None = None,
    ) -> TrialData:
        """Write (or overwrite) one epoch of history and refresh the heartbeat.

        With `mode`, the trial's study must be of that mode (else Conflict, nothing written):
        checked inside the write, so an ask/tell report costs one transaction, not two.
        """
        return self.record_epochs(trial_id, [(epoch, value, metrics)], require_active, mode)

    def record_epochs(
        self,
        trial_id: int,
        reports: Sequence[EpochReport],
        require_active: bool = True,
        mode: str | None = None,
    ) -> TrialData:
        """record_epoch for several epochs in one transaction (a batch of buffered reports)."""
        now = utcnow()
        rows = _epoch_rows(reports)

        def check(trial: Mapping[str, Any]) -> None:
            if mode is not None:
                self._require_mode(trial_id, self._static(trial["study_id"])[0], mode)

        if self._driver is not None:
            found = self._driver.record_epochs(trial_id, rows, now, require_active, check)
        else:
            beat = _SQL_BEAT_ACTIVE if require_active else _SQL_BEAT_ANY
            with self.db.write_conn() as conn:
                found = conn.execute(beat, {"p_id": trial_id, "p_now": now}).mappings().first()
                if found is not None:
                    check(found)
                    self._upsert_epochs(conn, trial_id, rows, now)
        if found is None:
            with self.db.read() as s:
                state = s.execute(_SQL_TRIAL_STATE, {"p_id": trial_id}).scalar()
            if state is None:
                raise NotFound(f"trial {trial_id} not found")
            raise Conflict(f"trial {trial_id} is {state}: it takes no more reports")
        return _trial_data_map(found)

    @classmethod
    def _upsert_epochs(
        cls, conn: Connection, trial_id: int, rows: Mapping[int, dict[str, Any]], now: datetime
    ) -> None:
        stmt = _epoch_upsert(conn.dialect.name)
        if stmt is not None and len(rows) > 1:
            params = [
                {"trial_id": trial_id, "epoch": e, "created_at": now, **v} for e, v in rows.items()
            ]
            conn.execute(stmt, params)
            return
        for epoch, values in rows.items():
            cls._upsert_epoch(conn, trial_id, epoch, now, values)

    @staticmethod
    def _upsert_epoch(
        conn: Connection, trial_id: int, epoch: int, now: datetime, values: dict[str, Any]
    ) -> None:
        stmt = _epoch_upsert(conn.dialect.name)
        if stmt is not None:
            conn.execute(stmt, {"trial_id": trial_id, "epoch": epoch, "created_at": now, **values})
            return
        found = conn.execute(_SQL_EPOCH_ID, {"p_tid": trial_id, "p_ep": epoch}).scalar()
        if found is None:
            row = {"trial_id": trial_id, "epoch": epoch, "created_at": now, **values}
            conn.execute(_SQL_INSERT_EPOCH, row)
        else:
            conn.execute(_SQL_UPDATE_EPOCH, {"p_id": found, **values})

    def _static(self, study_id: int) -> tuple[str, dict[str, Any]]:
        """(mode, pruner config) of a study: fixed at creation, so cached per process."""
        with self._cache_lock:
            got = self._static_cache.get(study_id)
        if got is None:
            with self.db.read() as s:
                row = s.execute(
                    select(Study.mode, Study.pruner).where(Study.id == study_id)
                ).first()
            if row is None:
                raise NotFound(f"study {study_id} not found")
            got = (str(row[0]), dict(row[1] or {}))
            with self._cache_lock:
                self._static_cache[study_id] = got
        return got

    def should_prune(self, trial_id: int, epoch: int, trial: TrialData | None = None) -> bool:
        import samplers

        if trial is None:
            trial = self.get_trial(trial_id, history=False)
        _, pruner_cfg = self._static(trial.study_id)
        # No pruner, no reads: the common case costs nothing per report.
        if str(pruner_cfg.get("type", "none")) == "none":
            return False
        with self.db.read() as s:
            study = s.execute(_SQL_STUDY, {"p_id": trial.study_id}).first()
            if study is None:
                raise NotFound(f"study {trial.study_id} not found")
            pruner = self.pruner_for(study)
            records = self._records_at_step(s, study.id, epoch)
        current = next((r for r in records if r.number == trial.number), None)
        if current is None:  # pragma: no cover - the trial was just read
            return False
        others: list[samplers.TrialRecord] = [r for r in records if r.number != trial.number]
        return bool(pruner.should_prune(current, epoch, others))

    @staticmethod
    def _require_mode(trial_id: int, actual: str, wanted: str) -> None:
        if actual != wanted:
            raise Conflict(f"trial {trial_id} belongs to a {actual} study: the server reports it")

    def report(
        self,
        trial_id: int,
        epoch: int,
        value: float | None,
        metrics: Mapping[str, Any],
        mode: str | None = None,
    ) -> bool:
        trial = self.record_epoch(trial_id, epoch, value, metrics, mode=mode)
        return self.should_prune(trial_id, epoch, trial)

    def report_many(
        self, trial_id: int, reports: Sequence[EpochReport], mode: str | None = None
    ) -> bool:
        """Several reports in one transaction; the pruner judges the latest epoch."""
        trial = self.record_epochs(trial_id, reports, mode=mode)
        return self.should_prune(trial_id, max(int(r[0]) for r in reports), trial)

    def finish_trial(
        self,
        trial_id: int,
        state: str,
        value: float | None = None,
        error: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        diagnosis: Mapping[str, Any] | None = None,
        best_epoch: int | None = None,
        diverged_epoch: int | None = None,
        require_active: bool = True,
        mode: str | None = None,
        reports: Sequence[EpochReport] = (),
    ) -> TrialData:
        """Final state of a trial; the study completes once n_trials trials are finished.

        With `mode`, the trial's study must be of that mode (else Conflict, nothing written).
        `reports` are epochs written in the same transaction, before the trial finishes.
        """
        if state not in FINISHED_TRIAL_STATES:
            raise ValueError(f"not a final trial state: {state}")
        now = utcnow()
        with self.db.write_conn() as conn:
            study_id = conn.execute(_SQL_TRIAL_STUDY_ID, {"p_id": trial_id}).scalar()
            if study_id is None:
                raise NotFound(f"trial {trial_id} not found")
            # Study row first, then the trial: the lock order of ask and stop_study, so that
            # concurrent writers on Postgres queue instead of deadlocking.
            study = conn.execute(_SQL_STUDY_LOCKED, {"p_id": study_id}).first()
            if study is None:
                raise NotFound(f"study {study_id} not found")
            trial = conn.execute(_SQL_TRIAL_LOCKED, {"p_id": trial_id}).mappings().first()
            if trial is None:  # pragma: no cover - read above, under the study lock
                raise NotFound(f"trial {trial_id} not found")
            if mode is not None:
                self._require_mode(trial_id, study.mode, mode)
            if trial["state"] in FINISHED_TRIAL_STATES:
                if require_active:
                    raise Conflict(f"trial {trial_id} is already {trial['state']}")
                return _trial_data_map(trial)
            if reports:
                self._upsert_epochs(conn, trial_id, _epoch_rows(reports), now)
            if value is None and state == "pruned":
                # Like a pruned Optuna trial: its last intermediate value stands for it.
                value = conn.execute(_SQL_LAST_VALUE, {"p_id": trial_id}).scalar()
            tv: dict[str, Any] = {
                "state": state,
                "value": _finite_or_none(value),
                "error": error,
                "best_epoch": best_epoch,
                "diverged_epoch": diverged_epoch,
                "finished_at": now,
                "heartbeat_at": now,
            }
            if metrics is not None:
                tv["metrics"] = {k: _finite_or_none(v) for k, v in metrics.items()}
            if diagnosis is not None:
                tv["diagnosis"] = dict(diagnosis)
            conn.execute(_SQL_UPDATE_TRIAL, {"p_id": trial_id, **tv})
            # Under the study lock, so the read-modify-write cannot lose a concurrent finish.
            sv: dict[str, Any] = {
                "p_id": study_id,
                "n_finished": study.n_finished + 1,
                "updated_at": now,
            }
            # As _maybe_complete: only ask/tell studies complete here.
            if (
                study.mode == "ask_tell"
                and study.n_finished + 1 >= study.n_trials
                and study.state in ACTIVE_STUDY_STATES
            ):
                sv["state"] = "completed"
                sv["finished_at"] = now
            conn.execute(_SQL_UPDATE_STUDY, sv)
        return _trial_data_map({**trial, **tv})

    # ----------------------------------------------------------------------------- recovery

    def queued_trial_ids(self, study_id: int) -> list[int]:
        with self.db.read() as s:
            return list(
                s.execute(
                    select(Trial.id)
                    .where(Trial.study_id == study_id, Trial.state == "queued")
                    .order_by(Trial.number)
                ).scalars()
            )

    def recover_lost_trials(self, older_than: datetime | None = None) -> list[tuple[int, str]]:
        """Trials left running or paused by a dead server or worker.

        Each is re-queued when its study's max_retries allows, else failed with the reason.
        With `older_than`, only trials whose heartbeat is older are touched (remote workers
        may still be alive). Returns (trial_id, new_state) pairs.
        """
        out: list[tuple[int, str]] = []
        with self.db.write() as s:
            q = (
                select(Trial, Study.max_retries)
                .join(Study, Study.id == Trial.study_id)
                .where(Trial.state.in_(("running", "paused")), Study.mode != "ask_tell")
            )
            for trial, max_retries in s.execute(q):
                beat = trial.heartbeat_at or trial.started_at or trial.created_at
                if older_than is not None and beat is not None and beat > older_than:
                    continue
                out.append((trial.id, self._requeue_or_fail(s, trial, max_retries)))
        return out

    def stale_trial_ids(self, older_than: datetime) -> list[int]:
        """Server-run trials, running or paused, whose last heartbeat is before `older_than`."""
        beat = func.coalesce(Trial.heartbeat_at, Trial.started_at, Trial.created_at)
        with self.db.read() as s:
            rows = s.execute(
                select(Trial.id)
                .join(Study, Study.id == Trial.study_id)
                .where(
                    Trial.state.in_(("running", "paused")),
                    Study.mode != "ask_tell",
                    beat < older_than,
                )
            ).scalars()
            return [int(r) for r in rows]

    def lose_trial(
        self, trial_id: int, reason: str, stale_before: datetime | None = None
    ) -> str | None:
        """A worker died under this trial: re-queue it or fail it; None if already finished
        (or, with `stale_before`, if it has beaten since: its worker is alive after all)."""
        with self.db.write() as s:
            try:
                study = self._load_study(s, self._study_id_of(s, trial_id), lock=True)
            except NotFound:
                return None
            trial = s.execute(
                select(Trial).where(Trial.id == trial_id).with_for_update()
            ).scalar_one_or_none()
            if trial is None or trial.state in FINISHED_TRIAL_STATES:
                return None
            if stale_before is not None:
                beat = trial.heartbeat_at or trial.started_at or trial.created_at
                if beat is not None and beat >= stale_before:
                    return None
            return self._requeue_or_fail(s, trial, study.max_retries, reason)

    def _requeue_or_fail(
        self,
        s: Session,
        trial: Trial,
        max_retries: int,
        reason: str = "lost: the server or its worker stopped while the trial was running",
    ) -> str:
        now = utcnow()
        if trial.retries < max_retries:
            trial.retries += 1
            trial.state = "queued"
            trial.error = f"retry {trial.retries} of {max_retries} after {reason}"
            return "queued"
        trial.state = "failed"
        trial.error = reason
        trial.finished_at = now
        study = s.get(Study, trial.study_id, with_for_update=True)
        if study is not None:
            study.n_finished += 1
            study.updated_at = now
            self._maybe_complete(study, now)
        return "failed"

    @staticmethod
    def _maybe_complete(study: Study, now: datetime) -> None:
        # Only ask/tell studies complete here; a study runner decides for the others (it also
        # tells "completed" from "failed", when every trial failed).
        if (
            study.mode == "ask_tell"
            and study.n_finished >= study.n_trials
            and study.state in ACTIVE_STUDY_STATES
        ):
            study.state = "completed"
            study.finished_at = now

    # ----------------------------------------------------------------------------- trials

    def get_trial(self, trial_id: int, history: bool = True) -> TrialData:
        with self.db.read() as s:
            trial = self._load_trial(s, trial_id)
            rows = None
            if history:
                rows = [
                    epoch_dict(e)
                    for e in s.execute(
                        select(TrialEpoch)
                        .where(TrialEpoch.trial_id == trial_id)
                        .order_by(TrialEpoch.epoch)
                    ).scalars()
                ]
            return _trial_data(trial, rows)

    def last_epoch(self, trial_id: int) -> int:
        with self.db.read() as s:
            got = s.execute(
                select(func.max(TrialEpoch.epoch)).where(TrialEpoch.trial_id == trial_id)
            ).scalar_one_or_none()
            return int(got or 0)

    def history_since(self, trial_id: int, after_epoch: int) -> list[dict[str, Any]]:
        with self.db.read() as s:
            return [
                epoch_dict(e)
                for e in s.execute(
                    select(TrialEpoch)
                    .where(TrialEpoch.trial_id == trial_id, TrialEpoch.epoch > after_epoch)
                    .order_by(TrialEpoch.epoch)
                ).scalars()
            ]

    def list_trials(
        self,
        study_id: int,
        limit: int = 100,
        offset: int = 0,
        state: Sequence[str] | None = None,
        sort: str = "number",
    ) -> tuple[list[TrialData], int]:
        with self.db.read() as s:
            study = self._load_study(s, study_id)
            where = [Trial.study_id == study_id]
            if state:
                where.append(Trial.state.in_(list(state)))
            total = s.execute(select(func.count()).select_from(Trial).where(*where)).scalar_one()
            if sort == "best":
                maximize = (study.objective or {}).get("direction", "maximize") == "maximize"
                sort = "-value" if maximize else "value"
            order = _trial_order(sort, study, s.get_bind().dialect.name)
            # The page's ids first, from narrow rows (an index covers them): sorting whole
            # rows (params, metrics) of a 10,000-trial study cost more than the page itself.
            page = (
                select(Trial.id).where(*where).order_by(*order).limit(limit).offset(offset)
            ).scalar_subquery()
            # Core rows, not ORM entities: a page is read-only and this halves its cost.
            trials = s.execute(select(_TRIALS).where(_T.id.in_(page)).order_by(*order)).mappings()
            return [_trial_data_map(t) for t in trials], total

    # ----------------------------------------------------------------------------- datasets

    def add_dataset(self, **fields: Any) -> DatasetData:
        with self.db.write() as s:
            if s.execute(select(Dataset.id).where(Dataset.name == fields["name"])).first():
                raise Conflict(f"dataset {fields['name']!r} already exists")
            row = Dataset(created_at=utcnow(), **fields)
            s.add(row)
            s.flush()
            return _dataset_data(row)

    def get_dataset(self, name: str) -> DatasetData | None:
        with self.db.read() as s:
            row = s.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
            return _dataset_data(row) if row is not None else None

    def list_datasets(self) -> list[DatasetData]:
        with self.db.read() as s:
            return [
                _dataset_data(r) for r in s.execute(select(Dataset).order_by(Dataset.id)).scalars()
            ]


def _trial_order(sort: str, study: Study, dialect: str) -> list[Any]:
    """ORDER BY for a trial listing (TRIAL_SORT_PATTERN, "best" resolved): "-" for descending;
    missing values (no round, not finished, no such param) come last either way and ties go by
    number ascending. An unknown parameter is a 422 naming `sort`."""
    desc = sort.startswith("-")
    key = sort.removeprefix("-")

    def by(*exprs: Any) -> list[Any]:
        return [(e.desc() if desc else e.asc()).nulls_last() for e in exprs] + [Trial.number.asc()]

    if key == "number":
        return [Trial.number.desc() if desc else Trial.number.asc()]
    if key == "value":
        return by(Trial.value)
    if key == "state":
        return by(Trial.state)
    if key == "round":
        return by(Trial.round)
    if key == "duration":
        if dialect == "sqlite":
            return by(func.julianday(Trial.finished_at) - func.julianday(Trial.started_at))
        return by(Trial.finished_at - Trial.started_at)
    name = key.removeprefix("param:")
    if not key.startswith("param:") or name not in {*(study.space or {}), *(study.params or {})}:
        raise InvalidInput(
            f"unknown sort {sort!r}: not a parameter of this study", ("query", "sort")
        )
    # Numbers numerically first, then strings (and booleans, as "true"/"false") as text.
    if dialect == "sqlite":
        if '"' in name:  # SQLite's JSON path has no escape for a quote inside a label
            raise InvalidInput(
                f"cannot sort by {name!r} on SQLite: the name contains a double quote",
                ("query", "sort"),
            )
        path = f'$."{name}"'
        kind = func.json_type(Trial.params, path)
        raw = func.json_extract(Trial.params, path)
        num = case((kind.in_(("integer", "real")), raw))
        text = case((kind == "text", raw), (kind.in_(("true", "false")), kind))
        return by(num, text)
    item = Trial.params[name]
    num = case((func.json_typeof(item) == "number", item.as_float()))
    return by(num, item.as_string())


@dataclass
class DatasetData:
    id: int
    name: str
    original_filename: str | None
    path: str
    format: str
    task: str
    n_samples: int
    n_features: int
    n_classes: int
    size_bytes: int
    target: str | None
    created_at: datetime


def _dataset_data(r: Dataset) -> DatasetData:
    return DatasetData(
        id=r.id,
        name=r.name,
        original_filename=r.original_filename,
        path=r.path,
        format=r.format,
        task=r.task,
        n_samples=r.n_samples,
        n_features=r.n_features,
        n_classes=r.n_classes,
        size_bytes=r.size_bytes,
        target=r.target,
        created_at=r.created_at,
    )
