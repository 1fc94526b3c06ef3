"""Engine training throughput (samples/s, float32) against PyTorch CPU on the same nets.

Nets (design.md §8): tiny = moons 2-5-2-1, batch 64; small = digits 64-128-128-10, batch 64;
wide = synthetic 64-512-512-10, batch 256. Both sides use Adam, shuffle every epoch, and compute
per-epoch metrics (train loss/accuracy of the epoch and a dev pass); the engine is timed through
its public ``train()`` (data preparation and initialisation included). The same thread count is
set on both (threadpoolctl for NumPy's BLAS, ``torch.set_num_threads``).

Also reports the engine's GFLOP/s on the wide net (every matmul FLOP of the ``train()`` call: 6·W
per training example plus the dev/final evaluation passes, see ``engine_flops_per_sample``)
against NumPy's float32 matmul peak (1024³ products, re-measured next to each wide run). Rates are
given per wall-clock second and per CPU second of the process (steadier on a shared machine).

    .venv/bin/python bench/engine_throughput.py            # full run (~2 min)
    .venv/bin/python bench/engine_throughput.py --quick    # smoke run (~20 s)

PyTorch is a benchmark-only dependency: ``.venv/bin/pip install torch==2.13.0``.
"""

from __future__ import annotations

import os
import sys

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pin OpenBLAS to a kernel that may not be this machine's
# best; they must be gone before NumPy loads OpenBLAS, hence a re-exec of this script only.
_PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(k in os.environ for k in _PINNED) and os.environ.get("_ENGINE_BENCH_REEXEC") != "1":
    env = {k: v for k, v in os.environ.items() if k not in _PINNED}
    env["_ENGINE_BENCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _threads_flag(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


# Every thread pool gets the same size before any library loads: threadpoolctl can only limit
# pools already loaded, and a pool loaded later (scikit-learn's OpenMP, torch's) would otherwise
# start one thread per core whose busy-waiting on a shared machine costs more than it computes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_flag(sys.argv[1:])

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from engine import Dataset, Splits, TrainConfig, load_dataset, split_dataset, train  # noqa: E402


@dataclass
class Rate:
    """Samples (or FLOPs) per wall-clock second and per CPU second of this process.

    On a shared machine the wall-clock rate drops whenever another process takes the core; the
    CPU-time rate (time.process_time) counts only the time this process ran, so it is the steadier
    figure for comparing the two libraries. With one thread the two agree on an idle machine.
    """

    wall: float
    cpu: float

    def best(self, other: Rate) -> Rate:
        return Rate(max(self.wall, other.wall), max(self.cpu, other.cpu))


class Timer:
    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = max(time.process_time() - self.cpu0, 1e-9)

    def rate(self, amount: float) -> Rate:
        return Rate(amount / self.wall, amount / self.cpu)


@dataclass
class Case:
    name: str
    splits: Splits
    layers: tuple[int, ...]
    batch_size: int
    epochs: int


def synthetic(n: int, n_features: int, n_classes: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    w = rng.standard_normal((n_features, n_classes))
    y = np.argmax(X @ w + 0.5 * rng.standard_normal((n, n_classes)), axis=1)
    return Dataset(X, y, "multiclass", n_classes, "synthetic")


def cases(quick: bool) -> list[Case]:
    scale = 0.25 if quick else 1.0
    return [
        Case("tiny", split_dataset(load_dataset("moons")), (5, 2), 64, max(20, int(100 * scale))),
        Case(
            "small", split_dataset(load_dataset("digits")), (128, 128), 64, max(5, int(20 * scale))
        ),
        Case("wide", split_dataset(synthetic(20480, 64, 10)), (512, 512), 256, 1 if quick else 3),
    ]


# -- the engine ------------------------------------------------------------------------------------


def engine_run(case: Case, lr: float = 0.001) -> Rate:
    """Training samples per second through ``engine.train``."""
    config = TrainConfig(
        layers=case.layers,
        batch_size=case.batch_size,
        epochs=case.epochs,
        optimizer="adam",
        learning_rate=lr,
        dtype="float32",
        seed=0,
    )
    with Timer() as timer:
        result = train(config, case.splits)
    assert result.status == "completed", result.error
    assert len(result.history) == case.epochs
    return timer.rate(case.epochs * len(case.splits.train))


# -- PyTorch ------------------------------------------------------------------------------------


def torch_run(case: Case, lr: float = 0.001) -> Rate:
    """The same net, loop and per-epoch metrics in PyTorch (CPU, float32)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    train_ds, dev_ds = case.splits.train, case.splits.dev
    mean, std = train_ds.X.mean(axis=0), train_ds.X.std(axis=0)
    std[std == 0] = 1.0
    X = torch.from_numpy(((train_ds.X - mean) / std).astype(np.float32))
    Xd = torch.from_numpy(((dev_ds.X - mean) / std).astype(np.float32))
    binary = train_ds.task == "binary"
    if binary:
        y = torch.from_numpy(train_ds.y.astype(np.float32)).reshape(-1, 1)
        yd = torch.from_numpy(dev_ds.y.astype(np.float32)).reshape(-1, 1)
        criterion: nn.Module = nn.BCEWithLogitsLoss()
        n_out = 1
    else:
        y = torch.from_numpy(train_ds.y.astype(np.int64))
        yd = torch.from_numpy(dev_ds.y.astype(np.int64))
        criterion = nn.CrossEntropyLoss()
        n_out = train_ds.n_classes
    sizes = [X.shape[1], *case.layers]
    modules: list[nn.Module] = []
    for n_in, n_out_h in itertools.pairwise(sizes):
        modules += [nn.Linear(n_in, n_out_h), nn.ReLU()]
    modules.append(nn.Linear(sizes[-1], n_out))
    model = nn.Sequential(*modules)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    m, bs = X.shape[0], case.batch_size
    history = []
    timer = Timer().__enter__()
    for _ in range(case.epochs):
        perm = torch.randperm(m)
        Xs, ys = X[perm], y[perm]
        total = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for a in range(0, m, bs):
            xb, yb = Xs[a : a + bs], ys[a : a + bs]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            opt.step()
            with torch.no_grad():
                total += loss.detach() * xb.shape[0]
                pred = (out[:, 0] > 0).float() if binary else out.argmax(1)
                correct += (pred == (yb[:, 0] if binary else yb)).sum()
        with torch.no_grad():
            out = model(Xd)
            dev_loss = criterion(out, yd)
            pred = (out[:, 0] > 0).float() if binary else out.argmax(1)
            dev_acc = (pred == (yd[:, 0] if binary else yd)).float().mean()
        history.append((float(total) / m, float(correct) / m, float(dev_loss), float(dev_acc)))
    timer.__exit__()
    return timer.rate(case.epochs * m)


# -- peak ---------------------------------------------------------------------------------------


def matmul_peak(n: int = 1024, repeats: int = 5) -> Rate:
    """Best float32 GFLOP/s of an n×n @ n×n product (2n³ FLOPs) through NumPy."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = Rate(0.0, 0.0)
    for _ in range(repeats):
        with Timer() as timer:
            np.matmul(a, b, out=out)
        best = best.best(timer.rate(2 * n**3 / 1e9))
    return best


def engine_flops_per_sample(case: Case) -> float:
    """Matmul FLOPs of one engine run per training sample of it.

    Training costs 6·W per example (W = number of weights: 2·W forward, 4·W backward); the engine
    also runs a 2·W forward pass over the dev set every epoch and, at the end, over train, dev and
    test for the final metrics. All of it is work done in the timed ``train()`` call.
    """
    sizes = [case.splits.train.n_features, *case.layers, case.splits.train.n_classes]
    w = sum(a * b for a, b in itertools.pairwise(sizes))
    n_train, n_dev, n_test = (len(case.splits.train), len(case.splits.dev), len(case.splits.test))
    total = case.epochs * (6 * w * n_train + 2 * w * n_dev) + 2 * w * (n_train + n_dev + n_test)
    return total / (case.epochs * n_train)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and repeats (~20 s)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (default 1)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="best of N runs (default 4, quick 1)"
    )
    parser.add_argument("--no-torch", action="store_true", help="engine only")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 4)

    with threadpool_limits(limits=args.threads):
        print(f"threads: {args.threads} (numpy via threadpoolctl; torch.set_num_threads)")
        # the machine may be shared: the load says how much to trust the absolute figures
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        for info in threadpool_info():
            print(
                "BLAS: {internal_api} {version} kernel={architecture} threads={num_threads} "
                "({filepath})".format(
                    **{
                        k: info.get(k)
                        for k in (
                            "internal_api",
                            "version",
                            "architecture",
                            "num_threads",
                            "filepath",
                        )
                    }
                )
            )
        torch_ok = False
        if not args.no_torch:
            try:
                import torch

                torch.set_num_threads(args.threads)
                torch_ok = True
                print(f"torch {torch.__version__}, threads={torch.get_num_threads()}")
            except ImportError:
                print("torch not installed: engine only (pip install torch==2.13.0)")
        peak = matmul_peak()
        print(f"numpy float32 matmul peak (1024³): {peak.wall:.1f} GFLOP/s")
        print()
        header = (
            f"{'net':<6} {'layers':<16} {'batch':>5} {'engine/s':>11} {'torch/s':>11} "
            f"{'ratio':>6} {'ratio/CPU-s':>11}"
        )
        print(header)
        print("-" * len(header))
        results: dict[str, Any] = {"threads": args.threads, "nets": {}}
        nan = Rate(float("nan"), float("nan"))
        for case in cases(args.quick):
            # interleaved and best-of-N: the machine is shared, so a burst of load elsewhere
            # should hit both sides alike and the best run is the least disturbed one
            eng, tor = Rate(0.0, 0.0), Rate(0.0, 0.0) if torch_ok else nan
            for _ in range(repeats):
                if case.name == "wide":
                    # re-measured next to each wide run so both see the same machine load
                    peak = peak.best(matmul_peak())
                eng = eng.best(engine_run(case))
                if torch_ok:
                    tor = tor.best(torch_run(case))
            sizes = "-".join(
                str(n)
                for n in (
                    case.splits.train.n_features,
                    *case.layers,
                    1 if case.splits.train.task == "binary" else case.splits.train.n_classes,
                )
            )
            ratio, ratio_cpu = eng.wall / tor.wall, eng.cpu / tor.cpu
            print(
                f"{case.name:<6} {sizes:<16} {case.batch_size:>5} {eng.wall:>11,.0f} "
                f"{tor.wall:>11,.0f} {ratio:>6.2f} {ratio_cpu:>11.2f}"
            )
            results["nets"][case.name] = {
                "layers": sizes,
                "batch_size": case.batch_size,
                "engine": eng.wall,
                "torch": tor.wall,
                "ratio": ratio,
                "engine_per_cpu_s": eng.cpu,
                "torch_per_cpu_s": tor.cpu,
                "ratio_cpu": ratio_cpu,
            }
            if case.name == "wide":
                flops = engine_flops_per_sample(case) / 1e9
                results["matmul_peak_gflops"] = peak.wall
                results["matmul_peak_gflops_cpu"] = peak.cpu
                results["wide_gflops"] = eng.wall * flops
                results["wide_gflops_cpu"] = eng.cpu * flops
        print()
        print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(
            f"numpy float32 matmul peak, best seen: {peak.wall:.1f} GFLOP/s ({peak.cpu:.1f} per CPU-s)"
        )
        print(
            f"wide net: engine {results['wide_gflops']:.1f} GFLOP/s = "
            f"{100 * results['wide_gflops'] / peak.wall:.0f}% of the matmul peak; per CPU-s "
            f"{results['wide_gflops_cpu']:.1f} = {100 * results['wide_gflops_cpu'] / peak.cpu:.0f}%"
        )
        if args.json:
            print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
