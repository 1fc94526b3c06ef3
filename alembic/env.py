"""Alembic environment of the hpsearch service.

The URL comes, in order, from the config attribute set by service.core.db.upgrade, from
`alembic -x url=...`, or from the service settings (HPSEARCH_DATABASE_URL).
"""

from __future__ import annotations

from logging.config import fileConfig

from sqlalchemy import pool

from alembic import context
from service.core.config import Settings
from service.core.db import make_engine, normalize_url
from service.models import Base

config = context.config
target_metadata = Base.metadata

# Programmatic upgrades run inside the server: leave its logging alone.
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "url"
    )
    return normalize_url(url or Settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            # SQLite cannot ALTER most things in place: batch mode rebuilds tables instead.
            context.configure(
                connection=conn,
                target_metadata=target_metadata,
                compare_type=True,
                render_as_batch=conn.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
