"""The reverse adapter: our samplers as an ``optuna.samplers.BaseSampler``.

    study = optuna.create_study(sampler=HpsearchOptunaSampler({"type": "coarse_to_fine"}))

Without an explicit ``space`` the search space is learnt from the distributions the objective
suggests (``suggest_float(..., log=True)`` becomes a log-scaled float, and so on). An explicit
``space`` (ours, or its JSON) adds what Optuna cannot express — one_minus_log, power_of_two,
conditions — for the names it covers; its values must fall inside the objective's
distribution, or that parameter falls back to uniform sampling of the distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from .base import Sampler, derived_seed, rng_for
from .errors import SamplerConfigError
from .factory import make_sampler
from .space import CategoricalSpec, FloatSpec, IntSpec, ParamSpec, SearchSpace
from .trial import Suggestion, TrialRecord

ROUND_ATTR = "hpsearch:round"

_STATES = {
    TrialState.COMPLETE: "completed",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "queued",
}


def spec_from_distribution(name: str, dist: BaseDistribution) -> ParamSpec:
    if isinstance(dist, CategoricalDistribution):
        return CategoricalSpec(name, tuple(dist.choices))
    if isinstance(dist, IntDistribution):
        return IntSpec(name, dist.low, dist.high, "log" if dist.log else "linear")
    if isinstance(dist, FloatDistribution):
        return FloatSpec(name, dist.low, dist.high, "log" if dist.log else "linear")
    raise SamplerConfigError(f"unsupported Optuna distribution {dist!r}", field=name)


def to_record(ft: FrozenTrial) -> TrialRecord:
    return TrialRecord(
        number=ft.number,
        params=dict(ft.params),
        state=_STATES.get(ft.state, "failed"),
        value=ft.value if ft.state == TrialState.COMPLETE else None,
        intermediate=dict(ft.intermediate_values),
        round=ft.system_attrs.get(ROUND_ATTR),
    )


def _fit(dist: BaseDistribution, value: Any) -> Any:
    """``value`` as a member of ``dist``, or None when it is not one."""
    if isinstance(dist, CategoricalDistribution):
        return value if value in dist.choices else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(dist, IntDistribution):
        i = dist.low + round((round(value) - dist.low) / dist.step) * dist.step
        return i if dist.low <= i <= dist.high else None
    if isinstance(dist, FloatDistribution):
        v = float(value)
        if dist.step is not None:
            v = dist.low + round((v - dist.low) / dist.step) * dist.step
        return v if dist.low <= v <= dist.high else None
    return None


class HpsearchOptunaSampler(optuna.samplers.BaseSampler):
    """Runs one of our samplers (any ``make_sampler`` config; meant for random, sobol, grid and
    coarse_to_fine) inside a plain Optuna study. Every parameter is sampled independently from
    one cached ``Suggestion`` per trial, which our sampler computes from the study's trials;
    coarse-to-fine rounds are kept in a trial system attribute."""

    def __init__(
        self,
        config: Mapping[str, Any] | str = "random",
        space: SearchSpace | Mapping[str, Any] | None = None,
        seed: int = 0,
        n_trials: int | None = None,
    ) -> None:
        self.config = {"type": config} if isinstance(config, str) else dict(config)
        self._explicit = (
            space
            if isinstance(space, SearchSpace) or space is None
            else SearchSpace.from_dict(space)
        )
        self._learnt: dict[str, ParamSpec] = {}
        self.seed = seed
        self.n_trials = n_trials
        self._cache: dict[tuple[int, int], Suggestion] = {}  # (study id, number) -> suggestion
        self._sampler: tuple[tuple[Any, ...], Sampler] | None = None
        if self._explicit is not None:
            make_sampler(self.config, self._explicit, "maximize", seed, n_trials=n_trials)

    def reseed_rng(self) -> None:
        # Determinism comes from (seed, number); nothing to reseed.
        pass

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def _space(self) -> SearchSpace:
        if self._explicit is not None:
            return self._explicit
        return SearchSpace(list(self._learnt.values()))

    def _inner(self, direction: str) -> Sampler:
        key = (direction, tuple(self._learnt))
        if self._sampler is None or self._sampler[0] != key:
            sampler = make_sampler(
                self.config, self._space(), direction, self.seed, n_trials=self.n_trials
            )
            self._sampler = (key, sampler)
        return self._sampler[1]

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        explicit = self._explicit is not None and param_name in self._explicit
        if not explicit and param_name not in self._learnt and self._explicit is None:
            self._learnt[param_name] = spec_from_distribution(param_name, param_distribution)
            self._cache.pop((study._study_id, trial.number), None)  # space grew: recompute
        key = (study._study_id, trial.number)
        if key not in self._cache:
            direction = (
                "maximize"
                if study.direction == optuna.study.StudyDirection.MAXIMIZE
                else "minimize"
            )
            records = [
                to_record(t) for t in study.get_trials(deepcopy=False) if t.number < trial.number
            ]
            suggestion = self._inner(direction).ask(trial.number, records)
            self._cache[key] = suggestion
            if suggestion.round is not None:
                study._storage.set_trial_system_attr(trial._trial_id, ROUND_ATTR, suggestion.round)
        value = _fit(param_distribution, self._cache[key].params.get(param_name))
        if value is None:
            # Outside our space, inactive under its conditions, or outside the objective's
            # distribution: uniform on the distribution's own scale, still seeded by number.
            spec = spec_from_distribution(param_name, param_distribution)
            u = rng_for(
                self.seed, trial.number, derived_seed(0, *map(ord, param_name[:16]))
            ).random()
            value = _fit(param_distribution, spec.from_unit(float(u)))
        return value
