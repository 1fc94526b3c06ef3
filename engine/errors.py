"""The engine's one error type and its narrower kinds.

Every exception the engine raises on purpose is an :class:`EngineError`; a validation error also
carries ``field``, the hyperparameter (or data field) at fault, so the service can answer 422
naming it. A diverging run is *not* an error: ``train`` ends it with ``status="diverged"``.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(EngineError, ValueError):
    """A hyperparameter is unknown or has a bad value; ``field`` names it."""


class DataError(EngineError, ValueError):
    """A dataset is malformed (ragged CSV row, text cell, wrong keys, shape mismatch...)."""


class CheckpointError(EngineError):
    """A checkpoint blob cannot be read or does not fit the configuration it is restored into."""
