"""Pydantic models at the API edge (design.md §4–§5). Inside the service, dataclasses rule."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.executors import ExecutorSpec

Direction = Literal["maximize", "minimize"]
Mode = Literal["caviar", "panda", "ask_tell"]
StudyState = Literal["queued", "running", "completed", "stopped", "failed"]
TrialState = Literal[
    "queued", "running", "paused", "completed", "pruned", "diverged", "failed", "stopped"
]


class Objective(BaseModel):
    model_config = ConfigDict(extra="allow")

    metric: str = Field(min_length=1, max_length=100)
    direction: Direction
    dataset: str | None = Field(default=None, min_length=1, max_length=200)
    human_level_error: float | None = Field(default=None, ge=0, le=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    # Column of a CSV dataset that holds the target (default: the last one).
    target: str | int | None = None


class StudyCreate(BaseModel):
    """Field checks that depend on `mode` live in service.validation, so 422s name the field."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    mode: Mode = "caviar"
    objective: Objective
    space: dict[str, dict[str, Any]] | None = None
    sampler: dict[str, Any] | None = None
    pruner: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    n_trials: int | None = Field(default=None, ge=1, le=1_000_000)
    n_workers: int = Field(default=1, ge=1, le=1024)
    seed: int | None = 0
    max_retries: int = Field(default=0, ge=0, le=100)
    # Where the trials run (service/executors.py): {"type": "dask", "address": "tcp://…"} or
    # {"type": "local"}; omitted: the server's HPSEARCH_DASK_SCHEDULER, else local processes.
    executor: ExecutorSpec | None = None


class TrialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    study_id: int
    number: int
    state: TrialState
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
    # The executor/worker address that ran it (a Dask worker's tcp://host:port, or local://host).
    worker: str | None = None


class TrialDetail(TrialOut):
    history: list[dict[str, Any]]


class StudyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    mode: Mode
    state: StudyState
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
    progress: dict[str, int]
    best_trial: TrialOut | None
    executor: dict[str, Any] | None = None


class StudyPage(BaseModel):
    items: list[StudyOut]
    total: int


class TrialPage(BaseModel):
    items: list[TrialOut]
    total: int


class AskOut(TrialOut):
    """The new trial: `id`, `number`, `params`, `round` are what an ask/tell client needs."""


def _check_finite(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite")


class ReportIn(BaseModel):
    # Extra keys are further metrics of the epoch (train_loss, dev_accuracy, ...).
    model_config = ConfigDict(extra="allow")

    epoch: int = Field(ge=0)
    value: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _extra_numbers(self) -> ReportIn:
        for k, v in (self.model_extra or {}).items():
            if v is not None:
                _check_finite(k, v)
        return self


class ReportOut(BaseModel):
    prune: bool


# A client buffering a long run's epochs sends them in batches of at most this many.
MAX_REPORTS_PER_CALL = 10_000


class ReportsIn(BaseModel):
    """Buffered reports in one call; `prune` in the answer judges the latest epoch."""

    model_config = ConfigDict(extra="forbid")

    reports: list[ReportIn] = Field(min_length=1, max_length=MAX_REPORTS_PER_CALL)


class TellIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float | None = Field(default=None, allow_inf_nan=False)
    state: Literal["completed", "failed", "pruned"] | None = None
    error: str | None = Field(default=None, max_length=10_000)
    metrics: dict[str, float | None] | None = None
    # Reports still buffered by the client, written with the final state in one transaction.
    reports: list[ReportIn] | None = Field(default=None, max_length=MAX_REPORTS_PER_CALL)


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["pause", "resume", "stop", "set", "rollback"]
    params: dict[str, Any] | None = None
    epoch: int | None = Field(default=None, ge=0)


class ControlOut(BaseModel):
    id: int
    trial_id: int
    action: str
    payload: dict[str, Any] | None
    created_at: datetime


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    builtin: bool
    format: str | None = None
    task: str | None = None
    n_samples: int | None = None
    n_features: int | None = None
    n_classes: int | None = None
    size_bytes: int | None = None
    original_filename: str | None = None
    created_at: datetime | None = None


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    total: int


class Health(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    detail: str | None = None

    @field_validator("detail")
    @classmethod
    def _short(cls, v: str | None) -> str | None:
        return v[:500] if v else v
