"""Caviar and Panda studies run by the server's scheduler in loky worker processes."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from service_helpers import iter_sse, wait_for

FIXED = {"epochs": 4, "layers": [8], "batch_size": 64}


def wait_study(api: httpx.Client, sid: int, states=("completed", "failed", "stopped")) -> dict:
    def done():
        s = api.get(f"/studies/{sid}").json()
        return s if s["state"] in states else None

    return wait_for(done)


def test_caviar_study_runs_to_completion(api: httpx.Client) -> None:
    body = {
        "name": "moons-caviar",
        "mode": "caviar",
        "objective": {
            "dataset": "moons",
            "metric": "dev_accuracy",
            "direction": "maximize",
            "human_level_error": 0.0,
            "fixed": FIXED,
        },
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 0.5, "scale": "log"}},
        "sampler": {"type": "random"},
        "n_trials": 3,
        "n_workers": 2,
        "seed": 0,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    study = wait_study(api, sid)
    assert study["state"] == "completed", study
    assert study["progress"]["completed"] == 3
    best = study["best_trial"]
    assert best is not None and 0.0 <= best["value"] <= 1.0
    trial = api.get(f"/trials/{best['id']}").json()
    assert [h["epoch"] for h in trial["history"]] == [1, 2, 3, 4]
    assert {"train_loss", "dev_loss", "dev_accuracy", "learning_rate"} <= set(trial["history"][0])
    assert trial["value"] == trial["metrics"]["dev_accuracy"]
    assert trial["diagnosis"]["verdict"] in {
        "high_bias",
        "high_variance",
        "high_bias_and_variance",
        "ok",
    }
    # A caviar study's trials are the server's: no ask, no report.
    assert api.post(f"/studies/{sid}/ask").status_code == 409
    assert (
        api.post(f"/trials/{best['id']}/report", json={"epoch": 1, "value": 1}).status_code == 409
    )


def test_caviar_diverged_trials_do_not_stop_the_study(api: httpx.Client) -> None:
    # Plain gradient descent on moons (seed 0): 0.05 and 0.5 train, 100 overflows in epoch 2,
    # 1e4 already in epoch 1. The grid runs each learning rate once.
    body = {
        "name": "moons-diverging",
        "mode": "caviar",
        "objective": {
            "dataset": "moons",
            "metric": "dev_accuracy",
            "direction": "maximize",
            "fixed": FIXED | {"optimizer": "gd"},
        },
        "space": {"learning_rate": {"type": "categorical", "choices": [0.05, 0.5, 100.0, 1e4]}},
        "sampler": {"type": "grid"},
        "n_trials": 4,
        "n_workers": 2,
        "seed": 0,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    study = wait_study(api, sid)
    assert study["state"] == "completed", study
    p = study["progress"]
    assert (p["total"], p["completed"], p["diverged"], p["failed"]) == (4, 2, 2, 0), p
    items = api.get(f"/studies/{sid}/trials").json()["items"]
    by_lr = {t["params"]["learning_rate"]: api.get(f"/trials/{t['id']}").json() for t in items}
    assert sorted(by_lr) == [0.05, 0.5, 100.0, 1e4]
    for lr in (0.05, 0.5):
        t = by_lr[lr]
        assert t["state"] == "completed" and t["error"] is None, t
        assert t["diverged_epoch"] is None and 0.0 <= t["value"] <= 1.0
        assert [h["epoch"] for h in t["history"]] == [1, 2, 3, 4]
    for lr, epoch in ((100.0, 2), (1e4, 1)):
        t = by_lr[lr]
        assert t["state"] == "diverged", t
        assert t["diverged_epoch"] == epoch, t
        assert f"epoch {epoch}" in t["error"], t
        assert t["value"] is None
        # The finite epochs before the divergence are kept; the NaN epoch is not a row.
        assert [h["epoch"] for h in t["history"]] == list(range(1, epoch)), t["history"]
    assert study["best_trial"]["params"]["learning_rate"] in (0.05, 0.5)
    # Ranked last: sorting by value puts the diverged trials (no value) after the others.
    ranked = api.get(f"/studies/{sid}/trials", params={"sort": "best"}).json()["items"]
    assert [t["state"] for t in ranked] == ["completed", "completed", "diverged", "diverged"]


def test_bad_engine_params_are_422(api: httpx.Client) -> None:
    body = {
        "mode": "caviar",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        "space": {"warp_factor": {"type": "float", "low": 0.0, "high": 1.0}},
        "n_trials": 2,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "space", "warp_factor"]
    body["space"] = {"learning_rate": {"type": "float", "low": 1e-3, "high": 0.1}}
    body["objective"]["fixed"] = {"optimizer": "teleport"}
    r = api.post("/studies", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:3] == ["body", "objective", "fixed"]


def _sse_events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        event, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if event:
            out.append((event, data))
    return out


def panda(api: httpx.Client, epochs: int, **params) -> tuple[int, int]:
    body = {
        "mode": "panda",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        "params": {"epochs": epochs, "layers": [8], "batch_size": 32, "learning_rate": 0.05}
        | params,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def trial_id():
        items = api.get(f"/studies/{sid}/trials").json()["items"]
        return items[0]["id"] if items else None

    return sid, wait_for(trial_id)


def test_panda_stream_and_controls(api: httpx.Client, server) -> None:
    # Far more epochs than the test lets it run: it ends by the stop control, never by itself.
    sid, tid = panda(api, epochs=100_000)
    # Wait for a few epochs, then pause.
    wait_for(lambda: len(api.get(f"/trials/{tid}").json()["history"]) >= 3)
    assert api.post(f"/trials/{tid}/control", json={"action": "pause"}).status_code == 202
    wait_for(lambda: api.get(f"/trials/{tid}").json()["state"] == "paused")
    n_paused = len(api.get(f"/trials/{tid}").json()["history"])
    time.sleep(0.6)
    assert len(api.get(f"/trials/{tid}").json()["history"]) == n_paused
    r = api.post(
        f"/trials/{tid}/control", json={"action": "set", "params": {"learning_rate": 0.01}}
    )
    assert r.status_code == 202
    assert api.post(f"/trials/{tid}/control", json={"action": "resume"}).status_code == 202
    wait_for(lambda: len(api.get(f"/trials/{tid}").json()["history"]) >= n_paused + 2)
    hist = api.get(f"/trials/{tid}").json()["history"]
    assert hist[-1]["learning_rate"] == pytest.approx(0.01)
    bad = api.post(f"/trials/{tid}/control", json={"action": "set", "params": {"layers": [3]}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "params", "layers"]
    assert api.post(f"/trials/{tid}/control", json={"action": "stop"}).status_code == 202
    final = wait_for(
        lambda: (t := api.get(f"/trials/{tid}").json())["state"] not in ("running", "paused") and t
    )
    assert final["state"] == "stopped"
    # A late client gets every epoch so far, then the end event.
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        text = c.get(f"/api/v1/trials/{tid}/stream").text
    events = _sse_events(text)
    epochs = [d["epoch"] for e, d in events if e == "epoch"]
    assert epochs == [h["epoch"] for h in final["history"]]
    assert events[-1][0] == "end" and events[-1][1]["state"] == "stopped"
    # A reconnecting client resumes after the last epoch it saw.
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        text = c.get(f"/api/v1/trials/{tid}/stream", headers={"Last-Event-ID": "2"}).text
    resumed = [d["epoch"] for e, d in _sse_events(text) if e == "epoch"]
    assert resumed == epochs[2:]
    assert api.post(f"/trials/{tid}/control", json={"action": "stop"}).status_code == 409
    assert api.get(f"/studies/{sid}").json()["state"] in ("completed", "stopped")
    # Every control is recorded with the epoch it applied at (the refused ones are not): the
    # pause after epoch n_paused, the set and the resume read while paused there, and the stop
    # after the last epoch. The set shows in the history from the next epoch on.
    controls = _controls(api, tid)
    assert [c["action"] for c in controls] == ["pause", "set", "resume", "stop"], controls
    assert [c["applied_epoch"] for c in controls] == [n_paused] * 3 + [len(final["history"])]
    assert controls[1]["payload"] == {"params": {"learning_rate": 0.01}}
    assert final["history"][n_paused - 1]["learning_rate"] == pytest.approx(0.05)
    assert final["history"][n_paused]["learning_rate"] == pytest.approx(0.01)


def _controls(api: httpx.Client, tid: int) -> list[dict]:
    r = api.get(f"/trials/{tid}/controls")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert all(c["applied_at"] is not None for c in items), items
    return items


def test_panda_stream_mid_run(api: httpx.Client, server) -> None:
    """A client that connects at epoch >= 3 gets epochs 1..k, then the live ones (through a
    pause and a resume) without a gap or a repeat, then the final state."""
    _, tid = panda(api, epochs=100_000)
    wait_for(lambda: len(api.get(f"/trials/{tid}").json()["history"]) >= 3)
    k0 = len(api.get(f"/trials/{tid}").json()["history"])

    def control(action: str) -> None:
        assert api.post(f"/trials/{tid}/control", json={"action": action}).status_code == 202

    epochs: list[int] = []
    states: list[str] = []
    end = None
    paused_at = None
    resumed = stopped = False
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as c,
        c.stream("GET", f"/api/v1/trials/{tid}/stream") as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for event, data in iter_sse(resp.iter_lines()):
            if event == "epoch":
                epochs.append(data["epoch"])
                assert {"train_loss", "dev_loss", "learning_rate"} <= set(data), data
            elif event == "state":
                states.append(data["state"])
            elif event == "end":
                end = data
                break
            if paused_at is None and epochs and epochs[-1] >= k0 + 2:
                paused_at = -1
                control("pause")
            elif states[-1:] == ["paused"] and not resumed:
                paused_at, resumed = epochs[-1], True
                control("resume")
            elif resumed and not stopped and epochs[-1] >= paused_at + 2:
                stopped = True
                control("stop")
    final = api.get(f"/trials/{tid}").json()
    assert end is not None and end["state"] == "stopped" and end["id"] == tid, end
    assert final["state"] == "stopped"
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # no gap, no repeat
    assert epochs == [h["epoch"] for h in final["history"]]
    assert len(epochs) >= paused_at + 2 > k0  # live epochs came after the pause and resume
    assert states == ["running", "paused", "running", "stopped"], states


def test_panda_rollback(api: httpx.Client) -> None:
    _, tid = panda(api, epochs=100_000)

    def history() -> list[dict]:
        return api.get(f"/trials/{tid}").json()["history"]

    wait_for(lambda: len(history()) >= 6)
    api.post(f"/trials/{tid}/control", json={"action": "pause"})
    wait_for(lambda: api.get(f"/trials/{tid}").json()["state"] == "paused")
    before = {h["epoch"]: h for h in history()}
    r = api.post(f"/trials/{tid}/control", json={"action": "rollback", "epoch": 2})
    assert r.status_code == 202
    api.post(f"/trials/{tid}/control", json={"action": "set", "params": {"learning_rate": 0.01}})
    api.post(f"/trials/{tid}/control", json={"action": "resume"})
    # Epoch 3 of the new timeline ran with the new rate (the old epoch 3 had 0.05).
    wait_for(lambda: len(h := history()) >= 4 and h[2]["learning_rate"] == pytest.approx(0.01))
    api.post(f"/trials/{tid}/control", json={"action": "stop"})
    final = wait_for(
        lambda: (t := api.get(f"/trials/{tid}").json())["state"] not in ("running", "paused") and t
    )
    assert final["state"] == "stopped", final
    hist = final["history"]
    assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))
    assert hist[1]["learning_rate"] == pytest.approx(0.05)
    assert all(h["learning_rate"] == pytest.approx(0.01) for h in hist[2:])
    # The restored state is the one of epoch 2: the replayed history matches up to there.
    assert hist[1]["train_loss"] == pytest.approx(before[2]["train_loss"])
    # Recorded: where the run was when each control applied (the rollback, the set and the
    # resume while paused after epoch len(before)), and the stop at the end of the new timeline.
    controls = _controls(api, tid)
    assert [c["action"] for c in controls] == ["pause", "rollback", "set", "resume", "stop"]
    paused_at = len(before)
    assert [c["applied_epoch"] for c in controls] == [paused_at] * 4 + [len(hist)], controls
    assert controls[1]["payload"] == {"epoch": 2}


def _endless_caviar(api: httpx.Client, n_trials: int = 6) -> int:
    """A Caviar study whose trials run until stopped (far more epochs than any test waits)."""
    body = {
        "mode": "caviar",
        "objective": {
            "dataset": "moons",
            "metric": "dev_loss",
            "direction": "minimize",
            "fixed": {"epochs": 100_000, "layers": [8], "batch_size": 16},
        },
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 0.1, "scale": "log"}},
        "n_trials": n_trials,
        "n_workers": 2,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _two_training(api: httpx.Client, sid: int) -> list[dict]:
    """Wait until two trials of the study run and have epochs in the database."""

    def training():
        items = api.get(f"/studies/{sid}/trials").json()["items"]
        running = [t for t in items if t["state"] == "running"]
        if len(running) < 2:
            return None
        if all(api.get(f"/trials/{t['id']}").json()["history"] for t in running):
            return running
        return None

    return wait_for(training)


def test_stop_caviar_study(api: httpx.Client) -> None:
    sid = _endless_caviar(api)
    running = _two_training(api, sid)
    assert api.post(f"/studies/{sid}/stop").json()["state"] == "stopped"

    def settled():
        s = api.get(f"/studies/{sid}").json()
        p = s["progress"]
        return s if p["running"] == 0 and p["queued"] == 0 and p["paused"] == 0 else None

    s = wait_for(settled)
    assert s["state"] == "stopped"
    assert s["progress"]["total"] <= 6
    # Every trial ends stopped, none failed; the ones that were training keep a history with
    # no hole (the epochs batched in the worker are written with the final state).
    assert s["progress"]["stopped"] == s["progress"]["total"], s["progress"]
    for t in api.get(f"/studies/{sid}/trials").json()["items"]:
        detail = api.get(f"/trials/{t['id']}").json()
        assert detail["state"] == "stopped", detail
        epochs = [h["epoch"] for h in detail["history"]]
        assert epochs == list(range(1, len(epochs) + 1)), (t["id"], epochs)
        if t["id"] in {r["id"] for r in running}:
            assert epochs and detail["error"] == "stopped by request", detail
        else:
            assert detail["error"] == "study stopped before the trial started", detail
    time.sleep(0.3)  # nothing starts after the stop
    assert api.get(f"/studies/{sid}").json()["progress"] == s["progress"]


def _rows_of_study(database_url: str, sid: int, trial_ids: list[int]) -> dict[str, int]:
    """Rows left in every table for a study and its trials, read straight from the database."""
    from sqlalchemy import create_engine, func, select

    from service.models import Checkpoint, Study, Trial, TrialControl, TrialEpoch

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:

            def count(model, cond) -> int:
                return int(
                    conn.execute(select(func.count()).select_from(model).where(cond)).scalar()
                )

            out = {
                "studies": count(Study, Study.id == sid),
                "trials": count(Trial, (Trial.study_id == sid) | Trial.id.in_(trial_ids)),
            }
            for name, model in (
                ("trial_epochs", TrialEpoch),
                ("trial_controls", TrialControl),
                ("checkpoints", Checkpoint),
            ):
                out[name] = count(model, model.trial_id.in_(trial_ids))
            return out
    finally:
        engine.dispose()


def test_delete_running_caviar_study_leaves_nothing(api: httpx.Client, server) -> None:
    sid = _endless_caviar(api, n_trials=4)
    running = _two_training(api, sid)
    ids = [t["id"] for t in running]
    # A control on a live Caviar trial is recorded like a Panda one.
    r = api.post(
        f"/trials/{ids[0]}/control", json={"action": "set", "params": {"learning_rate": 0.01}}
    )
    assert r.status_code == 202, r.text
    # Epochs, checkpoints (written with each flush) and the control are all in the database.
    before = wait_for(
        lambda: (n := _rows_of_study(server.database_url, sid, ids))["checkpoints"] >= 2 and n
    )
    assert before["studies"] == 1 and before["trials"] == 2, before
    assert before["trial_epochs"] >= 2 and before["trial_controls"] == 1, before

    assert api.delete(f"/studies/{sid}").status_code == 204
    empty = dict.fromkeys(before, 0)
    assert _rows_of_study(server.database_url, sid, ids) == empty
    assert api.get(f"/studies/{sid}").status_code == 404
    assert all(api.get(f"/trials/{tid}").status_code == 404 for tid in ids)
    # The workers flush every second: one more round, and still nothing came back.
    time.sleep(1.5)
    assert _rows_of_study(server.database_url, sid, ids) == empty
