"""A rich progress bar that doubles as an engine reporter: one update per epoch."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine import BaseReporter, Directive, EpochRecord


class ProgressReporter(BaseReporter):
    def __init__(self, total_epochs: int, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task("train", total=total_epochs, stats="")

    def __enter__(self) -> ProgressReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_epoch(self, record: EpochRecord) -> Directive | None:
        stats = f"loss {record.train_loss:.4f}  dev loss {record.dev_loss:.4f}"
        if record.dev_accuracy is not None:
            stats += f"  dev acc {record.dev_accuracy:.3f}"
        stats += f"  lr {record.learning_rate:.2e}"
        self._progress.update(self._task, completed=record.epoch, stats=stats)
        return None

    def summary(self, result: Any) -> None:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()))
        self.console.print(f"[bold]{result.status}[/bold]  {metrics}")
        if result.error:
            self.console.print(f"[red]{result.error}[/red]")
