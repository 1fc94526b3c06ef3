"""The hottest write, an epoch report, run on the DB driver's cursor instead of SQLAlchemy.

A report is two statements (heartbeat the trial, upsert the epoch) in one transaction, and a
trial sends one per epoch. Through SQLAlchemy Core each statement and the begin/commit pair cost
about 0.1 ms of Python bookkeeping, several times what SQLite itself spends; here the same SQL
goes straight to sqlite3 or psycopg, over a connection of the engine's own pool (so the pool's
connect hooks, pragmas included, still apply).

What SQLAlchemy did for these statements is done here explicitly, from the table metadata:
datetimes and JSON are stored on SQLite in SQLAlchemy's own text formats (so rows written
either way compare and load alike), and driver errors are re-raised as SQLAlchemy's DBAPIError
(so the 503 handling and the workers' retries see the same exceptions as elsewhere), the
connection being invalidated when the error means it is gone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy import exc as sa_exc

from service.core.db import Database
from service.models import Trial, TrialEpoch, UTCDateTime

_TRIALS: Table = Trial.__table__  # type: ignore[assignment]
_EPOCHS: Table = TrialEpoch.__table__  # type: ignore[assignment]
TRIAL_COLUMNS = tuple(c.name for c in _TRIALS.columns)
_JSON_TRIAL_COLUMNS = frozenset(c.name for c in _TRIALS.columns if isinstance(c.type, JSON))
_DATETIME_TRIAL_COLUMNS = frozenset(
    c.name for c in _TRIALS.columns if isinstance(c.type, UTCDateTime)
)


def sqlite_datetime(dt: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text for a UTC datetime (it drops the zone)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%d %H:%M:%S.%f}"


class DriverSQL:
    """Epoch reports at the driver level, on SQLite and Postgres (see the module docstring)."""

    def __init__(
        self, db: Database, active_states: Sequence[str], epoch_columns: Sequence[str]
    ) -> None:
        """active_states: the trial states a report may land in (without ``require_active``,
        any); epoch_columns: the named metric columns of an epoch row, besides value/extra."""
        self.db = db
        self.sqlite = db.sqlite
        dialect = db.engine.dialect
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._is_disconnect = dialect.is_disconnect
        p = "?" if self.sqlite else "%s"
        self._json_param = p if self.sqlite else f"CAST({p} AS JSON)"
        returning = ", ".join(TRIAL_COLUMNS)
        # The SET expressions read the row's old values on both backends.
        beat = (
            f"UPDATE trials SET heartbeat_at = {p}, "
            "state = CASE WHEN state = 'queued' THEN 'running' ELSE state END, "
            f"started_at = CASE WHEN state = 'queued' THEN COALESCE(started_at, {p}) "
            "ELSE started_at END "
            f"WHERE id = {p}"
        )
        self._beat_any = f"{beat} RETURNING {returning}"
        states = ", ".join(f"'{st}'" for st in sorted(active_states))
        self._beat_active = f"{beat} AND state IN ({states}) RETURNING {returning}"
        self._epoch_values = ("value", *epoch_columns)
        cols = ("trial_id", "epoch", "created_at", *self._epoch_values, "extra")
        marks = [p] * (len(cols) - 1) + [self._json_param]
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*self._epoch_values, "extra"))
        self._upsert = (
            f"INSERT INTO trial_epochs ({', '.join(cols)}) VALUES ({', '.join(marks)}) "
            f"ON CONFLICT (trial_id, epoch) DO UPDATE SET {updates}"
        )

    # ---- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A driver cursor inside one write transaction (BEGIN IMMEDIATE on SQLite, as
        Database.write), committed on success and rolled back on any error."""
        raw = self.db.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                if self.sqlite:
                    # The pool's connect hook hands transaction control to us (autocommit mode).
                    cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    raw.commit()
                except BaseException:
                    # A failed rollback (connection gone) must not hide the error that caused
                    # it; the pool's reset on return then invalidates the connection.
                    with contextlib.suppress(Exception):
                        raw.rollback()
                    raise
            finally:
                cur.close()
        except self._dbapi_error as e:
            gone = bool(self._is_disconnect(e, raw.dbapi_connection, None))
            if gone:
                raw.invalidate(e)
            raise sa_exc.DBAPIError.instance(
                "(driver-level write transaction)",
                None,
                e,
                self._dbapi_error,
                connection_invalidated=gone,
            ) from e
        finally:
            raw.close()

    # ---- reports ----------------------------------------------------------------------------

    def record_epochs(
        self,
        trial_id: int,
        rows: Mapping[int, Mapping[str, Any]],
        now: datetime,
        require_active: bool,
        check: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any] | None:
        """Heartbeat the trial and upsert its epochs in one transaction.

        rows: epoch -> {"value", the EPOCH_COLUMNS, "extra"}. Returns the trial's row after the
        heartbeat, or None (nothing written) when no such trial is active (any, without
        require_active). ``check(row)`` runs before the epochs are written; what it raises rolls
        the transaction back.
        """
        when: Any = sqlite_datetime(now) if self.sqlite else now
        with self.transaction() as cur:
            cur.execute(
                self._beat_active if require_active else self._beat_any, (when, when, trial_id)
            )
            found = cur.fetchone()
            if found is None:
                return None
            trial = self._trial_row(found)
            check(trial)
            params = [
                (
                    trial_id,
                    epoch,
                    when,
                    *(v.get(c) for c in self._epoch_values),
                    self._json(v.get("extra")),
                )
                for epoch, v in rows.items()
            ]
            if len(params) == 1:
                cur.execute(self._upsert, params[0])
            else:
                cur.executemany(self._upsert, params)
        return trial

    def _json(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value)

    def _trial_row(self, values: Sequence[Any]) -> dict[str, Any]:
        row = dict(zip(TRIAL_COLUMNS, values, strict=True))
        if self.sqlite:
            for name in _JSON_TRIAL_COLUMNS:
                if isinstance(row[name], str):
                    row[name] = json.loads(row[name])
            for name in _DATETIME_TRIAL_COLUMNS:
                if isinstance(row[name], str):
                    row[name] = datetime.fromisoformat(row[name]).replace(tzinfo=UTC)
        else:
            for name in _DATETIME_TRIAL_COLUMNS:
                v = row[name]
                if isinstance(v, datetime) and v.tzinfo is None:
                    row[name] = v.replace(tzinfo=UTC)
        return row
