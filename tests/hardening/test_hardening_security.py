"""Security of the real server: loopback bind by default, bearer token on every /api call and
never in the logs, CORS off unless configured."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path

import httpx
import psutil
from hardening_helpers import free_port, wait_for

from service.core.config import Settings


def test_settings_bind_loopback_by_default(monkeypatch) -> None:
    monkeypatch.delenv("HPSEARCH_HOST", raising=False)
    assert Settings().host == "127.0.0.1"
    assert Settings().cors_origins == ""
    assert Settings().max_body_bytes == 1024 * 1024


def _non_loopback_ip() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return str(a.address)
    return None


def test_hpsearch_serve_without_flags_listens_on_loopback_only(backend, fresh_db, launch) -> None:
    exe = shutil.which("hpsearch", path=str(Path(os.sys.executable).parent))
    assert exe, "the hpsearch console script is installed in the venv"
    port = free_port()
    srv = launch(
        fresh_db(backend),
        cmd=[exe, "serve"],
        port=port,
        env={"HPSEARCH_HOST": None, "HPSEARCH_MAX_WORKERS": "1"},
    )
    assert "HPSEARCH_HOST" not in srv.env
    srv.wait_ready()
    proc = psutil.Process(srv.pid)
    listening = wait_for(
        lambda: [
            c.laddr
            for c in proc.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ],
        what="the listening socket",
    )
    assert {a.ip for a in listening} == {"127.0.0.1"}, listening
    other = _non_loopback_ip()
    if other is not None:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((other, port)) != 0


def test_token_required_and_never_logged(backend, fresh_db, launch) -> None:
    token = "tok-" + secrets.token_hex(16)
    srv = launch(
        fresh_db(backend),
        env={
            "HPSEARCH_API_TOKEN": token,
            "HPSEARCH_LOG_LEVEL": "debug",
            "HPSEARCH_CORS_ORIGINS": "http://ok.example",
        },
    ).wait_ready()
    base = srv.base_url
    assert httpx.get(base + "/healthz").status_code == 200
    spec = httpx.get(base + "/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        url = base + path.replace("{study_id}", "1").replace("{trial_id}", "1")
        for method in ops:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                r = httpx.request(method.upper(), url, headers=headers, json={})
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert token not in r.text
            checked += 1
    assert checked >= 12
    good = {"Authorization": f"Bearer {token}"}
    assert httpx.get(base + "/api/v1/studies", headers=good).status_code == 200
    assert httpx.get(base + "/api/v1/studies/424242", headers=good).status_code == 404
    # CORS configured: the allowed origin gets the header, another one does not.
    r = httpx.get(base + "/api/v1/studies", headers=good | {"Origin": "http://ok.example"})
    assert r.headers.get("access-control-allow-origin") == "http://ok.example"
    r = httpx.get(base + "/api/v1/studies", headers=good | {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    for page in ("/", "/openapi.json"):
        assert token not in httpx.get(base + page).text
    srv.stop()
    log = srv.log()
    assert "GET /api/v1/studies" in log  # the access log was on, and captured
    assert token not in log


def test_cors_off_by_default(main_server) -> None:
    origin = {"Origin": "http://evil.example"}
    r = httpx.get(main_server.base_url + "/api/v1/studies", headers=origin)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        main_server.base_url + "/api/v1/studies",
        headers=origin | {"Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers
