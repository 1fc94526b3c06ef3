"""Routes of the dashboard: HTML pages, static files, the plotly bundle and the JSON endpoints
the pages need beyond design.md §5 (all under /api/v1, behind the same bearer-token check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from service.api.deps import ERROR_RESPONSES, StoreDep, require_token
from service.dashboard import aggregate
from service.errors import NotFound
from service.models import Study
from service.schemas import StudyOut, StudyPage, StudyState

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"
ASSET_VERSION = "1"


def plotly_bundle_path() -> Path:
    """plotly.min.js as shipped inside the `plotly` Python package (no CDN: air-gapped)."""
    try:
        import plotly
    except ImportError as e:  # pragma: no cover - plotly is a dependency
        raise NotFound("the plotly package is not installed") from e
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover
        raise NotFound("plotly.min.js not found in the plotly package")
    return path


# ----------------------------------------------------------------------------- pages

pages = APIRouter(include_in_schema=False)


def _page(request: Request, template: str, **ctx: Any) -> HTMLResponse:
    base = request.scope.get("root_path", "").rstrip("/")
    context = {"base": base, "v": ASSET_VERSION, **ctx}
    return TEMPLATES.TemplateResponse(request, template, context)


@pages.get("/", response_class=HTMLResponse, name="dashboard-studies")
def studies_page(request: Request) -> HTMLResponse:
    return _page(request, "studies.html", title="Studies")


@pages.get("/studies/{study_id}", response_class=HTMLResponse, name="dashboard-study")
def study_page(request: Request, study_id: int) -> HTMLResponse:
    return _page(request, "study.html", title=f"Study {study_id}", study_id=study_id)


@pages.get("/trials/{trial_id}", response_class=HTMLResponse, name="dashboard-trial")
def trial_page(request: Request, trial_id: int) -> HTMLResponse:
    return _page(request, "trial.html", title=f"Trial {trial_id}", trial_id=trial_id)


@pages.get("/new", response_class=HTMLResponse, name="dashboard-new")
def new_page(request: Request) -> HTMLResponse:
    return _page(request, "new.html", title="New study")


@pages.get("/assets/plotly.min.js", name="dashboard-plotly")
def plotly_js() -> Response:
    return FileResponse(
        plotly_bundle_path(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# ----------------------------------------------------------------------------- JSON

api = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(require_token)],
    tags=["dashboard"],
    responses=ERROR_RESPONSES,
)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@api.get("/dashboard/studies", response_model=StudyPage)
def search_studies(
    store: StoreDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    state: StudyState | None = None,
    mode: Annotated[str | None, Query(pattern="^(caviar|panda|ask_tell)$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> StudyPage:
    """The studies list with a name search (case-insensitive substring) and filters."""
    where: list[Any] = []
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(func.lower(Study.name).like(f"%{escaped.lower()}%", escape="\\"))
    if state:
        where.append(Study.state == state)
    if mode:
        where.append(Study.mode == mode)
    with store.db.read() as s:
        total = s.execute(select(func.count()).select_from(Study).where(*where)).scalar_one()
        ids = list(
            s.execute(
                select(Study.id).where(*where).order_by(Study.id.desc()).limit(limit).offset(offset)
            ).scalars()
        )
    items = []
    for sid in ids:
        try:
            items.append(StudyOut.model_validate(store.get_study(sid)))
        except NotFound:  # deleted meanwhile
            total -= 1
    return StudyPage(items=items, total=total)


@api.get("/studies/{study_id}/plot-data")
async def study_plot_data(
    study_id: int,
    store: StoreDep,
    max_points: Annotated[int, Query(ge=10, le=20000)] = aggregate.DEFAULT_MAX_POINTS,
) -> Response:
    """One row per trial (params, value, state, round, duration), downsampled past
    `max_points`; best-so-far curves; the best trial's diagnosis."""
    body = await run_in_threadpool(aggregate.plot_data_json, store, study_id, max_points)
    return Response(body, media_type="application/json")


@api.get("/studies/{study_id}/boxes")
async def study_boxes(study_id: int, store: StoreDep) -> dict[str, Any]:
    """Coarse-to-fine: the box each round sampled, in parameter values and unit coordinates."""
    return await run_in_threadpool(aggregate.boxes, store, study_id)


@api.get("/studies/{study_id}/importance")
async def study_importance(study_id: int, store: StoreDep) -> dict[str, Any]:
    """Random-forest importance of each hyperparameter (transformed coordinates)."""
    return await run_in_threadpool(aggregate.importance, store, study_id)


@api.get("/trials/{trial_id}/checkpoints")
def trial_checkpoints(trial_id: int, store: StoreDep) -> dict[str, Any]:
    epochs = aggregate.checkpoints(store, trial_id)
    return {"items": epochs, "total": len(epochs)}


@api.get("/trials/{trial_id}/controls")
def trial_controls(trial_id: int, store: StoreDep) -> dict[str, Any]:
    items = aggregate.controls(store, trial_id)
    return {"items": items, "total": len(items)}
