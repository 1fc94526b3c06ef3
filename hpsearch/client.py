"""The synchronous client: :class:`Client`.

::

    from hpsearch import Client, hp

    with Client("http://127.0.0.1:8000") as client:
        study = client.create_study(
            "digits", space={"learning_rate": hp.log_float(1e-4, 1)},
            objective={"dataset": "digits", "metric": "dev_accuracy", "direction": "maximize"},
            n_trials=20,
        )
        study.wait(progress=True)
        print(study.best_trial.params)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from hpsearch._base import _END, ClientBase, Run
from hpsearch._core import (
    Call,
    Plan,
    ServerSentEvent,
    Sleep,
    SSEDecoder,
    decode_response,
    transport_error,
)
from hpsearch.errors import HpsearchError

__all__ = ["Client"]


class Client(ClientBase):
    """A blocking client of the hpsearch REST API (httpx underneath); thread-safe.

    ``url`` defaults to ``$HPSEARCH_URL`` or ``http://127.0.0.1:8000``, ``token`` to
    ``$HPSEARCH_API_TOKEN``. Idempotent calls (GET, DELETE, stop and most controls) are retried
    ``retries`` times with exponential backoff on connection errors and 503; calls that create
    something are not. ``transport`` and ``sleep`` exist for tests.
    """

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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
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
        self._sleep = sleep or time.sleep
        self.stream_timeout = stream_timeout
        self._http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- driving plans ------------------------------------------------------------------------

    def _run(self, plan: Plan) -> Any:
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            try:
                step = plan.send(to_send) if to_throw is None else plan.throw(to_throw)
            except StopIteration as stop:
                return stop.value
            to_send, to_throw = None, None
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                continue
            try:
                to_send = self._execute(step)
            except HpsearchError as exc:
                to_throw = exc

    def _execute(self, call: Call) -> Any:
        retry_number = 0
        while True:
            retry_number += 1
            try:
                response = self._http.request(
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
                self._sleep(delay)
                continue
            delay = self.retry.next_delay(call, retry_number, response=response)
            if delay is not None:
                response.close()
                self._sleep(delay)
                continue
            return decode_response(response, call)

    # ---- server-sent events ---------------------------------------------------------------------

    def events(
        self, path: str, on_reconnect: Callable[[], None] | None = None
    ) -> Iterator[ServerSentEvent]:
        """Server-sent events of ``path``; reconnects (with Last-Event-ID) on a dropped stream."""
        call = Call("GET", path)
        decoder = SSEDecoder()
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if decoder.last_event_id is not None:
                headers["Last-Event-ID"] = decoder.last_event_id
            try:
                with self._http.stream(
                    "GET",
                    path,
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout, read=self.stream_timeout),
                ) as response:
                    if not response.is_success:
                        response.read()
                        decode_response(response, call)
                    for line in response.iter_lines():
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
                self._sleep(delay)
                if on_reconnect is not None:
                    on_reconnect()

    def _stream_run(self, run: Run, path: str) -> Iterator[Any]:
        for event in self.events(path, run._reconnected):
            item = run._handle(event)
            if item is _END:
                return
            if item is not None:
                yield item
        # the server closed the stream without a final event: read the final state
        run.trial.refresh()
