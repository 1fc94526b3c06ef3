"""Fixtures of the Dask tests: one LocalCluster (2 process workers, 1 thread each, loopback)
per module, the real Postgres (a fresh database per server; unreachable Postgres fails under
CI=true and skips otherwise), and real uvicorn server processes, stopped by PID.

The server process and the Postgres helpers are the shared ones of tests/server_process.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# tests/ itself is not on sys.path (pytest only adds each test file's own directory, and there is
# no tests/conftest.py): put it there so that the shared server_process module imports.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_process import ServerProcess, admin_url, create_database, drop_database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return admin_url()


@pytest.fixture(scope="session")
def fresh_pg(pg_admin_url: str):
    """Factory of empty Postgres databases, dropped at the end of the session."""
    created: list[str] = []

    def make() -> str:
        url = create_database(pg_admin_url, "hpsearch_dask")
        created.append(url)
        return url

    yield make
    for url in created:
        drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory):
    """Factory: `python -m service.server` on 127.0.0.1 with the given HPSEARCH_* settings
    (HPSEARCH_DATABASE_URL among them); every server is stopped by PID at the module's end."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        url = env.pop("HPSEARCH_DATABASE_URL")
        srv = ServerProcess(url, tmp_path_factory.mktemp("data"), env)
        servers.append(srv)
        return srv.wait_ready()

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="module")
def cluster():
    """LocalCluster(n_workers=2, processes=True, threads_per_worker=1) on 127.0.0.1.

    Its worker processes are not daemonic (`distributed.worker.daemon: false`, as
    docs/scaling.md asks of a deployment with trial limits): a trial under
    HPSEARCH_TRIAL_MEMORY_MB / HPSEARCH_TRIAL_TIMEOUT_S runs in a child process of the worker.
    The setting stays on for the whole module: the nannies read it again when they restart a
    killed worker."""
    import dask
    from distributed import Client, LocalCluster

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _repository_on_sys_path()
    with (
        dask.config.set({"distributed.worker.daemon": False}),
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as lc,
        Client(lc) as client,
    ):
        # Import NumPy, sklearn's datasets and the engine once per worker, ahead of the trials.
        where = client.run(_warm)
        assert set(where.values()) == {str(REPO / "engine" / "__init__.py")}, where
        yield lc, client


def _repository_on_sys_path() -> None:
    """The LocalCluster's worker processes start with this process's sys.path, which has tests/
    on it (above, and in other test folders' conftests). There the folders tests/engine and
    tests/service (no __init__.py) are namespace packages named `engine` and `service`, and
    they win over the real packages when only the editable install's import finder knows
    those, because that finder comes after sys.path. With the repository root on sys.path the
    real (regular) packages win wherever the root stands, so it goes last: it shadows
    nothing."""
    root = str(REPO)
    if root not in sys.path:
        sys.path.append(root)


def _warm() -> str:
    import engine
    from service.scheduler.worker import warm_worker

    warm_worker()
    import sklearn.datasets  # noqa: F401

    # Fail here, not with every trial: the worker must run this repository's engine.
    assert getattr(engine, "TrainConfig", None) is not None, engine.__path__
    return str(engine.__file__)
