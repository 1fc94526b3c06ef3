"""Helpers of the Dask tests (a module, not a conftest: tests import it)."""

from __future__ import annotations

import time


def wait_for(fn, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"condition not met after {timeout}s")
