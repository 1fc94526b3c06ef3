"""The SDK's one error family: every failure of a call to the service is an ``HpsearchError``.

Each error carries the HTTP ``status_code`` (``None`` when no answer came back) and the server's
``detail`` as sent. A 422 becomes :class:`ValidationError` with ``field``, the dotted path of the
field at fault taken from ``detail[].loc`` (``"space.lr.low"``), with the leading ``"body"`` /
``"query"`` / ``"path"`` part dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AuthError",
    "ConflictError",
    "HpsearchError",
    "NotFoundError",
    "RequestTimeout",
    "ServerError",
    "ServerUnavailable",
    "TrialPruned",
    "ValidationError",
    "error_from_response",
]

_LOC_PREFIXES = frozenset({"body", "query", "path", "header", "cookie"})


class HpsearchError(Exception):
    """A call to the hpsearch service failed."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: Any = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        return f"{self.message} (HTTP {self.status_code})"


class NotFoundError(HpsearchError):
    """404: no such study, trial or dataset."""


class AuthError(HpsearchError):
    """401 / 403: the token is missing or wrong."""


class ConflictError(HpsearchError):
    """409: the request does not fit the current state (study finished, trial already told...)."""


class ValidationError(HpsearchError):
    """422 (or 400): the request is well-formed but wrong; ``field`` names the part at fault."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.errors = list(errors)

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.field}: {base}" if self.field else base


class ServerError(HpsearchError):
    """5xx other than 503: the server failed while handling the request."""


class ServerUnavailable(HpsearchError):
    """The server cannot be reached (connection refused, DNS, reset) or answered 503."""


class RequestTimeout(ServerUnavailable):
    """No answer within the client's timeout."""


class TrialPruned(Exception):  # the name users know from Optuna
    """Raise inside an ``optimize`` objective to end the current trial as pruned."""


def _loc_to_field(loc: Any) -> str | None:
    if not isinstance(loc, (list, tuple)):
        return str(loc) if loc not in (None, "") else None
    parts = [str(p) for p in loc]
    while parts and parts[0] in _LOC_PREFIXES:
        parts = parts[1:]
    return ".".join(parts) or None


def _detail_message(detail: Any, fallback: str) -> tuple[str, str | None, list[dict[str, Any]]]:
    """(message, field, errors) out of a FastAPI ``detail`` (string, dict or list of errors)."""
    if isinstance(detail, str):
        return detail, None, []
    if isinstance(detail, dict):
        field = detail.get("field")
        if field is None and "loc" in detail:
            field = _loc_to_field(detail["loc"])
        msg = detail.get("msg") or detail.get("message") or fallback
        return str(msg), field, [detail]
    if isinstance(detail, list) and detail:
        errors = [e for e in detail if isinstance(e, dict)]
        if errors:
            first = errors[0]
            field = _loc_to_field(first.get("loc")) if "loc" in first else first.get("field")
            msg = str(first.get("msg") or first.get("message") or fallback)
            if len(errors) > 1:
                msg += f" (and {len(errors) - 1} more)"
            return msg, field, errors
        return "; ".join(str(d) for d in detail), None, []
    return fallback, None, []


def error_from_response(
    status_code: int,
    body: Any,
    *,
    reason: str = "",
    method: str | None = None,
    url: str | None = None,
) -> HpsearchError:
    """The error for a non-2xx answer; ``body`` is the decoded JSON (or text) of the answer."""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    fallback = reason or f"HTTP {status_code}"
    message, field, errors = _detail_message(detail, fallback)
    common: dict[str, Any] = {
        "status_code": status_code,
        "detail": detail,
        "method": method,
        "url": url,
    }
    if status_code == 422 or (status_code == 400 and field):
        return ValidationError(message, field=field, errors=errors, **common)
    cls: type[HpsearchError]
    if status_code in (401, 403):
        cls = AuthError
    elif status_code == 404:
        cls = NotFoundError
    elif status_code == 409:
        cls = ConflictError
    elif status_code == 503:
        cls = ServerUnavailable
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = HpsearchError
    return cls(message, **common)
