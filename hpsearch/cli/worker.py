"""``hpsearch worker --scheduler tcp://HOST:8786``: a Dask worker that can run hpsearch trials.

A thin wrapper around ``dask worker`` (dask.distributed's own CLI): it makes the hpsearch
packages importable in the worker processes (PYTHONPATH), gives each trial process one BLAS
thread and one task thread (trials are CPU-bound NumPy), and starts the worker under a nanny,
which restarts a worker process that dies. With ``--host`` the worker, its nanny and its
diagnostics page all listen on that address (plain ``dask worker --host`` serves the page on
every interface). The worker reaches the database itself, with the URL the server submits with
each trial: it must be a server database (Postgres) that this machine can reach. The
equivalent plain command:

    OPENBLAS_NUM_THREADS=1 DASK_DISTRIBUTED__WORKER__DAEMON=False \
        dask worker tcp://HOST:8786 --nworkers N --nthreads 1
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "worker",
        help="start a Dask worker for the service's trials (HPSEARCH_DASK_SCHEDULER)",
        description="Start a Dask worker connected to the scheduler the service submits to.",
    )
    p.add_argument(
        "--scheduler",
        default=os.environ.get("HPSEARCH_DASK_SCHEDULER"),
        help="scheduler address, e.g. tcp://10.0.0.5:8786 (default: HPSEARCH_DASK_SCHEDULER)",
    )
    p.add_argument(
        "--nworkers", default="1", help="worker processes on this machine (default 1; 'auto')"
    )
    p.add_argument("--nthreads", type=int, default=1, help="threads per process (default 1)")
    p.add_argument("--name", default=None, help="worker name (default: Dask's)")
    p.add_argument("--memory-limit", default=None, help="per process, e.g. 2GiB (default: auto)")
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on, the worker's diagnostics page included (default: Dask's)",
    )
    p.add_argument(
        "--dashboard-address",
        default=None,
        help="the worker's diagnostics page, e.g. 127.0.0.1:0 (default: HOST:0 with --host, "
        "else Dask's, every interface)",
    )
    p.add_argument("--no-dashboard", action="store_true", help="no diagnostics page on the worker")
    p.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    p.set_defaults(handler=run_worker)


def command(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", str(args.scheduler)]
    argv += ["--nworkers", str(args.nworkers), "--nthreads", str(args.nthreads)]
    dashboard = getattr(args, "dashboard_address", None)
    if dashboard is None and args.host:
        # `dask worker --host` binds the worker and its nanny there but the diagnostics page on
        # every interface (its default ":0"): keep them all on the address asked for.
        host = str(args.host)
        dashboard = f"[{host}]:0" if ":" in host else f"{host}:0"
    for flag, value in (
        ("--name", args.name),
        ("--memory-limit", args.memory_limit),
        ("--host", args.host),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if getattr(args, "no_dashboard", False):
        argv.append("--no-dashboard")
    elif dashboard is not None:
        argv += ["--dashboard-address", str(dashboard)]
    return argv


def run_worker(args: argparse.Namespace) -> int:
    if not args.scheduler:
        print("hpsearch worker: give --scheduler tcp://HOST:8786", file=sys.stderr)
        return 2
    try:
        import distributed  # noqa: F401
    except ImportError:
        print(
            "hpsearch worker: dask.distributed is not installed: pip install 'hpsearch[dask]'",
            file=sys.stderr,
        )
        return 1
    argv = command(args)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    # With per-trial memory/time limits a trial runs in a child process of the worker, and a
    # nanny's daemonic worker process may not have children.
    env.setdefault("DASK_DISTRIBUTED__WORKER__DAEMON", "False")
    if args.dry_run:
        print(" ".join(argv))
        return 0
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)
    return 0  # pragma: no cover - exec does not return
