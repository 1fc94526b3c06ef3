"""Dataset upload (CSV, NPZ; never pickle) and listing, through the real server."""

from __future__ import annotations

import io

import httpx
import numpy as np


def _csv(n: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    lines = ["a,b,c,label"] + [
        f"{r[0]:.5f},{r[1]:.5f},{r[2]:.5f},{t}" for r, t in zip(X, y, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def _npz(pickled: bool = False) -> bytes:
    buf = io.BytesIO()
    X = np.random.default_rng(1).normal(size=(30, 4))
    y = np.arange(30) % 3
    if pickled:
        np.savez(buf, X=np.array([{"evil": 1}] * 30, dtype=object), y=y)
    else:
        np.savez(buf, X=X, y=y)
    return buf.getvalue()


def test_upload_csv_and_npz_then_list(api: httpx.Client) -> None:
    r = api.post(
        "/datasets", files={"file": ("my data.csv", _csv(), "text/csv")}, data={"target": "label"}
    )
    assert r.status_code == 201, r.text
    csv_ds = r.json()
    assert csv_ds["name"].startswith("my-data")
    assert csv_ds["format"] == "csv" and csv_ds["task"] == "binary"
    assert (csv_ds["n_samples"], csv_ds["n_features"]) == (40, 3)

    r = api.post(
        "/datasets",
        files={"file": ("three.npz", _npz(), "application/octet-stream")},
        data={"name": "three-class"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "three-class" and r.json()["n_classes"] == 3

    names = {d["name"]: d for d in api.get("/datasets").json()["items"]}
    assert names["moons"]["builtin"] is True
    assert names[csv_ds["name"]]["builtin"] is False
    assert "three-class" in names

    # The upload is usable as an objective dataset.
    body = {
        "mode": "caviar",
        "objective": {
            "dataset": csv_ds["name"],
            "metric": "dev_accuracy",
            "direction": "maximize",
            "fixed": {"epochs": 2, "layers": [4]},
        },
        "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1}},
        "n_trials": 1,
    }
    assert api.post("/studies", json=body).status_code == 201


def test_bad_uploads_are_422(api: httpx.Client) -> None:
    cases = [
        (("x.npz", _npz(pickled=True), "application/octet-stream"), {}, "file"),
        (("x.csv", b"a,b\n1,oops\n", "text/csv"), {}, "file"),
        (("x.csv", b"", "text/csv"), {}, "file"),
        (("x.npz", b"PK\x03\x04garbage", "application/octet-stream"), {}, "file"),
        (("x.exe", b"MZ....", "application/octet-stream"), {}, "file"),
        (("x.csv", _csv(), "text/csv"), {"name": "../../etc/passwd"}, "name"),
        (("x.csv", _csv(), "text/csv"), {"name": "moons"}, "name"),
        (("x.csv", _csv(), "text/csv"), {"task": "astrology"}, "task"),
    ]
    for file, data, field in cases:
        r = api.post("/datasets", files={"file": file}, data=data)
        assert r.status_code == 422, (file[0], data, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", field], r.text
    r = api.post("/datasets", data={"name": "nofile"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"]


def test_duplicate_name_is_409(api: httpx.Client) -> None:
    files = {"file": ("d.csv", _csv(), "text/csv")}
    assert api.post("/datasets", files=files, data={"name": "dup-name"}).status_code == 201
    files = {"file": ("d.csv", _csv(), "text/csv")}
    assert api.post("/datasets", files=files, data={"name": "dup-name"}).status_code == 409
