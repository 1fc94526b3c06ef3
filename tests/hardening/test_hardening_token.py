"""The bearer-token check against hostile Authorization headers, on a real server per backend:
non-ASCII or undecodable bytes, malformed headers and a configured non-ASCII token all get a 401
(never a 500) unless the header is exactly `Bearer <token>` (the token's UTF-8 bytes); /healthz
stays open whatever the header.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from service.api.deps import token_matches

# An ordinary ASCII token, and one with non-ASCII characters (configured through the environment,
# sent by the client as its UTF-8 bytes).
TOKENS = {
    "ascii": "tok-" + secrets.token_hex(12),
    "non-ascii": "tök€n-ünïcode-" + secrets.token_hex(8),
}


@pytest.fixture(scope="module", params=sorted(TOKENS))
def token_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def token_server(backend: str, token_kind: str, fresh_db, launch):
    token = TOKENS[token_kind]
    srv = launch(
        fresh_db(backend),
        env={"HPSEARCH_API_TOKEN": token, "HPSEARCH_MAX_WORKERS": "1"},
    ).wait_ready()
    yield srv, token
    srv.stop()  # by its PID, now rather than at the end of the session


def _get(base: str, path: str, authorization: bytes | None) -> httpx.Response:
    headers = [] if authorization is None else [(b"Authorization", authorization)]
    return httpx.get(base + path, headers=headers, timeout=30.0)


def _bad_headers(token: str) -> dict[str, bytes | None]:
    raw = token.encode("utf-8")
    cases: dict[str, bytes | None] = {
        "none": None,
        "empty": b"",
        "no scheme": raw,
        "scheme only": b"Bearer",
        "basic": b"Basic x",
        "basic with the token": b"Basic " + raw,
        "token then scheme": raw + b" Bearer",
        "wrong ascii": b"Bearer wrong",
        "e-acute utf-8": "Bearer é".encode(),
        "e-acute latin-1": b"Bearer \xe9",
        "not utf-8": b"Bearer \xff\xfe\xfd",
        "utf-8 cut in a character": b"Bearer " + "ö€".encode()[:-1],
        "token prefix": b"Bearer " + raw[:-1],
        "token plus one byte": b"Bearer " + raw + b"x",
        "token plus non-ascii": b"Bearer " + raw + "é".encode(),
        # the UTF-8 bytes read as latin-1 and encoded again (what a str-based check compared)
        "double-encoded": b"Bearer " + raw.decode("latin-1").encode("utf-8"),
        "token in latin-1": b"Bearer " + token.encode("latin-1", "replace"),
        "token upper-cased": b"Bearer " + token.upper().encode("utf-8"),
    }
    # For an ASCII token some of these are the token itself: those are not bad.
    return {k: v for k, v in cases.items() if v != b"Bearer " + raw}


def test_hostile_authorization_headers_get_401_never_500(token_server) -> None:
    srv, token = token_server
    raw = token.encode("utf-8")
    cases = _bad_headers(token)
    for path in ("/api/v1/studies", "/api/v1/studies/1/trials"):
        for name, header in cases.items():
            r = _get(srv.base_url, path, header)
            assert r.status_code == 401, (name, path, r.status_code, r.text)
            assert r.headers.get("www-authenticate") == "Bearer", (name, r.headers)
            assert r.json() == {"detail": "missing or wrong bearer token"}, (name, r.text)
    # A body-carrying call is refused before its body is looked at.
    r = httpx.post(
        srv.base_url + "/api/v1/studies",
        json={},
        headers=[(b"Authorization", b"Bearer \xe9")],
        timeout=30.0,
    )
    assert r.status_code == 401, r.text
    log = srv.log()
    assert "Traceback" not in log and "TypeError" not in log, log[-3000:]
    assert token not in log and raw.decode("latin-1") not in log


def test_exact_token_is_accepted(token_server) -> None:
    srv, token = token_server
    raw = token.encode("utf-8")
    for header in (
        b"Bearer " + raw,
        b"bearer " + raw,  # the scheme is case-insensitive (RFC 7235)
        b"BEARER " + raw,
        b"Bearer   " + raw,  # spaces before the token are not part of it
    ):
        r = _get(srv.base_url, "/api/v1/studies", header)
        assert r.status_code == 200, (header, r.status_code, r.text)
        assert r.json()["items"] == []
    assert _get(srv.base_url, "/api/v1/studies/424242", b"Bearer " + raw).status_code == 404


def test_healthz_stays_open_whatever_the_header(token_server) -> None:
    srv, token = token_server
    for header in (None, b"", b"Bearer \xe9", b"Basic x", b"Bearer " + token.encode("utf-8")):
        r = _get(srv.base_url, "/healthz", header)
        assert r.status_code == 200, (header, r.text)
        assert r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "token",
    [*TOKENS.values(), "é", "\udce9-from-undecodable-env"],
    ids=[*TOKENS, "e-acute", "surrogate-escaped"],
)
def test_token_matches_bytes_only(token: str) -> None:
    """The compare itself, without a server: bytes against bytes, never a TypeError."""
    expected = token.encode("utf-8", "surrogateescape")
    assert token_matches(b"Bearer " + expected, token)
    assert token_matches(b"  bearer   " + expected + b" ", token)
    for header in (
        b"",
        b"Bearer",
        expected,
        b"Basic " + expected,
        b"Bearer \xe9",
        b"Bearer \xc3\xa9",
        b"Bearer \xff",
        b"Bearer " + expected + b"\xe9",
        b"Bearer " + expected[:-1],
    ):
        if header == b"Bearer " + expected:
            continue  # the token "é" is itself b"\xc3\xa9"
        assert not token_matches(header, token), header
