"""Fixtures of the service tests: a real uvicorn process per database backend, and fast
in-process apps.

Postgres: HPSEARCH_TEST_POSTGRES_URL points at an existing database of the server (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); each test session creates its own
hpsearch_test_<random> database there and drops it at the end. Unreachable Postgres skips the
`postgres` tests locally and fails them under CI=true.

The server process and the Postgres helpers are the ones of tests/server_process.py, shared with
the sdk, dashboard and hardening suites.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

# tests/ itself is not on sys.path (pytest only adds each test file's own directory, and there is
# no tests/conftest.py): put it there so that the shared server_process module imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_process import BACKENDS, ServerProcess, admin_url, fresh_databases

from service.core.config import Settings
from service.core.db import upgrade


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return admin_url()


@pytest.fixture(scope="session")
def fresh_database(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory):
    """Factory of empty databases for a backend ("sqlite" or "postgres"); all dropped at the end."""
    with fresh_databases(postgres_server_url, "hpsearch_test", tmp_path_factory) as make:
        yield make


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory):
    """Factory: start a server on a database URL; every server is stopped at session end."""
    with ExitStack() as servers:

        def start(database_url: str, **env: str) -> ServerProcess:
            data_dir = tmp_path_factory.mktemp("data")
            return servers.enter_context(ServerProcess(database_url, data_dir, env))

        yield start


@pytest.fixture(scope="session")
def server(backend: str, fresh_database, start_server) -> ServerProcess:
    """One real uvicorn server per backend for the whole session."""
    return start_server(fresh_database(backend))


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("inproc")
    url = f"sqlite:///{tmp / 'hpsearch.db'}"
    upgrade(url)
    return Settings(database_url=url, data_dir=tmp / "data", run_scheduler=False, max_workers=1)


@pytest.fixture(scope="module")
def client(app_settings: Settings):
    """In-process app (no scheduler) for fast validation tests."""
    from fastapi.testclient import TestClient

    from service.main import create_app

    with TestClient(create_app(app_settings), base_url="http://test/api/v1") as c:
        yield c
