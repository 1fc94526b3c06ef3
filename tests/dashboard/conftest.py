"""Fixtures of the dashboard tests: one real uvicorn server (subprocess on 127.0.0.1, stopped
by PID) serving the service with the dashboard mounted, real studies made through its API, and
headless Chromium driven by Playwright's sync API.

No browser download ever happens: Chromium is the system one (/usr/bin/chromium, or
HPSEARCH_TEST_CHROMIUM). Without it the tests skip locally and FAIL under CI=true.

The server process is tests/server_process.py's ServerProcess (shared with the other suites),
running uvicorn on this directory's app_factory instead of `python -m service.server`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

# tests/ itself is not on sys.path (pytest only adds each test file's own directory, and there is
# no tests/conftest.py): put it there so that the shared server_process module imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_process import ServerProcess, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Messages of the browser console that are not errors of the dashboard.
IGNORED_CONSOLE = ("WebGL", "GPU stall", "GroupMarkerNotSet", "swiftshader")


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"headless Chromium is required under CI=true: {reason}")
    pytest.skip(f"headless Chromium not available: {reason}")


def chromium_path() -> str | None:
    explicit = os.environ.get("HPSEARCH_TEST_CHROMIUM")
    cand = explicit or "/usr/bin/chromium"
    if Path(cand).is_file() and os.access(cand, os.X_OK):
        return cand
    if explicit:  # asked for this one: no fallback
        return None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DashServer(ServerProcess):
    """uvicorn serving app_factory:create_app (the service with the dashboard mounted) on a fresh
    SQLite file in workdir, with one worker; `extra_env` on top (e.g. HPSEARCH_API_TOKEN)."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.db_path = workdir / "hpsearch.db"
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "--app-dir",
            str(HERE),
            "app_factory:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        super().__init__(
            f"sqlite:///{self.db_path}",
            workdir / "data",
            env={"HPSEARCH_MAX_WORKERS": "1", **(extra_env or {})},
            cmd=cmd,
            port=port,
            log_path=workdir / "server.log",
        )


@pytest.fixture(scope="session")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashServer]:
    with DashServer(tmp_path_factory.mktemp("dash")) as srv:
        yield srv


@pytest.fixture(scope="session")
def start_dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Factory: start another server with extra environment; all stopped at session end."""
    with ExitStack() as servers:

        def start(**env: str) -> DashServer:
            return servers.enter_context(DashServer(tmp_path_factory.mktemp("dash-extra"), env))

        yield start


@pytest.fixture(scope="session")
def api(dash_server: DashServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dash_server.base_url + "/api/v1", timeout=60.0) as client:
        yield client


@pytest.fixture(scope="session")
def studies(api: httpx.Client) -> dict[str, Any]:
    """The finished studies every page test looks at."""
    from dashboard_seed import make_ask_tell_study, make_simple_study

    return {
        "c2f": make_ask_tell_study(api, "c2f-ask-tell"),
        "simple": make_simple_study(api, "simple-quadratic"),
    }


@pytest.fixture(scope="session")
def diverged_study(api: httpx.Client) -> dict[str, Any]:
    """A finished Caviar study the server trained with the engine: one completed trial and one
    that diverged (NaN/inf loss) after a few finite epochs."""
    from dashboard_seed import make_diverged_study

    return make_diverged_study(api, "caviar-diverging")


# Module scope, not session: Playwright's sync API keeps an asyncio loop marked as running in the
# main thread for as long as it lives, which would break asyncio.run() in later test modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        where = os.environ.get("HPSEARCH_TEST_CHROMIUM") or "/usr/bin/chromium"
        _browser_unavailable(f"no chromium executable ({where})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        _browser_unavailable(f"playwright is not installed: {e}")
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Exception as e:
            _browser_unavailable(f"chromium did not start: {e}")
        try:
            yield b
        finally:
            b.close()


class PageErrors:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []

    def allow(self, text: str) -> None:
        """A console error the test provokes on purpose (e.g. the network log of a 422)."""
        self.allowed.append(text)

    def console(self, msg: Any) -> None:
        if msg.type != "error" or any(s in msg.text for s in IGNORED_CONSOLE):
            return
        if any(s in msg.text for s in self.allowed):
            return
        self.errors.append(f"console: {msg.text} @ {msg.location}")

    def pageerror(self, exc: Any) -> None:
        self.errors.append(f"pageerror: {exc}")


def watch_errors(pg: Any) -> PageErrors:
    """Collect the console errors and uncaught exceptions of `pg` from now on: call it before
    the first goto, or the errors of the page's own start-up are missed."""
    errs = PageErrors()
    pg.on("console", errs.console)
    pg.on("pageerror", errs.pageerror)
    return errs


@pytest.fixture(scope="session")
def watch_page_errors() -> Any:
    """watch_errors(page) -> PageErrors, for tests that make their own pages."""
    return watch_errors


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context: own sessionStorage); fails the test on console errors."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errs = watch_errors(pg)
    pg.set_default_timeout(20_000)
    pg.errors = errs  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        ctx.close()
    assert not errs.errors, "browser console errors:\n" + "\n".join(errs.errors)


@pytest.fixture(scope="session")
def screenshot() -> Any:
    """screenshot(page, name): a full-page PNG under test-artifacts/screenshots/."""

    def take(pg: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.unlink(missing_ok=True)  # a file left by an earlier run proves nothing
        pg.screenshot(path=str(path), full_page=True)
        assert path.is_file(), f"no screenshot written at {path}"
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        # IHDR: width and height of the image, big-endian, at bytes 16-24.
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert width >= 800 and height >= 600, f"{path} is {width}x{height}"
        return path

    return take
