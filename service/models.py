"""SQLAlchemy 2 mappings. The schema itself is created only by the Alembic migrations.

Indexes are chosen so that per-trial work does not grow with the size of a study:
(study_id, number) finds a trial by number and makes numbering unique, (study_id, state, value)
serves progress counts, state filters and the best trial, (trial_id, epoch) the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    objective: Mapped[dict[str, Any]]
    space: Mapped[dict[str, Any] | None]
    sampler: Mapped[dict[str, Any] | None]
    pruner: Mapped[dict[str, Any] | None]
    params: Mapped[dict[str, Any] | None]
    n_trials: Mapped[int]
    n_workers: Mapped[int]
    seed: Mapped[int | None]
    max_retries: Mapped[int] = mapped_column(default=0)
    # Where its trials run: {"type": "dask", "address": ...} or {"type": "local"}; None: the
    # server's default (service/executors.py). Added by migration 0002.
    executor: Mapped[dict[str, Any] | None]
    # Counter row for trial numbers: incremented in the same transaction that inserts the trial,
    # so concurrent asks never get the same number.
    next_number: Mapped[int] = mapped_column(default=0)
    n_finished: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    trials: Mapped[list[Trial]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True
    )


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        Index("ix_trials_study_state_value", "study_id", "state", "value"),
        Index("ix_trials_study_value", "study_id", "value", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]]
    value: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    round: Mapped[int | None]
    diagnosis: Mapped[dict[str, Any] | None]
    best_epoch: Mapped[int | None]
    diverged_epoch: Mapped[int | None]
    retries: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    # The executor/worker that ran it: a Dask worker address (tcp://host:port) or
    # local://hostname. Added by migration 0002.
    worker: Mapped[str | None] = mapped_column(String(255))
    # Bumped each time the history is rewound (a Panda rollback, a retry from a checkpoint)
    # and epochs were actually deleted, in the same transaction as the delete. history_rewinds
    # logs the latest rewinds as [generation, epoch kept through] pairs (at most
    # HISTORY_REWINDS_KEPT): a stream that saw generation g rewinds its client to the lowest
    # epoch of the entries after g. Added by migration 0004.
    history_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    history_rewinds: Mapped[list[Any] | None] = mapped_column(JSON)

    study: Mapped[Study] = relationship(back_populates="trials")


class TrialEpoch(Base):
    """One row per reported epoch (engine history) or step (ask/tell intermediate value)."""

    __tablename__ = "trial_epochs"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    # The objective metric at this epoch: what pruners compare.
    value: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    dev_loss: Mapped[float | None] = mapped_column(Float)
    train_accuracy: Mapped[float | None] = mapped_column(Float)
    dev_accuracy: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrialControl(Base):
    """A Panda control (or a study-level stop fanned out to trials), applied by the reporter."""

    __tablename__ = "trial_controls"
    __table_args__ = (Index("ix_trial_controls_pending", "trial_id", "applied_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
    applied_epoch: Mapped[int | None]


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    epoch: Mapped[int]
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """An uploaded dataset; the file lives under HPSEARCH_DATA_DIR/datasets."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    original_filename: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000))
    format: Mapped[str] = mapped_column(String(8))
    task: Mapped[str] = mapped_column(String(16))
    n_samples: Mapped[int]
    n_features: Mapped[int]
    n_classes: Mapped[int]
    size_bytes: Mapped[int]
    target: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
