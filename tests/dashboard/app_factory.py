"""The app the dashboard tests serve: `uvicorn --factory app_factory:create_app`.

It runs the service's own factory and mounts the dashboard on it (idempotent, so this keeps
working once create_app mounts the dashboard itself).
"""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    from service.core.config import Settings
    from service.core.db import upgrade
    from service.dashboard import mount_dashboard
    from service.main import create_app as service_app

    settings = Settings()
    upgrade(settings.database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = service_app(settings)
    mount_dashboard(app)
    return app
