"""Coarse-to-fine search: sample the whole box, then zoom into the region of the best trials.

Round 0 samples the whole space. When round r is *ready* (see ``CoarseToFineConfig``), the next
suggestion starts round r+1 inside a box fitted around the best finished trials, in transformed
coordinates (so a log axis zooms by decades): the top ``top_fraction`` (by round r's count) of
all finished trials so far (``pool="all"``, the default) or of round r's only (``pool="round"``).
Until then suggestions keep coming from round r's box: the sampler never blocks a free worker.

Everything is recomputed from ``trials`` on each ask (rounds come from ``TrialRecord.round``,
which the service stores from ``Suggestion.round``), so the sampler is deterministic given
(seed, number, trials) and survives a restart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .base import Sampler, rng_for
from .errors import SamplerConfigError
from .parzen import CategoricalAxis, NumericAxis, ParzenRatio, fold
from .sobol import sobol_point, sobol_points
from .space import CategoricalSpec, SearchSpace
from .trial import Suggestion, TrialRecord, sign

DEFAULT_ROUND_SIZE = 20
# Without an explicit ``rounds``, a budget of N trials gets max(4, round(N / 16)) rounds (and the
# last third of them guided): 4 up to N = 72, 6 at N = 100. With a fixed 4 rounds, a large
# budget ended in a box that had stopped moving; at N = 100 six rounds, two guided, did better
# on every task (bench/sampler_quality.py, tuning seeds; docs/benchmarks.md).
MIN_ROUNDS = 4
TRIALS_PER_ROUND = 16


def default_rounds(n_trials: int) -> int:
    return max(MIN_ROUNDS, round(n_trials / TRIALS_PER_ROUND))


INNER = ("sobol", "random", "elite", "guided")
# Probability that an elite point's categorical is redrawn among the box's choices, not copied.
ELITE_MUTATION = 0.1


@dataclass(frozen=True)
class CoarseToFineConfig:
    """Config of ``{"type": "coarse_to_fine", ...}``.

    rounds, top_fraction, margin: as in design.md §5; without ``rounds`` (and ``per_round``), a
    known budget sets it: ``default_rounds(n_trials)``, 4 up to 72 trials. ``margin`` widens
    the survivors' span by that fraction of the span on each side; ``min_width`` (unit
    interval) keeps a box even around a single survivor.
    per_round: trials per round; or ``n_trials`` split evenly (earlier rounds take the
    remainder); else ``DEFAULT_ROUND_SIZE`` each. The last round takes any trials beyond.
    advance_fraction: round r+1 starts once round r has handed out its budget and at least
    ``ceil(advance_fraction · asked_r)`` of round r's trials have finished (any final state).
    The default 1.0 waits for all of them, which keeps each box fixed once its round starts;
    lower values start earlier, and the box then refines as stragglers finish.
    inner: how points are drawn inside a box, "sobol" (index within the round), "random", or
    "elite": Sobol, except that from round 1 on a ``local_fraction`` of the round's points
    (interleaved) are drawn *around the survivors* that shaped the box: a survivor chosen with
    probability ∝ 1 / rank (best first), then on each numeric axis a Gaussian step of standard
    deviation ``local_scale`` × the box's width on that axis (transformed unit coordinates),
    folded back into the box; each categorical is copied from that survivor, or with probability
    ``ELITE_MUTATION`` redrawn among the box's choices. Every point stays inside its round's box.
    local_fraction, local_scale: the "elite" share of a round and its step (ignored otherwise).
    "guided" (the default): Sobol, except in the guided rounds, where each point is the best of
    ``candidates`` candidates drawn inside the box (half Sobol, half around the survivors) by
    the Parzen density ratio of the survivors against every other finished trial
    (``samplers/parzen.py``: TPE's acquisition, confined to the round's box). The box, the
    rounds and the survivors are the same as with "sobol".
    local_rounds: which rounds get elite or guided points: k >= 1 the last k rounds, 0 every
    round from 1 on; default 1, or a third of the budget-derived rounds (2 of 6 at N = 100).
    Guiding only the last round lets the earlier rounds explore the whole box, so the zoom is
    fitted on spread-out evidence; guiding two of four rounds zoomed in on the first good region
    too early (worse on every task at N = 50).
    pool: "all" (default) ranks every finished trial so far and keeps ``ceil(top_fraction ·
    finished_r)`` survivors, so a great early trial is never zoomed away from; "round" ranks round
    r's trials only, i.e. only points drawn from the previous box.
    """

    # Defaults tuned with bench/sampler_quality.py at N = 50 on seeds 100-119, checked on seeds
    # 120-139 (the published table uses seeds 0-19, never used for tuning): ranking the pool of
    # all finished trials keeps the best trial so far inside every box, which lets the box hug
    # the survivors (margin 0; min_width still keeps it from collapsing) and re-expand when an
    # earlier round's trial outranks the current round's. inner "guided" in the last round: on
    # digits +0.0013 ± 0.0010 (seeds 100-119) and +0.0017 ± 0.0009 (120-139) best dev accuracy
    # over "sobol", which closed the gap to Optuna's TPE there; on bowl and valley a change
    # within the noise (seeds 100-129; docs/benchmarks.md).
    rounds: int = 4
    top_fraction: float = 0.35
    margin: float = 0.0
    min_width: float = 0.1
    per_round: tuple[int, ...] = ()
    advance_fraction: float = 1.0
    inner: str = "guided"
    pool: str = "all"
    local_fraction: float = 0.5
    local_scale: float = 0.25
    local_rounds: int = 1
    candidates: int = 24

    @classmethod
    def from_mapping(
        cls, cfg: Mapping[str, Any], n_trials: int | None = None
    ) -> CoarseToFineConfig:
        def num(key: str, default: float, lo: float, hi: float, lo_open: bool = False) -> float:
            v = cfg.get(key, default)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or v > hi or v < lo or (lo_open and v == lo):
                rng = f"{'(' if lo_open else '['}{lo}, {hi}]"
                raise SamplerConfigError(
                    f"{key} must be a number in {rng}, got {v!r}", f"sampler.{key}"
                )
            return float(v)

        total = cfg.get("n_trials", n_trials)
        budget = total if isinstance(total, int) and not isinstance(total, bool) else None
        auto = "rounds" not in cfg and cfg.get("per_round") is None and budget is not None
        rounds = cfg.get(
            "rounds", default_rounds(budget) if auto and budget is not None else cls.rounds
        )
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise SamplerConfigError(
                f"rounds must be an integer >= 1, got {rounds!r}", "sampler.rounds"
            )
        inner = cfg.get("inner", cls.inner)
        if inner not in INNER:
            raise SamplerConfigError(
                f"inner must be one of {list(INNER)}, got {inner!r}", "sampler.inner"
            )
        pool = cfg.get("pool", cls.pool)
        if pool not in ("round", "all"):
            raise SamplerConfigError(f"pool must be 'round' or 'all', got {pool!r}", "sampler.pool")
        local_rounds = cfg.get(
            "local_rounds", max(1, rounds // 3) if "rounds" not in cfg else cls.local_rounds
        )
        if not isinstance(local_rounds, int) or isinstance(local_rounds, bool) or local_rounds < 0:
            raise SamplerConfigError(
                f"local_rounds must be an integer >= 0, got {local_rounds!r}",
                "sampler.local_rounds",
            )
        candidates = cfg.get("candidates", cls.candidates)
        if not isinstance(candidates, int) or isinstance(candidates, bool) or candidates < 1:
            raise SamplerConfigError(
                f"candidates must be an integer >= 1, got {candidates!r}", "sampler.candidates"
            )
        per_round = cfg.get("per_round")
        if per_round is not None:
            if (
                not isinstance(per_round, list | tuple)
                or len(per_round) != rounds
                or not all(
                    isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in per_round
                )
            ):
                raise SamplerConfigError(
                    f"per_round must be a list of {rounds} positive integers, got {per_round!r}",
                    "sampler.per_round",
                )
            sizes = tuple(per_round)
        elif total is not None:
            if not isinstance(total, int) or isinstance(total, bool) or total < rounds:
                raise SamplerConfigError(
                    f"n_trials must be an integer >= rounds ({rounds}), got {total!r}",
                    "sampler.n_trials",
                )
            q, rem = divmod(total, rounds)
            sizes = tuple(q + (1 if i < rem else 0) for i in range(rounds))
        else:
            sizes = (DEFAULT_ROUND_SIZE,) * rounds
        return cls(
            rounds=rounds,
            top_fraction=num("top_fraction", cls.top_fraction, 0.0, 1.0, lo_open=True),
            margin=num("margin", cls.margin, 0.0, 10.0),
            min_width=num("min_width", cls.min_width, 0.0, 1.0),
            per_round=sizes,
            advance_fraction=num("advance_fraction", cls.advance_fraction, 0.0, 1.0),
            inner=inner,
            pool=pool,
            local_fraction=num("local_fraction", cls.local_fraction, 0.0, 1.0),
            local_scale=num("local_scale", cls.local_scale, 0.0, 10.0, lo_open=True),
            local_rounds=local_rounds,
            candidates=candidates,
        )


@dataclass
class Box:
    """The region a round samples: unit-interval bounds per numeric axis, allowed choices."""

    round: int
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    choices: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self, space: SearchSpace | None = None) -> dict[str, Any]:
        """JSON form; with ``space`` also the bounds as parameter values (for the dashboard)."""
        params: dict[str, Any] = {}
        for n, (lo, hi) in self.bounds.items():
            entry: dict[str, Any] = {"unit": [lo, hi]}
            if space is not None:
                entry["low"], entry["high"] = space[n].from_unit(lo), space[n].from_unit(hi)
            params[n] = entry
        for n, cs in self.choices.items():
            params[n] = {"choices": list(cs)}
        return {"round": self.round, "params": params}


class CoarseToFineSampler(Sampler):
    def __init__(
        self,
        space: SearchSpace,
        direction: str = "maximize",
        seed: int = 0,
        config: CoarseToFineConfig | None = None,
    ) -> None:
        super().__init__(space, direction, seed)
        self.config = config or CoarseToFineConfig()

    # ---- public ---------------------------------------------------------------------------

    def ask(self, number: int, trials: Sequence[TrialRecord]) -> Suggestion:
        past = [t for t in trials if t.number < number]
        boxes, r, parents = self._boxes_and_round(past)
        # Point index within the round counts trial numbers from the round's first trial, so it
        # does not depend on every earlier trial being passed in.
        starts = [t.number for t in past if self._round_of(t) == r]
        index = number - min(starts, default=number) if r > 0 else number
        cfg = self.config
        local = r > 0 and (cfg.local_rounds == 0 or r >= cfg.rounds - cfg.local_rounds)
        if cfg.inner == "elite" and local and parents:
            f = self.config.local_fraction
            # Interleave: point i is local iff floor((i + 1)·f) > floor(i·f); the Sobol points
            # keep consecutive indices (i minus the local points before it).
            if math.floor((index + 1) * f) > math.floor(index * f):
                unit = self._point_near(boxes[r], parents, number)
                return Suggestion(self.space.decode(unit), round=r)
            index -= math.floor(index * f)
        if cfg.inner == "guided" and local and parents:
            unit = self._point_guided(boxes[r], past, parents, number, r, index)
            return Suggestion(self.space.decode(unit), round=r)
        unit = self._point_in_box(boxes[r], number, r, index)
        return Suggestion(self.space.decode(unit), round=r)

    def boxes(self, trials: Sequence[TrialRecord]) -> list[Box]:
        """The box of every round started so far (round 0 is the whole space)."""
        boxes, _, _ = self._boxes_and_round(list(trials), advance=False)
        return boxes

    def round_sizes(self) -> tuple[int, ...]:
        return self.config.per_round

    # ---- rounds ---------------------------------------------------------------------------

    def _round_of(self, t: TrialRecord) -> int:
        return min(max(t.round or 0, 0), self.config.rounds - 1)

    def _boxes_and_round(
        self, past: list[TrialRecord], advance: bool = True
    ) -> tuple[list[Box], int, list[TrialRecord]]:
        """Every round's box, the current round, and the survivors that shaped its box (best
        first; none for round 0)."""
        by_round: dict[int, list[TrialRecord]] = {}
        for t in past:
            by_round.setdefault(self._round_of(t), []).append(t)
        current = max(by_round, default=0)
        boxes = [self._full_box()]
        best: list[TrialRecord] = []
        for r in range(current):
            best = self.survivors(*self._pool(by_round, r))
            boxes.append(self._shrink(boxes[-1], best, r + 1))
        if (
            advance
            and current + 1 < self.config.rounds
            and self._ready(current, by_round.get(current, []))
        ):
            best = self.survivors(*self._pool(by_round, current))
            boxes.append(self._shrink(boxes[-1], best, current + 1))
            current += 1
        return boxes, current, best

    def _pool(
        self, by_round: dict[int, list[TrialRecord]], r: int
    ) -> tuple[list[TrialRecord], int]:
        """The candidates for the box after round r, and how many of them survive: the top
        ``top_fraction`` of round r's finished trials, ranked among round r (``pool="round"``)
        or among all rounds so far (``pool="all"``, which keeps earlier rounds' evidence)."""
        n = sum(1 for t in by_round.get(r, []) if t.finished)
        k = max(1, math.ceil(self.config.top_fraction * n))
        if self.config.pool == "all":
            return [t for q in range(r + 1) for t in by_round.get(q, [])], k
        return by_round.get(r, []), k

    def _ready(self, r: int, in_round: list[TrialRecord]) -> bool:
        if len(in_round) < self.config.per_round[r]:
            return False
        finished = sum(1 for t in in_round if t.finished)
        return finished >= math.ceil(self.config.advance_fraction * len(in_round))

    # ---- boxes ----------------------------------------------------------------------------

    def _full_box(self) -> Box:
        box = Box(0)
        for s in self.space:
            if isinstance(s, CategoricalSpec):
                box.choices[s.name] = list(s.choices)
            else:
                box.bounds[s.name] = (0.0, 1.0)
        return box

    def survivors(
        self, round_trials: Sequence[TrialRecord], k: int | None = None
    ) -> list[TrialRecord]:
        """The top ``k`` (default: ``top_fraction``) of the finished trials; failed, diverged and
        pruned ones rank last and never shape a box (they point away from good regions)."""
        finished = [t for t in round_trials if t.finished]
        s = sign(self.direction)

        def rank(t: TrialRecord) -> tuple[int, float, int]:
            if t.completed and t.value is not None:
                return (0, -s * float(t.value), t.number)
            return (1, 0.0, t.number)

        ranked = sorted(finished, key=rank)
        if k is None:
            k = max(1, math.ceil(self.config.top_fraction * len(finished)))
        return [t for t in ranked[:k] if t.completed]

    def _shrink(self, prev: Box, best: list[TrialRecord], new_round: int) -> Box:
        box = Box(new_round, dict(prev.bounds), {k: list(v) for k, v in prev.choices.items()})
        if not best:  # nothing completed: no evidence to zoom on
            return box
        cfg = self.config
        for name in prev.bounds:
            us = [self.space[name].to_unit(t.params[name]) for t in best if name in t.params]
            if not us:
                continue
            lo, hi = min(us), max(us)
            pad = cfg.margin * (hi - lo)
            lo, hi = lo - pad, hi + pad
            if hi - lo < cfg.min_width:
                mid = (lo + hi) / 2
                lo, hi = mid - cfg.min_width / 2, mid + cfg.min_width / 2
            # Shift (not just clip) a box that sticks out, so it keeps its width at a bound.
            if lo < 0.0:
                lo, hi = 0.0, hi - lo
            if hi > 1.0:
                lo, hi = lo - (hi - 1.0), 1.0
            box.bounds[name] = (max(0.0, lo), min(1.0, hi))
        for name in prev.choices:
            spec = self.space[name]
            assert isinstance(spec, CategoricalSpec)
            # Every choice of the space, not only the previous box's: with ``pool="all"`` a survivor
            # from an earlier round may carry a choice the previous box had dropped.
            seen = [
                c
                for c in spec.choices
                if any(
                    name in t.params and spec.index(t.params[name]) == spec.index(c) for t in best
                )
            ]
            if seen:
                box.choices[name] = seen
        return box

    def _point_in_box(self, box: Box, number: int, r: int, index: int) -> dict[str, float]:
        d = len(self.space)
        if self.config.inner != "random":
            # A fresh scrambling per round, so rounds do not replay each other's points.
            u = sobol_point(d, index, self.seed * 1009 + r)
        else:
            u = rng_for(self.seed, number, 0xC2F).random(d)
        return self._to_unit(self._box_coords(box, u))

    def _point_near(self, box: Box, parents: list[TrialRecord], number: int) -> dict[str, float]:
        """An "elite" point: a Gaussian step from a survivor (favouring the best), in the box."""
        rng = rng_for(self.seed, number, 0xE11E)
        w = [1.0 / (i + 1) for i in range(len(parents))]
        parent = parents[int(rng.choice(len(parents), p=[x / sum(w) for x in w]))]
        unit: dict[str, float] = {}
        for name in self.space.names:
            spec = self.space[name]
            if name in box.bounds:
                lo, hi = box.bounds[name]
                # A survivor always lies in the box fitted around it; one that lacks the axis
                # (inactive conditional) starts from the box's centre.
                x = spec.to_unit(parent.params[name]) if name in parent.params else (lo + hi) / 2
                x += float(rng.normal(0.0, self.config.local_scale * (hi - lo)))
                unit[name] = fold(x, lo, hi)
            else:
                assert isinstance(spec, CategoricalSpec)
                allowed = box.choices[name]
                u, pick = float(rng.random()), int(rng.integers(len(allowed)))
                own = [
                    c
                    for c in allowed
                    if name in parent.params and spec.index(c) == spec.index(parent.params[name])
                ]
                c = own[0] if own and u >= ELITE_MUTATION else allowed[pick]
                unit[name] = spec.to_unit(c)
        return unit

    def _point_guided(
        self,
        box: Box,
        past: Sequence[TrialRecord],
        parents: list[TrialRecord],
        number: int,
        r: int,
        index: int,
    ) -> dict[str, float]:
        """A "guided" point: the best candidate in the box by the survivors' density ratio."""
        axes: list[NumericAxis | CategoricalAxis] = []
        for name in self.space.names:
            if name in box.bounds:
                axes.append(NumericAxis(name, *box.bounds[name]))
            else:
                spec = self.space[name]
                assert isinstance(spec, CategoricalSpec)
                axes.append(CategoricalAxis(name, tuple(spec.index(c) for c in box.choices[name])))
        good = {t.number for t in parents}
        bad = [t for t in past if t.finished and t.number not in good]
        ratio = ParzenRatio(
            axes, [self._coords(t) for t in parents], [self._coords(t) for t in bad]
        )
        k = self.config.candidates
        n_box = (k + 1) // 2
        # Sobol candidates of point i are the sequence's block [i·k', (i+1)·k'): disjoint across
        # the round's points, so concurrent asks with the same evidence still differ.
        block = sobol_points(len(self.space), index * n_box, n_box, self.seed * 1009 + r)
        cands = [self._box_coords(box, u) for u in block]
        cands += ratio.sample_good(rng_for(self.seed, number, 0x7E5), k - n_box)
        return self._to_unit(cands[int(np.argmax(ratio.score(cands)))])

    def _coords(self, t: TrialRecord) -> dict[str, Any]:
        """A trial's point for the density ratio: unit coordinates, choice indices."""
        out: dict[str, Any] = {}
        for name, v in t.params.items():
            if name not in self.space.names:
                continue
            spec = self.space[name]
            out[name] = spec.index(v) if isinstance(spec, CategoricalSpec) else spec.to_unit(v)
        return out

    def _to_unit(self, coords: dict[str, Any]) -> dict[str, float]:
        """``_box_coords`` form back to the unit coordinates ``SearchSpace.decode`` takes."""
        unit: dict[str, float] = {}
        for name, x in coords.items():
            spec = self.space[name]
            if isinstance(spec, CategoricalSpec):
                unit[name] = spec.to_unit(spec.choices[x])
            else:
                unit[name] = float(x)
        return unit

    def _box_coords(self, box: Box, u: np.ndarray) -> dict[str, Any]:
        """A unit-cube point mapped into the box (categoricals as choice indices)."""
        out: dict[str, Any] = {}
        for name, x in zip(self.space.names, u, strict=True):
            if name in box.bounds:
                lo, hi = box.bounds[name]
                out[name] = lo + float(x) * (hi - lo)
            else:
                spec = self.space[name]
                assert isinstance(spec, CategoricalSpec)
                allowed = box.choices[name]
                out[name] = spec.index(allowed[min(len(allowed) - 1, int(x * len(allowed)))])
        return out
