"""The Alembic migrations are the only source of the schema: they must match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from alembic import command
from service.core.db import alembic_config, make_engine, upgrade
from service.models import Base


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def test_migrations_match_models(backend: str, fresh_database) -> None:
    url = fresh_database(backend)
    upgrade(url)
    assert _diff(url) == []
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        names = set(insp.get_table_names())
        assert {
            "studies",
            "trials",
            "trial_epochs",
            "trial_controls",
            "checkpoints",
            "datasets",
        } <= names
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("trials")}
        assert ("study_id", "number") in uniques
        indexes = {tuple(i["column_names"]) for i in insp.get_indexes("trials")}
        assert ("study_id", "state", "value") in indexes
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_reversible(backend: str, fresh_database) -> None:
    url = fresh_database(backend)
    upgrade(url)
    upgrade(url)  # at head already: a no-op, as `hpsearch serve` does on every start
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(url)
    assert _diff(url) == []


def test_alembic_cli_takes_x_url(tmp_path) -> None:
    """`alembic -x url=...` from the repo root, as an operator would run it."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    assert _diff(url) == []
