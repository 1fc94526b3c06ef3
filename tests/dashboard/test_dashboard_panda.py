"""End-to-end: a real Panda run (the service trains it with the engine) babysat in the browser."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _wait_state(api: Any, trial_id: int, states: set[str], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = api.get(f"/trials/{trial_id}").json()["state"]
        if state in states:
            return state
        time.sleep(0.2)
    raise AssertionError(f"trial {trial_id} still {state!r}, wanted {states}")


def _panda(api: Any) -> dict[str, Any]:
    body = {
        "name": "panda-live",
        "mode": "panda",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        # Long enough to stay running for the whole test; it is stopped at the end.
        "params": {"learning_rate": 0.05, "optimizer": "adam", "epochs": 50_000, "layers": [8]},
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = api.get(f"/studies/{sid}/trials").json()["items"]
        if items:
            return items[0]
        time.sleep(0.2)
    raise AssertionError("the panda study made no trial")


def _curve(page: Any) -> dict[str, list[float]]:
    """The live plot's dev-loss trace (x, y) and learning-rate trace (y)."""
    return page.evaluate(
        """(() => { const d = document.getElementById('plot-live').data;
                    return {x: Array.from(d[1].x), dev: Array.from(d[1].y),
                            lr: Array.from(d[3].y)}; })()"""
    )


def test_panda_curve_grows_live_and_pause_pauses_in_the_database(
    page, dash_server, api, screenshot
):
    trial = _panda(api)
    tid = trial["id"]
    polled: list[str] = []
    page.on(
        "request",
        lambda r: polled.append(r.url) if r.url.endswith(f"/api/v1/trials/{tid}") else None,
    )
    try:
        _wait_state(api, tid, {"running"}, timeout=60)
        page.goto(f"{dash_server.base_url}/trials/{tid}")
        page.wait_for_selector("body[data-ready='1']")

        # The curve grows from the SSE stream (fetch-streamed), not from polling.
        page.wait_for_function("window.__live.epochs >= 2", timeout=60_000)
        first = page.evaluate("window.__live.epochs")
        page.wait_for_function(f"window.__live.epochs > {first + 2}", timeout=60_000)
        assert page.evaluate("document.getElementById('plot-live').data[1].x.length") > first
        assert len(polled) == 1, polled  # one GET of the trial, then only the stream

        # Pause: the trial is paused in the database, and the page says so.
        page.click("#btn-pause")
        assert _wait_state(api, tid, {"paused"}) == "paused"
        page.wait_for_function("window.__live.state === 'paused'", timeout=30_000)
        paused_at = page.evaluate("window.__live.epochs")
        time.sleep(1.0)
        assert api.get(f"/trials/{tid}").json()["state"] == "paused"

        # Resume, then a learning-rate nudge marked on the curve.
        page.click("#btn-resume")
        assert _wait_state(api, tid, {"running"}) == "running"
        page.wait_for_function(f"window.__live.epochs > {paused_at + 1}", timeout=60_000)
        page.fill("#lr-input", "0.01")
        page.click("#btn-set-lr")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#nudges li')).some(li =>"
            " li.innerText.includes('learning_rate=0.01') && li.innerText.includes('applied after'))",
            timeout=30_000,
        )
        shapes = page.evaluate("document.getElementById('plot-live').layout.shapes.length")
        assert shapes >= 3  # pause, resume, set
        page.wait_for_function(
            "document.getElementById('plot-live').data[3].y.some(v => Math.abs(v - 0.01) < 1e-12)",
            timeout=30_000,
        )
        # The rollback picker offers the checkpoints.
        page.wait_for_function(
            "document.querySelectorAll('#rollback-select option').length > 0", timeout=30_000
        )
        screenshot(page, "panda")

        # Rollback. Paused first, so that the run's next step is the rollback together with a
        # new learning rate: the new timeline then differs from the abandoned one (a bare
        # rollback replays the same epochs exactly: checkpoints hold the RNG and the params).
        page.wait_for_function(
            "document.querySelectorAll('#rollback-select option').length >= 12", timeout=60_000
        )
        page.click("#btn-pause")
        assert _wait_state(api, tid, {"paused"}) == "paused"
        page.wait_for_function("window.__live.state === 'paused'", timeout=30_000)
        history = api.get(f"/trials/{tid}").json()["history"]
        last = history[-1]["epoch"]
        page.wait_for_function(f"window.__live.lastEpoch === {last}", timeout=30_000)
        before = _curve(page)
        assert before["x"] == list(range(1, last + 1))
        offered = sorted(
            page.eval_on_selector_all(
                "#rollback-select option", "os => os.map(o => Number(o.value))"
            )
        )
        # A checkpoint before the set of 0.01, so that the rollback undoes that nudge too.
        set_at = next(
            c["applied_epoch"]
            for c in api.get(f"/trials/{tid}/controls").json()["items"]
            if c["action"] == "set" and c["payload"]["params"]["learning_rate"] == 0.01
        )
        candidates = [e for e in offered if 2 <= e < set_at]
        ck = candidates[len(candidates) // 2]
        page.wait_for_function("!document.getElementById('btn-rollback').disabled")
        page.select_option("#rollback-select", str(ck))
        page.click("#btn-rollback")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#nudges li'))"
            f".some(li => li.innerText.includes('rollback → {ck}'))",
            timeout=30_000,
        )
        page.fill("#lr-input", "0.02")
        page.click("#btn-set-lr")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#nudges li'))"
            ".some(li => li.innerText.includes('learning_rate=0.02'))",
            timeout=30_000,
        )
        page.click("#btn-resume")
        assert _wait_state(api, tid, {"running"}) == "running"

        # The curve is cut at the checkpoint and goes on live from there, on the new timeline
        # (learning rate 0.02 from epoch ck + 1): nothing of the abandoned epochs is left.
        page.wait_for_function(f"window.__live.rollbackEpoch === {ck}", timeout=30_000)
        page.wait_for_function(
            f"""(() => {{
                const gd = document.getElementById('plot-live');
                const x = gd.data[1].x, lr = gd.data[3];
                return window.__live.lastEpoch >= {ck + 4}
                    && x.every((e, i) => e === i + 1)
                    && lr.x.every((e, i) => e <= {ck} || Math.abs(lr.y[i] - 0.02) < 1e-12);
            }})()""",
            timeout=60_000,
        )
        print("after the rollback:", page.evaluate("window.__live"))
        after = _curve(page)
        n = len(after["x"])
        assert after["x"] == list(range(1, n + 1)) and n >= ck + 4
        # Up to the checkpoint: the points the page had before, untouched.
        assert after["dev"][:ck] == before["dev"][:ck]
        assert after["lr"][:ck] == before["lr"][:ck]
        assert all(v == pytest.approx(0.02) for v in after["lr"][ck:])
        # After it: the new timeline, as the database has it.
        server = {r["epoch"]: r for r in api.get(f"/trials/{tid}").json()["history"]}
        assert set(range(1, n + 1)) <= set(server)
        for e, dev in zip(after["x"], after["dev"], strict=True):
            assert dev == pytest.approx(server[e]["dev_loss"], rel=1e-6), e
        assert any(
            after["dev"][i] != pytest.approx(before["dev"][i], rel=1e-9)
            for i in range(ck, min(n, len(before["dev"])))
        ), "the new timeline is the old one: the test cannot tell a cut from no cut"
        # Done from the stream, without reloading the page (one GET of the trial, at load).
        assert len(polled) == 1, polled
        controls = api.get(f"/trials/{tid}/controls").json()["items"]
        assert any(c["action"] == "rollback" and c["payload"] == {"epoch": ck} for c in controls)
        # The nudges follow the cut: the rollback and the learning rate it came with are marked
        # at the checkpoint; the set of 0.01 (after the checkpoint, before the rollback) is
        # undone: listed as such, no longer drawn on the curve.
        marks = page.evaluate(
            "document.getElementById('plot-live').layout.annotations.map(a => [a.x, a.text])"
        )
        assert [ck, f"rollback → {ck}"] in marks
        assert [ck, "set learning_rate=0.02"] in marks
        assert not any("0.01" in text for _, text in marks), marks
        undone = page.eval_on_selector_all("#nudges li.undone", "ls => ls.map(l => l.innerText)")
        assert any(f"learning_rate=0.01 (applied after epoch {set_at})" in t for t in undone)
        assert not any(t.startswith("rollback") or "=0.02" in t for t in undone), undone
        screenshot(page, "panda-rollback")

        page.click("#btn-stop")
        assert _wait_state(api, tid, {"stopped"}) == "stopped"
        page.wait_for_function("window.__live.state === 'stopped'", timeout=30_000)
    finally:
        if api.get(f"/trials/{tid}").json()["state"] in ("running", "paused", "queued"):
            api.post(f"/trials/{tid}/control", json={"action": "stop"})
