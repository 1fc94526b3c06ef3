"""The web dashboard: pages at `/`, static files, the bundled plotly.js and a few JSON endpoints.

Usage: ``mount_dashboard(app)`` on the app from ``service.main.create_app``. No build step, no
CDN: templates and vanilla JS live in this package and plotly.js comes from the `plotly` Python
package, so the dashboard works air-gapped.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["mount_dashboard"]


def mount_dashboard(app: FastAPI) -> None:
    """Add the dashboard to ``app`` (idempotent)."""
    if getattr(app.state, "dashboard_mounted", False):
        return
    from service.dashboard.router import STATIC_DIR, api, pages

    app.include_router(api)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="dashboard-static")
    app.state.dashboard_mounted = True
