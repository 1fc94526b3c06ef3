"""What the client-side commands share: ``--server`` / ``--token``, the Client they build, and the
translation of SDK errors into clear messages and exit codes (0 ok, 1 runtime failure, 2 usage or
bad input)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

SERVER_HELP = "URL of the hpsearch server (env HPSEARCH_URL, default http://127.0.0.1:8000)"
TOKEN_HELP = "API token sent as a Bearer token (env HPSEARCH_API_TOKEN)"


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """``hpsearch --server URL --token T COMMAND ...``"""
    parser.add_argument("--server", metavar="URL", default=None, help=SERVER_HELP)
    parser.add_argument("--token", metavar="TOKEN", default=None, help=TOKEN_HELP)


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """The same options after the command (``hpsearch studies list --server URL``); SUPPRESS keeps
    a value given before the command from being overwritten by this parser's default."""
    parser.add_argument("--server", metavar="URL", default=argparse.SUPPRESS, help=SERVER_HELP)
    parser.add_argument("--token", metavar="TOKEN", default=argparse.SUPPRESS, help=TOKEN_HELP)


def server_url(args: argparse.Namespace) -> str:
    from hpsearch._base import DEFAULT_URL

    return getattr(args, "server", None) or os.environ.get("HPSEARCH_URL") or DEFAULT_URL


def server_given(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "server", None) or os.environ.get("HPSEARCH_URL"))


def make_client(args: argparse.Namespace, url: str | None = None) -> Any:
    from hpsearch import Client

    token = getattr(args, "token", None) or os.environ.get("HPSEARCH_API_TOKEN") or None
    return Client(url or server_url(args), token=token, retries=2)


def error(message: str) -> None:
    print(f"hpsearch: error: {message}", file=sys.stderr)


def report_error(exc: BaseException, url: str, source: str | None = None) -> int:
    """Print an SDK error for a human; the exit code it deserves."""
    from hpsearch.errors import (
        AuthError,
        ConflictError,
        HpsearchError,
        NotFoundError,
        ServerUnavailable,
        ValidationError,
    )

    if isinstance(exc, ServerUnavailable) and exc.status_code is None:
        error(
            f"cannot reach the hpsearch server at {url}: is it running? Start one with "
            "`hpsearch serve`, or point --server (or HPSEARCH_URL) at it."
        )
        return EXIT_FAILURE
    if isinstance(exc, ServerUnavailable):
        error(f"the server at {url} is unavailable (503): {exc.message}")
        return EXIT_FAILURE
    if isinstance(exc, AuthError):
        error(
            f"the server at {url} refused the request ({exc.status_code}): the API token is "
            "missing or wrong. Pass --token or set HPSEARCH_API_TOKEN."
        )
        return EXIT_USAGE
    if isinstance(exc, ValidationError):
        where = f"{source}: " if source else ""
        field = f"{exc.field}: " if exc.field else ""
        error(f"{where}{field}{exc.message}")
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        error(exc.message)
        return EXIT_USAGE
    if isinstance(exc, ConflictError):
        error(exc.message)
        return EXIT_FAILURE
    if isinstance(exc, HpsearchError):
        error(str(exc))
        return EXIT_FAILURE
    raise exc


def handles_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command; SDK errors become a one-line message and an exit code."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        from hpsearch.errors import HpsearchError

        try:
            return fn(args)
        except HpsearchError as exc:
            return report_error(exc, getattr(args, "_url", None) or server_url(args))
        except BrokenPipeError:
            # the reader went away (`hpsearch export 1 | head`): stay quiet, as Unix tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILURE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_FAILURE

    return run
