"""Dependencies shared by the routes: the store, the settings and the bearer-token check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import Depends, Request

from service.core.config import Settings
from service.errors import Unauthorized
from service.store import Store

# Statuses any /api operation may answer, documented in /openapi.json (service.api.middleware).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "a body that cannot be parsed at all (not UTF-8 JSON)"},
    401: {"description": "missing or wrong bearer token (HPSEARCH_API_TOKEN)"},
    404: {"description": "no such study, trial or dataset"},
    409: {"description": "conflicts with the current state"},
    413: {"description": "request body over its size limit"},
    503: {"description": "database unavailable, try again"},
}

# Every dependency here is `async def` though it never awaits: FastAPI runs a plain `def`
# dependency in the thread pool, one thread hop per dependency per request.


async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_scheduler(request: Request) -> Any:
    return getattr(request.app.state, "scheduler", None)


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SchedulerDep = Annotated[Any, Depends(get_scheduler)]


def _authorization(request: Request) -> bytes:
    """The raw bytes of the first Authorization header ("" when there is none).

    Raw, not request.headers (decoded as latin-1): a client may send any bytes, and a token
    configured with non-ASCII characters travels as its UTF-8 bytes.
    """
    for name, value in request.scope.get("headers") or ():
        if name.lower() == b"authorization":
            return bytes(value)
    return b""


def token_matches(header: bytes, token: str) -> bool:
    """Whether an Authorization header value is `Bearer <token>`, compared in constant time.

    Bytes against bytes: secrets.compare_digest on two str raises TypeError as soon as either
    holds a non-ASCII character (a 500 for `Bearer é`). The token is taken as UTF-8 (an
    environment variable with undecodable bytes keeps them, through surrogateescape); a header
    that is not the UTF-8 of the token, whatever its bytes, is simply a wrong token. Both sides
    are hashed first so that the time taken does not depend on the length either.
    """
    scheme, _, given = header.strip().partition(b" ")
    expected = token.encode("utf-8", "surrogateescape")
    same = hmac.compare_digest(
        hashlib.sha256(given.strip()).digest(), hashlib.sha256(expected).digest()
    )
    return scheme.lower() == b"bearer" and same


async def require_token(request: Request) -> None:
    token = request.app.state.settings.api_token
    if not token:
        return
    if not token_matches(_authorization(request), token):
        raise Unauthorized("missing or wrong bearer token")
