"""``hpsearch sweep SPEC.json``: create a Caviar study from a JSON file and follow it live.

The file is the body of ``POST /api/v1/studies`` (design.md §5); ``mode`` defaults to
``caviar``. With ``--server`` (or ``HPSEARCH_URL``) the study runs on that server; without, an
in-process service is started on the embedded SQLite database (``HPSEARCH_DATABASE_URL``, default
``sqlite:///./hpsearch.db``) for as long as the sweep runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hpsearch.cli._client import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_client_options,
    error,
    make_client,
    report_error,
    server_given,
    server_url,
)


class SpecError(Exception):
    """A spec file that cannot be used: the message says where."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="run a Caviar study from a JSON spec and follow it",
        description=(
            "Create a Caviar study from SPEC.json (the body of POST /api/v1/studies, design.md "
            "§5) and follow it with a live table of trials until it ends. Without --server (and "
            "HPSEARCH_URL) the service runs in this process on the embedded SQLite database."
        ),
    )
    sweep.add_argument("spec", metavar="SPEC.json", help="study spec (JSON); - reads stdin")
    sweep.add_argument("--name", help="override the study name")
    sweep.add_argument("--n-trials", type=int, help="override n_trials")
    sweep.add_argument("--n-workers", type=int, help="override n_workers")
    sweep.add_argument("--seed", type=int, help="override seed")
    sweep.add_argument(
        "--no-follow", action="store_true", help="print the study id and return at once"
    )
    sweep.add_argument(
        "--poll", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    sweep.add_argument("--rows", type=int, default=15, help="trials shown in the table")
    sweep.add_argument(
        "--database-url",
        help="in-process only: database of the embedded service (HPSEARCH_DATABASE_URL)",
    )
    add_client_options(sweep)
    sweep.set_defaults(handler=run)


def load_spec(source: str) -> dict[str, Any]:
    """The spec as a dict; SpecError naming the line and column of a JSON syntax error."""
    label = "<stdin>" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read {label}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{label} is not UTF-8 text: {exc}") from exc
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(spec, dict):
        raise SpecError(
            f"{label}: expected a JSON object (the study body), got {type(spec).__name__}"
        )
    mode = spec.setdefault("mode", "caviar")
    if mode == "ask_tell":
        raise SpecError(
            f"{label}: mode: an ask_tell study runs its objective in your code; use the Python "
            "SDK (study.optimize) instead of `hpsearch sweep`"
        )
    return spec


def run(args: argparse.Namespace) -> int:
    from hpsearch.errors import HpsearchError

    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        error(str(exc))
        return EXIT_USAGE
    for key, value in (
        ("name", args.name),
        ("n_trials", args.n_trials),
        ("n_workers", args.n_workers),
        ("seed", args.seed),
    ):
        if value is not None:
            spec[key] = value
    if args.poll <= 0:
        error("--poll must be positive")
        return EXIT_USAGE

    local = None
    url = server_url(args)
    try:
        if not server_given(args):
            from hpsearch.cli._local import LocalServer

            local = LocalServer(args.database_url)
            print(
                f"starting an in-process hpsearch service ({local.database_url})", file=sys.stderr
            )
            url = local.start()
        with make_client(args, url) as client:
            try:
                study = client.create_study(**spec)
            except HpsearchError as exc:
                return report_error(exc, url, source=args.spec)
            except (TypeError, ValueError) as exc:  # e.g. "space" is not an object
                error(f"{args.spec}: {exc}")
                return EXIT_USAGE
            print(f"study {study.id} ({study.name}) created on {url}", file=sys.stderr)
            if args.no_follow and local is None:
                print(study.id)
                return EXIT_OK
            try:
                follow(client, study, poll=args.poll, rows=args.rows)
            except KeyboardInterrupt:
                if local is not None:
                    print("interrupted: stopping the study", file=sys.stderr)
                    client.stop_study(study.id)
                else:
                    print(
                        f"interrupted: study {study.id} goes on running on {url} "
                        f"(`hpsearch studies show {study.id}`)",
                        file=sys.stderr,
                    )
                return EXIT_FAILURE
            return summary(study)
    except HpsearchError as exc:
        return report_error(exc, url)
    except RuntimeError as exc:  # the in-process service did not start
        error(str(exc))
        return EXIT_FAILURE
    finally:
        if local is not None:
            local.stop()


def _snapshot(client: Any, study: Any, rows: int) -> list[Any]:
    active = client.list_trials(study.id, state=["running", "paused", "queued"], limit=rows)
    best = client.list_trials(study.id, state="completed", sort="best", limit=rows)
    recent = client.list_trials(study.id, sort="-number", limit=rows)
    seen: dict[int, Any] = {}
    for t in [*active, *best, *recent]:
        seen.setdefault(t.id, t)
    return list(seen.values())


def follow(client: Any, study: Any, *, poll: float = 1.0, rows: int = 15) -> Any:
    """Refresh a live table of trials until the study ends; returns the study."""
    from rich.console import Console
    from rich.live import Live

    from hpsearch._progress import trials_table

    console = Console()
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            study.refresh()
            trials = _snapshot(client, study, rows)
            live.update(trials_table(study, trials, max_rows=rows))
            if study.finished:
                break
            time.sleep(poll)
    console.line()
    return study


def summary(study: Any) -> int:
    from hpsearch._progress import fmt_value

    print(f"study {study.id} {study.state}", file=sys.stderr)
    if study.error:
        print(f"error: {study.error}", file=sys.stderr)
    best = study.best_trial
    if best is not None:
        params = ", ".join(f"{k}={fmt_value(v)}" for k, v in sorted(best.params.items()))
        print(f"best trial #{best.number}: {study.metric} = {fmt_value(best.value)}  ({params})")
    return EXIT_FAILURE if study.state == "failed" else EXIT_OK
