"""The ``hpsearch`` command line: one sub-command per module in this package."""

from hpsearch.cli.main import main

__all__ = ["main"]
