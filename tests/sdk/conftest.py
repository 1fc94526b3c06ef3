"""A real hpsearch server for the end-to-end SDK tests: ``python -m service.server`` (uvicorn) on
127.0.0.1, a free port and a fresh SQLite file; stopped by its PID at the end of the session.

The process itself is tests/server_process.py's ServerProcess, shared with the other suites."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ itself is not on sys.path (pytest only adds each test file's own directory, and there is
# no tests/conftest.py): put it there so that the shared server_process module imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_process import ServerProcess


class Server(ServerProcess):
    """A server on a fresh SQLite file in tmp, with one worker, and an API token if given.

    `url` is what the SDK is pointed at (HPSEARCH_URL / Client(url)); `token` the one to send.
    """

    def __init__(self, tmp: Path, token: str | None = None) -> None:
        env = {"HPSEARCH_MAX_WORKERS": "1"}
        if token:
            env["HPSEARCH_API_TOKEN"] = token
        super().__init__(
            f"sqlite:///{tmp / 'hpsearch.db'}", tmp / "data", env, log_path=tmp / "server.log"
        )
        self.url = self.base_url
        self.token = token


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("sdk-server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("sdk-token-server"), token="right-token") as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_env_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say which server they talk to; the developer's environment must not leak in."""
    monkeypatch.delenv("HPSEARCH_URL", raising=False)
    monkeypatch.delenv("HPSEARCH_API_TOKEN", raising=False)
