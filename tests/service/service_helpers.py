"""Helpers shared by the service tests (a module, not a conftest: tests import it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

# The course's recipe: α on a log scale, β through 1 − β (only for momentum), batch sizes as
# powers of two.
RECIPE_SPACE: dict[str, dict] = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "batch_size": {"type": "power_of_two", "low": 16, "high": 512},
    "optimizer": {"type": "categorical", "choices": ["momentum", "adam"]},
    "beta": {
        "type": "float",
        "low": 0.9,
        "high": 0.999,
        "scale": "one_minus_log",
        "condition": {"optimizer": ["momentum"]},
    },
}


def wait_for(fn, timeout: float = 90.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"condition not met after {timeout}s")


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of a server-sent event stream, as they arrive."""
    event, data = None, None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "":
            if event is not None:
                yield event, data
            event, data = None, None
