from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import StoreDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(store: StoreDep) -> JSONResponse:
    try:
        store.db.ping()
    except Exception as e:  # any driver error means "not ready", never a 500 page
        body = Health(status="error", database="error", detail=f"{type(e).__name__}: {e}")
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok").model_dump())
