"""Typed views of the service's JSON: :class:`Study`, :class:`Trial`, :class:`Epoch`, :class:`Dataset`.

These are plain data; the client-bound behaviour (``study.wait()``, ``trial.tell()``...) lives in
:mod:`hpsearch.client` and :mod:`hpsearch.aio`, whose classes extend these. Unknown keys sent by a
newer server are kept in ``extra`` so nothing is lost, and missing keys fall back to defaults so
an older server still parses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar

__all__ = [
    "FINISHED_STUDY_STATES",
    "FINISHED_TRIAL_STATES",
    "Dataset",
    "Epoch",
    "StudyData",
    "TrialData",
]

FINISHED_TRIAL_STATES = frozenset({"completed", "pruned", "diverged", "failed", "stopped"})
FINISHED_STUDY_STATES = frozenset({"completed", "stopped", "failed"})

T = TypeVar("T", bound="_Model")


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Model:
    """from_dict/to_dict shared by the dataclasses below."""

    _TIMES: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _field_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.init and not f.name.startswith("_")]  # type: ignore[arg-type]

    @classmethod
    def _kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        names = cls._field_names()
        kwargs: dict[str, Any] = {}
        for name in names:
            if name in data and name != "extra":
                value = data[name]
                kwargs[name] = _parse_time(value) if name in cls._TIMES else value
        kwargs["extra"] = {k: v for k, v in data.items() if k not in names}
        return kwargs

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], **more: Any) -> T:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object for {cls.__name__}, got {data!r}")
        return cls(**cls._kwargs(data), **more)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self._field_names():
            if name == "extra":
                continue
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, _Model):
                value = value.to_dict()
            elif isinstance(value, list) and value and isinstance(value[0], _Model):
                value = [v.to_dict() for v in value]
            out[name] = value
        out.update(getattr(self, "extra", {}) or {})
        return out


@dataclass
class Epoch(_Model):
    """One row of a trial's history (an engine epoch, or an ask/tell intermediate report)."""

    epoch: int
    train_loss: float | None = None
    dev_loss: float | None = None
    train_accuracy: float | None = None
    dev_accuracy: float | None = None
    learning_rate: float | None = None
    value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        """``epoch["dev_loss"]`` works too, including keys kept in ``extra``."""
        if key in self._field_names() and key != "extra":
            return getattr(self, key)
        return self.extra[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass
class Dataset(_Model):
    """A built-in or uploaded dataset."""

    name: str
    task: str | None = None
    n_samples: int | None = None
    n_features: int | None = None
    n_classes: int | None = None
    builtin: bool | None = None
    id: int | None = None
    format: str | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    _TIMES: ClassVar[frozenset[str]] = frozenset({"created_at"})


@dataclass
class TrialData(_Model):
    """A trial as the service describes it (design.md §4)."""

    id: int
    study_id: int | None = None
    number: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"
    value: float | None = None
    metrics: dict[str, Any] | None = None
    history: list[Epoch] = field(default_factory=list, repr=False)
    error: str | None = None
    round: int | None = None
    diagnosis: dict[str, Any] | None = field(default=None, repr=False)
    best_epoch: int | None = None
    created_at: datetime | None = field(default=None, repr=False)
    started_at: datetime | None = field(default=None, repr=False)
    finished_at: datetime | None = field(default=None, repr=False)
    heartbeat_at: datetime | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    _TIMES: ClassVar[frozenset[str]] = frozenset(
        {"created_at", "started_at", "finished_at", "heartbeat_at"}
    )

    @classmethod
    def _kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        kwargs = super()._kwargs(data)
        kwargs["history"] = [Epoch.from_dict(row) for row in (data.get("history") or [])]
        kwargs["params"] = dict(data.get("params") or {})
        kwargs["value"] = _float_or_none(data.get("value"))
        return kwargs

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_TRIAL_STATES

    def _update_from(self, other: TrialData) -> None:
        for name in self._field_names():
            setattr(self, name, getattr(other, name))


@dataclass
class StudyData(_Model):
    """A study as the service describes it (design.md §4), with its best trial when it has one."""

    id: int
    name: str | None = None
    mode: str = "caviar"
    state: str = "queued"
    objective: dict[str, Any] = field(default_factory=dict, repr=False)
    space: dict[str, Any] | None = field(default=None, repr=False)
    sampler: dict[str, Any] | None = field(default=None, repr=False)
    pruner: dict[str, Any] | None = field(default=None, repr=False)
    params: dict[str, Any] | None = field(default=None, repr=False)
    n_trials: int | None = None
    n_workers: int | None = field(default=None, repr=False)
    seed: int | None = field(default=None, repr=False)
    max_retries: int | None = field(default=None, repr=False)
    n_finished: int | None = field(default=None, repr=False)
    error: str | None = None
    progress: dict[str, Any] | None = field(default=None, repr=False)
    best_trial: Any = None  # a Trial (bound to the same client) or None
    created_at: datetime | None = field(default=None, repr=False)
    started_at: datetime | None = field(default=None, repr=False)
    finished_at: datetime | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    _TIMES: ClassVar[frozenset[str]] = frozenset({"created_at", "started_at", "finished_at"})

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STUDY_STATES

    @property
    def direction(self) -> str:
        return str(self.objective.get("direction") or "maximize")

    @property
    def metric(self) -> str | None:
        metric = self.objective.get("metric")
        return str(metric) if metric is not None else None

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return getattr(best, "value", None) if best is not None else None

    @property
    def n_done(self) -> int:
        """Trials finished so far, whatever the server calls the count."""
        progress = self.progress or {}
        for source in (progress, self.extra):
            for key in ("n_finished", "finished", "done", "n_done", "completed_total"):
                if isinstance(source.get(key), int):
                    return int(source[key])
        if self.n_finished is not None:
            return int(self.n_finished)
        counts = self.state_counts
        if counts:
            return sum(v for k, v in counts.items() if k in FINISHED_TRIAL_STATES)
        return 0

    @property
    def state_counts(self) -> dict[str, int]:
        """Trials per state, when the server sends them (``progress``/``counts``)."""
        progress = self.progress or {}
        for source in (progress.get("counts"), progress.get("states"), self.extra.get("counts")):
            if isinstance(source, dict):
                return {str(k): int(v) for k, v in source.items()}
        found = {k: int(v) for k, v in progress.items() if isinstance(v, int) and k in _STATES}
        return found

    def _update_from(self, other: StudyData) -> None:
        for name in self._field_names():
            setattr(self, name, getattr(other, name))


_STATES = FINISHED_TRIAL_STATES | {"queued", "running", "paused"}


def better(a: float | None, b: float | None, direction: str) -> bool:
    """Is ``a`` strictly better than ``b`` under ``direction`` (None and NaN never win)?"""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return True
    return a > b if direction == "maximize" else a < b
