"""Random search vs coarse-to-fine on digits, with the course's recipe for the search space.

Learning rate on a log scale, momentum β and Adam β1 on a 1 − log scale (only for the optimiser
that uses them), batch size as a power of two, hidden units log-uniform. Two Caviar studies with
the same budget run side by side on the server; the script prints both bests.

    python examples/course_recipe_digits.py --server http://127.0.0.1:8000 --n-trials 30
"""

from __future__ import annotations

import argparse
import sys

from hpsearch import Client, HpsearchError, hp

SPACE = {
    "learning_rate": hp.log_float(1e-4, 1.0),
    "optimizer": hp.categorical(["momentum", "adam"]),
    "beta": hp.one_minus_log_float(0.9, 0.999, condition={"optimizer": ["momentum"]}),
    "beta1": hp.one_minus_log_float(0.8, 0.99, condition={"optimizer": ["adam"]}),
    "batch_size": hp.power_of_two(16, 256),
    "hidden_units": hp.int_(16, 128, log=True),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=None, help="hpsearch URL (default $HPSEARCH_URL)")
    p.add_argument("--token", default=None, help="API token (default $HPSEARCH_API_TOKEN)")
    p.add_argument("--n-trials", type=int, default=24, help="trials per study")
    p.add_argument("--epochs", type=int, default=15, help="epochs per trial")
    p.add_argument("--rounds", type=int, default=3, help="coarse-to-fine rounds")
    p.add_argument("--workers", type=int, default=1, help="parallel trials per study")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    objective = {
        "dataset": "digits",
        "metric": "dev_accuracy",
        "direction": "maximize",
        "human_level_error": 0.01,
        "fixed": {"epochs": args.epochs, "n_layers": 1, "activation": "relu"},
    }
    samplers = {
        "random": {"type": "random"},
        "coarse_to_fine": {"type": "coarse_to_fine", "rounds": args.rounds, "top_fraction": 0.25},
    }
    try:
        with Client(args.server, token=args.token) as client:
            studies = {
                label: client.create_study(
                    f"digits-{label}",
                    mode="caviar",
                    objective=objective,
                    space=SPACE,
                    sampler=sampler,
                    n_trials=args.n_trials,
                    n_workers=args.workers,
                    seed=args.seed,
                )
                for label, sampler in samplers.items()
            }
            for label, study in studies.items():
                print(f"{label}: study {study.id}", flush=True)
                study.wait(progress=not args.quiet, poll=0.5, timeout=args.timeout)
    except HpsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    for label, study in studies.items():
        best = study.best_trial
        if best is None:
            print(f"{label:>15}: no completed trial ({study.state})")
            continue
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted(best.params.items())
        )
        print(f"{label:>15}: best dev_accuracy {best.value:.4f}  ({params})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
