"""I/O-free core shared by :class:`hpsearch.Client` and :class:`hpsearch.AsyncClient`.

Every operation is written once, as a *plan*: a generator that yields :class:`Call` (one HTTP
request; the decoded JSON answer is sent back in) or :class:`Sleep`, and returns the result. The
sync client drives a plan with blocking httpx calls and ``time.sleep``; the async client drives the
same plan with ``await``. Retry policy, error mapping and the SSE decoder live here as well, so the
two clients differ only in how they wait.
"""

from __future__ import annotations

import json
import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from hpsearch.errors import (
    HpsearchError,
    RequestTimeout,
    ServerUnavailable,
    error_from_response,
)

__all__ = [
    "Call",
    "Plan",
    "RetryPolicy",
    "SSEDecoder",
    "ServerSentEvent",
    "Sleep",
    "decode_response",
    "transport_error",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Call:
    """One HTTP request of a plan.

    ``idempotent`` says whether repeating it is harmless; it defaults to the method's meaning
    (GET/HEAD/OPTIONS/PUT/DELETE yes, POST no). Only idempotent calls are retried.
    """

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: Any = None
    idempotent: bool | None = None

    @property
    def retryable(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class Sleep:
    """Pause a plan (time.sleep in the sync client, asyncio.sleep in the async one)."""

    seconds: float


Plan = Generator["Call | Sleep", Any, Any]


@dataclass
class RetryPolicy:
    """Exponential backoff for idempotent calls on connection errors, timeouts and 503.

    The n-th retry (1-based) waits ``min(max_backoff, backoff * 2**(n-1))``, stretched by up to
    ``jitter`` (a fraction) at random; a 503's ``Retry-After`` (seconds) wins when it is longer.
    Calls that create something (``POST /studies``, ``ask``, ``tell``...) are never retried: the
    server does not take an ``Idempotency-Key`` yet, so a retry could create a second study.
    """

    retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0
    jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** (retry_number - 1)))
        if self.jitter:
            base *= 1 + self.jitter * self.rng.random()
        if retry_after is not None:
            base = max(base, min(retry_after, self.max_backoff * 4))
        return base

    def next_delay(
        self,
        call: Call,
        retry_number: int,
        *,
        error: BaseException | None = None,
        response: httpx.Response | None = None,
    ) -> float | None:
        """Seconds to wait before retry ``retry_number`` of ``call``, or None: do not retry."""
        if not call.retryable or retry_number > self.retries:
            return None
        if error is not None:
            return self.delay(retry_number) if isinstance(error, httpx.TransportError) else None
        if response is not None and response.status_code == 503:
            return self.delay(retry_number, _retry_after(response))
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transport_error(exc: httpx.TransportError, base_url: str, call: Call) -> HpsearchError:
    """A readable :class:`ServerUnavailable` for a connection failure or timeout."""
    where = f"{call.method} {call.path}"
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(
            f"no answer from the hpsearch server at {base_url} in time ({where}): {exc}",
            method=call.method,
            url=base_url + call.path,
        )
    return ServerUnavailable(
        f"cannot reach the hpsearch server at {base_url} ({where}): {exc or type(exc).__name__}. "
        "Is it running? Start one with `hpsearch serve`.",
        method=call.method,
        url=base_url + call.path,
    )


def decode_response(response: httpx.Response, call: Call) -> Any:
    """The decoded JSON of a 2xx answer (None when empty), or raise the mapped error."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text or None
    raise error_from_response(
        response.status_code,
        body,
        reason=response.reason_phrase,
        method=call.method,
        url=str(response.request.url) if response._request is not None else call.path,
    )


@dataclass
class ServerSentEvent:
    """One event of a ``text/event-stream``."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class SSEDecoder:
    """Incremental decoder of the server-sent events format (WHATWG HTML §9.2.6).

    Feed it lines without their line terminator (``httpx.Response.iter_lines`` gives these);
    :meth:`feed` returns an event when a blank line completes one.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and not self._event:
            return None
        event = ServerSentEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self.last_event_id,
            retry=self._retry,
        )
        self._event, self._data, self._retry = "", [], None
        return event


def iter_events(
    lines: Iterator[str], decoder: SSEDecoder | None = None
) -> Iterator[ServerSentEvent]:
    """Events out of an iterator of lines (sync)."""
    decoder = decoder or SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    # An event not closed by a blank line when the stream ends is dropped, as the spec says: it
    # may be cut in the middle of its data.


FINAL_EVENTS = frozenset({"end", "final", "done", "finished", "state", "trial", "complete"})
