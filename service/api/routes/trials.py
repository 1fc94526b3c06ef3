from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from service.api.deps import SchedulerDep, StoreDep
from service.errors import Conflict, InvalidInput, NotFound
from service.schemas import (
    ControlIn,
    ControlOut,
    ReportIn,
    ReportOut,
    ReportsIn,
    TellIn,
    TrialDetail,
    TrialOut,
)
from service.store import FINISHED_TRIAL_STATES, EpochReport
from service.validation import validate_control, validate_tell

router = APIRouter(prefix="/trials", tags=["trials"])

STREAM_POLL_SECONDS = 0.25
STREAM_KEEPALIVE_SECONDS = 15.0


@router.get("/{trial_id}", response_model=TrialDetail)
async def get_trial(trial_id: int, store: StoreDep) -> TrialDetail:
    trial = await run_in_threadpool(partial(store.get_trial, trial_id, history=True))
    return TrialDetail.model_validate(trial, from_attributes=True)


@router.post("/{trial_id}/report", response_model=ReportOut)
async def report(trial_id: int, body: ReportIn, store: StoreDep) -> ReportOut:
    extra = dict(body.model_extra or {})
    prune = await run_in_threadpool(
        partial(store.report, trial_id, body.epoch, body.value, extra, mode="ask_tell")
    )
    return ReportOut(prune=prune)


def _epoch_reports(reports: list[ReportIn]) -> list[EpochReport]:
    return [(r.epoch, r.value, dict(r.model_extra or {})) for r in reports]


@router.post("/{trial_id}/reports", response_model=ReportOut)
async def report_many(trial_id: int, body: ReportsIn, store: StoreDep) -> ReportOut:
    """Several buffered reports in one transaction (what the SDK sends for a study without a
    pruner, whose reports never need an answer one by one)."""
    reports = _epoch_reports(body.reports)
    prune = await run_in_threadpool(partial(store.report_many, trial_id, reports, mode="ask_tell"))
    return ReportOut(prune=prune)


@router.post("/{trial_id}/tell", response_model=TrialOut)
async def tell(trial_id: int, body: TellIn, store: StoreDep) -> TrialOut:
    state = validate_tell(body)
    error = body.error
    if state != "completed" and not error:
        error = f"reported {state} by the client"
    finish = partial(
        store.finish_trial,
        trial_id,
        state,
        value=body.value,
        error=error,
        metrics=body.metrics,
        mode="ask_tell",
        reports=_epoch_reports(body.reports or []),
    )
    return TrialOut.model_validate(await run_in_threadpool(finish))


@router.post("/{trial_id}/control", response_model=ControlOut, status_code=202)
def control(trial_id: int, body: ControlIn, store: StoreDep, scheduler: SchedulerDep) -> ControlOut:
    mutable: Any = None
    try:
        import engine

        mutable = engine.MUTABLE_PARAMS
    except (ImportError, AttributeError):  # pragma: no cover - engine is written in parallel
        pass
    validate_control(body, mutable)
    trial = store.get_trial(trial_id, history=False)
    mode = store.get_study_mode(trial.study_id)
    if mode == "ask_tell":
        raise Conflict("controls apply to trials the server runs, not to ask/tell trials")
    payload: dict[str, Any] | None = None
    if body.action == "set":
        payload = {"params": body.params}
    elif body.action == "rollback":
        assert body.epoch is not None
        # Checked here: a rollback to nowhere would end the trial with an engine error.
        if store.load_checkpoint(trial_id, body.epoch) is None:
            raise InvalidInput(f"no checkpoint at or before epoch {body.epoch}", ("body", "epoch"))
        payload = {"epoch": body.epoch}
    row = store.add_control(trial_id, body.action, payload)
    if scheduler is not None:
        scheduler.wake(trial.study_id)
    return ControlOut(**row.__dict__)


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + f"data: {json.dumps(data, default=str)}\n\n"


@router.get("/{trial_id}/stream")
async def stream(trial_id: int, request: Request, store: StoreDep) -> StreamingResponse:
    """SSE: `epoch` per history row (late clients get the ones so far), `state` on changes,
    `rollback` ({"epoch": N}) when a Panda rollback (or a retry) rewound the history to epoch N
    (the epochs after it follow again; noticed by the trial's history generation, so even when
    the new timeline is already longer than the old one), then `end` with the final trial.
    Reconnecting clients may send Last-Event-ID (the last epoch they got) to resume."""
    await run_in_threadpool(store.get_trial, trial_id, False)  # 404 before the stream starts
    try:
        start = int(request.headers.get("last-event-id", "-1"))
    except ValueError:
        start = -1

    async def events() -> AsyncIterator[str]:
        last_epoch = max(start, -1)
        last_state = None
        # The history generation the epochs sent so far were read at (None: not read yet).
        # Every rewind bumps it in the transaction that deletes the epochs, so a changed
        # generation on any poll means a rollback, however fast the new timeline grew back.
        generation: int | None = None
        idle = 0.0
        while True:
            try:
                # The trial (its generation) before the epochs: epochs read after it carry
                # every rewind up to that generation.
                trial = await run_in_threadpool(store.get_trial, trial_id, False)
                first = generation is None
                rewound = None if generation is None else trial.rewound_to(generation)
                generation = trial.history_generation
                if first and last_epoch > 0:
                    # A resumed stream (Last-Event-ID): the client may hold epochs that a
                    # rewind has deleted since (not those it rewrote: ids carry no generation).
                    newest = await run_in_threadpool(store.last_epoch, trial_id)
                    if newest < last_epoch:
                        rewound = newest
                if rewound is not None and rewound < last_epoch:
                    last_epoch = rewound
                    yield _sse("rollback", {"epoch": rewound})
                rows = await run_in_threadpool(store.history_since, trial_id, last_epoch)
            except NotFound:
                yield _sse("end", {"id": trial_id, "state": "deleted"})
                return
            for row in rows:
                last_epoch = row["epoch"]
                yield _sse("epoch", row, row["epoch"])
            if rows:
                idle = 0.0
            if trial.state != last_state:
                last_state = trial.state
                yield _sse("state", {"state": trial.state})
            if trial.state in FINISHED_TRIAL_STATES:
                # Epochs written just before the final state are in this last read (no rewind
                # follows the final state).
                for row in await run_in_threadpool(store.history_since, trial_id, last_epoch):
                    last_epoch = row["epoch"]
                    yield _sse("epoch", row, row["epoch"])
                yield _sse("end", TrialOut.model_validate(trial).model_dump(mode="json"))
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(STREAM_POLL_SECONDS)
            idle += STREAM_POLL_SECONDS
            if idle >= STREAM_KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
