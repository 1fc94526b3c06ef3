"""Settings of the service, read from HPSEARCH_* environment variables (design.md §6)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPSEARCH_", env_ignore_empty=True, extra="ignore")

    database_url: str = "sqlite:///./hpsearch.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # When set, every /api call needs "Authorization: Bearer <token>"; /healthz stays open so
    # load balancers can probe without the secret.
    api_token: str | None = None
    data_dir: Path = Path("./hpsearch-data")
    max_workers: int = Field(default_factory=_default_workers, ge=1)
    dask_scheduler: str | None = None
    # Off only in tests and for ask/tell-only deployments: no study runners, no worker pool.
    run_scheduler: bool = True
    log_level: str = "info"
    # A running trial whose heartbeat is older than this is considered lost.
    heartbeat_timeout: float = Field(default=60.0, gt=0)

    # -- hardening (docs in service/core/security.py): request and trial limits, CORS.
    # Request bodies: JSON and other non-upload bodies / dataset uploads (413 beyond).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Study limits (422 naming the field beyond).
    max_trials: int = Field(default=100_000, ge=1)
    # Generous: long Panda runs (stopped by hand) are a normal use; 100000 keeps them possible.
    max_epochs: int = Field(default=100_000, ge=1)
    max_layer_units: int = Field(default=4096, ge=1)
    max_layers: int = Field(default=20, ge=1)
    max_study_workers: int = Field(default=64, ge=1)
    # Per-trial limits of the local worker processes; None: unlimited.
    trial_memory_mb: int | None = Field(default=None, ge=16)
    trial_timeout_s: float | None = Field(default=None, gt=0)
    # Comma-separated allowed origins ("*" for any); empty: CORS off.
    cors_origins: str = ""


def get_settings() -> Settings:
    return Settings()
