"""End-to-end: with HPSEARCH_API_TOKEN set, the pages ask for the token, keep it in
sessionStorage and send it as a bearer header on every call (never in a URL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser

TOKEN = "dash-test-token-9f3a"


@pytest.fixture(scope="module")
def token_server(start_dash_server: Any) -> Any:
    return start_dash_server(HPSEARCH_API_TOKEN=TOKEN)


def test_token_login_and_bearer_header(browser, token_server, screenshot):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=token_server.base_url + "/api/v1", headers=headers) as api:
        from dashboard_seed import make_simple_study

        study = make_simple_study(api, "behind-a-token", n_trials=3)
        trial_id = study["best_trial"]["id"]

    ctx = browser.new_context()
    page = ctx.new_page()
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    try:
        page.goto(token_server.base_url + "/")
        page.wait_for_selector("#banner:not([hidden])")
        assert "token" in page.inner_text("#banner").lower()

        page.fill("#token-input", TOKEN)
        page.click("#token-save")
        page.wait_for_selector(f"#studies-table tr[data-study-id='{study['id']}']")
        assert page.evaluate("sessionStorage.getItem('hpsearch_token')") == TOKEN
        screenshot(page, "studies-with-token")

        # The live view streams over fetch() with the header too.
        page.goto(f"{token_server.base_url}/trials/{trial_id}")
        page.wait_for_function("window.__live && window.__live.state === 'completed'")
        page.wait_for_function("window.__live.events > 0")
        api_calls = [(u, h) for u, h in sent if "/api/v1/" in u]
        assert any("/stream" in u for u, _ in api_calls)
        after_login = [(u, h) for u, h in api_calls if h is not None]
        assert after_login and all(h == f"Bearer {TOKEN}" for _, h in after_login)
        assert any(u.endswith("/stream") for u, _ in after_login)
        assert all(TOKEN not in u for u, _ in sent)
    finally:
        ctx.close()
