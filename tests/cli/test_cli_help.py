"""``--help`` of every command and subcommand: exit 0 and its usage on stdout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hpsearch.cli import main

COMMANDS = [
    [],
    ["train"],
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["sweep"],
    ["studies"],
    ["studies", "list"],
    ["studies", "show"],
    ["export"],
    ["worker"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hpsearch")
def test_help_exits_0_with_usage_on_stdout(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: {' '.join(['hpsearch', *command])} ")
    assert "-h, --help" in out
    assert err == ""


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ([], ["train", "serve", "db", "sweep", "studies", "export", "worker", "--server"]),
        (["db"], ["upgrade"]),
        (["studies"], ["list", "show"]),
        (["sweep"], ["SPEC", "--server"]),
        (["db", "upgrade"], ["--database-url"]),
    ],
)
def test_help_names_the_subcommands_and_options(
    command: list[str], mentions: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    for word in mentions:
        assert word in out


def test_help_of_the_console_script() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    proc = subprocess.run(
        [sys.executable, "-m", "hpsearch", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: hpsearch ")
