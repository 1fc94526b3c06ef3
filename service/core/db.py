"""Engine creation, sessions and programmatic migrations.

SQLite gets WAL (readers never block the writer), a busy timeout and foreign keys on every
connection, and write transactions start with BEGIN IMMEDIATE: a deferred transaction that
reads first and then writes can fail with "database is locked" without waiting for the busy
timeout, an immediate one takes the write lock up front and queues behind other writers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parents[2]
# The migrations as a wheel ships them (pyproject.toml maps the top-level alembic/ onto this
# package); in a source checkout the folder holds no env.py and REPO_ROOT/alembic is used.
PACKAGED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them to psycopg 3, the driver we ship."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _ensure_sqlite_dir(url: str) -> None:
    db = make_url(url).database
    if db and db != ":memory:" and not db.startswith("file:"):
        Path(db).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    _ensure_sqlite_dir(url)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    # Sessions are handed between FastAPI's threadpool threads.
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that "begin" below decides the mode.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """An engine plus two session factories: plain reads and write transactions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sqlite = is_sqlite(self.url)
        writer = (
            self.engine.execution_options(sqlite_immediate=True) if self.sqlite else self.engine
        )
        self._writer = writer
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(writer, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction; commits on success, rolls back on error."""
        with self._write() as s, s.begin():
            yield s

    @contextmanager
    def write_conn(self) -> Iterator[Connection]:
        """write() without an ORM session, for Core statements on hot paths."""
        with self._writer.begin() as conn:
            yield conn

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def get_database(url: str) -> Database:
    """One Database per URL and process: worker processes reuse their pool across trials."""
    url = normalize_url(url)
    with _databases_lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db


def migrations_dir() -> Path:
    """The Alembic script directory: the copy inside an installed wheel (`pip install .`, the
    Docker image), else the top-level alembic/ of a source checkout or an editable install."""
    if (PACKAGED_MIGRATIONS / "env.py").is_file():
        return PACKAGED_MIGRATIONS
    return REPO_ROOT / "alembic"


def alembic_config(database_url: str) -> Any:
    """The Alembic config of the service's own migrations, wherever the package is installed.

    From a checkout, the repository's alembic.ini (as `alembic` run from the root reads it);
    installed from a wheel there is no alembic.ini, and none is needed: env.py takes the URL from
    the attribute below and leaves logging alone when it is set.
    """
    from alembic.config import Config

    scripts = migrations_dir()
    ini = REPO_ROOT / "alembic.ini"
    cfg = Config(str(ini)) if scripts == REPO_ROOT / "alembic" and ini.is_file() else Config()
    # "%" is configparser interpolation: escape it in the path.
    cfg.set_main_option("script_location", str(scripts).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    # env.py reads this attribute first; set_main_option would choke on "%" in passwords.
    cfg.attributes["database_url"] = normalize_url(database_url)
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """`alembic upgrade head` on database_url: the only way the schema is created."""
    from alembic import command

    if is_sqlite(database_url):
        _ensure_sqlite_dir(normalize_url(database_url))
    command.upgrade(alembic_config(database_url), revision)
