"""Terminal views built on rich: the ``study.wait(progress=True)`` bar, the live trials table of
``hpsearch sweep`` and the sparkline of ``hpsearch studies show``. Imported only when used, so
``from hpsearch import Client`` does not load rich."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hpsearch.models import StudyData, TrialData, better

SPARK = "▁▂▃▄▅▆▇█"


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


class StudyProgress:
    """A progress bar: trials done / total, the study state and the best value so far."""

    def __init__(self, study: StudyData, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}"),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        label = f"study {study.id}" + (f" {study.name}" if study.name else "")
        self._task = self._progress.add_task(
            label, total=study.n_trials or None, state=study.state, best="-"
        )
        self._progress.start()

    def update(self, study: StudyData) -> None:
        self._progress.update(
            self._task,
            completed=study.n_done,
            total=study.n_trials or None,
            state=study.state,
            best=fmt_value(study.best_value),
        )

    def close(self) -> None:
        self._progress.stop()


def best_so_far(trials: Sequence[TrialData], direction: str) -> list[float]:
    """The running best of completed trials' values, in trial-number order."""
    out: list[float] = []
    best: float | None = None
    ordered = sorted(trials, key=lambda t: t.number if t.number is not None else t.id)
    for t in ordered:
        if t.state == "completed" and better(t.value, best, direction):
            best = t.value
        if best is not None:
            out.append(best)
    return out


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line chart of ``values`` (resampled to at most ``width`` characters)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[min(len(values) - 1, int((i + 1) * step) - 1)] for i in range(width)]
    low, high = min(finite), max(finite)
    span = high - low
    chars = []
    for v in values:
        if v is None or not math.isfinite(v):
            chars.append(" ")
        elif span == 0:
            chars.append(SPARK[len(SPARK) // 2])
        else:
            chars.append(SPARK[min(len(SPARK) - 1, int((v - low) / span * len(SPARK)))])
    return "".join(chars)


STATE_STYLE = {
    "completed": "green",
    "running": "cyan",
    "paused": "yellow",
    "queued": "dim",
    "pruned": "magenta",
    "diverged": "red",
    "failed": "red",
    "stopped": "yellow",
}


def trials_table(
    study: StudyData, trials: Sequence[TrialData], max_rows: int = 20, title: str | None = None
) -> Table:
    """A table of the study's trials: the running ones and the best finished ones first."""
    params = sorted({k for t in trials for k in t.params})[:6]
    table = Table(
        title=title
        or (
            f"study {study.id} {study.name or ''} — {study.state} — "
            f"{study.n_done}/{study.n_trials or '?'} done — best {fmt_value(study.best_value)}"
        ),
        title_justify="left",
    )
    table.add_column("#", justify="right")
    table.add_column("state")
    table.add_column("value", justify="right")
    table.add_column("best ep", justify="right")
    for name in params:
        table.add_column(name, justify="right")
    reverse = study.direction == "maximize"
    active = [t for t in trials if t.state in ("running", "paused", "queued")]
    done = [t for t in trials if t not in active]
    done.sort(
        key=lambda t: (
            t.value is None,
            -(t.value or 0) if reverse and t.value is not None else (t.value or 0),
        )
    )
    for t in (active + done)[:max_rows]:
        style = STATE_STYLE.get(t.state, "")
        table.add_row(
            str(t.number),
            f"[{style}]{t.state}[/]" if style else t.state,
            fmt_value(t.value),
            str(t.best_epoch if t.best_epoch is not None else "-"),
            *(fmt_value(t.params.get(name)) for name in params),
        )
    if len(trials) > max_rows:
        table.caption = f"{len(trials) - max_rows} more trials not shown"
    return table
