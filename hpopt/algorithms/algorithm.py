"""An algorithm is a composition: a searcher, optionally a rung schedule, and the stop rule trainers apply.

- ``random``: :class:`~.random_search.RandomSearcher`, no stop rule.
- ``smbo`` (baye_opt): :class:`~.gp_ucb.GpUcbSearcher`, optionally the median rule; the first
  ``num_init_trials`` trials run to the end as the rule's reference curves (as the original did).
- ``asha``: a :class:`~.asha.RungSchedule`, the ASHA stopper at its rungs, and any searcher to draw new
  trials (the forest over config and epoch by default, random, or the rung model); a new searcher plugs in here
  without subclassing anything.

The controller reads only this object: which params to try (``searcher``), how long a trial runs and
is expected to run, and what to put in a train_config so the trainer applies the right stop rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..search_space import SearchSpace
from .asha import RungModelSearcher, RungSchedule
from .bracket_choice import BracketChooser
from .forest_searcher import FidelityForestSearcher
from .gp_ucb import GP_RESTARTS, GpUcbSearcher
from .random_search import RandomSearcher
from .searcher import Searcher

SMBO_NAMES = ("bayes_opt", "baye_opt", "smbo")
SEARCH_ALGS = (*SMBO_NAMES, "asha", "random")
EARLY_STOPS = (None, "median_stop")
SAMPLERS = ("random", "bayes", "forest")
BEST_BY_MODEL = "model"  # status' best_rule when the searcher's model chose the best config
DEFAULT_SAMPLER = "forest"  # ASHA's, when create() is given none (docs/benchmarks.md: the multi-fidelity suite)
# Epochs an ASHA run's trials spend over what its rung simulation counts (asha_epochs_curve draws trial qualities
# independently, as the random sampler does), by sampler: (trials in the run, factor) points, linear between them
# and flat outside. The forest proposes better configs as the run goes on, and a config that beats most earlier
# ones goes on at every rung. Medians of 50 runs a point on the development half of the multi-fidelity suite,
# rungs 1 ... 12, rf 2 (bench/asha_epoch_excess.py; docs/benchmarks.md, "Planning ASHA with its sampler's
# epochs"); random measured 0.99 and bayes 0.96 pooled over 15-50 trials, both planned as 1. Auto config plans
# with it, so the trials it promises are those the run affords.
EPOCH_EXCESS: dict[str, tuple[tuple[int, float], ...]] = {
    "random": ((1, 1.0),),
    "bayes": ((1, 1.0),),
    "forest": ((5, 0.86), (8, 0.93), (15, 1.10), (30, 1.37), (50, 1.44)),
}


def epoch_excess(sampler: str | None, trials: int) -> float:
    """The factor of :data:`EPOCH_EXCESS` for a run of ``trials`` trials drawn by ``sampler`` (None: ASHA's
    default sampler)."""
    name = DEFAULT_SAMPLER if sampler is None else sampler
    if name not in EPOCH_EXCESS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    points = EPOCH_EXCESS[name]
    if trials <= points[0][0]:
        return points[0][1]
    for (n0, x0), (n1, x1) in zip(points, points[1:], strict=False):
        if trials <= n1:
            return x0 + (x1 - x0) * (trials - n0) / (n1 - n0)
    return points[-1][1]


def sampler_epochs(sampler: str | None, trials: int, counted: float, first: int, top: int) -> float:
    """Epochs the first ``trials`` trials of an ASHA run drawn by ``sampler`` spend, from those its rung simulation
    counts for them (``counted``): times :func:`epoch_excess`, but never fewer than every trial stopping at its
    first rung ``first`` nor more than every trial running to its last epoch ``top``."""
    return min(max(counted * epoch_excess(sampler, trials), trials * first), trials * top)


@dataclass
class Algorithm:
    """What the controller needs to know of an algorithm."""

    name: str  # stored as the run's "search_algorithm"
    searcher: Searcher
    schedule: RungSchedule | None = None
    early_stop: str | None = None  # the stop rule trainers apply ("asha", "median_stop") or None
    full_length_first: int = 0  # the first trials run to the end without the stop rule
    settings: dict[str, Any] = field(default_factory=dict)  # stored, and checked unchanged on resume
    chooser: BracketChooser | None = None  # ASHA with several brackets: picks each new trial's bracket

    # --- events: the controller tells the algorithm, which tells the parts that learn from them ---------

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        if self.chooser is not None:
            self.chooser.on_config(trial_id, attempt)
        self.searcher.on_config(trial_id, attempt, params)

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        if self.chooser is not None:
            self.chooser.on_scores(trial_id, attempt, scores)
        self.searcher.on_scores(trial_id, attempt, scores)

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        self.searcher.on_result(trial_id, score, fidelity)

    def on_subset(self, trial_id: int, share: float) -> None:
        """Trial ``trial_id`` trains on ``share`` of the data the run's first trials had (auto config's
        re-plan cut ASHA's subset): a searcher that models scores over epochs (the forest) counts its epochs
        as that much less training. Searchers without such a model ignore it."""
        hook = getattr(self.searcher, "on_subset", None)
        if hook is not None:
            hook(trial_id, share)

    def on_cost(self, trial_id: int, epoch_scale: float) -> None:
        """Trial ``trial_id``'s epochs cost ``epoch_scale`` times what the run's plan gives an epoch (a run
        with a deadline in seconds measures it): a searcher that weighs cost (the forest) proposes the
        cheaper of configs it cannot tell apart. Searchers without such a rule ignore it."""
        hook = getattr(self.searcher, "on_cost", None)
        if hook is not None:
            hook(trial_id, epoch_scale)

    def on_count_at_risk(self, at_risk: bool) -> None:
        """The re-planner forecasts fewer trials than auto config promised (:attr:`~hpopt.run.replanner.
        Replanner.count_at_risk`): a searcher that weighs cost counts more candidates as tied with the best
        and proposes the cheapest of them. Searchers without such a rule ignore it."""
        hook = getattr(self.searcher, "on_count_at_risk", None)
        if hook is not None:
            hook(at_risk)

    def best_trial(self) -> int | None:
        """The searcher's choice of best config where the best score would mislead, else None."""
        return self.searcher.best_trial()

    def train_config(self, trial_id: int, iterations: int | None = None) -> dict[str, Any]:
        """The train_config keys of this algorithm: the stop rule and, for ASHA, the trial's rungs (ending
        at its ``iterations``)."""
        out: dict[str, Any] = {"early_stop": None if trial_id < self.full_length_first else self.early_stop}
        if self.schedule is not None:
            out.update(self.schedule.train_config(trial_id, iterations))
        return out

    def entry(self, trial_id: int) -> dict[str, Any]:
        """Keys of a new trial's entry in the status file, decided once at issue (ASHA: its bracket)."""
        if self.schedule is None:
            return {}
        bracket = self.chooser.choose(trial_id) if self.chooser is not None else self.schedule.bracket_of(trial_id)
        self.schedule.assign(trial_id, bracket)
        return {"bracket": bracket}

    def restore_entry(self, trial_id: int, entry: Mapping[str, Any]) -> None:
        """Take back what :meth:`entry` decided for a stored trial (on resume)."""
        if self.schedule is not None and "bracket" in entry:
            self.schedule.assign(trial_id, int(entry["bracket"]))

    def expected_epochs(self, trial_id: int, done: int, iterations: int) -> float:
        """Expected total epochs of a trial that has reported ``done``; ASHA's rungs stop trials earlier."""
        if self.schedule is not None:
            return self.schedule.expected_epochs(trial_id, done, iterations)
        return float(max(done, iterations))

    def state(self) -> dict[str, Any]:
        """Keys for the status file."""
        out = dict(self.searcher.state())
        if self.searcher.best_trial() is not None:
            out["best_rule"] = BEST_BY_MODEL  # the views take best_config_id instead of the best score
        if self.schedule is not None:
            out.update(self.schedule.state())
        out.update(self.settings)
        return out


def build_algorithm(search_alg: str, *, space: Mapping[str, SearchSpace], mode: str, seed: int,
                    early_stop: str | None = None, num_init_trials: int = 5, num_defaults: int = 0,
                    kappa: float = 2.576, kappa_decay: float = 1.0, kappa_decay_delay: int = 0,
                    max_iterations: int = 1, min_iterations: int = 1, reduction_factor: int = 2,
                    num_brackets: int = 1, sampler: str | None = None) -> Algorithm:
    """The algorithm ``create(search_alg=...)`` asks for; arguments are already checked by create()."""
    if search_alg not in SEARCH_ALGS:
        raise ValueError(f"search_alg must be one of {list(SEARCH_ALGS)}, got {search_alg!r}")

    def gp(restarts: int = GP_RESTARTS, select_warp: bool = True, local: bool = True) -> GpUcbSearcher:
        return GpUcbSearcher(space, mode=mode, seed=seed, num_init_trials=num_init_trials, num_defaults=num_defaults,
                             kappa=kappa, kappa_decay=kappa_decay, kappa_decay_delay=kappa_decay_delay,
                             gp_restarts=restarts, select_warp=select_warp, use_trust_region=local)

    if search_alg == "random":
        return Algorithm("random", RandomSearcher(seed))
    if search_alg in SMBO_NAMES:
        return Algorithm("smbo", gp(), early_stop=early_stop,
                         full_length_first=num_init_trials if early_stop is not None else 0)
    sampler = sampler or DEFAULT_SAMPLER
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    schedule = RungSchedule(min_iterations, max_iterations, reduction_factor, num_brackets)
    searcher: Searcher = RandomSearcher(seed)
    if sampler == "bayes":
        # The sampler suggests once per trial, and ASHA runs many short trials: one kernel fit per suggestion
        # (no restarts) keeps a suggestion near 0.1 s; the rung data it fits are noisy low-fidelity scores.
        # Its warp stays Yeo-Johnson: choosing the warp by likelihood was tuned on baye_opt's suite, and on
        # ASHA's noisy rung scores it made the sampler worse (tests/test_asha.py, 2 of 5 seeds far off).
        # Nor does it search a trust region: rung scores of many trials are not a sequence of improvements.
        searcher = RungModelSearcher(gp(restarts=0, select_warp=False, local=False), RandomSearcher(seed),
                                     schedule.levels, mode)
    elif sampler == "forest":
        searcher = FidelityForestSearcher(space, RandomSearcher(seed), max_iterations, mode, seed)
    chooser = BracketChooser(schedule.brackets, mode, seed) if schedule.num_brackets > 1 else None
    return Algorithm("asha", searcher, schedule=schedule, early_stop="asha", settings={"sampler": sampler},
                     chooser=chooser)
