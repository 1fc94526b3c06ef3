"""Search spaces, samplers and pruners: pure, no I/O (docs/architecture.md)."""

from .base import Sampler
from .coarse_to_fine import Box, CoarseToFineConfig, CoarseToFineSampler
from .errors import SamplerConfigError, SamplerError, SpaceError
from .factory import SAMPLER_TYPES, make_pruner, make_sampler
from .grid import GridSampler
from .optuna_adapter import OptunaSampler
from .pruners import AshaPruner, MedianPruner, NopPruner, Pruner
from .random_search import RandomSampler
from .sobol import SobolSampler
from .space import (
    CategoricalSpec,
    FloatSpec,
    IntSpec,
    ParamSpec,
    PowerOfTwoSpec,
    SearchSpace,
    spec_from_dict,
)
from .trial import Suggestion, TrialRecord


def __getattr__(name: str) -> object:
    # The reverse adapter subclasses Optuna's BaseSampler; load it only when asked for.
    if name == "HpsearchOptunaSampler":
        from .optuna_bridge import HpsearchOptunaSampler

        return HpsearchOptunaSampler
    raise AttributeError(name)


__all__ = [
    "SAMPLER_TYPES",
    "AshaPruner",
    "Box",
    "CategoricalSpec",
    "CoarseToFineConfig",
    "CoarseToFineSampler",
    "FloatSpec",
    "GridSampler",
    "HpsearchOptunaSampler",
    "IntSpec",
    "MedianPruner",
    "NopPruner",
    "OptunaSampler",
    "ParamSpec",
    "PowerOfTwoSpec",
    "Pruner",
    "RandomSampler",
    "Sampler",
    "SamplerConfigError",
    "SamplerError",
    "SearchSpace",
    "SobolSampler",
    "SpaceError",
    "Suggestion",
    "TrialRecord",
    "make_pruner",
    "make_sampler",
    "spec_from_dict",
]
