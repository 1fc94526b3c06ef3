"""The single error family of the samplers layer.

The service turns any ``SamplerError`` with a ``field`` into a 422 naming that field, so every
validation failure says *which* field and *which* rule.
"""

from __future__ import annotations


class SamplerError(Exception):
    """Base class of every error raised by ``samplers``."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SpaceError(SamplerError):
    """An invalid search-space spec; ``field`` is e.g. ``"learning_rate.low"``."""


class SamplerConfigError(SamplerError):
    """An invalid sampler or pruner config; ``field`` is e.g. ``"sampler.points_per_axis"``."""
