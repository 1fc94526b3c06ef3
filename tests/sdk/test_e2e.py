"""The SDK, the CLI and the examples against a real server (uvicorn process, SQLite)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import hpsearch
from hpsearch import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    NotFoundError,
    TrialPruned,
    ValidationError,
    hp,
)
from hpsearch.cli.main import main as cli

REPO = Path(__file__).resolve().parents[2]
LIVE_TRIAL_STATES = {"queued", "running", "paused"}

T = TypeVar("T")


def wait_for(read: Callable[[], T], ok: Callable[[T], bool], what: str, timeout: float = 30.0) -> T:
    """Poll ``read()`` until ``ok`` holds for its answer (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s; last read: {value!r}")
        time.sleep(0.05)


TINY_CAVIAR = {
    "name": "cli-sweep",
    "objective": {
        "dataset": "moons",
        "metric": "dev_accuracy",
        "direction": "maximize",
        "fixed": {"epochs": 3, "layers": [8]},
    },
    "space": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1.0, "scale": "log"},
        "batch_size": {"type": "power_of_two", "low": 16, "high": 64},
    },
    "sampler": {"type": "random"},
    "n_trials": 2,
    "n_workers": 1,
    "seed": 0,
}


@pytest.fixture(scope="module")
def client(server: Any) -> Any:
    with Client(server.url) as c:
        yield c


@pytest.fixture(scope="module")
def sgd_study(client: Client) -> Any:
    """An ask/tell study tuning SGDClassifier's alpha on a log scale, run by study.optimize."""
    X, y = load_digits(return_X_y=True)
    X_train, X_dev, y_train, y_dev = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_dev = scaler.transform(X_train), scaler.transform(X_dev)
    classes = np.unique(y)

    study = client.create_study(
        "sgd-alpha",
        mode="ask_tell",
        metric="dev_accuracy",
        space={"alpha": hp.log_float(1e-7, 1e-1)},
        sampler="random",
        n_trials=8,
        seed=0,
    )

    def objective(params: dict[str, Any], trial: hpsearch.Trial) -> float:
        if trial.number == 1:
            raise RuntimeError("simulated crash")
        if trial.number == 2:
            trial.report(1, 0.0)
            raise TrialPruned("told to stop")
        model = SGDClassifier(alpha=params["alpha"], random_state=0)
        accuracy = 0.0
        for epoch in (1, 2):
            model.partial_fit(X_train, y_train, classes=classes)
            accuracy = float(model.score(X_dev, y_dev))
            assert trial.report(epoch, accuracy) is False  # no pruner
        return accuracy

    finished = study.optimize(objective, n_trials=20, n_jobs=2)
    return study, finished


def test_optimize_tunes_sgd_alpha_on_a_log_scale(sgd_study: Any) -> None:
    study, finished = sgd_study
    assert study.direction == "maximize"  # inferred from the metric's name
    assert len(finished) == 8  # the 9th ask answered 409: the study was full
    assert study.state == "completed" and study.n_done == 8
    states = {t.number: t.state for t in finished}
    assert states[1] == "failed" and states[2] == "pruned"
    assert sum(s == "completed" for s in states.values()) == 6
    alphas = [t.params["alpha"] for t in finished]
    assert all(1e-7 <= a <= 1e-1 for a in alphas)
    logs = sorted(math.log10(a) for a in alphas)
    assert logs[-1] - logs[0] > 2  # spread over decades, not bunched near 0.1
    best = study.best_trial
    assert isinstance(best, hpsearch.Trial) and best.value is not None and best.value > 0.85
    assert best.value == max(t.value for t in finished if t.state == "completed")

    failed = study.trials(state="failed")
    assert [t.number for t in failed] == [1]
    assert failed[0].error == "RuntimeError: simulated crash"
    detail = best.refresh()
    assert [e.epoch for e in detail.history] == [1, 2]
    assert detail.history[-1].value == best.value

    df = study.to_dataframe()
    assert len(df) == 8 and "params_alpha" in df.columns
    assert set(df["state"]) == {"completed", "failed", "pruned"}

    with pytest.raises(ConflictError, match="completed"):
        study.ask()


def test_errors_map_to_the_sdk_family(client: Client) -> None:
    with pytest.raises(ValidationError) as info:
        client.create_study(
            "bad",
            mode="ask_tell",
            metric="acc",
            space={"lr": {"type": "float", "low": 2.0, "high": 1.0}},
            n_trials=2,
        )
    assert info.value.status_code == 422
    assert info.value.field == "space.lr.low"
    with pytest.raises(ValidationError) as info:
        client.create_study("bad", mode="ask_tell", metric="acc", space={"x": hp.float_(0, 1)})
    assert info.value.field == "n_trials"
    with pytest.raises(NotFoundError) as nf:
        client.get_study(999_999)
    assert nf.value.status_code == 404 and "not found" in nf.value.message
    with pytest.raises(NotFoundError):
        client.get_trial(999_999)


def test_datasets_upload_and_list(client: Client, tmp_path: Path) -> None:
    rows = "\n".join(f"{i % 5},{(i * 7) % 3},{i % 2}" for i in range(20))
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,label\n" + rows + "\n")
    ds = client.upload_dataset(path, name="tiny-sdk", target="label")
    assert isinstance(ds, hpsearch.Dataset)
    assert (ds.name, ds.task, ds.n_samples, ds.n_features) == ("tiny-sdk", "binary", 20, 2)
    names = {d.name: d for d in client.list_datasets()}
    assert names["digits"].builtin and not names["tiny-sdk"].builtin
    with pytest.raises(ConflictError):
        client.upload_dataset(path, name="tiny-sdk")


def test_wrong_or_missing_token_is_auth_error(token_server: Any) -> None:
    with Client(token_server.url) as anonymous, pytest.raises(AuthError) as info:
        anonymous.list_studies()
    assert info.value.status_code == 401
    with Client(token_server.url, token="wrong") as wrong, pytest.raises(AuthError):
        wrong.list_studies()
    with Client(token_server.url, token="right-token") as right:
        assert isinstance(right.list_studies(), list)


def test_panda_run_streams_its_epochs(client: Client) -> None:
    run = client.panda(
        {"learning_rate": 0.1, "epochs": 4, "layers": [8], "optimizer": "adam"},
        dataset="moons",
        metric="dev_accuracy",
    )
    assert run.study.mode == "panda"
    epochs = list(run.stream())
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert all(e.dev_loss is not None and e.learning_rate == 0.1 for e in epochs)
    assert run.finished and run.state == "completed"
    assert run.trial.value is not None
    with pytest.raises(ConflictError):
        run.pause()


# A Panda run far too long to end on its own while a test steers it (it is stopped by the test):
# moons with a tiny net trains an epoch in milliseconds.
LONG_PANDA = {
    "learning_rate": 0.05,
    "optimizer": "momentum",
    "epochs": 100_000,
    "layers": [4],
    "batch_size": 256,
    "seed": 0,
}


def test_panda_controls_steer_a_real_run(client: Client) -> None:
    """pause → paused, set while paused → the new rate from the next epoch on, resume,
    rollback → the history goes on from the checkpoint, stop → stopped."""
    lr0, lr1, k = LONG_PANDA["learning_rate"], 0.007, 1
    run = client.panda(LONG_PANDA, dataset="moons", metric="dev_loss")

    def read() -> hpsearch.Trial:
        return client.get_trial(run.id)

    def epochs(t: hpsearch.Trial) -> list[int]:
        return [e.epoch for e in t.history]

    try:
        wait_for(read, lambda t: len(t.history) >= k + 1, "epochs trained before the pause")

        run.pause()
        paused = wait_for(read, lambda t: t.state == "paused", "paused trial")
        p = paused.history[-1].epoch
        assert epochs(paused) == list(range(1, p + 1))
        assert all(e.learning_rate == pytest.approx(lr0) for e in paused.history)

        run.set(learning_rate=lr1)  # held by the paused worker, applied from epoch p + 1
        still = read()
        assert still.state == "paused" and epochs(still) == epochs(paused)

        run.resume()
        resumed = wait_for(
            read, lambda t: t.state == "running" and len(t.history) >= p + 2, "epochs after resume"
        )
        assert epochs(resumed) == list(range(1, len(resumed.history) + 1))
        rates = {e.epoch: e.learning_rate for e in resumed.history}
        assert all(rates[e] == pytest.approx(lr0) for e in range(1, p + 1))
        assert all(rates[e] == pytest.approx(lr1) for e in rates if e > p)

        before = {e.epoch: e for e in resumed.history}
        run.rollback(epoch=k)
        # The checkpoint of epoch k holds the weights, optimizer, RNG and hyperparameters of
        # then: every epoch trained at lr1 (all after p > k) is gone and training goes on at lr0.
        after = wait_for(
            read,
            lambda t: (
                len(t.history) >= k + 1
                and all(e.learning_rate == pytest.approx(lr0) for e in t.history)
            ),
            "history rewound to the checkpoint",
        )
        assert epochs(after) == list(range(1, len(after.history) + 1))
        # Epochs 1..k are kept and epoch k + 1 is trained again from the same state (weights,
        # optimizer, RNG, rate) as the first time: the same losses, give or take float32
        # rounding (one epoch on moons moves the loss by ~1e-2; without the restore the replay
        # would start from the later, lower-loss weights).
        for e in after.history[: k + 1]:
            assert e.train_loss == pytest.approx(before[e.epoch].train_loss, rel=1e-4)
            assert e.dev_loss == pytest.approx(before[e.epoch].dev_loss, rel=1e-4)
        assert after.state == "running"

        run.stop()
        final = wait_for(read, lambda t: t.finished, "finished trial")
        assert final.state == "stopped" and final.error == "stopped by request"
        assert epochs(final) == list(range(1, len(final.history) + 1))
        with pytest.raises(ConflictError):
            run.resume()
    finally:
        if not read().finished:
            run.stop()


def test_async_client_ask_tell(server: Any) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(server.url) as aclient:
            study = await aclient.create_study(
                mode="ask_tell", metric="loss", space={"x": hp.float_(-2, 2)}, n_trials=4
            )
            assert study.direction == "minimize"

            async def objective(params: dict[str, Any], trial: hpsearch.Trial) -> float:
                await trial.report(1, params["x"] ** 2 + 1)
                return params["x"] ** 2

            done = await study.optimize(objective, n_jobs=2)
            assert study.state == "completed"
            return done

    done = asyncio.run(main())
    assert [t.state for t in done] == ["completed"] * 4


# A Caviar study whose trials are far too long to end on their own: only a stop ends it.
LONG_CAVIAR: dict[str, Any] = {
    "objective": {
        "dataset": "moons",
        "metric": "dev_accuracy",
        "direction": "maximize",
        "fixed": {"epochs": 100_000, "layers": [4], "batch_size": 256},
    },
    "space": {"learning_rate": hp.log_float(1e-3, 1e-1)},
    "sampler": "random",
    "n_trials": 3,
    "n_workers": 1,
    "seed": 0,
}


def check_stopped(study: Any, trials: list[Any], running_id: int) -> None:
    """After study.stop(): the study is stopped and every trial too: the one that was running by
    its stop control, any other before it started."""
    assert study.state == "stopped" and study.finished
    assert trials and all(t.state == "stopped" for t in trials), [
        (t.number, t.state) for t in trials
    ]
    by_id = {t.id: t for t in trials}
    assert by_id[running_id].error == "stopped by request"
    for t in trials:
        if t.id != running_id:  # never started
            assert t.error == "study stopped before the trial started"


def test_study_stop_ends_a_caviar_study_with_long_trials(client: Client) -> None:
    study = client.create_study("stop-me", **LONG_CAVIAR)
    try:
        running = wait_for(lambda: study.trials(state="running"), bool, "a running trial")
        assert study.stop() is study and study.state == "stopped"
        trials = wait_for(
            study.trials,
            lambda ts: not any(t.state in LIVE_TRIAL_STATES for t in ts),
            "every trial finished",
        )
        study.refresh()
        check_stopped(study, trials, running[0].id)
        assert client.get_trial(running[0].id).history  # the epochs trained before the stop
        assert study.stop().state == "stopped"  # stopping again changes nothing
    finally:
        client.stop_study(study.id)


async def await_for(
    read: Callable[[], Any], ok: Callable[[Any], bool], what: str, timeout: float = 30.0
) -> Any:
    """wait_for with an async ``read``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s; last read: {value!r}")
        await asyncio.sleep(0.05)


def test_study_stop_through_the_async_client(server: Any) -> None:
    async def main() -> None:
        async with AsyncClient(server.url) as aclient:
            study = await aclient.create_study("stop-me-async", **LONG_CAVIAR)
            try:
                running = await await_for(
                    lambda: study.trials(state="running"), bool, "a running trial"
                )
                assert await study.stop() is study and study.state == "stopped"
                trials = await await_for(
                    study.trials,
                    lambda ts: not any(t.state in LIVE_TRIAL_STATES for t in ts),
                    "every trial finished",
                )
                await study.refresh()
                check_stopped(study, trials, running[0].id)
            finally:
                await aclient.stop_study(study.id)

    asyncio.run(main())


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_studies_list_show_and_export(
    server: Any, sgd_study: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    study, _ = sgd_study
    assert cli(["studies", "list", "--server", server.url]) == 0
    out = capsys.readouterr().out
    assert "sgd-alpha" in out and "ask_tell" in out

    assert cli(["--server", server.url, "studies", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert study.id in [s["id"] for s in listed]

    assert cli(["studies", "show", str(study.id), "--server", server.url]) == 0
    out = capsys.readouterr().out
    assert f"best trial: #{study.best_trial.number}" in out
    assert "completed 6" in out and "failed 1" in out and "pruned 1" in out
    assert "best so far" in out and any(ch in out for ch in "▁▂▃▄▅▆▇█")

    target = tmp_path / "trials.csv"
    assert cli(["export", str(study.id), "--server", server.url, "-o", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert lines[0].startswith("number,id,state,value") and "params_alpha" in lines[0]
    assert len(lines) == 9

    assert cli(["export", str(study.id), "--format", "json", "--server", server.url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study"]["id"] == study.id and len(doc["trials"]) == 8

    assert cli(["studies", "show", "999999", "--server", server.url]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_sweep_follows_a_caviar_study(
    server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(TINY_CAVIAR))
    assert cli(["sweep", str(spec), "--server", server.url, "--poll", "0.2"]) == 0
    captured = capsys.readouterr()
    assert "cli-sweep" in captured.out and "best trial #" in captured.out
    assert "completed" in captured.err


def test_cli_sweep_bad_specs(
    server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.loads(json.dumps(TINY_CAVIAR))
    bad["space"]["learning_rate"]["low"] = 2.0
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps(bad))
    assert cli(["sweep", str(spec), "--server", server.url]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: space.learning_rate.low:" in err

    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "n_trials": 2,\n}\n')
    assert cli(["sweep", str(broken), "--server", server.url]) == 2
    assert "invalid JSON at line 3, column 1" in capsys.readouterr().err

    assert cli(["sweep", str(tmp_path / "missing.json"), "--server", server.url]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_server_down_and_wrong_token(
    token_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
    assert cli(["studies", "list", "--server", dead]) == 1
    assert "cannot reach the hpsearch server" in capsys.readouterr().err
    assert cli(["studies", "list", "--server", token_server.url, "--token", "nope"]) == 2
    assert "token is missing or wrong" in capsys.readouterr().err
    assert cli(["studies", "list", "--server", token_server.url, "--token", "right-token"]) == 0


def test_cli_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["sweep"], ["studies"], ["export"], ["export", "1", "--format", "xml"]):
        with pytest.raises(SystemExit) as exc:
            cli(argv)
        assert exc.value.code == 2
    for argv in (["sweep", "--help"], ["studies", "show", "--help"], ["export", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli(argv)
        assert exc.value.code == 0
    assert "--server" in capsys.readouterr().out


def test_cli_sweep_in_process_without_server(tmp_path: Path) -> None:
    """No --server: the service runs inside the CLI process on an embedded SQLite file."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(TINY_CAVIAR | {"n_trials": 1}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    env.update(PYTHONPATH=str(REPO), HPSEARCH_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "hpsearch", "sweep", str(spec), "--poll", "0.2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "in-process" in proc.stderr and "best trial #0" in proc.stdout
    assert (tmp_path / "hpsearch.db").exists()  # the default sqlite:///./hpsearch.db


# ---- the examples ------------------------------------------------------------------------------


def run_example(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def test_example_ask_tell_sklearn(server: Any) -> None:
    proc = run_example(
        "ask_tell_sklearn.py",
        "--server",
        server.url,
        "--n-trials",
        "4",
        "--n-jobs",
        "2",
        "--epochs",
        "2",
        "--sampler",
        "random",
    )
    assert proc.returncode == 0, proc.stderr
    assert "best dev accuracy" in proc.stdout


def test_example_course_recipe_digits(server: Any) -> None:
    proc = run_example(
        "course_recipe_digits.py",
        "--server",
        server.url,
        "--n-trials",
        "4",
        "--epochs",
        "2",
        "--rounds",
        "2",
        "--quiet",
        "--timeout",
        "100",
    )
    assert proc.returncode == 0, proc.stderr
    assert "random: best dev_accuracy" in proc.stdout
    assert "coarse_to_fine: best dev_accuracy" in proc.stdout


def test_example_panda_babysitting(server: Any) -> None:
    """The example steers its run for real: with --min-delta 1 no epoch after the first counts
    as an improvement, so every epoch lowers the rate (--patience 1) until it is tiny and the
    example stops the run, long before its 1000 epochs."""
    proc = run_example(
        "panda_babysitting.py",
        "--server",
        server.url,
        "--epochs",
        "1000",
        "--dataset",
        "moons",
        "--patience",
        "1",
        "--min-delta",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "epoch   2" in out and ("plateau: lr ->" in out or "blew up" in out)
    sent = re.search(r"^controls sent: (.*)$", out, re.M)
    assert sent is not None, out
    assert "set x" in sent.group(1) and "stop x1" in sent.group(1)
    # the server applied them: the rates in the streamed history went down, and the run
    # ended stopped, not completed
    rates = [float(m) for m in re.findall(r"^epoch +\d+ .* lr (\S+)$", out, re.M)]
    assert rates[0] == 0.5 and min(rates) < 0.5
    assert "final state stopped" in out
