"""Optuna's TPE and CMA-ES behind our ``Sampler`` interface.

Each ask builds a throw-away in-memory Optuna study from our trials and asks it once, so the
adapter holds no state between calls and stays deterministic given (seed, number, trials).

Our specs map to Optuna distributions in transformed form where Optuna has no such scale:
one_minus_log β is tuned as t = log10(1 − β) on a linear FloatDistribution, power_of_two as
an IntDistribution over the exponent. Conditionals: only active parameters are suggested, in
dependency order, so TPE sees exactly the parameters a trial really had.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from .base import Sampler, derived_seed
from .errors import SamplerConfigError
from .space import CategoricalSpec, FloatSpec, IntSpec, ParamSpec, PowerOfTwoSpec, SearchSpace
from .trial import Suggestion, TrialRecord, sign


def to_distribution(spec: ParamSpec) -> BaseDistribution:
    if isinstance(spec, CategoricalSpec):
        return CategoricalDistribution(list(spec.choices))
    if isinstance(spec, PowerOfTwoSpec):
        return IntDistribution(spec.exponents[0], spec.exponents[-1])
    if isinstance(spec, IntSpec):
        return IntDistribution(int(spec.low), int(spec.high), log=spec.scale == "log")
    assert isinstance(spec, FloatSpec)
    if spec.scale == "one_minus_log":
        return FloatDistribution(math.log10(1 - spec.high), math.log10(1 - spec.low))
    return FloatDistribution(spec.low, spec.high, log=spec.scale == "log")


def to_internal(spec: ParamSpec, value: Any) -> Any:
    """Our value -> the value Optuna sees for it."""
    if isinstance(spec, CategoricalSpec):
        return spec.choices[spec.index(value)]
    if isinstance(spec, PowerOfTwoSpec):
        return round(math.log2(value))
    if isinstance(spec, IntSpec):
        return round(value)
    if isinstance(spec, FloatSpec) and spec.scale == "one_minus_log":
        return math.log10(1 - float(value))
    return float(value)


def from_internal(spec: ParamSpec, value: Any) -> Any:
    if isinstance(spec, PowerOfTwoSpec):
        return 2 ** int(value)
    if isinstance(spec, FloatSpec) and spec.scale == "one_minus_log":
        return min(spec.high, max(spec.low, 1 - 10.0**value))
    return value


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every tell at INFO and warns on experimental features; neither is ours."""
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(old)


_KINDS = ("tpe", "cmaes")
_OPTIONS = {
    "tpe": {"n_startup_trials", "multivariate", "group", "n_ei_candidates", "constant_liar"},
    "cmaes": {"n_startup_trials", "sigma0", "popsize", "use_separable_cma", "with_margin"},
}


class OptunaSampler(Sampler):
    """``{"type": "tpe", ...}`` or ``{"type": "cmaes", ...}``; extra keys go to Optuna.

    Diverged trials are told to Optuna as completed with the worst completed value (a diverged
    learning rate is evidence, unlike a crash); failed and stopped trials are left out, and
    pruned trials go in as pruned with their curves, which TPE ranks below completed ones.
    """

    def __init__(
        self,
        space: SearchSpace,
        direction: str = "maximize",
        seed: int = 0,
        kind: str = "tpe",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, direction, seed)
        if kind not in _KINDS:
            raise SamplerConfigError(f"unknown Optuna sampler {kind!r}", field="sampler.type")
        self.kind = kind
        self.options = dict(options or {})
        for key in self.options:
            if key not in _OPTIONS[kind]:
                raise SamplerConfigError(
                    f"unknown option {key!r} for {kind}", field=f"sampler.{key}"
                )
        if kind == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise SamplerConfigError(
                    "the cmaes sampler needs the 'cmaes' package", field="sampler.type"
                ) from exc
        self._dists = {s.name: to_distribution(s) for s in space}

    def _optuna_sampler(self, number: int) -> optuna.samplers.BaseSampler:
        s = derived_seed(self.seed, number)
        if self.kind == "tpe":
            return optuna.samplers.TPESampler(seed=s, **self.options)
        # CMA-ES state lives in the trials we replay, so the seed must not vary by number.
        # Categoricals (and parameters outside the joint space) fall back to an independent
        # random sampler; its seed varies by number or every trial would get the same choice.
        opts = {
            "warn_independent_sampling": False,
            "independent_sampler": optuna.samplers.RandomSampler(seed=s),
            **self.options,
        }
        return optuna.samplers.CmaEsSampler(seed=derived_seed(self.seed, 0xC3A), **opts)

    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion:
        past = sorted((t for t in trials if t.number < number), key=lambda t: t.number)
        with quiet_optuna():
            study = optuna.create_study(
                direction=optuna.study.StudyDirection.MAXIMIZE
                if self.direction == "maximize"
                else optuna.study.StudyDirection.MINIMIZE,
                sampler=self._optuna_sampler(number),
            )
            if self.kind == "cmaes":
                self._replay(study, past)
            else:
                study.add_trials(self._frozen(past))
            ot = study.ask()
            params = self._suggest(ot)
        return Suggestion(params)

    def _suggest(self, ot: optuna.Trial, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for spec in self.space:
            if not self.space.is_active(spec.name, params):
                continue
            internal = ot._suggest(spec.name, self._dists[spec.name])
            params[spec.name] = from_internal(spec, internal)
        return params

    def _told(
        self, past: Sequence[TrialRecord]
    ) -> list[tuple[TrialRecord, TrialState, float | None]]:
        done = [float(t.value) for t in past if t.completed and t.value is not None]
        s = sign(self.direction)
        worst = s * min(s * v for v in done) if done else None
        out: list[tuple[TrialRecord, TrialState, float | None]] = []
        for t in past:
            if t.completed and t.value is not None:
                out.append((t, TrialState.COMPLETE, float(t.value)))
            elif t.state == "diverged" and worst is not None:
                out.append((t, TrialState.COMPLETE, float(worst)))
            elif t.state == "pruned":
                out.append((t, TrialState.PRUNED, None))
        return out

    def _internal_params(
        self, t: TrialRecord
    ) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        params: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        for name in self.space.active(t.params):
            if name in t.params and self.space[name].contains(t.params[name]):
                params[name] = to_internal(self.space[name], t.params[name])
                dists[name] = self._dists[name]
        return params, dists

    def _frozen(self, past: Sequence[TrialRecord]) -> list[optuna.trial.FrozenTrial]:
        out = []
        for t, state, value in self._told(past):
            params, dists = self._internal_params(t)
            out.append(
                optuna.trial.create_trial(
                    state=state,
                    value=value,
                    params=params,
                    distributions=dists,
                    intermediate_values={int(k): float(v) for k, v in t.intermediate.items()},
                )
            )
        return out

    def _replay(self, study: optuna.Study, past: Sequence[TrialRecord]) -> None:
        # CMA-ES keeps its generation and optimiser state in trial system attributes written
        # during ask; replaying our trials through ask/tell (with their params enqueued) rebuilds
        # that state from the trials alone.
        for t, state, value in self._told(past):
            params, _ = self._internal_params(t)
            study.enqueue_trial(params, skip_if_exists=False)
            ot = study.ask()
            # Optuna samples relative params lazily and skips that for enqueued values; touch
            # them so CMA-ES records this trial's generation as it did when it was asked.
            _ = ot.relative_params
            self._suggest(ot)
            if state == TrialState.COMPLETE:
                study.tell(ot, value)
            else:
                for step, v in t.intermediate.items():
                    ot.report(float(v), int(step))
                study.tell(ot, state=state)
