"""``hpsearch train``: one local run of the engine from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hpsearch.cli import main


def test_train_json_prints_history_and_final_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["train", "--dataset", "moons", "--layers", "8,8", "--epochs", "4", "--seed", "3", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["status"] == "completed"
    assert [row["epoch"] for row in out["history"]] == [1, 2, 3, 4]
    assert {"train_loss", "dev_loss", "dev_accuracy", "learning_rate"} <= out["history"][0].keys()
    assert 0.0 <= out["metrics"]["dev_accuracy"] <= 1.0


def test_train_flags_reach_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--dataset", "iris", "--layers", "8", "--epochs", "3", "--json"]
    main([*args, "--learning-rate", "0.05", "--decay", "inverse_time", "--decay-rate", "1.0"])
    history = json.loads(capsys.readouterr().out)["history"]
    # inverse-time decay α0/(1 + d·epoch) with epoch the count of finished epochs
    assert [round(row["learning_rate"], 6) for row in history] == [0.05, 0.025, round(0.05 / 3, 6)]


def test_same_seed_same_history(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--dataset", "moons", "--layers", "6", "--epochs", "3", "--json"]
    main([*args, "--seed", "11"])
    first = json.loads(capsys.readouterr().out)["history"]
    main([*args, "--seed", "11"])
    second = json.loads(capsys.readouterr().out)["history"]
    main([*args, "--seed", "12"])
    other = json.loads(capsys.readouterr().out)["history"]
    assert first == second
    assert first != other


def test_generic_param_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["train", "--dataset", "moons", "--epochs", "2", "--json", "--param", "layers=[5, 5]"]
    )
    assert code == 0
    assert len(json.loads(capsys.readouterr().out)["history"]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--optimizer", "sgd-with-hope"], "optimizer"),
        (["--param", "no_such_knob=1"], "no_such_knob"),
        (["--param", "novalue"], "KEY=VALUE"),
        (["--dataset", "no-such-dataset"], "no-such-dataset"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--epochs", "1", *argv]) == 2
    assert message in capsys.readouterr().err


def test_unparseable_flag_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2


def test_diverging_run_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "train",
            "--dataset",
            "diabetes",
            "--layers",
            "32,32",
            "--epochs",
            "20",
            "--optimizer",
            "gd",
            "--learning-rate",
            "50",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "diverged"
    assert out["diverged_epoch"] >= 1
    assert code == 1


def test_progress_bar_mode_runs_as_a_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hpsearch", "train", "--dataset", "moons", "--epochs", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "completed" in proc.stderr
    assert "dev acc" in proc.stderr
