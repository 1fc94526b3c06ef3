"""`hpsearch serve`: migrate the database, then run the app under uvicorn."""

from __future__ import annotations

from service.core.config import Settings
from service.core.db import upgrade
from service.executors import DaskConfigError, check_settings


def run(settings: Settings | None = None) -> None:
    import uvicorn

    from service.main import create_app

    settings = settings or Settings()
    try:
        check_settings(settings)  # HPSEARCH_DASK_SCHEDULER with a SQLite file: refuse to start
    except DaskConfigError as e:
        raise SystemExit(f"hpsearch serve: configuration error: {e.message}") from None
    upgrade(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)


def main() -> None:
    """Entry point for `python -m service.server` (used by the tests' server process)."""
    run(Settings())


if __name__ == "__main__":
    main()
