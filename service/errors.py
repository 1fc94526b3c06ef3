"""The one error type of the service layer; each subclass maps to an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Unauthorized(ServiceError):
    status_code = 401


class InvalidInput(ServiceError):
    """A request that is well-formed JSON but wrong in meaning; answered as a pydantic-style 422."""

    status_code = 422

    def __init__(self, message: str, loc: tuple[str | int, ...] | list[str | int]) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


def field_loc(field: str | None, prefix: tuple[str, ...] = ("body",)) -> tuple[str, ...]:
    """Turn a dotted field path from engine/samplers errors ("lr.low") into a pydantic loc."""
    parts = tuple(p for p in (field or "").split(".") if p)
    return prefix + parts
