"""Server-side aggregation for the dashboard's plots.

The browser never receives every history row of a study: the plot-data endpoint answers one row
per trial (params, value, state, round, duration), downsampled when the study is huge, plus the
best-so-far curves (only the points where the best changes), the coarse-to-fine boxes and the
best trial's bias/variance diagnosis. Hyperparameter importance is a random-forest estimate on
the samplers' transformed (unit-interval) coordinates, cached per study until it changes.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from service.errors import NotFound
from service.models import Checkpoint, Study, Trial, TrialControl
from service.store import Store

DEFAULT_MAX_POINTS = 2000
IMPORTANCE_MAX_ROWS = 2000
IMPORTANCE_MIN_TRIALS = 8

# ----------------------------------------------------------------------------- axes


def _one_minus_log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks at 0.9, 0.99, 0.999, ... (plotted as −log10(1−β)) covering [low, high]."""
    lo_k = -math.log10(1.0 - low) if low < 1 else 0.0
    hi_k = -math.log10(1.0 - high)
    vals: list[float] = []
    text: list[str] = []
    k_min = max(1, math.floor(lo_k))
    k_max = max(k_min, math.ceil(hi_k))
    for k in range(k_min, k_max + 1):
        vals.append(float(k))
        text.append(f"{1 - 10.0**-k:.{k}f}")
    if low < 0.9:
        # Below 0.9 the decades are 0.5, 0 ...: add a couple of readable linear ticks.
        for t in (0.0, 0.5):
            if low <= t < 0.9:
                vals.insert(0, -math.log10(1 - t))
                text.insert(0, f"{t:g}")
    return vals, text


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    vals: list[float] = []
    text: list[str] = []
    for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        vals.append(float(10.0**k))
        text.append(f"1e{k}" if abs(k) >= 3 else f"{10.0**k:g}")
    return vals, text


def param_axes(space: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One entry per hyperparameter: how to plot it.

    ``transform`` is what the browser applies to a value before plotting it ("none", or
    "one_minus_log": x = −log10(1 − v)); ``axis`` is a plotly axis fragment (type, ticks);
    ``par`` the same for the parallel-coordinates dimension (which has no log axes, so it plots
    log10(v) with decade tick labels).
    """
    out: list[dict[str, Any]] = []
    for name, raw in (space or {}).items():
        typ = raw.get("type", "float")
        entry: dict[str, Any] = {"name": name, "type": typ}
        if typ == "categorical":
            choices = list(raw.get("choices", []))
            entry.update(
                scale="categorical",
                choices=choices,
                transform="category",
                axis={"type": "category", "categoryarray": [str(c) for c in choices]},
                par={
                    "transform": "category",
                    "tickvals": list(range(len(choices))),
                    "ticktext": [str(c) for c in choices],
                    "range": [-0.5, len(choices) - 0.5],
                },
            )
            out.append(entry)
            continue
        low, high = float(raw.get("low", 0.0)), float(raw.get("high", 1.0))
        scale = "log2" if typ == "power_of_two" else raw.get("scale", "linear")
        entry.update(scale=scale, low=low, high=high)
        if scale == "log":
            tv, tt = _log_ticks(low, high)
            entry.update(
                transform="none",
                axis={"type": "log"},
                par={
                    "transform": "log10",
                    "tickvals": [math.log10(v) for v in tv],
                    "ticktext": tt,
                    "range": [math.log10(low), math.log10(high)],
                },
            )
        elif scale == "log2":
            kl, kh = round(math.log2(low)), round(math.log2(high))
            tv2 = [2**k for k in range(kl, kh + 1)]
            entry.update(
                transform="none",
                axis={"type": "log", "tickvals": tv2, "ticktext": [str(v) for v in tv2]},
                par={
                    "transform": "log2",
                    "tickvals": list(range(kl, kh + 1)),
                    "ticktext": [str(v) for v in tv2],
                    "range": [kl, kh],
                },
            )
        elif scale == "one_minus_log":
            tv, tt = _one_minus_log_ticks(low, high)
            rng = [-math.log10(1 - low), -math.log10(1 - high)]
            entry.update(
                transform="one_minus_log",
                axis={"type": "linear", "tickmode": "array", "tickvals": tv, "ticktext": tt},
                par={"transform": "one_minus_log", "tickvals": tv, "ticktext": tt, "range": rng},
            )
        else:
            entry.update(
                transform="none",
                axis={"type": "linear"},
                par={"transform": "none", "range": [low, high]},
            )
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- plot data


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds(), 3)


def _study_row(s: Any, study_id: int) -> Study:
    study = s.get(Study, study_id)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    return study


def _best_so_far(
    points: list[tuple[float, int, float]], maximize: bool
) -> dict[str, list[float | int]]:
    """``points`` are (x, number, value) sorted by x; keep the points where the best changes
    and the last one, so the step curve is exact and small."""
    xs: list[float | int] = []
    ys: list[float | int] = []
    nums: list[float | int] = []
    best: float | None = None
    for x, number, v in points:
        if best is None or (v > best if maximize else v < best):
            best = v
            xs.append(x)
            ys.append(v)
            nums.append(number)
    if points and best is not None and xs[-1] != points[-1][0]:
        xs.append(points[-1][0])
        ys.append(best)
        nums.append(nums[-1])
    return {"x": xs, "best": ys, "trial_number": nums}


def _downsample(rows: list[Any], max_points: int, maximize: bool) -> list[Any]:
    """Keep the best quarter of the budget exactly, spread the rest evenly over trial numbers."""
    if len(rows) <= max_points:
        return rows
    scored = [r for r in rows if r.value is not None]
    scored.sort(key=lambda r: -r.value if maximize else r.value)
    keep = {r.number for r in scored[: max_points // 4]}
    rest = [r for r in rows if r.number not in keep]
    step = len(rest) / max(1, max_points - len(keep))
    i = 0.0
    while int(i) < len(rest) and len(keep) < max_points:
        keep.add(rest[int(i)].number)
        i += step
    return [r for r in rows if r.number in keep]


def coarse_to_fine_boxes(store: Store, study_id: int, rows: list[Any]) -> list[dict[str, Any]]:
    """The box of every round of a coarse-to-fine study, in parameter values."""
    try:
        import samplers
    except ImportError:  # pragma: no cover - samplers is written in parallel
        return []
    study = store.get_study(study_id)
    if not study.space or (study.sampler or {}).get("type") != "coarse_to_fine":
        return []
    try:
        space = samplers.SearchSpace.from_dict(study.space)
        sampler = samplers.make_sampler(
            study.sampler,
            space,
            study.direction,
            study.seed if study.seed is not None else 0,
            n_trials=study.n_trials,
        )
        if not hasattr(sampler, "boxes"):
            return []
        records = [
            samplers.TrialRecord(
                number=r.number,
                params=dict(r.params or {}),
                state=r.state,
                value=r.value,
                intermediate={},
                round=r.round,
            )
            for r in rows
        ]
        return [b.to_dict(space) for b in sampler.boxes(records)]
    except Exception:  # a box is decoration: never fail the page for it
        return []


def _diagnosis(best: Any, human_level: float | None) -> dict[str, Any] | None:
    if best is None:
        return None
    if best.diagnosis:
        return dict(best.diagnosis)
    metrics = best.metrics or {}
    tr, dv = metrics.get("train_error"), metrics.get("dev_error")
    if tr is None or dv is None:
        return None
    try:
        import engine

        return dict(engine.diagnose(float(tr), float(dv), human_level).to_dict())
    except Exception:
        return None


def _cache_key(s: Any, study_id: int) -> tuple[Any, ...]:
    """Changes whenever a trial is added, starts, finishes or heartbeats: a cheap aggregate
    over the (study_id, ...) index, so finished studies answer from the cache."""
    row = s.execute(
        select(
            func.count(),
            func.max(Trial.id),
            func.max(Trial.started_at),
            func.max(Trial.finished_at),
            func.max(Trial.heartbeat_at),
            func.count(Trial.value),
        ).where(Trial.study_id == study_id)
    ).one()
    study = _study_row(s, study_id)
    return (study_id, study.state, str(study.updated_at), *(str(v) for v in row))


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)


_plot_cache = _LRU(16)
_box_cache = _LRU(16)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def plot_data_json(store: Store, study_id: int, max_points: int = DEFAULT_MAX_POINTS) -> bytes:
    """`plot_data` serialised, cached until a trial of the study changes (the JSON encoding of
    thousands of rows is as slow as the query, so the bytes are what is kept)."""
    with store.db.read() as s:
        key = (str(store.db.engine.url), max_points, *_cache_key(s, study_id))
    cached = _plot_cache.get(key)
    if cached is None:
        data = plot_data(store, study_id, max_points)
        try:
            cached = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:  # a NaN or inf somewhere (params, metrics): null it
            cached = json.dumps(_finite(data), separators=(",", ":")).encode()
        _plot_cache.put(key, cached)
    return cached  # type: ignore[no-any-return]


def plot_data(store: Store, study_id: int, max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    study = store.get_study(study_id)
    maximize = study.direction == "maximize"
    with store.db.read() as s:
        # No params here: JSON decoding 10,000 dicts is the slow part, so only the rows
        # shown get their params (below).
        rows = list(
            s.execute(
                select(
                    Trial.id,
                    Trial.number,
                    Trial.state,
                    Trial.value,
                    Trial.round,
                    Trial.started_at,
                    Trial.finished_at,
                )
                .where(Trial.study_id == study_id)
                .order_by(Trial.number)
            )
        )
        shown = _downsample(rows, max_points, maximize)
        q = select(Trial.id, Trial.params).where(Trial.study_id == study_id)
        if len(shown) < len(rows):
            q = q.where(Trial.id.in_([r.id for r in shown]))
        params_by_id = {tid: p or {} for tid, p in s.execute(q)}
    t0 = study.started_at or study.created_at
    done = [r for r in rows if r.state == "completed" and r.value is not None]
    by_number = _best_so_far([(r.number, r.number, r.value) for r in done], maximize)
    timed = sorted(
        ((_seconds(t0, r.finished_at) or 0.0, r.number, r.value) for r in done if r.finished_at),
        key=lambda p: (p[0], p[1]),
    )
    by_time = _best_so_far(timed, maximize)
    axes = param_axes(study.space)
    names = [a["name"] for a in axes]
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for r in shown:
        p = params_by_id.get(r.id, {})
        for n in names:
            columns[n].append(p.get(n))
    rounds = sorted({r.round for r in rows if r.round is not None})
    best = study.best_trial
    result = {
        "study_id": study_id,
        "direction": study.direction,
        "metric": study.objective.get("metric", "value"),
        "params": axes,
        "n_total": len(rows),
        "n_shown": len(shown),
        "downsampled": len(shown) < len(rows),
        "rounds": rounds,
        "has_boxes": (study.sampler or {}).get("type") == "coarse_to_fine" and bool(study.space),
        "trials": {
            "id": [r.id for r in shown],
            "number": [r.number for r in shown],
            "state": [r.state for r in shown],
            "value": [r.value for r in shown],
            "round": [r.round for r in shown],
            "duration": [_seconds(r.started_at, r.finished_at) for r in shown],
            "params": columns,
        },
        "best_so_far": {"by_number": by_number, "by_time": by_time},
        "best_trial": (
            {"id": best.id, "number": best.number, "value": best.value, "params": best.params}
            if best
            else None
        ),
        "diagnosis": _diagnosis(best, study.objective.get("human_level_error")),
    }
    return result


def boxes(store: Store, study_id: int) -> dict[str, Any]:
    """The coarse-to-fine box of every round (empty for other samplers)."""
    with store.db.read() as s:
        key = (str(store.db.engine.url), *_cache_key(s, study_id))
    cached = _box_cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with store.db.read() as s:
        rows = list(
            s.execute(
                select(Trial.number, Trial.params, Trial.state, Trial.value, Trial.round)
                .where(Trial.study_id == study_id)
                .order_by(Trial.number)
            )
        )
    result = {"study_id": study_id, "boxes": coarse_to_fine_boxes(store, study_id, rows)}
    _box_cache.put(key, result)
    return result


# ----------------------------------------------------------------------------- importance

_importance_cache = _LRU(64)


def importance(store: Store, study_id: int) -> dict[str, Any]:
    """Random-forest importance of each hyperparameter on the transformed coordinates."""
    study = store.get_study(study_id)
    with store.db.read() as s:
        key_row = s.execute(
            select(func.count(), func.max(Trial.finished_at)).where(
                Trial.study_id == study_id, Trial.state == "completed", Trial.value.is_not(None)
            )
        ).one()
        key = (str(store.db.engine.url), study_id, key_row[0], str(key_row[1]))
        cached = _importance_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        rows = list(
            s.execute(
                select(Trial.number, Trial.params, Trial.value)
                .where(
                    Trial.study_id == study_id,
                    Trial.state == "completed",
                    Trial.value.is_not(None),
                )
                .order_by(Trial.number)
            )
        )
    result = _importance(study.space or {}, rows)
    _importance_cache.put(key, result)
    return result


def _importance(space_raw: dict[str, Any], rows: list[Any]) -> dict[str, Any]:
    names = list(space_raw)
    base: dict[str, Any] = {"method": "random_forest", "n_trials": len(rows), "importances": []}
    if len(rows) < IMPORTANCE_MIN_TRIALS or not names:
        base["message"] = f"needs at least {IMPORTANCE_MIN_TRIALS} completed trials"
        return base
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    import samplers

    space = samplers.SearchSpace.from_dict(space_raw)
    if len(rows) > IMPORTANCE_MAX_ROWS:
        idx = np.linspace(0, len(rows) - 1, IMPORTANCE_MAX_ROWS).round().astype(int)
        rows = [rows[i] for i in idx]
    X = np.full((len(rows), len(names)), -1.0)
    y = np.array([float(r.value) for r in rows])
    for i, r in enumerate(rows):
        p = r.params or {}
        for j, n in enumerate(names):
            if n in p:
                try:
                    X[i, j] = space[n].to_unit(p[n])
                except Exception:
                    X[i, j] = -1.0
    if float(np.ptp(y)) == 0.0:
        imp = np.full(len(names), 1.0 / len(names))
    else:
        rf = RandomForestRegressor(
            n_estimators=64, min_samples_leaf=2, random_state=0, n_jobs=1, max_features=1.0
        )
        rf.fit(X, y)
        imp = rf.feature_importances_
        total = float(imp.sum())
        imp = imp / total if total > 0 else np.full(len(names), 1.0 / len(names))
    items = sorted(
        ({"name": n, "importance": round(float(v), 6)} for n, v in zip(names, imp, strict=True)),
        key=lambda d: -d["importance"],
    )
    base["importances"] = items
    base["n_used"] = len(rows)
    return base


# ----------------------------------------------------------------------------- panda helpers


def checkpoints(store: Store, trial_id: int) -> list[int]:
    store.get_trial(trial_id, history=False)  # 404
    with store.db.read() as s:
        return [
            int(e)
            for e in s.execute(
                select(Checkpoint.epoch)
                .where(Checkpoint.trial_id == trial_id)
                .order_by(Checkpoint.epoch)
            ).scalars()
        ]


def controls(store: Store, trial_id: int) -> list[dict[str, Any]]:
    store.get_trial(trial_id, history=False)  # 404
    with store.db.read() as s:
        rows = s.execute(
            select(TrialControl).where(TrialControl.trial_id == trial_id).order_by(TrialControl.id)
        ).scalars()
        return [
            {
                "id": c.id,
                "action": c.action,
                "payload": c.payload,
                "created_at": c.created_at.isoformat() if c.created_at else None,
                "applied_at": c.applied_at.isoformat() if c.applied_at else None,
                "applied_epoch": c.applied_epoch,
            }
            for c in rows
        ]
