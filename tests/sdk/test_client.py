"""The SDK's own behaviour against httpx.MockTransport: error mapping, retries, typed objects,
ask/tell and optimize, SSE, the async twin."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import hpsearch
from hpsearch import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    HpsearchError,
    NotFoundError,
    RequestTimeout,
    ServerError,
    ServerUnavailable,
    TrialPruned,
    ValidationError,
    hp,
)
from hpsearch.models import Epoch

Handler = Callable[[httpx.Request], httpx.Response]


def trial_json(id: int = 7, number: int = 0, **over: Any) -> dict[str, Any]:
    base = {
        "id": id,
        "study_id": 1,
        "number": number,
        "state": "running",
        "params": {"alpha": 0.01},
        "value": None,
        "metrics": None,
        "error": None,
        "round": None,
        "diagnosis": None,
        "best_epoch": None,
        "diverged_epoch": None,
        "retries": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": "2026-01-01T00:00:01Z",
        "finished_at": None,
        "heartbeat_at": None,
    }
    return base | over


def study_json(id: int = 1, **over: Any) -> dict[str, Any]:
    base = {
        "id": id,
        "name": "s",
        "mode": "ask_tell",
        "state": "running",
        "objective": {"metric": "acc", "direction": "maximize"},
        "space": {"alpha": {"type": "float", "low": 1e-6, "high": 0.1, "scale": "log"}},
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},
        "params": None,
        "n_trials": 4,
        "n_workers": 1,
        "seed": 0,
        "max_retries": 0,
        "error": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "started_at": None,
        "finished_at": None,
        "progress": {"queued": 0, "running": 1, "completed": 2, "failed": 1, "total": 4},
        "best_trial": None,
        "brand_new_field": 42,
    }
    return base | over


def make_client(handler: Handler, **kw: Any) -> tuple[Client, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("retries", 3)
    client = Client(
        "http://hp.test", transport=httpx.MockTransport(handler), sleep=sleeps.append, **kw
    )
    return client, sleeps


# ---- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, HpsearchError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (500, ServerError),
        (503, ServerUnavailable),
    ],
)
def test_status_codes_map_to_error_classes(status: int, cls: type[HpsearchError]) -> None:
    client, _ = make_client(lambda r: httpx.Response(status, json={"detail": "nope"}), retries=0)
    with pytest.raises(cls) as info:
        client.get_study(3)
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.detail == "nope"
    assert "nope" in str(info.value)


def test_422_carries_the_field_path_from_loc() -> None:
    detail = [
        {"loc": ["body", "space", "lr", "low"], "msg": "low must be below high", "type": "x"},
        {"loc": ["body", "n_trials"], "msg": "too big", "type": "y"},
    ]
    client, _ = make_client(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(ValidationError) as info:
        client.create_study("x", space={"lr": {"type": "float", "low": 2, "high": 1}})
    err = info.value
    assert err.status_code == 422
    assert err.field == "space.lr.low"
    assert len(err.errors) == 2
    assert str(err).startswith("space.lr.low: low must be below high (and 1 more)")


def test_non_json_error_body_still_maps() -> None:
    client, _ = make_client(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ServerError) as info:
        client.list_studies()
    assert info.value.detail == "<html>bad gateway</html>"


def test_connection_refused_is_server_unavailable_with_a_hint() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, sleeps = make_client(refuse, retries=2)
    with pytest.raises(ServerUnavailable) as info:
        client.get_study(1)
    assert info.value.status_code is None
    assert "http://hp.test" in str(info.value) and "hpsearch serve" in str(info.value)
    assert len(sleeps) == 2  # two retries, then the error


def test_timeout_is_request_timeout() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = make_client(slow, retries=0)
    with pytest.raises(RequestTimeout):
        client.get_trial(1)
    assert issubclass(RequestTimeout, ServerUnavailable)


# ---- retry policy ----------------------------------------------------------------------------


class Flaky:
    """Fails the first `failures` requests (503 or a connection error), then answers."""

    def __init__(self, failures: int, kind: str = "503", ok: Any = None) -> None:
        self.failures = failures
        self.kind = kind
        self.ok = ok if ok is not None else study_json()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            if self.kind == "503":
                return httpx.Response(503, json={"detail": "busy"})
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=self.ok)


@pytest.mark.parametrize("kind", ["503", "connect"])
def test_idempotent_get_is_retried_with_exponential_backoff(kind: str) -> None:
    flaky = Flaky(3, kind)
    client, sleeps = make_client(flaky, retries=3, backoff=0.5)
    client.retry.jitter = 0
    study = client.get_study(1)
    assert study.id == 1
    assert len(flaky.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped_and_jitter_bounded() -> None:
    policy = hpsearch._core.RetryPolicy(retries=10, backoff=1.0, max_backoff=4.0, jitter=0.1)
    delays = [policy.delay(n) for n in range(1, 8)]
    assert 1.0 <= delays[0] <= 1.1
    assert all(4.0 <= d <= 4.4 for d in delays[2:])


def test_retry_after_header_is_honoured() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "3"}, json={"detail": "x"})
        return httpx.Response(200, json=study_json())

    client, sleeps = make_client(handler, backoff=0.1)
    client.get_study(1)
    assert sleeps == [3.0]


def test_gives_up_after_the_retry_budget() -> None:
    flaky = Flaky(10, "503")
    client, sleeps = make_client(flaky, retries=2)
    with pytest.raises(ServerUnavailable):
        client.get_study(1)
    assert len(flaky.requests) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("kind", ["503", "connect"])
def test_creating_posts_are_never_retried(kind: str) -> None:
    for call in (
        lambda c: c.create_study("x", mode="ask_tell", space={"a": hp.float_(0, 1)}, n_trials=1),
        lambda c: c.ask(1),
        lambda c: c.tell(1, 0.5),
        lambda c: c.report(1, 1, 0.5),
    ):
        flaky = Flaky(1, kind)
        client, sleeps = make_client(flaky, retries=5)
        with pytest.raises(ServerUnavailable):
            call(client)
        assert len(flaky.requests) == 1 and sleeps == []


def test_stop_delete_and_controls_are_retried_but_rollback_is_not() -> None:
    for call, method in (
        (lambda c: c.stop_study(1), "POST"),
        (lambda c: c.delete_study(1), "DELETE"),
        (lambda c: c.control(7, "pause"), "POST"),
        (lambda c: c.control(7, "set", params={"learning_rate": 0.1}), "POST"),
    ):
        flaky = Flaky(2, "connect", ok={"id": 1})
        client, sleeps = make_client(flaky)
        call(client)
        assert len(flaky.requests) == 3 and len(sleeps) == 2
        assert flaky.requests[0].method == method
    flaky = Flaky(1, "connect", ok={"id": 1})
    client, sleeps = make_client(flaky)
    with pytest.raises(ServerUnavailable):
        client.control(7, "rollback", epoch=3)
    assert len(flaky.requests) == 1


def test_404_and_422_are_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"detail": "study 9 not found"})

    client, sleeps = make_client(handler)
    with pytest.raises(NotFoundError, match="study 9 not found"):
        client.get_study(9)
    assert len(calls) == 1 and sleeps == []


class FailFirst:
    """Answers 503 to the first `failures` requests whose path ends with `suffix`; passes every
    other request to `inner`."""

    def __init__(self, inner: Handler, suffix: str, failures: int = 1) -> None:
        self.inner = inner
        self.suffix = suffix
        self.failures = failures
        self.failed = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(self.suffix) and self.failed < self.failures:
            self.failed += 1
            return httpx.Response(503, json={"detail": "busy"})
        return self.inner(request)


def test_batched_reports_are_retried_on_503_but_a_single_report_is_not() -> None:
    # No pruner: reports are buffered and sent as one POST .../reports, an upsert per epoch
    # (sending it twice leaves the same history), so a 503 is retried with backoff.
    server = AskTellServer()
    flaky = FailFirst(server, "/reports", failures=2)
    client, sleeps = make_client(flaky, retries=3, backoff=0.5)
    client.retry.jitter = 0
    trial = client.get_study(1).ask()
    assert trial.report(1, 0.5) is False and trial.report(2, 0.6) is False
    trial.flush()
    assert flaky.failed == 2 and sleeps == [0.5, 1.0]
    assert server.batches == [(trial.id, "reports", 2)]  # delivered once, nothing lost
    assert trial._pending == []

    # Out of retries: the error surfaces and the reports stay buffered for the next flush.
    flaky = FailFirst(server, "/reports", failures=2)
    client, sleeps = make_client(flaky, retries=1)
    trial = client.get_study(1).ask()
    trial.report(1, 0.7)
    with pytest.raises(ServerUnavailable):
        trial.flush()
    assert flaky.failed == 2 and len(sleeps) == 1 and len(trial._pending) == 1
    trial.flush()
    assert server.batches[-1] == (trial.id, "reports", 1)

    # With a pruner each report is a POST .../report of its own whose answer (prune or not) the
    # objective waits for; it is not idempotent as far as the client knows: never retried.
    pruned = AskTellServer(prune_below=0.1)
    flaky = FailFirst(pruned, "/report")
    client, sleeps = make_client(flaky, retries=3)
    trial = client.get_study(1).ask()
    with pytest.raises(ServerUnavailable):
        trial.report(1, 0.5)
    assert flaky.failed == 1 and sleeps == [] and pruned.reports == []
    assert trial.report(1, 0.5) is False  # the next call goes through
    assert pruned.reports == [(trial.id, {"epoch": 1, "value": 0.5})]


def test_async_batched_reports_are_retried_on_503_too() -> None:
    server = AskTellServer()
    flaky = FailFirst(server, "/reports")
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> None:
        async with AsyncClient(
            "http://hp.test", transport=httpx.MockTransport(flaky), sleep=fake_sleep
        ) as client:
            trial = await (await client.get_study(1)).ask()
            await trial.report(1, 0.5)
            await trial.flush()
            assert server.batches == [(trial.id, "reports", 1)]

    asyncio.run(main())
    assert flaky.failed == 1 and len(sleeps) == 1


# ---- requests and typed objects --------------------------------------------------------------


def test_token_and_json_body_of_create_study() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=study_json(mode="caviar"))

    client, _ = make_client(handler, token="s3cret")
    study = client.create_study(
        "digits",
        space={
            "learning_rate": hp.log_float(1e-4, 1),
            "optimizer": {"type": "categorical", "choices": ["adam"]},
        },
        dataset="digits",
        metric="dev_accuracy",
        sampler="tpe",
        pruner={"type": "median"},
        n_trials=10,
        seed=3,
    )
    req = seen[0]
    assert req.method == "POST" and req.url.path == "/api/v1/studies"
    assert req.headers["authorization"] == "Bearer s3cret"
    body = json.loads(req.content)
    assert body == {
        "name": "digits",
        "mode": "caviar",
        "objective": {"dataset": "digits", "metric": "dev_accuracy", "direction": "maximize"},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            "optimizer": {"type": "categorical", "choices": ["adam"]},
        },
        "sampler": {"type": "tpe"},
        "pruner": {"type": "median"},
        "n_trials": 10,
        "seed": 3,
    }
    assert isinstance(study, hpsearch.Study)


def test_study_parses_into_typed_objects_and_keeps_unknown_keys() -> None:
    best = trial_json(id=9, number=2, state="completed", value=0.93)
    client, _ = make_client(lambda r: httpx.Response(200, json=study_json(best_trial=best)))
    study = client.get_study(1)
    assert study.state == "running" and study.n_trials == 4 and study.direction == "maximize"
    assert study.created_at is not None and study.created_at.year == 2026
    assert study.extra["brand_new_field"] == 42
    assert study.n_done == 3  # completed 2 + failed 1
    assert study.state_counts["running"] == 1
    assert isinstance(study.best_trial, hpsearch.Trial)
    assert study.best_trial.value == 0.93 and study.best_value == 0.93
    assert study.best_params == {"alpha": 0.01}
    assert study.to_dict()["brand_new_field"] == 42


def test_trial_history_is_typed() -> None:
    history = [
        {"epoch": 1, "train_loss": 0.9, "dev_loss": 1.0, "learning_rate": 0.1, "value": 1.0},
        {"epoch": 2, "train_loss": 0.5, "dev_loss": 0.7, "learning_rate": 0.1, "custom": 3},
    ]
    client, _ = make_client(lambda r: httpx.Response(200, json=trial_json(history=history)))
    trial = client.get_trial(7)
    assert [type(e) for e in trial.history] == [Epoch, Epoch]
    assert trial.history[1].dev_loss == 0.7
    assert trial.history[1]["custom"] == 3 and trial.history[0]["train_loss"] == 0.9


def test_list_trials_pages_through_everything_and_sends_state_filters() -> None:
    seen: list[httpx.URL] = []
    all_trials = [trial_json(id=i, number=i) for i in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        return httpx.Response(
            200, json={"items": all_trials[offset : offset + limit], "total": len(all_trials)}
        )

    client, _ = make_client(handler, page_size=2)
    trials = client.list_trials(1, state=["completed", "failed"], sort="-value")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert len(seen) == 3
    assert seen[0].params.get_list("state") == ["completed", "failed"]
    assert seen[0].params["sort"] == "-value"
    assert client.list_trials(1, limit=3)[-1].number == 2


# ---- ask / tell and optimize -----------------------------------------------------------------


class AskTellServer:
    """A tiny in-memory ask/tell server behind MockTransport."""

    def __init__(self, n_trials: int = 6, prune_below: float | None = None) -> None:
        self.n_trials = n_trials
        self.prune_below = prune_below
        self.trials: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.reports: list[tuple[int, dict[str, Any]]] = []
        self.batches: list[tuple[int, str, int]] = []  # (trial id, call, reports in it)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        with self.lock:
            if path.endswith("/ask"):
                if len(self.trials) >= self.n_trials:
                    return httpx.Response(409, json={"detail": f"n_trials={self.n_trials}"})
                n = len(self.trials)
                t = trial_json(id=100 + n, number=n, params={"alpha": 10.0 ** -(n + 1)})
                self.trials[t["id"]] = t
                return httpx.Response(200, json=t)
            if path.endswith("/report"):
                tid = int(path.split("/")[-2])
                self.reports.append((tid, body))
                prune = self.prune_below is not None and body["value"] < self.prune_below
                return httpx.Response(200, json={"prune": prune})
            if path.endswith("/reports"):
                tid = int(path.split("/")[-2])
                self.batches.append((tid, "reports", len(body["reports"])))
                self.reports.extend((tid, r) for r in body["reports"])
                return httpx.Response(200, json={"prune": False})
            if path.endswith("/tell"):
                tid = int(path.split("/")[-2])
                if body.get("reports"):
                    self.batches.append((tid, "tell", len(body["reports"])))
                    self.reports.extend((tid, r) for r in body.pop("reports"))
                t = self.trials[tid]
                t["state"] = body.get("state", "completed")
                t["value"] = body.get("value")
                t["error"] = body.get("error")
                return httpx.Response(200, json=t)
            if path == "/api/v1/studies/1":
                done = [t for t in self.trials.values() if t["state"] == "completed"]
                best = max(done, key=lambda t: t["value"]) if done else None
                pruner = {"type": "none" if self.prune_below is None else "median"}
                return httpx.Response(200, json=study_json(best_trial=best, pruner=pruner))
        return httpx.Response(404, json={"detail": f"no route {path}"})


def test_ask_report_tell_on_trial_objects() -> None:
    server = AskTellServer(prune_below=0.5)
    client, _ = make_client(server)
    study = client.get_study(1)
    trial = study.ask()
    assert isinstance(trial, hpsearch.Trial) and trial.number == 0
    assert trial.report(1, 0.9, train_loss=0.3) is False
    assert trial.report(2, 0.1) is True and trial.should_prune
    assert server.reports[0] == (100, {"train_loss": 0.3, "epoch": 1, "value": 0.9})
    trial.prune()
    assert trial.state == "pruned"
    other = study.ask()
    other.tell(0.8)
    assert other.state == "completed" and other.value == 0.8
    third = study.ask()
    third.fail(RuntimeError("boom"))
    assert third.state == "failed" and third.error == "RuntimeError: boom"


def test_reports_without_a_pruner_are_batched_into_tell() -> None:
    server = AskTellServer()  # pruner "none": no report needs an answer of its own
    client, _ = make_client(server)
    trial = client.get_study(1).ask()
    for e in range(1, 11):
        assert trial.report(e, 0.1 * e, train_loss=1.0 / e) is False
    assert server.reports == []  # nothing sent yet
    trial.tell(0.95)
    assert server.batches == [(trial.id, "tell", 10)]
    assert [r["epoch"] for _, r in server.reports] == list(range(1, 11))
    assert server.reports[2] == (trial.id, {"train_loss": 1.0 / 3, "value": 0.1 * 3, "epoch": 3})
    assert trial.state == "completed" and trial._pending == []


def test_batched_reports_are_flushed_every_interval_and_on_demand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hpsearch._base as base

    server = AskTellServer()
    client, _ = make_client(server)
    trial = client.get_study(1).ask()
    monkeypatch.setattr(base, "REPORT_FLUSH_SECONDS", 0.0)  # every report is due at once
    trial.report(1, 0.5)
    trial.report(2, 0.6)
    assert server.batches == [(trial.id, "reports", 1), (trial.id, "reports", 1)]
    monkeypatch.setattr(base, "REPORT_FLUSH_SECONDS", 3600.0)
    trial.report(3, 0.7)
    trial.report(4, 0.8)
    trial.flush()
    assert server.batches[-1] == (trial.id, "reports", 2)
    trial.flush()  # nothing pending: no call
    assert len(server.batches) == 3
    trial.prune()
    assert server.batches[-1][1] == "reports"  # the prune's tell carried no reports


def test_a_bad_batched_report_fails_at_its_own_call() -> None:
    server = AskTellServer()
    client, _ = make_client(server)
    trial = client.get_study(1).ask()
    with pytest.raises(hpsearch.ValidationError) as e:
        trial.report(1, float("nan"))
    assert e.value.field == "value"
    with pytest.raises(hpsearch.ValidationError) as e:
        trial.report(1, 0.5, dev_loss="high")
    assert e.value.field == "dev_loss"
    with pytest.raises(hpsearch.ValidationError):
        trial.report(-1, 0.5)
    assert trial._pending == []


def test_tell_of_nan_marks_the_trial_failed() -> None:
    server = AskTellServer()
    client, _ = make_client(server)
    trial = client.ask(1)
    trial.tell(float("nan"))
    assert trial.state == "failed" and "nan" in trial.error


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_optimize_loop_prunes_fails_and_goes_on(n_jobs: int) -> None:
    server = AskTellServer(n_trials=6)
    client, _ = make_client(server)
    study = client.get_study(1)

    def objective(params: dict[str, Any], trial: hpsearch.Trial) -> float:
        if trial.number == 1:
            raise ValueError("diverged")
        if trial.number == 2:
            raise TrialPruned()
        trial.report(1, 0.5)
        return 1.0 - params["alpha"]

    finished = study.optimize(objective, n_trials=10, n_jobs=n_jobs)
    states = {t.number: t.state for t in finished}
    assert len(finished) == 6  # the study took 6, the 7th ask answered 409 and ended the loop
    assert states[1] == "failed" and states[2] == "pruned"
    assert sum(s == "completed" for s in states.values()) == 4
    assert server.trials[101]["error"] == "ValueError: diverged"
    assert study.best_trial.number == 5  # refreshed after the loop: alpha 1e-6 is best


def test_optimize_stops_after_n_trials_and_reraises_keyboard_interrupt() -> None:
    server = AskTellServer(n_trials=100)
    client, _ = make_client(server)
    study = client.get_study(1)
    study.optimize(lambda p, t: 0.5, n_trials=3)
    assert len(server.trials) == 3

    def interrupted(params: dict[str, Any], trial: hpsearch.Trial) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted, n_trials=3)
    assert server.trials[103]["state"] == "failed" and server.trials[103]["error"] == "interrupted"


# ---- wait, dataframe -------------------------------------------------------------------------


def test_wait_polls_until_the_study_finishes() -> None:
    states = iter(["running", "running", "completed"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=study_json(state=next(states)))

    client, sleeps = make_client(handler)
    study = client.get_study(1)  # running
    assert study.wait(poll=0.5).state == "completed"
    assert sleeps == [0.5]  # running -> sleep -> completed


def test_wait_with_progress_bar_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    states = iter(["running", "completed"])
    best = trial_json(state="completed", value=0.75)
    client, _ = make_client(
        lambda r: httpx.Response(200, json=study_json(state=next(states), best_trial=best))
    )
    study = hpsearch.Study(id=1)
    study._client = client
    console = Console(force_terminal=False, width=120, record=True)
    study.wait(progress=True, poll=0, console=console)
    text = console.export_text()
    assert "3/4" in text and "0.7500" in text


def test_wait_timeout() -> None:
    client, _ = make_client(lambda r: httpx.Response(200, json=study_json()))
    study = client.get_study(1)
    with pytest.raises(TimeoutError):
        study.wait(poll=0.01, timeout=0)


def test_to_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    rows = [
        trial_json(id=1, number=0, state="completed", value=0.5, metrics={"dev_loss": 0.2}),
        trial_json(id=2, number=1, state="failed", params={"alpha": 0.1, "beta": 0.9}),
    ]
    client, _ = make_client(
        lambda r: httpx.Response(
            200, json={"items": rows, "total": 2} if "trials" in r.url.path else study_json()
        )
    )
    df = client.get_study(1).to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df["state"]) == ["completed", "failed"]
    assert df.loc[1, "params_beta"] == 0.9 and df.loc[0, "metrics_dev_loss"] == 0.2
    assert df.loc[0, "duration_s"] is None or pd.isna(df.loc[0, "duration_s"])


# ---- server-sent events and Panda runs -------------------------------------------------------

SSE_BODY = (
    ": keep-alive\n\n"
    'event: state\ndata: {"state": "running"}\n\n'
    'event: epoch\nid: 1\ndata: {"epoch": 1, "train_loss": 0.9, "dev_loss": 1.0,\n'
    'data: "learning_rate": 0.1}\n\n'
    'event: epoch\r\nid: 2\r\ndata: {"epoch": 2, "train_loss": 0.5, "dev_loss": 0.8}\r\n\r\n'
    'event: state\ndata: {"state": "completed"}\n\n'
    'event: epoch\nid: 3\ndata: {"epoch": 3, "train_loss": 0.4, "dev_loss": 0.7}\n\n'
)


def test_sse_decoder_follows_the_spec() -> None:
    from hpsearch._core import SSEDecoder, iter_events

    events = list(iter_events(iter(SSE_BODY.splitlines())))
    assert [e.event for e in events] == ["state", "epoch", "epoch", "state", "epoch"]
    assert events[1].json() == {
        "epoch": 1,
        "train_loss": 0.9,
        "dev_loss": 1.0,
        "learning_rate": 0.1,
    }
    assert events[2].id == "2"
    decoder = SSEDecoder()
    assert decoder.feed("data:no-space") is None
    assert decoder.feed("retry: 300") is None
    ev = decoder.feed("")
    assert ev is not None and ev.data == "no-space" and ev.event == "message" and ev.retry == 300
    # an event cut off by the end of the stream is dropped
    assert list(iter_events(iter(['data: {"epoch": 1']))) == []


def panda_handler(stream_body: str, seen: list[httpx.Request]) -> Handler:
    final = trial_json(id=7, state="completed", value=0.7)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/api/v1/studies" and request.method == "POST":
            return httpx.Response(201, json=study_json(id=3, mode="panda"))
        if path == "/api/v1/studies/3/trials":
            return httpx.Response(200, json={"items": [trial_json(id=7)], "total": 1})
        if path == "/api/v1/trials/7/stream":
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=stream_body.encode(),
            )
        if path == "/api/v1/trials/7/control":
            return httpx.Response(202, json={"id": 1, "trial_id": 7, **json.loads(request.content)})
        if path == "/api/v1/trials/7":
            return httpx.Response(200, json=final)
        return httpx.Response(404, json={"detail": "no route"})

    return handler


def test_panda_run_streams_epochs_and_sends_controls() -> None:
    end = json.dumps(trial_json(id=7, state="completed", value=0.7))
    seen: list[httpx.Request] = []
    client, _ = make_client(panda_handler(SSE_BODY + f"event: end\ndata: {end}\n\n", seen))
    run = client.panda({"learning_rate": 0.1, "epochs": 3}, dataset="moons")
    body = json.loads(seen[0].content)
    assert body["mode"] == "panda" and body["params"] == {"learning_rate": 0.1, "epochs": 3}
    assert body["objective"] == {"dataset": "moons", "metric": "dev_loss", "direction": "minimize"}
    epochs = list(run.stream())
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[0].learning_rate == 0.1
    assert run.state == "completed" and run.trial.value == 0.7
    assert seen[-1].headers["accept"] == "text/event-stream"

    run.pause()
    run.set(learning_rate=0.01)
    run.rollback(epoch=2)
    run.resume()
    run.stop()
    controls = [json.loads(r.content) for r in seen if r.url.path.endswith("/control")]
    assert controls == [
        {"action": "pause"},
        {"action": "set", "params": {"learning_rate": 0.01}},
        {"action": "rollback", "epoch": 2},
        {"action": "resume"},
        {"action": "stop"},
    ]
    with pytest.raises(ValueError):
        run.set()


def test_stream_without_end_event_reads_the_final_state() -> None:
    seen: list[httpx.Request] = []
    client, _ = make_client(panda_handler(SSE_BODY, seen))
    run = client.panda({"learning_rate": 0.1}, dataset="moons", metric="dev_accuracy")
    assert json.loads(seen[0].content)["objective"]["direction"] == "maximize"
    assert len(list(run.stream())) == 3
    assert run.state == "completed" and seen[-1].url.path == "/api/v1/trials/7"
    # any server-run trial can be followed the same way
    trial = client.get_trial(7)
    assert [e.epoch for e in trial.stream()] == [1, 2, 3]


def test_stream_reconnects_and_skips_replayed_epochs() -> None:
    end = json.dumps(trial_json(id=7, state="completed", value=0.7))
    first = 'event: epoch\nid: 1\ndata: {"epoch": 1, "dev_loss": 1}\n\n'
    calls = {"n": 0}

    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[override]
            yield first.encode()
            raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stream"):
            calls["n"] += 1
            if calls["n"] == 1:
                return httpx.Response(200, stream=Broken())
            replay = first + 'event: epoch\nid: 2\ndata: {"epoch": 2, "dev_loss": 0.5}\n\n'
            return httpx.Response(200, content=(replay + f"event: end\ndata: {end}\n\n").encode())
        return panda_handler("", [])(request)

    client, sleeps = make_client(handler)
    run = client.panda({"learning_rate": 0.1}, dataset="moons")
    assert [e.epoch for e in run.stream()] == [1, 2]
    assert calls["n"] == 2 and len(sleeps) == 1


def test_stream_rollback_replaces_history() -> None:
    body = "".join(
        f'event: epoch\ndata: {{"epoch": {n}, "dev_loss": {n}}}\n\n' for n in (1, 2, 3, 2, 3, 4)
    )
    client, _ = make_client(panda_handler(body + "event: end\ndata: {}\n\n", []))
    run = client.panda({"learning_rate": 0.1}, dataset="moons")
    assert len(list(run.stream())) == 6
    assert [e.epoch for e in run.history] == [1, 2, 3, 4]


def test_stream_rollback_event_rewinds_the_history_and_yields_no_epoch() -> None:
    """The server's `rollback` event ({"epoch": N}, see service/api/routes/trials.py) is not an
    epoch: epochs 1..N are kept as they were and the ones after N are replaced."""

    def ep(n: int, loss: float) -> str:
        return f'event: epoch\nid: {n}\ndata: {{"epoch": {n}, "dev_loss": {loss}}}\n\n'

    body = (
        "".join(ep(n, 1.0 / n) for n in (1, 2, 3, 4))
        + 'event: rollback\ndata: {"epoch": 2}\n\n'
        + "".join(ep(n, 10.0 + n) for n in (3, 4, 5))
        + "event: end\ndata: {}\n\n"
    )
    client, _ = make_client(panda_handler(body, []))
    run = client.panda({"learning_rate": 0.1}, dataset="moons")
    yielded = list(run.stream())
    assert [e.epoch for e in yielded] == [1, 2, 3, 4, 3, 4, 5]
    assert all(e.dev_loss is not None for e in yielded)
    assert [(e.epoch, e.dev_loss) for e in run.history] == [
        (1, 1.0),
        (2, 0.5),
        (3, 13.0),
        (4, 14.0),
        (5, 15.0),
    ]


# ---- the async twin --------------------------------------------------------------------------


def test_async_client_has_the_same_behaviour() -> None:
    server = AskTellServer(n_trials=4)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def main() -> None:
        flaky = Flaky(1, "503")
        async with AsyncClient(
            "http://hp.test", transport=httpx.MockTransport(flaky), sleep=fake_sleep
        ) as client:
            assert (await client.get_study(1)).id == 1
            assert len(flaky.requests) == 2 and len(sleeps) == 1
        async with AsyncClient(
            "http://hp.test", transport=httpx.MockTransport(server), sleep=fake_sleep
        ) as client:
            study = await client.get_study(1)
            trial = await study.ask()
            assert await trial.report(1, 0.3) is False
            await trial.tell(0.3)
            assert trial.state == "completed"

            async def objective(params: dict[str, Any], trial: hpsearch.Trial) -> float:
                await trial.report(1, 0.5)
                return 0.5

            def sync_objective(params: dict[str, Any], trial: Any) -> float:
                assert trial.report(1, 0.5) is False  # blocking proxy in a thread
                if trial.number == 3:
                    raise TrialPruned
                return 0.6

            done = await study.optimize(objective, n_trials=1)
            assert [t.state for t in done] == ["completed"]
            done = await study.optimize(sync_objective, n_jobs=2)
            assert [t.state for t in done] == ["completed", "pruned"]
            with pytest.raises(ConflictError):
                await study.ask()

        async with AsyncClient(
            "http://hp.test",
            transport=httpx.MockTransport(panda_handler(SSE_BODY + "event: end\ndata: {}\n\n", [])),
        ) as client:
            run = await client.panda({"learning_rate": 0.1}, dataset="moons")
            epochs = [e.epoch async for e in run.stream()]
            assert epochs == [1, 2, 3]
            await run.pause()

    asyncio.run(main())


def _public_methods(cls: type) -> dict[str, Any]:
    return {n: getattr(cls, n) for n in dir(cls) if not n.startswith("_")}


def test_async_client_has_the_public_methods_of_client() -> None:
    sync, asyn = _public_methods(Client), _public_methods(AsyncClient)
    assert "close" in sync and "aclose" in asyn
    sync.pop("close")
    asyn.pop("aclose")
    assert sorted(sync) == sorted(asyn)
    for name, method in sync.items():
        if not callable(method):
            continue
        # the same parameters (annotations of results differ: Iterator vs AsyncIterator...)
        params = list(inspect.signature(method).parameters.values())
        aparams = list(inspect.signature(asyn[name]).parameters.values())
        assert [(p.name, p.kind, p.default) for p in params] == [
            (p.name, p.kind, p.default) for p in aparams
        ], name


def test_client_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HPSEARCH_URL", "http://elsewhere:9/")
    monkeypatch.setenv("HPSEARCH_API_TOKEN", "tok")
    with Client() as client:
        assert client.url == "http://elsewhere:9"
        assert client.headers["Authorization"] == "Bearer tok"
    monkeypatch.delenv("HPSEARCH_URL")
    assert Client(token="").url == hpsearch.DEFAULT_URL


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import hpsearch; from hpsearch import Client; "
        "bad = [m for m in ('pandas', 'engine', 'service', 'samplers', 'numpy') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_optimize_with_threads_stops_and_raises_when_the_server_fails() -> None:
    server = AskTellServer(n_trials=50)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tell") and len(server.trials) >= 3:
            return httpx.Response(500, json={"detail": "database is on fire"})
        return server(request)

    client, _ = make_client(handler)
    study = client.get_study(1)
    with pytest.raises(ServerError, match="on fire"):
        study.optimize(lambda p, t: 0.5, n_trials=50, n_jobs=3)
    assert len(server.trials) <= 6  # the loop stopped instead of asking on
