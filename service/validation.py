"""Meaning checks of requests, beyond what the pydantic schemas can see.

Every failure is an InvalidInput whose loc names the field, in the same shape as pydantic's own
422s, so a client handles one error format. Engine and samplers errors carry a dotted `.field`
that is mapped under the right prefix (space errors under "space", config errors under
"objective.fixed" or "params").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from service.errors import InvalidInput, field_loc
from service.schemas import ControlIn, StudyCreate, TellIn
from service.store import StudySpec

# Final metrics that TrainResult.metrics carries (architecture.md), usable as an objective.
ENGINE_METRICS = frozenset(
    {
        "train_loss",
        "dev_loss",
        "test_loss",
        "train_accuracy",
        "dev_accuracy",
        "test_accuracy",
        "train_error",
        "dev_error",
        "test_error",
    }
)


def _samplers_error_loc(err: Any, prefix: str) -> tuple[str, ...]:
    fld = getattr(err, "field", None) or ""
    if fld.split(".")[0] in ("sampler", "pruner", "space"):
        return field_loc(fld)
    return field_loc(fld, ("body", prefix))


def validate_space(space: dict[str, Any]) -> Any:
    import samplers

    try:
        return samplers.SearchSpace.from_dict(space)
    except samplers.SamplerError as e:
        raise InvalidInput(getattr(e, "message", str(e)), _samplers_error_loc(e, "space")) from e


def _engine() -> Any | None:
    try:
        import engine
    except ImportError:  # pragma: no cover - engine is written in parallel
        return None
    return engine


def _check_engine_params(params: dict[str, Any], prefix: tuple[str, ...]) -> None:
    engine = _engine()
    if engine is None:
        return
    known = getattr(engine, "KNOWN_PARAMS", None)
    if known is not None:
        for name in params:
            if name not in known:
                raise InvalidInput(f"unknown hyperparameter {name!r}", (*prefix, name))
    try:
        engine.TrainConfig.from_params(params)
    except engine.EngineError as e:
        fld = getattr(e, "field", None)
        raise InvalidInput(str(e), field_loc(fld, prefix)) from e


def validate_study(body: StudyCreate, dataset_exists: Callable[[str], bool]) -> StudySpec:
    mode = body.mode
    obj = body.objective
    if mode == "panda":
        if body.params is None:
            raise InvalidInput(
                "a panda study needs 'params' (one configuration)", ("body", "params")
            )
        if body.space:
            raise InvalidInput("a panda study takes 'params', not 'space'", ("body", "space"))
        if body.n_trials not in (None, 1):
            raise InvalidInput("a panda study runs exactly one trial", ("body", "n_trials"))
    else:
        if body.space is None:
            raise InvalidInput(f"a {mode} study needs 'space'", ("body", "space"))
        if body.params is not None:
            raise InvalidInput(
                f"'params' is for panda studies; a {mode} study uses 'space'", ("body", "params")
            )
        if body.n_trials is None:
            raise InvalidInput(f"a {mode} study needs 'n_trials'", ("body", "n_trials"))

    if mode in ("caviar", "panda"):
        if not obj.dataset:
            raise InvalidInput(
                f"a {mode} study needs objective.dataset", ("body", "objective", "dataset")
            )
        if not dataset_exists(obj.dataset):
            raise InvalidInput(
                f"unknown dataset {obj.dataset!r}: use a built-in one or upload it first",
                ("body", "objective", "dataset"),
            )
        if obj.metric not in ENGINE_METRICS:
            raise InvalidInput(
                f"unknown metric {obj.metric!r}; one of {sorted(ENGINE_METRICS)}",
                ("body", "objective", "metric"),
            )

    space_obj = None
    if body.space is not None:
        if not body.space:
            raise InvalidInput("the search space is empty", ("body", "space"))
        space_obj = validate_space(body.space)

    if mode == "caviar":
        engine = _engine()
        known = getattr(engine, "KNOWN_PARAMS", None) if engine else None
        if known is not None:
            for name in body.space or {}:
                if name not in known:
                    raise InvalidInput(
                        f"{name!r} is not a hyperparameter of the built-in objective",
                        ("body", "space", name),
                    )
        _check_engine_params(dict(obj.fixed), ("body", "objective", "fixed"))
    elif mode == "panda":
        _check_engine_params(dict(obj.fixed) | dict(body.params or {}), ("body", "params"))

    sampler_cfg = body.sampler if body.sampler is not None else {"type": "random"}
    pruner_cfg = body.pruner if body.pruner is not None else {"type": "none"}
    if space_obj is not None:
        import samplers

        try:
            samplers.make_sampler(
                sampler_cfg,
                space_obj,
                obj.direction,
                body.seed if body.seed is not None else 0,
                # As the store builds it: budget-dependent defaults and checks see n_trials.
                n_trials=body.n_trials,
            )
        except samplers.SamplerError as e:
            raise InvalidInput(
                getattr(e, "message", str(e)), _samplers_error_loc(e, "sampler")
            ) from e
        try:
            samplers.make_pruner(pruner_cfg, obj.direction)
        except samplers.SamplerError as e:
            raise InvalidInput(
                getattr(e, "message", str(e)), _samplers_error_loc(e, "pruner")
            ) from e

    return StudySpec(
        name=body.name,
        mode=mode,
        objective=obj.model_dump(exclude_none=True),
        space=body.space,
        sampler=sampler_cfg if mode != "panda" else None,
        pruner=pruner_cfg,
        params=body.params,
        n_trials=1 if mode == "panda" else int(body.n_trials or 1),
        n_workers=body.n_workers,
        seed=body.seed,
        max_retries=body.max_retries,
    )


def validate_tell(body: TellIn) -> str:
    state = body.state or "completed"
    if state == "completed" and body.value is None:
        raise InvalidInput("give 'value', or 'state': 'failed' | 'pruned'", ("body", "value"))
    return state


def validate_control(body: ControlIn, mutable: Iterable[str] | None) -> None:
    if body.action == "set":
        if not body.params:
            raise InvalidInput("action 'set' needs 'params'", ("body", "params"))
        if mutable is not None:
            allowed = set(mutable)
            for name in body.params:
                if name not in allowed:
                    raise InvalidInput(
                        f"{name!r} cannot change during training; one of {sorted(allowed)}",
                        ("body", "params", name),
                    )
    if body.action == "rollback" and body.epoch is None:
        raise InvalidInput("action 'rollback' needs 'epoch'", ("body", "epoch"))
