"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.api.main import api_router
from service.api.middleware import install_hardening
from service.api.routes import health
from service.core.config import Settings
from service.core.db import Database
from service.errors import InvalidInput, ServiceError
from service.store import Store

log = logging.getLogger("hpsearch.service")


def _validation_detail(message: str, loc: tuple[str | int, ...]) -> list[dict[str, object]]:
    return [{"type": "value_error", "loc": list(loc), "msg": message}]


def _preload() -> None:
    """Import engine and samplers before serving: the first create or ask would otherwise pay
    seconds of NumPy/SciPy imports inside a request."""
    for name in ("samplers", "engine"):
        try:
            __import__(name)
        except ImportError:  # ask/tell needs only samplers; report it at use, not here
            log.warning("could not import %s", name, exc_info=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings.database_url)
    store = Store(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _preload()
        scheduler = None
        if settings.run_scheduler:
            from service.scheduler import Scheduler

            scheduler = Scheduler(settings, store)
            app.state.scheduler = scheduler
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
            db.dispose()

    app = FastAPI(
        title="hpsearch",
        version="0.1.0",
        summary="Hyperparameter search for neural networks: Caviar sweeps, Panda runs, ask/tell.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.scheduler = None

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(exc.message, exc.loc)}, status_code=422)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Drop "input" and "ctx" echoes: an uploaded file or a huge body must not come back.
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    install_hardening(app, settings)
    app.include_router(health.router)
    app.include_router(api_router)
    _mount_dashboard(app)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    # The dashboard is optional: an API-only install (or a broken dashboard) still serves /api.
    try:
        from service.dashboard import mount_dashboard
    except ImportError:
        return
    try:
        mount_dashboard(app)
    except Exception:
        log.warning("dashboard not mounted", exc_info=True)
