"""Panda: babysit one training run — watch the dev loss epoch by epoch and steer it.

The policy is the one the course describes for a person watching curves: when the dev loss has not
improved (by more than ``--min-delta``, a fraction of the best) for ``--patience`` epochs, lower
the learning rate; when it blows up (worse than
``--blowup`` times the best so far), roll back to the best checkpoint and lower the rate; stop
once the rate is tiny.

    python examples/panda_babysitting.py --server http://127.0.0.1:8000 --epochs 40
"""

from __future__ import annotations

import argparse
import math
import sys

from hpsearch import Client, ConflictError, HpsearchError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=None, help="hpsearch URL (default $HPSEARCH_URL)")
    p.add_argument("--token", default=None, help="API token (default $HPSEARCH_API_TOKEN)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--learning-rate", type=float, default=0.5, help="deliberately high")
    p.add_argument("--patience", type=int, default=2)
    p.add_argument(
        "--min-delta",
        type=float,
        default=0.0,
        help="an epoch improves only if it beats the best dev loss by this fraction "
        "(1.0: no epoch after the first does, so every --patience epochs lowers the rate)",
    )
    p.add_argument("--factor", type=float, default=3.0, help="divide the rate by this")
    p.add_argument("--blowup", type=float, default=1.5)
    p.add_argument("--min-lr", type=float, default=1e-4)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = {
        "learning_rate": args.learning_rate,
        "optimizer": "momentum",
        "epochs": args.epochs,
        "layers": [128, 128],
        "batch_size": 16,
    }
    try:
        with Client(args.server, token=args.token) as client:
            run = client.panda(params, dataset=args.dataset, metric="dev_loss")
            print(f"panda run: study {run.study.id}, trial {run.id}", flush=True)
            lr = args.learning_rate
            best_loss, best_epoch, since_best = float("inf"), 0, 0
            ended = False
            sent: list[str] = []  # the controls the server accepted
            for epoch in run.stream():
                loss = epoch.dev_loss if epoch.dev_loss is not None else float("nan")
                acc = (
                    f"  dev acc {epoch.dev_accuracy:.3f}" if epoch.dev_accuracy is not None else ""
                )
                print(
                    f"epoch {epoch.epoch:3d}  dev loss {loss:.4f}{acc}  "
                    f"lr {epoch.learning_rate or 0:.3g}",
                    flush=True,
                )
                if loss < best_loss and (
                    math.isinf(best_loss) or loss <= best_loss * (1 - args.min_delta)
                ):
                    best_loss, best_epoch, since_best = loss, epoch.epoch, 0
                    continue
                since_best += 1
                if ended:
                    continue
                try:
                    if not loss < args.blowup * best_loss:  # NaN counts as a blow-up
                        lr /= args.factor
                        print(f"  blew up: rollback to epoch {best_epoch}, lr -> {lr:.3g}")
                        run.rollback(epoch=best_epoch)
                        sent.append("rollback")
                        run.set(learning_rate=lr)
                        sent.append("set")
                        since_best = 0
                    elif since_best >= args.patience:
                        lr /= args.factor
                        print(f"  plateau: lr -> {lr:.3g}")
                        run.set(learning_rate=lr)
                        sent.append("set")
                        since_best = 0
                    if lr < args.min_lr:
                        print("  rate tiny: stop")
                        run.stop()
                        sent.append("stop")
                        ended = True  # no more controls: the run ends at its next epoch
                except ConflictError:
                    # the run finished (completed, diverged...) before the control arrived
                    print("  the run has already ended: only watching from now on")
                    ended = True
            run.refresh()
    except HpsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = {action: sent.count(action) for action in dict.fromkeys(sent)}
    summary = ", ".join(f"{action} x{n}" for action, n in counts.items()) or "none"
    print(f"controls sent: {summary}")
    print(f"final state {run.state}, best dev loss {best_loss:.4f} at epoch {best_epoch}")
    if run.trial.error:
        print(f"({run.trial.error})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
