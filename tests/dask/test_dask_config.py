"""A Dask executor needs a shared database: SQLite is refused, at study creation (422 naming
`executor`) and at server start (HPSEARCH_DASK_SCHEDULER with a sqlite URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.config import Settings
from service.core.db import upgrade

REPO = Path(__file__).resolve().parents[2]
BODY = {
    "mode": "caviar",
    "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
    "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.5}},
    "n_trials": 2,
}


@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from service.main import create_app

    tmp = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{tmp / 'hpsearch.db'}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=tmp / "data", run_scheduler=False)
    with TestClient(create_app(settings), base_url="http://test/api/v1") as c:
        yield c


def _locs(r) -> list[list]:
    return [e["loc"] for e in r.json()["detail"]]


def test_dask_executor_on_sqlite_is_a_422_naming_executor(sqlite_client) -> None:
    r = sqlite_client.post(
        "/studies", json=BODY | {"executor": {"type": "dask", "address": "tcp://127.0.0.1:8786"}}
    )
    assert r.status_code == 422, r.text
    assert ["body", "executor"] in _locs(r)
    assert "SQLite" in r.text and "Postgres" in r.text


@pytest.mark.parametrize(
    ("executor", "loc"),
    [
        ({"type": "kubernetes"}, ["body", "executor", "type"]),
        ({"type": "local", "address": "tcp://x:1"}, ["body", "executor", "address"]),
        ({"type": "dask", "address": "not an address"}, ["body", "executor", "address"]),
    ],
)
def test_bad_executors_are_422s_naming_the_field(sqlite_client, executor, loc) -> None:
    r = sqlite_client.post("/studies", json=BODY | {"executor": executor})
    assert r.status_code == 422, r.text
    assert loc in _locs(r)


def test_local_executor_is_stored_with_the_study(sqlite_client) -> None:
    r = sqlite_client.post("/studies", json=BODY | {"executor": {"type": "local"}})
    assert r.status_code == 201, r.text
    assert r.json()["executor"] == {"type": "local"}
    assert sqlite_client.get(f"/studies/{r.json()['id']}").json()["executor"] == {"type": "local"}


def test_server_refuses_to_start_with_dask_scheduler_and_sqlite(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        {
            "HPSEARCH_DATABASE_URL": f"sqlite:///{tmp_path / 'hpsearch.db'}",
            "HPSEARCH_DASK_SCHEDULER": "tcp://127.0.0.1:8786",
            "HPSEARCH_HOST": "127.0.0.1",
            "HPSEARCH_PORT": "0",
            "HPSEARCH_DATA_DIR": str(tmp_path / "data"),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "service.server"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "HPSEARCH_DASK_SCHEDULER" in proc.stderr and "SQLite" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
