"""Configured size limits of a study (HPSEARCH_MAX_*): one request must not be able to ask the
server for a million trials, a ten-million-epoch run or a network that cannot fit in memory.

Each violation is a 422 whose loc names the field and whose message names the limit and its
setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core.config import Settings
from service.errors import InvalidInput
from service.schemas import StudyCreate


def _over(loc: tuple[str | int, ...], what: str, value: Any, limit: int, setting: str) -> None:
    raise InvalidInput(f"{what} {value} is over the limit of {limit} ({setting})", loc)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _check_params(params: Mapping[str, Any], loc: tuple[str | int, ...], s: Settings) -> None:
    """Fixed values: epochs, layers, n_layers, hidden_units."""
    epochs = _num(params.get("epochs"))
    if epochs is not None and epochs > s.max_epochs:
        _over((*loc, "epochs"), "epochs", params["epochs"], s.max_epochs, "HPSEARCH_MAX_EPOCHS")
    units = _num(params.get("hidden_units"))
    if units is not None and units > s.max_layer_units:
        _over(
            (*loc, "hidden_units"),
            "hidden_units",
            params["hidden_units"],
            s.max_layer_units,
            "HPSEARCH_MAX_LAYER_UNITS",
        )
    n_layers = _num(params.get("n_layers"))
    if n_layers is not None and n_layers > s.max_layers:
        _over(
            (*loc, "n_layers"), "n_layers", params["n_layers"], s.max_layers, "HPSEARCH_MAX_LAYERS"
        )
    layers = params.get("layers")
    if isinstance(layers, list | tuple):
        _check_layers(list(layers), (*loc, "layers"), s)


def _check_layers(layers: list[Any], loc: tuple[str | int, ...], s: Settings) -> None:
    if len(layers) > s.max_layers:
        _over(loc, "number of layers", len(layers), s.max_layers, "HPSEARCH_MAX_LAYERS")
    for i, size in enumerate(layers):
        n = _num(size)
        if n is not None and n > s.max_layer_units:
            _over((*loc, i), "layer size", size, s.max_layer_units, "HPSEARCH_MAX_LAYER_UNITS")


def _spec_max(spec: Mapping[str, Any]) -> float | None:
    """The largest numeric value a space spec can produce (None: not numeric)."""
    if spec.get("type") == "categorical":
        nums = [_num(c) for c in spec.get("choices") or []]
        vals = [n for n in nums if n is not None]
        return max(vals) if vals else None
    return _num(spec.get("high"))


def _check_space(space: Mapping[str, Any], s: Settings) -> None:
    limits = {
        "epochs": (s.max_epochs, "HPSEARCH_MAX_EPOCHS"),
        "hidden_units": (s.max_layer_units, "HPSEARCH_MAX_LAYER_UNITS"),
        "n_layers": (s.max_layers, "HPSEARCH_MAX_LAYERS"),
    }
    for name, spec in space.items():
        if not isinstance(spec, Mapping):
            continue
        if name in limits:
            top = _spec_max(spec)
            limit, setting = limits[name]
            if top is not None and top > limit:
                _over(("body", "space", name), f"largest {name}", top, limit, setting)
        if name == "layers" and spec.get("type") == "categorical":
            for i, choice in enumerate(spec.get("choices") or []):
                if isinstance(choice, list | tuple):
                    _check_layers(list(choice), ("body", "space", name, "choices", i), s)


def check_study_limits(body: StudyCreate, settings: Settings) -> None:
    if body.n_trials is not None and body.n_trials > settings.max_trials:
        _over(
            ("body", "n_trials"),
            "n_trials",
            body.n_trials,
            settings.max_trials,
            "HPSEARCH_MAX_TRIALS",
        )
    if body.n_workers > settings.max_study_workers:
        _over(
            ("body", "n_workers"),
            "n_workers",
            body.n_workers,
            settings.max_study_workers,
            "HPSEARCH_MAX_STUDY_WORKERS",
        )
    _check_params(body.objective.fixed or {}, ("body", "objective", "fixed"), settings)
    if body.params:
        _check_params(body.params, ("body", "params"), settings)
    if body.space:
        _check_space(body.space, settings)
