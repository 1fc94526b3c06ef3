"""The asyncio twin of :class:`hpsearch.Client`: :class:`AsyncClient`.

It has the same methods, each returning an awaitable, and hands out the same :class:`Study`,
:class:`Trial` and :class:`Run` objects, whose methods become awaitables too::

    async with AsyncClient(url) as client:
        study = await client.create_study(mode="ask_tell", space=..., metric="acc", n_trials=20)
        trial = await study.ask()
        await trial.tell(0.9)
        async for epoch in run.stream(): ...
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from hpsearch._base import (
    _END,
    ClientBase,
    Run,
    Study,
    Trial,
    _call_objective,
    _objective_value,
)
from hpsearch._core import (
    Call,
    Plan,
    ServerSentEvent,
    Sleep,
    SSEDecoder,
    decode_response,
    transport_error,
)
from hpsearch.errors import ConflictError, HpsearchError, TrialPruned

__all__ = ["AsyncClient"]

log = logging.getLogger("hpsearch")


class AsyncClient(ClientBase):
    """An asyncio client of the hpsearch REST API; see :class:`hpsearch.Client` for the options."""

    _is_async = True

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        stream_timeout: float = 120.0,
        page_size: int = 200,
    ) -> None:
        super().__init__(
            url,
            token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            headers=headers,
            page_size=page_size,
        )
        self._sleep = sleep or asyncio.sleep
        self.stream_timeout = stream_timeout
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, plan: Plan) -> Any:
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                step = plan.send(to_send) if to_throw is None else plan.throw(to_throw)
            except StopIteration as stop:
                return stop.value
            to_send, to_throw = None, None
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
                continue
            try:
                to_send = await self._execute(step)
            except HpsearchError as exc:
                to_throw = exc

    async def _execute(self, call: Call) -> Any:
        retry_number = 0
        while True:
            retry_number += 1
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    files=call.files,
                    data=call.data,
                )
            except httpx.TransportError as exc:
                delay = self.retry.next_delay(call, retry_number, error=exc)
                if delay is None:
                    raise transport_error(exc, self.url, call) from exc
                await self._sleep(delay)
                continue
            delay = self.retry.next_delay(call, retry_number, response=response)
            if delay is not None:
                await response.aclose()
                await self._sleep(delay)
                continue
            return decode_response(response, call)

    async def events(
        self, path: str, on_reconnect: Callable[[], None] | None = None
    ) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events of ``path``; reconnects (with Last-Event-ID) on a dropped stream."""
        call = Call("GET", path)
        decoder = SSEDecoder()
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if decoder.last_event_id is not None:
                headers["Last-Event-ID"] = decoder.last_event_id
            try:
                async with self._http.stream(
                    "GET",
                    path,
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout, read=self.stream_timeout),
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        decode_response(response, call)
                    async for line in response.aiter_lines():
                        event = decoder.feed(line)
                        if event is not None:
                            failures = 0
                            yield event
                return
            except httpx.TransportError as exc:
                failures += 1
                delay = self.retry.next_delay(call, failures, error=exc)
                if delay is None:
                    raise transport_error(exc, self.url, call) from exc
                await self._sleep(delay)
                if on_reconnect is not None:
                    on_reconnect()

    async def _astream_run(self, run: Run, path: str) -> AsyncIterator[Any]:
        async for event in self.events(path, run._reconnected):
            item = run._handle(event)
            if item is _END:
                return
            if item is not None:
                yield item
        await run.trial.refresh()


async def optimize_async(
    study: Study,
    objective: Callable[..., Any],
    n_trials: int | None,
    n_jobs: int,
    timeout: float | None,
    catch: type[BaseException] | tuple[type[BaseException], ...],
    callbacks: Iterable[Callable[[Study, Trial], None]],
) -> list[Trial]:
    """``Study.optimize`` with an AsyncClient: ``n_jobs`` concurrent tasks.

    A coroutine objective is awaited; a plain function runs in a thread (``asyncio.to_thread``).
    """
    callbacks = list(callbacks)
    deadline = None if timeout is None else time.monotonic() + timeout
    state = {"started": 0, "stop": False}
    done: list[Trial] = []
    is_coro = inspect.iscoroutinefunction(objective)

    def claim() -> bool:
        if state["stop"] or (n_trials is not None and state["started"] >= n_trials):
            return False
        if deadline is not None and time.monotonic() >= deadline:
            return False
        state["started"] += 1
        return True

    loop = asyncio.get_running_loop()

    async def evaluate(trial: Trial) -> Any:
        if is_coro:
            return await _call_objective(objective, trial)
        blocking: Any = _BlockingTrial(trial, loop)
        return await asyncio.to_thread(_call_objective, objective, blocking)

    async def worker() -> None:
        while claim():
            try:
                trial = await study.ask()
            except ConflictError as exc:
                log.info("study %s takes no more trials: %s", study.id, exc)
                state["stop"] = True
                return
            try:
                value = _objective_value(await evaluate(trial))
            except TrialPruned as exc:
                await trial.prune(str(exc) or None)
            except catch as exc:
                log.warning("trial %s failed: %s: %s", trial.number, type(exc).__name__, exc)
                await trial.fail(exc)
            except BaseException:
                state["stop"] = True
                await asyncio.shield(trial.fail("interrupted"))
                raise
            else:
                await trial.tell(value)
            done.append(trial)
            for callback in callbacks:
                callback(study, trial)

    async def guarded() -> None:
        try:
            await worker()
        except BaseException:
            state["stop"] = True  # the other tasks finish their trial and end
            raise

    results = await asyncio.gather(*(guarded() for _ in range(n_jobs)), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    await study.refresh()
    return sorted(done, key=lambda t: t.number if t.number is not None else -1)


class _BlockingTrial:
    """What a plain-function objective sees with an AsyncClient: ``report`` blocks its thread
    until the event loop has sent the report, and answers the bool as the sync client does."""

    def __init__(self, trial: Trial, loop: asyncio.AbstractEventLoop) -> None:
        self._trial = trial
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def report(self, epoch: int, value: float, **metrics: Any) -> bool:
        future = asyncio.run_coroutine_threadsafe(
            self._trial.report(epoch, value, **metrics), self._loop
        )
        return bool(future.result())
