"""Entry point of the ``hpsearch`` console script.

Exit codes follow the usual convention: 0 success, 1 a failure at run time (the server is down,
the training diverged), 2 bad usage or bad input (argparse's own code for usage errors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hpsearch import __version__
from hpsearch.cli import serve, studies, sweep, train, worker
from hpsearch.cli._client import add_global_options

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpsearch",
        description="Hyperparameter search for neural networks: train locally, sweep, serve.",
        epilog="Client commands (sweep, studies, export) take --server URL and --token TOKEN "
        "here or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"hpsearch {__version__}")
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train.register(commands)
    serve.register(commands)
    sweep.register(commands)
    studies.register(commands)  # studies list|show, export
    worker.register(commands)  # a Dask worker for the service (docs/scaling.md)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
