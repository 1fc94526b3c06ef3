"""Ask/tell: tune scikit-learn's SGDClassifier regularisation ``alpha`` on a log scale.

The objective runs here, in the client; the server samples ``alpha`` (10^U(-7, -1)), prunes
trials whose validation accuracy lags the median at the same epoch, and keeps the history.

    python examples/ask_tell_sklearn.py --server http://127.0.0.1:8000 --n-trials 20 --n-jobs 2
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from hpsearch import Client, HpsearchError, TrialPruned, hp


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=None, help="hpsearch URL (default $HPSEARCH_URL)")
    p.add_argument("--token", default=None, help="API token (default $HPSEARCH_API_TOKEN)")
    p.add_argument("--n-trials", type=int, default=20)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5, help="passes of partial_fit per trial")
    p.add_argument("--sampler", default="tpe", help="random, sobol, tpe, ...")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def make_data(seed: int) -> tuple[np.ndarray, ...]:
    X, y = load_digits(return_X_y=True)
    X_train, X_dev, y_train, y_dev = train_test_split(X, y, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_dev), y_train, y_dev


def make_objective(data: tuple[np.ndarray, ...], epochs: int, seed: int) -> Any:
    X_train, X_dev, y_train, y_dev = data
    classes = np.unique(y_train)

    def objective(params: dict[str, Any], trial: Any) -> float:
        model = SGDClassifier(alpha=params["alpha"], loss=params["loss"], random_state=seed)
        accuracy = 0.0
        for epoch in range(1, epochs + 1):
            model.partial_fit(X_train, y_train, classes=classes)
            accuracy = float(model.score(X_dev, y_dev))
            if trial.report(epoch, accuracy):
                raise TrialPruned(f"accuracy {accuracy:.3f} at epoch {epoch}")
        return accuracy

    return objective


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    objective = make_objective(make_data(args.seed), args.epochs, args.seed)
    try:
        with Client(args.server, token=args.token) as client:
            study = client.create_study(
                "sgd-alpha",
                mode="ask_tell",
                metric="dev_accuracy",
                direction="maximize",
                space={
                    "alpha": hp.log_float(1e-7, 1e-1),
                    "loss": hp.categorical(["hinge", "log_loss"]),
                },
                sampler=args.sampler,
                pruner={"type": "median", "n_startup_trials": 3},
                n_trials=args.n_trials,
                seed=args.seed,
            )
            print(f"study {study.id}: {args.n_trials} trials, {args.n_jobs} at a time", flush=True)
            trials = study.optimize(objective, n_trials=args.n_trials, n_jobs=args.n_jobs)
    except HpsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    print("trials:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    best = study.best_trial
    if best is None:
        print("no completed trial")
        return 1
    print(
        f"best dev accuracy {best.value:.4f} with alpha={best.params['alpha']:.3g}, "
        f"loss={best.params['loss']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
