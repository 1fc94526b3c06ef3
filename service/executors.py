"""Where a study's trials run: the local process pool, or a Dask cluster (docs/scaling.md).

A study may name its executor in the create body, `"executor": {"type": "dask", "address":
"tcp://10.0.0.5:8786"}` or `{"type": "local"}`; without one it follows the server's
HPSEARCH_DASK_SCHEDULER (Dask when set, local otherwise). The choice is stored with the study.

Dask workers run on other machines and reach the database over the network, so a Dask executor
needs a server database (Postgres): SQLite is refused at study creation (422 naming `executor`)
and at server start (HPSEARCH_DASK_SCHEDULER with a sqlite URL).

This module is light on purpose (pydantic only, no Dask import): the API edge imports it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.core.db import is_sqlite
from service.errors import InvalidInput, ServiceError

LOCAL = "local"
DASK = "dask"
# tcp://host:port, tls://..., ucx://..., inproc://..., or a bare host:port (Dask reads it as tcp).
_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://)?[^\s/]+(:\d{1,5})?/?$")


class ExecutorSpec(BaseModel):
    """The optional `executor` field of a study create body."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local", "dask"]
    address: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not _ADDRESS.match(v.strip()):
            raise ValueError("a Dask scheduler address such as tcp://10.0.0.5:8786")
        return v.strip() if v is not None else v


class DaskConfigError(ServiceError):
    """HPSEARCH_DASK_SCHEDULER and HPSEARCH_DATABASE_URL do not go together."""


def sqlite_refusal(database_url: str) -> str:
    return (
        f"a Dask executor needs a database that every worker machine can reach, and "
        f"{_safe_url(database_url)} is a SQLite file: use Postgres "
        "(HPSEARCH_DATABASE_URL=postgresql+psycopg://user:pass@host/db)"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database URL"


def check_settings(settings: Any) -> None:
    """Refuse HPSEARCH_DASK_SCHEDULER with a SQLite database (called at server start)."""
    if settings.dask_scheduler and is_sqlite(settings.database_url):
        raise DaskConfigError(
            f"HPSEARCH_DASK_SCHEDULER is set ({settings.dask_scheduler}) but "
            + sqlite_refusal(settings.database_url)
            + ", or unset HPSEARCH_DASK_SCHEDULER to run trials in local processes."
        )


def validate_executor(executor: ExecutorSpec | None, mode: str, settings: Any) -> dict[str, Any]:
    """The executor config stored with a new study; InvalidInput (422) naming `executor`."""
    loc: tuple[str, ...] = ("body", "executor")
    if executor is None:
        # Follow the server's configuration at run time (an ask/tell study never runs trials).
        return {}
    if mode == "ask_tell":
        raise InvalidInput("an ask_tell study runs its trials in the client: drop 'executor'", loc)
    if executor.type == LOCAL:
        if executor.address is not None:
            raise InvalidInput("a local executor takes no address", (*loc, "address"))
        return {"type": LOCAL}
    if is_sqlite(settings.database_url):
        raise InvalidInput(sqlite_refusal(settings.database_url), loc)
    if executor.address is None and not settings.dask_scheduler:
        raise InvalidInput(
            "a dask executor needs 'address' (the server has no HPSEARCH_DASK_SCHEDULER)",
            (*loc, "address"),
        )
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise InvalidInput(
            "dask.distributed is not installed on the server: pip install 'hpsearch[dask]'",
            (*loc, "type"),
        ) from e
    out: dict[str, Any] = {"type": DASK}
    if executor.address is not None:
        out["address"] = executor.address
    return out


def resolve(executor: dict[str, Any] | None, settings: Any) -> tuple[str, str | None]:
    """(kind, scheduler address) a study's trials go to now: ("local", None) or ("dask", addr)."""
    executor = executor or {}
    kind = executor.get("type")
    if kind == LOCAL:
        return LOCAL, None
    if kind == DASK:
        return DASK, executor.get("address") or settings.dask_scheduler
    if settings.dask_scheduler:
        return DASK, settings.dask_scheduler
    return LOCAL, None
