"""Bad input against the real server (both backends): every case is a 4xx whose detail names the
field or the rule, never a 500, and creates nothing. Complements tests/service/
test_service_validation.py (in-process) with the limits, the body sizes and hostile uploads."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from hardening_helpers import caviar, create, finished, trials

ASK_TELL = {
    "mode": "ask_tell",
    "objective": {"metric": "score", "direction": "maximize"},
    "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "n_trials": 3,
}


def _lists(c) -> tuple[int, list[str]]:
    studies = c.get("/studies", params={"limit": 1}).json()["total"]
    datasets = sorted(d["name"] for d in c.get("/datasets").json()["items"])
    return studies, datasets


def _names_field(r, *words: str) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    text = r.text.lower()
    for w in words:
        assert w.lower() in text, (w, r.text)


SPACE_CASES = [
    ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "lr"),
    ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "scale": "log"}}, "lr"),
    ({"b": {"type": "float", "low": 0.5, "high": 1.5, "scale": "one_minus_log"}}, "b"),
    ({"bs": {"type": "power_of_two", "low": 10, "high": 64}}, "bs"),
    ({"o": {"type": "categorical", "choices": []}}, "o"),
    ({"x": {"type": "float", "low": 0, "high": 1, "condition": {"ghost": [1]}}}, "x"),
    ({"x": {"type": "float", "low": "a", "high": 1}}, "x"),
]

STUDY_CASES = [
    # (override of a caviar body, words the detail must name)
    ({"space": {"learning_rat": {"type": "float", "low": 0.1, "high": 1}}}, ["learning_rat"]),
    ({"objective": {"dataset": "nope", "metric": "dev_accuracy", "direction": "maximize"}}, ["dataset"]),
    ({"sampler": {"type": "bogus"}}, ["sampler"]),
    ({"pruner": {"type": "bogus"}}, ["pruner"]),
    ({"n_trials": 100_001}, ["n_trials", "HPSEARCH_MAX_TRIALS"]),
    ({"n_trials": "many"}, ["n_trials"]),
    ({"n_workers": 65}, ["n_workers", "HPSEARCH_MAX_STUDY_WORKERS"]),
    ({"n_workers": 0}, ["n_workers"]),
    ({"objective": {}}, ["objective"]),
    ({"space": None}, ["space"]),
]  # fmt: skip

FIXED_CASES = [
    ({"epochs": 100_001}, ["epochs", "HPSEARCH_MAX_EPOCHS"]),
    ({"layers": [8, 5000]}, ["layers", "HPSEARCH_MAX_LAYER_UNITS"]),
    ({"layers": [8] * 21}, ["layers", "HPSEARCH_MAX_LAYERS"]),
    ({"hidden_units": 4097, "n_layers": 2}, ["hidden_units", "HPSEARCH_MAX_LAYER_UNITS"]),
    ({"epochs": "ten"}, ["epochs"]),
]


def test_bad_study_bodies(main_server) -> None:
    with main_server.client() as c:
        before = _lists(c)
        for space, name in SPACE_CASES:
            r = c.post("/studies", json=caviar(2, 5) | {"space": space})
            assert r.status_code == 422, (space, r.text)
            assert r.json()["detail"][0]["loc"][:3] == ["body", "space", name], r.text
        for over, words in STUDY_CASES:
            body = caviar(2, 5) | over
            r = c.post("/studies", json={k: v for k, v in body.items() if v is not None})
            _names_field(r, *words)
        for fixed, words in FIXED_CASES:
            body = caviar(2, 5)
            body["objective"]["fixed"] = {"layers": [8]} | fixed
            _names_field(c.post("/studies", json=body), "fixed", *words)
        big_space = caviar(2, 5) | {
            "space": {"hidden_units": {"type": "int", "low": 8, "high": 9000}}
        }
        _names_field(c.post("/studies", json=big_space), "hidden_units", "HPSEARCH_MAX_LAYER_UNITS")
        # Malformed JSON, wrong content, a missing body.
        hdr = {"content-type": "application/json"}
        _names_field(c.post("/studies", content=b"{not json", headers=hdr), "json")
        _names_field(c.post("/studies", content=b"[1, 2]", headers=hdr), "body")
        _names_field(c.post("/studies"), "body")
        assert _lists(c) == before


def test_controls_on_a_trial_that_is_not_running(main_server) -> None:
    with main_server.client() as c:
        sid = create(c, caviar(1, 3, n_workers=1))
        finished(c, sid)
        (t,) = trials(c, sid)
        r = c.post(f"/trials/{t['id']}/control", json={"action": "pause"})
        assert r.status_code == 409 and "completed" in r.text, r.text
        r = c.post(f"/trials/{t['id']}/control", json={"action": "rollback", "epoch": 0})
        _names_field(r, "epoch", "checkpoint")
        _names_field(c.post(f"/trials/{t['id']}/control", json={"action": "fly"}), "action")
        _names_field(c.post(f"/trials/{t['id']}/control", json={"action": "rollback"}), "epoch")
        _names_field(
            c.post(f"/trials/{t['id']}/control", json={"action": "set", "params": {"layers": [3]}}),
            "layers",
        )
        assert c.post("/trials/999999/control", json={"action": "stop"}).status_code == 404
        ask = create(c, ASK_TELL)
        tid = c.post(f"/studies/{ask}/ask").json()["id"]
        assert c.post(f"/trials/{tid}/control", json={"action": "pause"}).status_code == 409


def test_oversized_bodies_are_413(main_server) -> None:
    with main_server.client() as c:
        before = _lists(c)
        huge = caviar(2, 5)
        huge["name"] = "x" * (1024 * 1024 + 10)
        r = c.post("/studies", json=huge)
        assert r.status_code == 413 and "HPSEARCH_MAX_BODY_BYTES" in r.text, r.text[:300]

        # Chunked, without a Content-Length: counted as it arrives.
        def chunks():
            yield b'{"name": "'
            for _ in range(40):
                yield b"y" * 32768
            yield b'"}'

        r = c.post("/studies", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text[:300]
        # Uploads have their own limit (256 KiB on this server).
        blob = b"a,y\n" + b"1,0\n" * 70_000
        r = c.post("/datasets", files={"file": ("big.csv", blob)})
        assert r.status_code == 413 and "HPSEARCH_MAX_UPLOAD_BYTES" in r.text, r.text[:300]
        assert _lists(c) == before


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/hpsearch-hardening-pwned",))


@pytest.mark.parametrize(
    ("filename", "content", "words"),
    [
        ("ragged.csv", b"a,b,y\n1,2,0\n1,2\n3,4,1\n", ["file"]),
        ("text.csv", b"a,b,y\n1,2,0\n1,hello,1\n3,4,1\n", ["file", "hello"]),
        ("empty.csv", b"", ["file", "empty"]),
        ("obj.npz", _npz(X=np.array([[1], [2]], dtype=object), y=np.array([0, 1])), ["file"]),
        ("nokeys.npz", _npz(A=np.zeros((3, 2))), ["file"]),
        ("pickle.npz", pickle.dumps(_Boom()), ["file"]),
        ("data.pkl", pickle.dumps(_Boom()), ["file", "csv"]),
    ],
)
def test_bad_uploads(main_server, filename, content, words) -> None:
    marker = Path("/tmp/hpsearch-hardening-pwned")
    marker.unlink(missing_ok=True)
    with main_server.client() as c:
        before = _lists(c)
        r = c.post("/datasets", files={"file": (filename, content)})
        _names_field(r, *words)
        assert r.status_code == 422, r.text
        assert _lists(c) == before
    assert not marker.exists(), "a client's pickle was unpickled"


def test_upload_names_are_chosen_by_the_server(main_server, tmp_path) -> None:
    data_dir = Path(main_server.data_dir).resolve()
    outside = [data_dir.parent / "evil.csv", data_dir.parent.parent / "evil.csv"]
    with main_server.client() as c:
        r = c.post(
            "/datasets",
            files={"file": ("../../evil.csv", b"a,b,y\n" + b"1,2,0\n3,4,1\n" * 5)},
        )
        assert r.status_code == 201, r.text
        got = r.json()
        assert "/" not in got["name"] and ".." not in got["name"]
        assert got["original_filename"] == "evil.csv"
    for p in outside:
        assert not p.exists(), p
    stored = list((data_dir / "datasets").iterdir())
    assert all(p.resolve().is_relative_to(data_dir) for p in stored)
    assert not any(p.name == "evil.csv" for p in data_dir.rglob("*"))
