"""``hpsearch db upgrade --database-url sqlite:///...``: creates the schema at the Alembic head,
and a second run changes nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from service.core.db import alembic_config
from service.models import Base

REPO = Path(__file__).resolve().parents[2]


def db_upgrade(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The console command in its own process, with no HPSEARCH_* setting of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", "db", "upgrade", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def schema(path: Path) -> tuple[set[str], list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(tables, alembic_version rows, the CREATE statements) of a SQLite file."""
    with sqlite3.connect(path) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        ddl = conn.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    conn.close()
    return tables, versions, ddl


def test_db_upgrade_creates_the_schema_at_head_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "x.db"  # the directory does not exist yet
    url = f"sqlite:///{path}"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None

    first = db_upgrade(url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"database at head: {url}" in first.stdout
    tables, versions, ddl = schema(path)
    assert set(Base.metadata.tables) <= tables  # every table of the models
    assert "alembic_version" in tables
    assert versions == [(head,)]
    assert not (tmp_path / "hpsearch.db").exists()  # the flag wins over the default URL

    # Data written meanwhile must survive a second upgrade, which has nothing left to do.
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE keep_me (x INTEGER)")
        conn.execute("INSERT INTO keep_me VALUES (42)")
    conn.close()
    second = db_upgrade(url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    tables2, versions2, ddl2 = schema(path)
    assert versions2 == [(head,)]
    assert tables2 == tables | {"keep_me"}
    assert [row for row in ddl2 if row[1] != "keep_me"] == ddl
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT x FROM keep_me").fetchall() == [(42,)]
    conn.close()
