"""Helpers shared by the hardening tests (a module, not a conftest: tests import it)."""

from __future__ import annotations

import time
from typing import Any

import httpx

# free_port lives in tests/server_process.py (put on sys.path by this suite's conftest, which
# pytest always imports before the test modules); re-exported for the tests that use it.
from server_process import free_port as free_port


def wait_for(fn, timeout: float = 60.0, every: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            got = fn()
        except httpx.HTTPError as e:  # a server busy or restarting: try again
            got, last = None, e
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"{what} not met after {timeout}s (last error: {last})")


def caviar(
    n_trials: int,
    epochs: int,
    n_workers: int = 2,
    max_retries: int = 0,
    dataset: str = "moons",
    **fixed: Any,
) -> dict[str, Any]:
    return {
        "mode": "caviar",
        "objective": {
            "dataset": dataset,
            "metric": "dev_accuracy",
            "direction": "maximize",
            "fixed": {"epochs": epochs, "layers": [8], "batch_size": 16} | fixed,
        },
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 0.1, "scale": "log"}},
        "n_trials": n_trials,
        "n_workers": n_workers,
        "max_retries": max_retries,
        "seed": 0,
    }


def create(c: httpx.Client, body: dict[str, Any]) -> int:
    r = c.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def trials(c: httpx.Client, sid: int) -> list[dict[str, Any]]:
    r = c.get(f"/studies/{sid}/trials", params={"limit": 1000})
    r.raise_for_status()
    return list(r.json()["items"])


def study(c: httpx.Client, sid: int) -> dict[str, Any]:
    r = c.get(f"/studies/{sid}")
    r.raise_for_status()
    return dict(r.json())


def history(c: httpx.Client, tid: int) -> list[dict[str, Any]]:
    r = c.get(f"/trials/{tid}")
    r.raise_for_status()
    return list(r.json()["history"])


def finished(c: httpx.Client, sid: int, timeout: float = 90.0) -> dict[str, Any]:
    """Wait until the study leaves queued/running; returns it."""
    return wait_for(
        lambda: (s := study(c, sid))["state"] not in ("queued", "running") and s,
        timeout=timeout,
        what=f"study {sid} finished",
    )


def trial_processes(server_pid: int) -> list[Any]:
    """The trial processes of a server: children of its forkserver (grandchildren of it)."""
    import psutil

    out = []
    for p in psutil.Process(server_pid).children(recursive=True):
        try:
            if p.ppid() != server_pid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out
