"""Postgres goes away for a few seconds: the service answers 503 meanwhile, reconnects, loses no
finished trial and the sweep completes. The service reaches Postgres through a TCP proxy of the
test's own, which the test cuts."""

from __future__ import annotations

import time

import httpx
import pytest
from hardening_helpers import caviar, create, finished, history, trials, wait_for
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

OUTAGE_SECONDS = 4.0


@pytest.mark.postgres
def test_database_outage_is_503_then_recovers(fresh_db, launch) -> None:
    url = make_url(fresh_db("postgres"))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        srv = launch(via_proxy).wait_ready()
        with srv.client() as c:
            sid = create(c, caviar(n_trials=6, epochs=25, n_workers=2))
            wait_for(
                lambda: sum(t["state"] == "completed" for t in trials(c, sid)) >= 2,
                timeout=90,
                what="two trials completed",
            )
            before = {
                t["id"]: (t["value"], history(c, t["id"]))
                for t in trials(c, sid)
                if t["state"] == "completed"
            }

            proxy.cut()
            t0 = time.monotonic()
            seen_503 = 0
            while time.monotonic() - t0 < OUTAGE_SECONDS:
                r = c.get(f"/studies/{sid}")
                assert r.status_code == 503, (r.status_code, r.text)
                assert "database unavailable" in r.json()["detail"]
                assert r.headers.get("retry-after")
                seen_503 += 1
                h = httpx.get(srv.base_url + "/healthz", timeout=10)
                assert h.status_code == 503
                time.sleep(0.3)
            assert seen_503 >= 2
            proxy.restore()

            wait_for(
                lambda: c.get(f"/studies/{sid}").status_code == 200, timeout=20, what="reconnect"
            )
            done = finished(c, sid, timeout=120)
            assert done["state"] == "completed", done
            assert done["progress"]["total"] == 6
            end = {t["id"]: t for t in trials(c, sid)}
            for tid, (value, rows) in before.items():
                assert end[tid]["state"] == "completed" and end[tid]["value"] == value
                assert history(c, tid) == rows
    finally:
        proxy.close()
