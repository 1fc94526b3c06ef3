"""Build samplers and pruners from their JSON configs (design.md §5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import Sampler
from .coarse_to_fine import CoarseToFineConfig, CoarseToFineSampler
from .errors import SamplerConfigError
from .grid import GridSampler, default_points_per_axis
from .optuna_adapter import OptunaSampler
from .pruners import AshaPruner, MedianPruner, NopPruner, Pruner
from .random_search import RandomSampler
from .sobol import SobolSampler
from .space import SearchSpace

SAMPLER_TYPES = ("random", "grid", "sobol", "coarse_to_fine", "tpe", "cmaes")
PRUNER_TYPES = ("none", "median", "asha")
DIRECTIONS = ("maximize", "minimize")


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise SamplerConfigError(
            f"direction must be 'maximize' or 'minimize', got {direction!r}",
            field="objective.direction",
        )


def _type_of(config: Mapping[str, Any] | None, prefix: str, known: tuple[str, ...]) -> str:
    if not isinstance(config, Mapping):
        raise SamplerConfigError(f"{prefix} config must be an object", field=prefix)
    kind = config.get("type")
    if kind not in known:
        raise SamplerConfigError(
            f"unknown {prefix} type {kind!r} (expected one of {list(known)})",
            field=f"{prefix}.type",
        )
    return str(kind)


def _check_keys(config: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
    for key in config:
        if key not in allowed | {"type"}:
            raise SamplerConfigError(
                f"unknown option {key!r} for {prefix} type {config['type']!r}",
                field=f"{prefix}.{key}",
            )


def _int_option(
    config: Mapping[str, Any], key: str, default: int, minimum: int, prefix: str
) -> int:
    v = config.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise SamplerConfigError(
            f"{key} must be an integer >= {minimum}, got {v!r}", f"{prefix}.{key}"
        )
    return v


def make_sampler(
    config: Mapping[str, Any],
    space: SearchSpace,
    direction: str,
    seed: int,
    *,
    n_trials: int | None = None,
) -> Sampler:
    """The sampler for ``config``. ``n_trials`` (the study budget, optional) sets the defaults
    that depend on it: grid's points per axis and coarse-to-fine's round sizes; a ``n_trials``
    key in ``config`` wins over it."""
    kind = _type_of(config, "sampler", SAMPLER_TYPES)
    _check_direction(direction)
    budget = config.get("n_trials", n_trials)
    if kind in ("random", "sobol"):
        _check_keys(config, "sampler", {"n_trials"})
        cls: Callable[..., Sampler] = RandomSampler if kind == "random" else SobolSampler
        return cls(space, direction, seed)
    if kind == "grid":
        _check_keys(config, "sampler", {"points_per_axis", "shuffle", "n_trials"})
        k = _int_option(
            config, "points_per_axis", default_points_per_axis(space, budget), 1, "sampler"
        )
        shuffle = config.get("shuffle", True)
        if not isinstance(shuffle, bool):
            raise SamplerConfigError("shuffle must be a boolean", field="sampler.shuffle")
        return GridSampler(space, direction, seed, points_per_axis=k, shuffle=shuffle)
    if kind == "coarse_to_fine":
        _check_keys(
            config,
            "sampler",
            {
                "rounds",
                "top_fraction",
                "margin",
                "min_width",
                "per_round",
                "n_trials",
                "advance_fraction",
                "inner",
                "pool",
                "local_fraction",
                "local_scale",
                "local_rounds",
                "candidates",
            },
        )
        cfg = CoarseToFineConfig.from_mapping(config, n_trials=n_trials)
        return CoarseToFineSampler(space, direction, seed, cfg)
    options = {k: v for k, v in config.items() if k not in ("type", "n_trials")}
    return OptunaSampler(space, direction, seed, kind=kind, options=options)


def make_pruner(config: Mapping[str, Any] | None, direction: str) -> Pruner:
    """``None`` means no pruning."""
    _check_direction(direction)
    if config is None:
        return NopPruner(direction)
    kind = _type_of(config, "pruner", PRUNER_TYPES)
    if kind == "none":
        _check_keys(config, "pruner", set())
        return NopPruner(direction)
    if kind == "median":
        _check_keys(config, "pruner", {"n_startup_trials", "n_warmup_steps"})
        return MedianPruner(
            direction,
            n_startup_trials=_int_option(config, "n_startup_trials", 5, 0, "pruner"),
            n_warmup_steps=_int_option(config, "n_warmup_steps", 0, 0, "pruner"),
        )
    _check_keys(config, "pruner", {"reduction_factor", "min_resource", "min_early_stopping_rate"})
    return AshaPruner(
        direction,
        reduction_factor=_int_option(config, "reduction_factor", 3, 2, "pruner"),
        min_resource=_int_option(config, "min_resource", 1, 1, "pruner"),
        min_early_stopping_rate=_int_option(config, "min_early_stopping_rate", 0, 0, "pruner"),
    )
