"""An in-process hpsearch service for ``hpsearch sweep`` without ``--server``: uvicorn in a
background thread on 127.0.0.1 and a free port, on the embedded SQLite database. The CLI still
talks to it over HTTP, like to any other server."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = (
            database_url or os.environ.get("HPSEARCH_DATABASE_URL") or "sqlite:///./hpsearch.db"
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> str:
        """Start the service; its base URL."""
        try:
            import uvicorn

            from service.core.config import Settings
            from service.core.db import upgrade
            from service.main import create_app
        except ImportError as exc:
            raise RuntimeError(
                f"the in-process service is not available ({exc}); pass --server URL"
            ) from exc
        port = free_port()
        settings = Settings(database_url=self.database_url, host="127.0.0.1", port=port)
        upgrade(settings.database_url)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="hpsearch-local", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the in-process service stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the in-process service did not start in {timeout}s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
