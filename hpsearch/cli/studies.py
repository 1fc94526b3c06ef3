"""``hpsearch studies list|show`` and ``hpsearch export``: read studies from a server."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from hpsearch.cli._client import (
    EXIT_OK,
    EXIT_USAGE,
    add_client_options,
    error,
    handles_errors,
    make_client,
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    studies = commands.add_parser(
        "studies",
        help="list studies or show one",
        description="Read the studies of an hpsearch server.",
    )
    sub = studies.add_subparsers(dest="studies_command", metavar="COMMAND", required=True)

    ls = sub.add_parser(
        "list",
        help="list studies",
        description="List studies, newest first: state, progress and best value.",
    )
    ls.add_argument("--state", help="only studies in this state (running, completed, ...)")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_client_options(ls)
    ls.set_defaults(handler=run_list)

    show = sub.add_parser(
        "show",
        help="show one study",
        description=(
            "Show one study: its settings, trials per state, the best trial and a sparkline of "
            "the best value so far."
        ),
    )
    show.add_argument("study_id", metavar="ID", type=int, help="study id")
    show.add_argument("--json", action="store_true", help="print the study as JSON")
    add_client_options(show)
    show.set_defaults(handler=run_show)

    export = commands.add_parser(
        "export",
        help="export a study's trials as CSV or JSON",
        description=(
            "Export a study's trials: CSV has one row per trial with params_* and metrics_* "
            "columns; JSON holds the study and its trials (with --history, every epoch too)."
        ),
    )
    export.add_argument("study_id", metavar="ID", type=int, help="study id")
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="default csv")
    export.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    export.add_argument(
        "--history", action="store_true", help="JSON only: include each trial's epochs"
    )
    export.add_argument("--state", action="append", help="only trials in this state (repeatable)")
    add_client_options(export)
    export.set_defaults(handler=run_export)


def _console() -> Any:
    from rich.console import Console

    return Console()


@handles_errors
def run_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hpsearch._progress import fmt_value

    if args.limit < 1:
        error("--limit must be at least 1")
        return EXIT_USAGE
    with make_client(args) as client:
        studies = client.list_studies(state=args.state, limit=args.limit)
    if args.json:
        print(json.dumps([s.to_dict() for s in studies], indent=2, default=str))
        return EXIT_OK
    table = Table(title=f"{len(studies)} studies", title_justify="left")
    for name, justify in (
        ("id", "right"),
        ("name", "left"),
        ("mode", "left"),
        ("state", "left"),
        ("done", "right"),
        ("metric", "left"),
        ("best", "right"),
        ("created", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in studies:
        table.add_row(
            str(s.id),
            s.name or "",
            s.mode,
            s.state,
            f"{s.n_done}/{s.n_trials or '?'}",
            f"{s.metric or '-'} ({'max' if s.direction == 'maximize' else 'min'})",
            fmt_value(s.best_value),
            s.created_at.strftime("%Y-%m-%d %H:%M") if s.created_at else "",
        )
    _console().print(table)
    return EXIT_OK


@handles_errors
def run_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hpsearch._progress import best_so_far, fmt_value, sparkline

    with make_client(args) as client:
        study = client.get_study(args.study_id)
        completed = client.list_trials(study.id, state="completed", sort="number")
    if args.json:
        print(json.dumps(study.to_dict(), indent=2, default=str))
        return EXIT_OK
    console = _console()
    console.print(f"[bold]study {study.id}[/bold] {study.name or ''}  [{study.state}]")
    objective = study.objective
    console.print(
        f"mode {study.mode} · metric {study.metric} ({study.direction})"
        + (f" · dataset {objective['dataset']}" if objective.get("dataset") else "")
        + (f" · sampler {study.sampler.get('type')}" if study.sampler else "")
        + (f" · pruner {study.pruner.get('type')}" if study.pruner else "")
    )
    counts = {k: v for k, v in study.state_counts.items() if v}
    console.print(
        f"trials: {study.n_done}/{study.n_trials or '?'} finished"
        + ("  (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")" if counts else "")
    )
    if study.error:
        console.print(f"[red]error: {study.error}[/red]")
    best = study.best_trial
    if best is None:
        console.print("best trial: none completed yet")
    else:
        console.print(f"best trial: #{best.number} (id {best.id})  value {fmt_value(best.value)}")
        table = Table(show_header=True, box=None, padding=(0, 2))
        table.add_column("param")
        table.add_column("value", justify="right")
        for name, value in sorted(best.params.items()):
            table.add_row(name, fmt_value(value))
        console.print(table)
    curve = best_so_far(completed, study.direction)
    if curve:
        console.print(
            f"best so far  {fmt_value(curve[0])} {sparkline(curve)} {fmt_value(curve[-1])}"
        )
    return EXIT_OK


@handles_errors
def run_export(args: argparse.Namespace) -> int:
    from hpsearch._base import _columns, trials_to_rows
    from hpsearch.models import FINISHED_TRIAL_STATES

    if args.history and args.format != "json":
        error("--history needs --format json")
        return EXIT_USAGE
    states = args.state
    bad = [
        s for s in states or () if s not in FINISHED_TRIAL_STATES | {"queued", "running", "paused"}
    ]
    if bad:
        error(f"unknown trial state {bad[0]!r}")
        return EXIT_USAGE
    with make_client(args) as client:
        study = client.get_study(args.study_id)
        trials = client.list_trials(study.id, state=states)
        if args.history:
            trials = [client.get_trial(t.id) for t in trials]
    out = open(args.output, "w", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "json":
            doc = {"study": study.to_dict(), "trials": [t.to_dict() for t in trials]}
            if not args.history:
                for row in doc["trials"]:
                    row.pop("history", None)
            json.dump(doc, out, indent=2, default=str)
            out.write("\n")
        else:
            rows = trials_to_rows(trials)
            fields = _columns(trials)
            writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    finally:
        if args.output:
            out.close()
    if args.output:
        print(
            f"{len(trials)} trials of study {study.id} written to {Path(args.output)}",
            file=sys.stderr,
        )
    return EXIT_OK


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
