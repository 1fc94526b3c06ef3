"""Races of live Panda controls: a rollback the SSE stream must not miss however fast the new
timeline grows back, and a pause sent right after a resume that must not be lost."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from service_helpers import iter_sse, wait_for

from service.core.db import Database, upgrade
from service.scheduler import worker as worker_mod
from service.store import HISTORY_REWINDS_KEPT, Store, StudySpec, TrialData

# --- helpers --------------------------------------------------------------------------------


def _panda(api: httpx.Client, **params: Any) -> int:
    """A fast Panda trial (moons, 8 hidden units) that runs until stopped; its id."""
    body = {
        "mode": "panda",
        "objective": {"dataset": "moons", "metric": "dev_accuracy", "direction": "maximize"},
        "params": {"epochs": 100_000, "layers": [8], "batch_size": 64, "learning_rate": 0.05}
        | params,
    }
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    def trial_id() -> int | None:
        items = api.get(f"/studies/{sid}/trials").json()["items"]
        return items[0]["id"] if items else None

    return int(wait_for(trial_id))


def _control(api: httpx.Client, tid: int, action: str, **body: Any) -> dict:
    r = api.post(f"/trials/{tid}/control", json={"action": action, **body})
    assert r.status_code == 202, r.text
    return r.json()


def _trial(api: httpx.Client, tid: int) -> dict:
    r = api.get(f"/trials/{tid}")
    assert r.status_code == 200, r.text
    return r.json()


def _finished(api: httpx.Client, tid: int) -> dict:
    return wait_for(lambda: (t := _trial(api, tid))["state"] not in ("running", "paused") and t)


class Follower(threading.Thread):
    """Follows a trial's stream as a client does: appends `epoch` rows, truncates on
    `rollback` ({"epoch": N} keeps epochs <= N), until `end`."""

    def __init__(self, base_url: str, tid: int) -> None:
        super().__init__(daemon=True)
        self.base_url, self.tid = base_url, tid
        self.history: list[dict] = []
        self.rollbacks: list[int] = []
        self.end: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.base_url, timeout=60) as c,
                c.stream("GET", f"/api/v1/trials/{self.tid}/stream") as resp,
            ):
                assert resp.status_code == 200
                for event, data in iter_sse(resp.iter_lines()):
                    if event == "epoch":
                        last = self.history[-1]["epoch"] if self.history else 0
                        assert data["epoch"] == last + 1, (last, data["epoch"])
                        self.history.append(data)
                    elif event == "rollback":
                        self.rollbacks.append(data["epoch"])
                        self.history = [h for h in self.history if h["epoch"] <= data["epoch"]]
                    elif event == "end":
                        self.end = data
                        return
        except BaseException as e:  # reported by the test
            self.error = e

    @property
    def last(self) -> int:
        return self.history[-1]["epoch"] if self.history else 0


# --- 1. the stream and rollbacks ------------------------------------------------------------


def test_stream_keeps_up_with_fast_rollbacks(api: httpx.Client, server) -> None:
    """Rollbacks a few epochs back on a fast trial, each with a new learning rate: the worker
    trains past the old last epoch within one poll of the stream, so only the history
    generation tells. The history a client rebuilds from the stream (rollback events applied by
    truncating) is exactly the server's, and every rollback reached it."""
    tid = _panda(api)
    follower = Follower(server.base_url, tid)
    follower.start()
    rates = [0.01, 0.02, 0.03]
    targets = []
    try:
        wait_for(lambda: follower.last >= 8, timeout=60, every=0.02)
        for rate in rates:
            # Just behind what the client has: the old timeline is regrown in a few ms.
            target = max(1, follower.last - 2)
            targets.append(target)
            _control(api, tid, "rollback", epoch=target)
            _control(api, tid, "set", params={"learning_rate": rate})

            def regrown(target: int = target, rate: float = rate) -> bool:
                # The set applies with the rollback or an epoch or two after it.
                h = _trial(api, tid)["history"]
                return len(h) >= target + 8 and h[-1]["learning_rate"] == pytest.approx(rate)

            wait_for(regrown, timeout=60, every=0.05)
            # The client has the new timeline too (at the new rate past the checkpoint).
            wait_for(
                lambda target=target: follower.last >= target + 8,  # type: ignore[misc]
                timeout=30,
                every=0.02,
            )
    finally:
        _control(api, tid, "stop")
    final = _finished(api, tid)
    follower.join(timeout=60)
    assert not follower.is_alive() and follower.error is None, follower.error
    assert final["state"] == "stopped"
    assert follower.end is not None and follower.end["state"] == "stopped"
    history = final["history"]
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    # Each rollback landed at its checkpoint and the stream said so, once.
    assert follower.rollbacks == targets
    assert all(h["learning_rate"] == pytest.approx(0.05) for h in history[: targets[0]])
    assert history[-1]["learning_rate"] == pytest.approx(rates[-1])
    # Exactly the server's history: no row of an abandoned timeline left behind.
    assert follower.history == history


def test_stream_rollback_while_paused_and_regrown(api: httpx.Client, server) -> None:
    """Paused, rolled back several epochs, resumed at a new rate: the stream reports the
    rollback (at the checkpoint) even though the trial is past the old epoch by the next poll,
    and a client connecting afterwards gets the new timeline only."""
    tid = _panda(api)
    follower = Follower(server.base_url, tid)
    follower.start()
    try:
        wait_for(lambda: follower.last >= 6, timeout=60, every=0.02)
        _control(api, tid, "pause")
        wait_for(lambda: _trial(api, tid)["state"] == "paused", every=0.05)
        paused = _trial(api, tid)["history"]
        wait_for(lambda: follower.last == len(paused), timeout=30, every=0.02)
        target = len(paused) - 3
        _control(api, tid, "rollback", epoch=target)
        _control(api, tid, "set", params={"learning_rate": 0.005})
        _control(api, tid, "resume")
        wait_for(lambda: follower.last >= len(paused) + 5, timeout=60, every=0.02)
    finally:
        _control(api, tid, "stop")
    final = _finished(api, tid)
    follower.join(timeout=60)
    assert follower.error is None, follower.error
    history = final["history"]
    assert follower.rollbacks == [target]
    assert follower.history == history
    assert all(h["learning_rate"] == pytest.approx(0.005) for h in history[target:])
    # A late client: one timeline, no rollback events.
    late = Follower(server.base_url, tid)
    late.run()
    assert late.error is None and late.rollbacks == [] and late.history == history


def test_truncate_history_counts_rewinds(backend: str, fresh_database) -> None:
    """The generation moves only when epochs were deleted; the log keeps the latest rewinds,
    and rewound_to is the lowest epoch kept through since a generation (0 once the log no
    longer reaches back)."""
    url = fresh_database(backend)
    upgrade(url)
    store = Store(Database(url))
    try:
        spec = StudySpec(
            name="rewinds",
            mode="ask_tell",
            objective={"metric": "v", "direction": "minimize"},
            space={"x": {"type": "float", "low": 0.0, "high": 1.0}},
            sampler={"type": "random"},
            pruner=None,
            params=None,
            n_trials=1,
            n_workers=1,
            seed=0,
            max_retries=0,
        )
        tid = store.ask(store.create_study(spec).id).id

        def grow(to: int) -> None:
            store.record_epochs(tid, [(e, float(e), {}) for e in range(1, to + 1)])

        grow(10)
        t0 = store.get_trial(tid, history=False)
        assert (t0.history_generation, t0.history_rewinds) == (0, None)
        store.truncate_history(tid, 10)  # nothing after epoch 10: not a rewind
        assert store.get_trial(tid, history=False).history_generation == 0
        store.truncate_history(tid, 6)
        grow(12)
        store.truncate_history(tid, 9)
        t = store.get_trial(tid, history=True)
        assert [h["epoch"] for h in t.history or []] == list(range(1, 10))
        assert t.history_generation == 2 and t.history_rewinds == [[1, 6], [2, 9]]
        assert t.rewound_to(0) == 6 and t.rewound_to(1) == 9 and t.rewound_to(2) is None
        for _ in range(HISTORY_REWINDS_KEPT):
            grow(12)
            store.truncate_history(tid, 11)
        t = store.get_trial(tid, history=False)
        assert t.history_generation == 2 + HISTORY_REWINDS_KEPT
        assert len(t.history_rewinds or []) == HISTORY_REWINDS_KEPT
        assert t.rewound_to(2) == 11 and t.rewound_to(1) == 0 and t.rewound_to(0) == 0
    finally:
        store.db.dispose()


def test_rewound_to_without_log() -> None:
    t = TrialData(**{f: None for f in TrialData.__dataclass_fields__})  # type: ignore[arg-type]
    t.history_generation, t.history_rewinds = 0, None
    assert t.rewound_to(0) is None
    t.history_generation, t.history_rewinds = 3, [[2, 5], [3, 4]]
    assert t.rewound_to(1) == 4 and t.rewound_to(2) == 4 and t.rewound_to(0) == 0


# --- 2. pause and resume in order -----------------------------------------------------------


def test_pause_right_after_resume_is_not_lost(api: httpx.Client) -> None:
    """While paused, a resume and a pause sent back to back (likely read together by the
    paused worker): the pause, the later one, wins. The trial is paused in the database and
    stays so; every control is recorded with its epoch; a later resume goes on."""
    tid = _panda(api)
    wait_for(lambda: len(_trial(api, tid)["history"]) >= 3, every=0.05)
    _control(api, tid, "pause")
    wait_for(lambda: _trial(api, tid)["state"] == "paused", every=0.05)
    n0 = len(_trial(api, tid)["history"])
    try:
        _control(api, tid, "resume")
        _control(api, tid, "pause")
        # Both read (in one batch, or the resume alone and the pause after at most one epoch).
        wait_for(
            lambda: all(
                c["applied_at"] for c in api.get(f"/trials/{tid}/controls").json()["items"]
            ),
            every=0.05,
        )
        time.sleep(0.3)
        t = _trial(api, tid)
        assert t["state"] == "paused", t["state"]
        n1 = len(t["history"])
        assert n0 <= n1 <= n0 + 1, (n0, n1)
        for _ in range(5):  # ~1 s: no epoch advances, still paused
            time.sleep(0.2)
            t = _trial(api, tid)
            assert (t["state"], len(t["history"])) == ("paused", n1)
        controls = api.get(f"/trials/{tid}/controls").json()["items"]
        assert [c["action"] for c in controls] == ["pause", "resume", "pause"]
        assert controls[0]["applied_epoch"] == n0
        assert controls[1]["applied_epoch"] == n0
        assert controls[2]["applied_epoch"] == n1
        _control(api, tid, "resume")
        wait_for(lambda: len(_trial(api, tid)["history"]) >= n1 + 3, every=0.05)
        assert _trial(api, tid)["state"] == "running"
    finally:
        _control(api, tid, "stop")
    assert _finished(api, tid)["state"] == "stopped"


class _FakeStore:
    """Hands out scripted batches of pending controls; records what the reporter writes."""

    def __init__(self, batches: list[list[tuple[str, dict | None]]]) -> None:
        self.batches = batches
        self.states: list[str] = []
        self.applied: list[tuple[list[int], int | None]] = []
        self.reads = 0
        self._id = 0

    def pending_controls(self, trial_id: int) -> list[Any]:
        self.reads += 1
        if not self.batches:
            raise AssertionError("the reporter kept waiting after the script ran out")
        out = []
        for action, payload in self.batches.pop(0):
            self._id += 1
            out.append(SimpleNamespace(id=self._id, action=action, payload=payload))
        return out

    def mark_controls_applied(self, ids: list[int], epoch: int | None) -> None:
        if ids:
            self.applied.append((list(ids), epoch))

    def set_trial_state(self, trial_id: int, state: str) -> None:
        self.states.append(state)


@dataclass
class _Directive:
    """engine.Directive's fields (`import engine` here would find tests/engine instead)."""

    set_params: dict[str, Any] = field(default_factory=dict)
    stop: bool = False
    prune: bool = False
    pause: bool = False
    rollback_epoch: int | None = None


def _reporter(store: _FakeStore) -> worker_mod.StoreReporter:
    study = SimpleNamespace(objective={"metric": "dev_accuracy"}, pruner=None, mode="panda")
    fake_engine = SimpleNamespace(Directive=_Directive)
    rep = worker_mod.StoreReporter(store, study, SimpleNamespace(id=1), fake_engine)  # type: ignore[arg-type]
    rep.last_epoch = 7
    return rep


def test_wait_while_paused_applies_controls_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "PAUSE_POLL_SECONDS", 0.0)
    store = _FakeStore(
        [
            [("resume", None), ("pause", None)],  # the pause came last: still paused
            [],
            [("set", {"params": {"learning_rate": 0.1}}), ("pause", None)],
            [("pause", None), ("resume", None)],  # the resume came last: go on
        ]
    )
    d = _reporter(store).wait_while_paused()
    assert store.reads == 4 and not store.batches
    assert store.states == ["paused", "running"]
    assert [ids for ids, _ in store.applied] == [[1, 2], [3, 4], [5, 6]]
    assert all(epoch == 7 for _, epoch in store.applied)
    assert d.pause is False and d.stop is False and d.set_params == {"learning_rate": 0.1}


def test_wait_while_paused_stop_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_mod, "PAUSE_POLL_SECONDS", 0.0)
    store = _FakeStore([[("stop", None), ("pause", None)]])
    d = _reporter(store).wait_while_paused()
    assert d.stop is True and store.states == ["paused", "running"]


def test_epoch_controls_fold_in_order() -> None:
    """The controls read after an epoch: the last of pause/resume wins; of two rollbacks the
    earlier checkpoint wins; a rollback undoes the sets before it, not those after it."""
    store = _FakeStore(
        [
            [("resume", None), ("pause", None)],
            [("pause", None), ("resume", None)],
            [
                ("set", {"params": {"learning_rate": 0.1}}),
                ("rollback", {"epoch": 5}),
                ("rollback", {"epoch": 3}),
                ("rollback", {"epoch": 4}),
                ("set", {"params": {"l2": 0.01}}),
            ],
        ]
    )
    rep = _reporter(store)
    assert rep._apply_controls(7).pause is True
    assert rep._apply_controls(8).pause is False
    d = rep._apply_controls(9)
    assert (d.rollback_epoch, d.set_params, d.pause) == (3, {"l2": 0.01}, False)
    assert [epoch for _, epoch in store.applied] == [7, 8, 9]
