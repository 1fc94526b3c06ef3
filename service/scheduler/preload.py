"""What the trial processes' forkserver does once, so that every trial process starts warm.

The local pool forks one process per trial from a forkserver (service.scheduler.limits), which
imports this module before its first fork. Everything done here is inherited for free; done in
each trial process instead, it cost ~50 ms a trial (measured with bench/parallel_scaling.py's
sweep: imports of the database dialects, SQLAlchemy's mapper configuration, parsing a bundled
dataset), as much as a short trial's training. No connection is opened here: connections must
not cross a fork.
"""

from __future__ import annotations

import contextlib

import numpy  # noqa: F401
import sklearn.datasets  # noqa: F401  (2 s to import cold)
from sqlalchemy import create_engine
from sqlalchemy.orm import configure_mappers

import engine  # noqa: F401
import service.datasets
import service.scheduler.worker
import service.store  # noqa: F401
from engine.datasets import preload_bundled_datasets

configure_mappers()
# A first engine of a dialect imports and sets up that dialect; an engine never connects
# until it is used, so this one holds no connection.
create_engine("sqlite://").dispose()
with contextlib.suppress(ImportError):
    create_engine("postgresql+psycopg://").dispose()
preload_bundled_datasets()
