"""ASHA's "forest" sampler: one model of the score over (config, epoch), asked about the last epoch.

ASHA with random draws spends most of its budget on epoch-1 results, and a sampler fitted on one rung
(:class:`~.asha.RungModelSearcher`) trusts that rung: where early epochs rank configs differently from the
last one, it chases what looks good early. This searcher fits a random forest (scikit-learn's extra
trees, bootstrapped, as SMAC models configurations) to every reported epoch of every trial, with the
epoch as an input (``log e / log max``). A config is proposed for its predicted score **at the last
epoch**: where low fidelities mislead, the trees split on the epoch and the few long trials decide;
where they agree, every short trial informs the prediction. Trees cost O(n log n) to fit, so a
suggestion stays cheap at hundreds of trials (the GP's cubic fit does not), and they need no warping
for scores whose scale changes with the epoch.

Acquisition: the forest's predicted score at the last epoch (the mean of its trees), over random points
of the box and perturbations of the configs tried so far that the trees predict best at the last epoch,
configs already tried or running excluded. Exploration comes from elsewhere: a share of trials
(``random_fraction``, as BOHB does) is drawn at random, and all of them until ``min_trials`` trials have
reported, so the model never starves the search of fresh regions. The trees' spread is no bonus: it is
largest where few long trials exist, and adding it (as an upper confidence bound) sent the search there
rather than to good configs (docs/benchmarks.md: 2026-12-06, one worker). With a deadline in seconds
(auto config's ``full_train_seconds``, re-planning on) the controller also tells each trial's epoch cost over the plan's
(:meth:`FidelityForestSearcher.on_cost`): the candidates predicted within one standard deviation of the
trees (at the best candidate) of the best are taken as tied, and the cheapest of them by a linear model
of log epoch cost is proposed. A search that drifts to configs whose epochs cost several times the
plan's (small batches, wide networks) spends the deadline on few trials; among configs the trees cannot
tell apart, the cheaper one buys more. Pure: the controller feeds events; draws come from the run's
seed and the trial id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..search_space import SearchSpace
from .epoch_cost import EpochCosts, prefer_cheap
from .gp_box import GpBox
from .random_search import RandomSearcher
from .scores import config_key, signed
from .searcher import SuggestRequest

RANDOM_FRACTION = 0.2  # trials drawn at random after the start: keeps exploring where the trees are confident
N_TREES = 32
FOREST = {"n_estimators": N_TREES, "min_samples_leaf": 2, "bootstrap": True, "max_features": 0.8, "n_jobs": 1}
# the extra trees' settings (scikit-learn's ExtraTreesRegressor), also used by bench/best_pick_rules.py
MAX_POINTS = 800  # observations the trees see at most: every trial's longest, then a seeded sample of the rest
N_RANDOM_CANDIDATES = 512
N_LOCAL_CANDIDATES = 256
LOCAL_SCALE = 0.08  # spread of the perturbations of the best configs, in the unit box
N_CENTRES = 5  # configs predicted best at the last epoch, perturbed for local candidates


class FidelityForestSearcher:
    """Random forest over (config, log epoch), proposing by the predicted score at the last epoch."""

    def __init__(self, space: Mapping[str, SearchSpace], random: RandomSearcher, max_epoch: int, mode: str,
                 seed: int, *, min_trials: int | None = None, random_fraction: float = RANDOM_FRACTION) -> None:
        self.box = GpBox(space)
        self.random = random
        self.max_epoch = int(max_epoch)
        self.mode = mode
        self.seed = int(seed)
        self.min_trials = int(min_trials) if min_trials is not None else len(space) + 2
        self.random_fraction = float(random_fraction)
        self._params: dict[int, tuple[int, dict[str, Any]]] = {}  # trial id -> (attempt, params)
        self._curves: dict[int, tuple[int, list[float | None]]] = {}  # trial id -> (attempt, scores reported)
        self._encoded: dict[tuple[int, int], np.ndarray] = {}
        self._share: dict[int, float] = {}  # trial id -> its subset over the run's first (a re-plan cut it)
        self._costs = EpochCosts(self.min_trials)  # each trial's epoch cost over the plan's (a deadline run)

    @property
    def exhausted(self) -> bool:
        return self.random.exhausted

    # --- events --------------------------------------------------------------------------------

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        self._params[trial_id] = (attempt, dict(params))
        self.random.on_config(trial_id, attempt, params)

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        self._curves[trial_id] = (attempt, list(scores))

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        pass

    def on_subset(self, trial_id: int, share: float) -> None:
        """The trial trains on ``share`` of the first trials' subset: its epoch e counts as e x share."""
        self._share[trial_id] = float(share)

    def on_cost(self, trial_id: int, epoch_scale: float) -> None:
        """The trial's epochs cost ``epoch_scale`` times what the run's plan gives an epoch (measured by a
        run with a deadline in seconds): among configs the trees cannot tell apart, the cheapest is
        proposed, so a deadline buys more trials (:mod:`.epoch_cost`)."""
        self._costs.add(trial_id, epoch_scale)

    def on_count_at_risk(self, at_risk: bool) -> None:
        """The run's forecast count of trials falls short of auto config's promise: ties widen."""
        self._costs.at_risk = bool(at_risk)

    def best_trial(self) -> int | None:
        return None

    def state(self) -> dict[str, Any]:
        return {"random_fraction": self.random_fraction}

    # --- the model -----------------------------------------------------------------------------

    def _fidelity(self, epoch: float) -> float:
        """``log e / log max``: 1 at the last epoch; below 0 for an epoch on a subset a re-plan cut."""
        return math.log(epoch) / math.log(self.max_epoch) if self.max_epoch > 1 else 1.0

    def _x(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> np.ndarray:
        key = (trial_id, attempt)
        if key not in self._encoded:
            self._encoded[key] = self.box.encode(params)
        return self._encoded[key]

    def observations(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows (box coordinates + fidelity), the best-so-far score at each reported epoch (max-mode
        sign), and each trial's longest row (the incumbents are picked among those)."""
        longest, rest = [], []
        for tid, (attempt, scores) in sorted(self._curves.items()):  # trial order: the same after a resume
            held = self._params.get(tid)
            if held is None or held[0] != attempt:
                continue
            x = self._x(tid, attempt, held[1])
            share = self._share.get(tid, 1.0)
            rows, best = [], -math.inf  # the best-so-far score (max-mode sign), as ASHA's rungs compare
            for epoch, score in enumerate(scores[:self.max_epoch], start=1):
                if score is not None and math.isfinite(score):
                    best = max(best, signed(score, self.mode))
                if best > -math.inf:
                    rows.append((np.append(x, self._fidelity(epoch * share)), best))
            if rows:
                longest.append(rows[-1])
                rest.extend(rows[:-1])
        if len(longest) + len(rest) > MAX_POINTS and len(longest) < MAX_POINTS:
            keep = rng.choice(len(rest), size=MAX_POINTS - len(longest), replace=False)
            rest = [rest[i] for i in sorted(keep)]
        rows = longest + rest
        if not rows:
            return np.empty((0, self.box.dims + 1)), np.empty(0), np.empty((0, self.box.dims + 1))
        xs = np.array([r[0] for r in rows])
        ys = np.array([r[1] for r in rows], dtype=float)
        return xs, ys, xs[:len(longest)]

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        rng = np.random.default_rng([self.seed, request.trial_id, request.attempt, 0x7F])
        reported = sum(1 for att, scores in self._curves.values() if scores)
        if reported < self.min_trials or rng.random() < self.random_fraction:
            return self.random.suggest(request)
        xs, ys, longest = self.observations(rng)
        params = self._propose(request, xs, ys, longest, rng)
        self.random.on_config(request.trial_id, request.attempt, params)
        return params

    def _propose(self, request: SuggestRequest, xs: np.ndarray, ys: np.ndarray, longest: np.ndarray,
                 rng: np.random.Generator) -> dict[str, Any]:
        forest = _fit(xs, ys, rng)
        d = self.box.dims
        seen = longest[:, :d]
        predicted = forest.predict(np.hstack([seen, np.ones((len(seen), 1))]))
        centres = seen[np.argsort(-predicted)[:N_CENTRES]]  # best configs by their predicted last-epoch score
        candidates = self._candidates(centres, self.box.upper(request.space), rng)
        at_last = np.hstack([candidates, np.ones((len(candidates), 1))])
        cost = self._costs.model(lambda tid: self._x(tid, *self._params[tid]) if tid in self._params else None)
        if cost is None:
            score = forest.predict(at_last)  # at the last epoch
        else:  # among the candidates the trees cannot tell from the best, the cheapest first
            trees = np.stack([tree.predict(at_last) for tree in forest.estimators_])
            score = trees.mean(axis=0)
            score = prefer_cheap(score, float(trees[:, int(np.argmax(score))].std()), cost(candidates),
                                 self._costs.tie_spread)
        tried = {config_key(p) for tid, (_, p) in self._params.items() if tid != request.trial_id}
        tried.update(config_key(p) for p in request.pending)
        for i in np.argsort(-score):
            params = self.box.decode(candidates[i], request.space)
            if config_key(params) not in tried:
                return params
        return self.box.decode(candidates[int(np.argmax(score))], request.space)

    def _candidates(self, centres: np.ndarray, ub: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Random points of the box, and perturbations of the configs predicted best at the last epoch."""
        d = self.box.dims
        points = [rng.random((N_RANDOM_CANDIDATES, d))]
        if len(centres):
            picks = centres[rng.integers(len(centres), size=N_LOCAL_CANDIDATES)]
            points.append(np.clip(picks + rng.normal(0.0, LOCAL_SCALE, (N_LOCAL_CANDIDATES, d)), 0.0, 1.0))
        return self.box.snap(np.minimum(np.vstack(points), ub))


def _fit(xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> Any:
    """The extra trees over (config, fidelity), seeded from ``rng``."""
    from sklearn.ensemble import ExtraTreesRegressor  # imported here: trainers never need it

    return ExtraTreesRegressor(**FOREST, random_state=int(rng.integers(2**31 - 1))).fit(xs, ys)
