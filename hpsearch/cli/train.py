"""``hpsearch train``: one local training run of the engine, Panda in a terminal.

A live progress bar shows loss, dev accuracy and the learning rate per epoch; ``--json`` prints one
JSON object (history and final metrics) instead, for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _layers(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected sizes like 64,64, got {text!r}") from exc
    return sizes


def _literal(text: str) -> Any:
    """A ``--param KEY=VALUE`` value: JSON when it parses (numbers, lists, booleans), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# Engine hyperparameters exposed as flags (design.md §3); everything else goes through --param.
_FLAGS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("learning_rate", float, "initial learning rate α0"),
    ("optimizer", str, "gd | momentum | rmsprop | adam"),
    ("beta", float, "momentum β"),
    ("beta1", float, "Adam β1"),
    ("beta2", float, "Adam β2 (and RMSprop's decay)"),
    ("epsilon", float, "Adam / RMSprop ε"),
    ("batch_size", int, "mini-batch size"),
    ("epochs", int, "passes over the training set"),
    ("layers", _layers, "hidden layer sizes, e.g. 64,64"),
    ("n_layers", int, "number of hidden layers (with --hidden-units)"),
    ("hidden_units", int, "units per hidden layer (with --n-layers)"),
    ("activation", str, "relu | leaky_relu | tanh | sigmoid"),
    ("init", str, "he | xavier | random | zeros"),
    ("l2", float, "L2 regularisation strength λ"),
    ("keep_prob", float, "inverted-dropout keep probability"),
    ("batch_norm", _bool, "batch normalisation on hidden layers (true/false)"),
    ("decay", str, "none | inverse_time | exponential | inverse_sqrt | staircase"),
    ("decay_rate", float, "learning-rate decay rate"),
    ("decay_interval", int, "epochs per step for staircase decay"),
    ("early_stopping_patience", int, "epochs without dev improvement before stopping"),
    ("seed", int, "random seed (same seed, same history)"),
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "train",
        help="train one network locally with a live progress bar",
        description="Train one network locally with the NumPy engine.",
    )
    parser.add_argument("--dataset", default="digits", help="built-in name, or a .csv / .npz path")
    parser.add_argument("--target", default="-1", help="CSV target column (name or index)")
    for name, kind, text in _FLAGS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other engine hyperparameter (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    parser.set_defaults(handler=run)


def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        params[key.strip()] = _literal(value)
    for name, _, _ in _FLAGS:
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    return params


def _load(dataset: str, target: str, seed: int) -> Any:
    import engine

    if dataset.endswith(".csv"):
        column: str | int = int(target) if target.lstrip("-").isdigit() else target
        return engine.load_csv(dataset, target=column)
    if dataset.endswith(".npz"):
        return engine.load_npz(dataset)
    return engine.load_dataset(dataset, seed=seed)


def run(args: argparse.Namespace) -> int:
    import engine
    from hpsearch.cli.progress import ProgressReporter

    try:
        params = collect_params(args)
        config = engine.TrainConfig.from_params(params)
        data = _load(args.dataset, args.target, config.seed)
        splits = engine.split_dataset(data, seed=config.seed)
    except (ValueError, engine.EngineError) as exc:
        print(f"hpsearch train: {exc}", file=sys.stderr)
        return EXIT_USAGE

    if args.json:
        result = engine.train(config, splits)
        print(json.dumps(result.to_dict()))
    else:
        with ProgressReporter(total_epochs=config.epochs) as reporter:
            result = engine.train(config, splits, reporter=reporter)
        reporter.summary(result)
    return EXIT_OK if result.status == "completed" else EXIT_FAILURE
