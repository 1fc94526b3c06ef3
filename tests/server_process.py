"""Real hpsearch server processes and throw-away Postgres databases, shared by the service, sdk,
dashboard and hardening test suites (a plain module, not a conftest: each suite's conftest
imports it and keeps its own fixtures on top of it).

Servers: `python -m service.server` (or any command given) as a subprocess bound to 127.0.0.1
on a free port, its output captured to a log file, ready once /healthz answers 200, and always
stopped by its own PID (SIGTERM, then SIGKILL), never by name.

Postgres: HPSEARCH_TEST_POSTGRES_URL (default DEFAULT_PG) names an existing database of the
server; each session creates its own <prefix>_<random> databases there and drops them at the
end. Unreachable Postgres skips locally and fails under CI=true, where it is required.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Self

import httpx
import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- Postgres -------------------------------------------------------------------------------


# The database backends the real-server suites run on (parameters of their `backend` fixture).
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def admin_url() -> str:
    """The database the per-session test databases are created from (and dropped through)."""
    return os.environ.get("HPSEARCH_TEST_POSTGRES_URL", DEFAULT_PG)


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as psycopg wants it (no "+driver" part)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_unavailable(reason: str) -> NoReturn:
    """Skip the test locally; fail it under CI=true, where Postgres must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Postgres is required under CI=true: {reason}")
    pytest.skip(f"Postgres not reachable: {reason}")


def create_database(admin_url: str, prefix: str) -> str:
    """CREATE DATABASE <prefix>_<random> on the server of admin_url; returns its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as e:
        pg_unavailable(str(e).strip())
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """DROP the database of url (made by create_database), closing its connections first."""
    import psycopg

    name = make_url(url).database
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_databases(
    admin_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """Yields make(backend): the URL of a new empty database, "sqlite" (a file under a fresh
    temporary directory) or "postgres" (create_database); the Postgres ones are dropped on exit."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'hpsearch.db'}"
        url = create_database(admin_url, prefix)
        created.append(url)
        return url

    try:
        yield make
    finally:
        for url in created:
            drop_database(admin_url, url)


# --- Server processes -----------------------------------------------------------------------


class ServerProcess:
    """A `python -m service.server` process (or any command) with its log captured to a file.

    Environment: the test process's own, minus every HPSEARCH_* variable (a developer's
    HPSEARCH_URL, token or limits must not leak into a server), then the settings below, then
    `env` (a None value removes the key). `cmd` replaces the command (it must then listen on
    `port`, e.g. uvicorn with --host 127.0.0.1 --port).
    """

    def __init__(
        self,
        database_url: str,
        data_dir: Path,
        env: Mapping[str, str | None] | None = None,
        cmd: Sequence[str] | None = None,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        full: dict[str, str | None] = {
            k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")
        }
        full.update(
            {
                "HPSEARCH_DATABASE_URL": database_url,
                "HPSEARCH_HOST": "127.0.0.1",
                "HPSEARCH_PORT": str(self.port),
                "HPSEARCH_DATA_DIR": str(data_dir),
                "HPSEARCH_MAX_WORKERS": "2",
                "HPSEARCH_LOG_LEVEL": "warning",
                "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            }
        )
        full.update(env or {})
        self.env: dict[str, str] = {k: v for k, v in full.items() if v is not None}
        self.log_path = log_path or data_dir / f"server-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop() / kill()
        self.proc = subprocess.Popen(
            list(cmd or [sys.executable, "-m", "service.server"]),
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Self:
        """`with ServerProcess(...) as srv`: ready on entry (stopped if it never gets ready),
        stopped on exit."""
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 90.0) -> Self:
        """Wait for /healthz to answer 200; raise with the log's tail if the server died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()[-5000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()[-5000:]}")

    def log(self) -> str:
        """The whole log so far (tests search it, e.g. for a token that must not be there)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url + "/api/v1", timeout=30.0, headers=headers)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM to this PID only, SIGKILL if it has not exited within 15 s. Idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
