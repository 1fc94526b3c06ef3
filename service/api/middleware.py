"""Hardening of the HTTP edge: body-size limits (413), CORS (off by default) and 503 when the
database cannot be reached.

`install_hardening(app, settings)` is called once by service.main.create_app.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import Settings
from service.core.resilience import describe, is_db_unavailable

log = logging.getLogger("hpsearch.service")

# Paths whose bodies are file uploads (multipart), limited by max_upload_bytes.
UPLOAD_PATHS = ("/api/v1/datasets",)
DB_RETRY_AFTER_SECONDS = "2"


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n} bytes"


class BodySizeLimitMiddleware:
    """Answer 413 to any request whose body is larger than its limit.

    Checked from Content-Length up front, and by counting the bytes actually received (chunked
    bodies, lying headers): past the limit the client gets the 413 and the app sees a
    disconnect, whatever it answers is dropped.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, path: str) -> tuple[int, str]:
        if path.rstrip("/") in UPLOAD_PATHS:
            return self.max_upload_bytes, "HPSEARCH_MAX_UPLOAD_BYTES"
        return self.max_body_bytes, "HPSEARCH_MAX_BODY_BYTES"

    @staticmethod
    async def _reject(send: Send, limit: int, setting: str) -> None:
        body = json.dumps(
            {"detail": f"request body larger than {_mib(limit)} ({setting})"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope.get("path", ""))
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await self._reject(send, limit, setting)
                    return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    await self._reject(send, limit, setting)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


async def _db_unavailable(_: Request, exc: Exception) -> JSONResponse:
    if not is_db_unavailable(exc):
        log.exception("database error", exc_info=exc)
        return JSONResponse({"detail": "internal database error"}, status_code=500)
    log.warning("database unavailable: %s", describe(exc))
    return JSONResponse(
        {"detail": f"database unavailable, try again shortly ({describe(exc)})"},
        status_code=503,
        headers={"Retry-After": DB_RETRY_AFTER_SECONDS},
    )


async def _http_error(request: Request, exc: Exception) -> Any:
    """Starlette's default, except that a 405's Allow lists every method of the path (it lists
    only those of the first route that matched, and GET and POST of one path are two routes)."""
    import re

    from fastapi.exception_handlers import http_exception_handler

    if getattr(exc, "status_code", None) == 405:
        methods: set[str] = set()
        for template, ops in (request.app.openapi().get("paths") or {}).items():
            if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
                methods |= {m.upper() for m in ops if m.isalpha()}
        if methods:
            allow = ", ".join(sorted(methods))
            exc.headers = {**(getattr(exc, "headers", None) or {}), "Allow": allow}  # type: ignore[attr-defined]
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # A number past what the database's integers hold (SQLite raises OverflowError, Postgres a
    # DataError): no row can have such an id (404); any other such number is the client's (422).
    big = [k for k, v in request.path_params.items() if isinstance(v, int) and abs(v) >= 2**63]
    if big:
        return JSONResponse({"detail": f"not found: {big[0]} out of range"}, status_code=404)
    msg = "a number in the request is out of range for the database"
    return JSONResponse(
        {"detail": [{"type": "value_error", "loc": ["body"], "msg": msg}]}, status_code=422
    )


def cors_origins(settings: Settings) -> list[str]:
    return [o.strip() for o in settings.cors_origins.split(",") if o.strip()]


def install_hardening(app: FastAPI, settings: Settings) -> None:
    origins = cors_origins(settings)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )
    # Added last: outermost of the user middlewares, so it sees every request first.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(sa_exc.DataError, _out_of_range)
    handler: Any = _db_unavailable
    for exc_type in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError):
        app.add_exception_handler(exc_type, handler)
    app.add_exception_handler(sa_exc.TimeoutError, handler)
    try:
        import psycopg

        app.add_exception_handler(psycopg.OperationalError, handler)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
