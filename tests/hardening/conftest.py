"""Fixtures of the hardening tests: real uvicorn server processes on 127.0.0.1, on SQLite and on
the real Postgres, killed with real signals.

Postgres: HPSEARCH_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
names an existing database of the server; each session creates hpsearch_hardening_<random>
databases and drops them at the end. Unreachable Postgres skips locally, fails under CI=true.

Only the mechanics are shared, through tests/server_process.py (the server process: environment,
log file, readiness, stop/kill by PID; and the Postgres create/drop/skip helpers). The fixtures
below, and what they start, stay this suite's own (nothing is imported from tests/service), so
that the suites evolve on their own.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

# tests/ itself is not on sys.path (pytest only adds each test file's own directory, and there is
# no tests/conftest.py): put it there so that the shared server_process module imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_process import BACKENDS, ServerProcess, admin_url, fresh_databases

# The shared server of each backend runs with these limits (the tests rely on them).
MAIN_ENV = {
    "HPSEARCH_TRIAL_MEMORY_MB": "800",
    "HPSEARCH_TRIAL_TIMEOUT_S": "15",
    "HPSEARCH_MAX_UPLOAD_BYTES": str(256 * 1024),
    "HPSEARCH_MAX_WORKERS": "2",
}


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return admin_url()


@pytest.fixture(scope="session")
def fresh_db(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory):
    """Factory of empty databases ("sqlite" or "postgres"); Postgres ones dropped at the end."""
    with fresh_databases(pg_admin_url, "hpsearch_hardening", tmp_path_factory) as make:
        yield make


@pytest.fixture(scope="session")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Factory: start (not wait for) a server; every one is stopped by PID at session end.

    Keyword arguments go to ServerProcess: env (None values remove a key), cmd, port.
    """
    with ExitStack() as servers:

        def start(database_url: str, data_dir: Path | None = None, **kw) -> ServerProcess:
            srv = ServerProcess(database_url, data_dir or tmp_path_factory.mktemp("data"), **kw)
            servers.callback(srv.stop)
            return srv

        yield start


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def main_server(backend: str, fresh_db, launch) -> ServerProcess:
    """The shared server of a backend, with the per-trial limits of MAIN_ENV."""
    return launch(fresh_db(backend), env=MAIN_ENV).wait_ready()
