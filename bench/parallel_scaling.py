"""Wall time of a fixed Caviar sweep with 1 and 2 workers, through the real service.

A uvicorn server (`python -m service.server`, scheduler on, SQLite temp file, 127.0.0.1) runs an
8-trial Caviar study on digits twice: n_workers=1, then n_workers=2. Every trial does the same
work (fixed layers, batch size and epochs; only the learning rate is sampled, which does not
change the cost of an epoch), so the ideal speed-up is 2x. Timed from POST /studies to the study
leaving "running"; each trial also reports its own wall time (started_at -> finished_at).

    python bench/parallel_scaling.py                  # 8 trials x 40 epochs, 1 and 2 workers
    python bench/parallel_scaling.py --trials 8 --epochs 3 --repeats 2 --json out.json

The trial's engine runs one BLAS thread (OPENBLAS/OMP/MKL_NUM_THREADS=1 in the server's
environment), so two workers need two cores: on a machine loaded by other jobs the speed-up is
bounded by the idle CPU, which is why the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_info() -> str:
    try:
        import numpy  # noqa: F401  (loads the BLAS threadpoolctl reports)
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl ships with the dev extras
        return "threadpoolctl not installed"
    parts = []
    for p in threadpool_info():
        if p.get("user_api") == "blas":
            parts.append(
                f"{p.get('internal_api')} {p.get('version')} "
                f"({p.get('architecture')} kernel, {p.get('num_threads')} threads)"
            )
    return "; ".join(parts) or "no BLAS found"


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(tmp: Path, max_workers: int) -> Iterator[str]:
    import httpx

    from service.core.db import upgrade

    url = f"sqlite:///{tmp / 'scaling.db'}"
    upgrade(url)
    port = free_port()
    env = dict(os.environ)
    env.update(
        HPSEARCH_DATABASE_URL=url,
        HPSEARCH_PORT=str(port),
        HPSEARCH_HOST="127.0.0.1",
        HPSEARCH_DATA_DIR=str(tmp / "data"),
        HPSEARCH_MAX_WORKERS=str(max_workers),
        HPSEARCH_RUN_SCHEDULER="true",
        HPSEARCH_LOG_LEVEL="warning",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    for var in THREAD_VARS:
        env[var] = "1"
    env.pop("HPSEARCH_API_TOKEN", None)
    env.pop("HPSEARCH_DASK_SCHEDULER", None)
    proc = subprocess.Popen([sys.executable, "-m", "service.server"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready")
            time.sleep(0.2)
        yield base + "/api/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def study_body(n_trials: int, n_workers: int, epochs: int) -> dict[str, Any]:
    return {
        "name": f"scaling-{n_workers}w",
        "mode": "caviar",
        "objective": {
            "dataset": "digits",
            "metric": "dev_accuracy",
            "direction": "maximize",
            # Fixed shape and batch size: every trial does the same number of FLOPs.
            "fixed": {
                "epochs": epochs,
                "layers": [128, 128],
                "batch_size": 32,
                "optimizer": "adam",
                "activation": "relu",
            },
        },
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "scale": "log"}},
        "sampler": {"type": "random"},
        "pruner": {"type": "none"},
        "n_trials": n_trials,
        "n_workers": n_workers,
        "seed": 0,
    }


def _ts(s: str | None) -> float | None:
    return datetime.fromisoformat(s).timestamp() if s else None


def run_sweep(api: str, n_trials: int, n_workers: int, epochs: int) -> dict[str, Any]:
    import httpx

    with httpx.Client(base_url=api, timeout=60) as c:
        t0 = time.perf_counter()
        sid = c.post("/studies", json=study_body(n_trials, n_workers, epochs)).raise_for_status()
        sid = sid.json()["id"]
        while True:
            study = c.get(f"/studies/{sid}").raise_for_status().json()
            if study["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        trials = c.get(f"/studies/{sid}/trials", params={"limit": 1000}).raise_for_status()
        items = trials.json()["items"]
    per_trial = [
        f - s
        for s, f in ((_ts(t.get("started_at")), _ts(t.get("finished_at"))) for t in items)
        if s is not None and f is not None
    ]
    return {
        "state": study["state"],
        "completed": study["progress"].get("completed", 0),
        "wall_s": wall,
        "mean_trial_s": sum(per_trial) / len(per_trial) if per_trial else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=1, help="best of N per worker count")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    for var in THREAD_VARS:
        os.environ[var] = "1"
    print(f"BLAS: {blas_info()}")
    print(f"cpus: {os.cpu_count()}   load average before: {loadavg()}")
    res: dict[str, Any] = {"blas": blas_info(), "load_before": loadavg(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmpdir, server(Path(tmpdir), 2) as api:
        # Warm-up: imports, dataset load, worker pool start; not timed.
        run_sweep(api, 2, 2, 1)
        for _ in range(args.repeats):
            for workers in (1, 2):
                r = run_sweep(api, args.trials, workers, args.epochs)
                print(
                    f"  {workers} worker(s): {r['wall_s']:6.2f} s wall, "
                    f"{r['mean_trial_s']:5.2f} s per trial, {r['completed']} completed "
                    f"({r['state']}), load {loadavg()}",
                    flush=True,
                )
                best = res["runs"].get(workers)
                if best is None or r["wall_s"] < best["wall_s"]:
                    res["runs"][workers] = r
    one, two = res["runs"][1]["wall_s"], res["runs"][2]["wall_s"]
    res["speedup"] = one / two
    res["load_after"] = loadavg()
    print(
        f"\n{args.trials} trials x {args.epochs} epochs on digits (64-128-128-10, batch 32)\n"
        f"1 worker: {one:.2f} s   2 workers: {two:.2f} s   speed-up {one / two:.2f}x "
        f"(ideal 2.00x, {one / two / 2:.0%} efficiency)\nload average after: {res['load_after']}"
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
