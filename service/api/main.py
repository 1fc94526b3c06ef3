from fastapi import APIRouter, Depends

from service.api.deps import ERROR_RESPONSES, require_token
from service.api.routes import datasets, studies, trials

api_router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(require_token)], responses=ERROR_RESPONSES
)
api_router.include_router(studies.router)
api_router.include_router(trials.router)
api_router.include_router(datasets.router)
