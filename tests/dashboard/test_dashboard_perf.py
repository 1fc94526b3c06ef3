"""Measured check of a requirement: a 10,000-trial study page is interactive in < 2 s.

"Interactive" is measured in the browser with performance.now() (milliseconds since the
navigation started): the moment the study header and the first page of the server-sorted trials
table are rendered with their handlers attached. The plots follow without blocking that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.browser

BUDGET_MS = 2000.0


@pytest.fixture(scope="module")
def big_study(api, dash_server) -> dict[str, Any]:
    from dashboard_seed import bulk_study

    return bulk_study(api, dash_server.database_url, n=10_000, epochs=5)


def _invalidate_server_caches(database_url: str, study_id: int) -> None:
    """Make the server recompute the study's plot data and boxes, as on a first visit: their
    cache key holds the study's updated_at. (The plot-data request runs alongside the table's
    and competes with it for the server's CPU, so a warm cache would flatter the timing.)"""
    from sqlalchemy import create_engine, update

    from service.models import Study

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Study).where(Study.id == study_id).values(updated_at=datetime.now(UTC))
            )
    finally:
        engine.dispose()


def _load(browser: Any, url: str, watch_errors: Any) -> tuple[float, Any, Any]:
    """One load in a fresh browser context (cold HTTP cache: plotly.js and all), its console
    errors and exceptions watched from before the navigation."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        errs = watch_errors(page)
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        ready = float(page.evaluate("window.__dash.ready"))
        return ready, ctx, errs
    except Exception:
        ctx.close()
        raise


def test_ten_thousand_trial_study_is_interactive_in_under_two_seconds(
    browser, big_study, dash_server, api, watch_page_errors, screenshot
):
    assert big_study["progress"]["total"] == 10_000
    url = f"{dash_server.base_url}/studies/{big_study['id']}"

    # Every measured load is a first visit: fresh browser context, server caches of the study
    # invalidated. The better of two such loads is asserted because this machine is shared
    # (2 cores, other suites running beside this one): a neighbour's burst can stall one load
    # of ours, while a page that is really too slow misses the budget in both.
    timings: list[float] = []
    for _ in range(2):
        _invalidate_server_caches(dash_server.database_url, big_study["id"])
        ready, ctx, errs = _load(browser, url, watch_page_errors)
        timings.append(ready)
        if ready < BUDGET_MS:
            break
        try:
            assert not errs.errors, "browser console errors:\n" + "\n".join(errs.errors)
        finally:
            ctx.close()
    page = ctx.pages[0]
    try:
        assert page.locator("#trials-table tbody tr[data-number]").count() == 50
        assert "of 10000" in page.inner_text("#trials-page-info")
        assert page.inner_text("#study-progress") == "10000/10000"
        print(f"interactive after {timings} ms")
        assert min(timings) < BUDGET_MS, f"interactive after {timings} ms"

        # The plots arrive afterwards, from downsampled data.
        page.wait_for_selector("body[data-plots-ready='1']", timeout=120_000)
        n = page.evaluate(
            "document.getElementById('plot-param-learning_rate').data"
            ".filter(t => !t.fill).reduce((s, t) => s + t.x.length, 0)"
        )
        assert 0 < n <= 2000
        assert page.evaluate("window.__dash.paramPlots") > 0
        print("plot timings (ms since navigation):", page.evaluate("window.__dash.timings"))
        screenshot(page, "study-10k")
        assert not errs.errors, "browser console errors:\n" + "\n".join(errs.errors)
    finally:
        ctx.close()

    # What the page was made of: none of the server's answers ships every trial.
    pd = api.get(f"/studies/{big_study['id']}/plot-data").json()
    assert pd["n_total"] == 10_000 and pd["downsampled"] and pd["n_shown"] <= 2000
    assert "history" not in pd and "history" not in pd["trials"]
