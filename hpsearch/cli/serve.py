"""``hpsearch serve`` and ``hpsearch db upgrade``: the service, started in-process.

Every setting is an ``HPSEARCH_*`` environment variable (design.md §6) and also a flag here; a flag
wins over the environment.
"""

from __future__ import annotations

import argparse
from typing import Any

# (flag, settings field, type, help)
_SETTINGS_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--database-url", "database_url", str, "SQLAlchemy URL (HPSEARCH_DATABASE_URL)"),
    ("--host", "host", str, "bind address (HPSEARCH_HOST, default 127.0.0.1)"),
    ("--port", "port", int, "port (HPSEARCH_PORT, default 8000)"),
    ("--api-token", "api_token", str, "bearer token required on /api (HPSEARCH_API_TOKEN)"),
    ("--data-dir", "data_dir", str, "uploads and checkpoints (HPSEARCH_DATA_DIR)"),
    ("--max-workers", "max_workers", int, "worker processes at most (HPSEARCH_MAX_WORKERS)"),
    ("--dask-scheduler", "dask_scheduler", str, "Dask scheduler address (HPSEARCH_DASK_SCHEDULER)"),
)


def _add_settings_flags(parser: argparse.ArgumentParser, only: tuple[str, ...] = ()) -> None:
    for flag, field, kind, text in _SETTINGS_FLAGS:
        if not only or field in only:
            parser.add_argument(flag, dest=field, type=kind, default=None, help=text)


def _settings(args: argparse.Namespace) -> Any:
    from service.core.config import Settings

    overrides = {
        field: getattr(args, field)
        for _, field, _, _ in _SETTINGS_FLAGS
        if getattr(args, field, None) is not None
    }
    return Settings(**overrides)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="start the service and its dashboard",
        description="Upgrade the database, then serve the REST API and the dashboard.",
    )
    _add_settings_flags(serve)
    serve.set_defaults(handler=run_serve)

    db = commands.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply the Alembic migrations",
        description="Apply the Alembic migrations up to the newest (creates the schema).",
    )
    _add_settings_flags(upgrade, only=("database_url",))
    upgrade.set_defaults(handler=run_upgrade)


def run_serve(args: argparse.Namespace) -> int:
    from service.server import run

    run(_settings(args))
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from service.core.db import upgrade

    settings = _settings(args)
    upgrade(settings.database_url)
    print(f"database at head: {settings.database_url}")
    return 0
