"""Re-planning during a run, applied: measure collected trials, re-plan when the plan drifts, say so.

Active only when the run has a deadline in seconds (``create(full_train_seconds=...)``) and auto config
chose at least one of num_trials, max_iterations, subset_ratio. The rule is :mod:`hpopt.auto_replan`'s;
this module decides when to look (after the first ``max(2, num_workers)`` collected trials, then again
only after as many more), changes the run's settings, and keeps the plan at the start and every re-plan
with its reason in the status, so ``hpopt status``, the end-of-run line and a resumed run all see them.
For ASHA it also numbers the rung groups (a subset a re-plan cut: its trials' rungs are their own),
measures how many more epochs its trials run than the plan counts (the rung schedule's, times the sampler's
measured factor, ``hpopt.algorithms.epoch_excess``; a workload can send more or fewer good configs up the
rungs than that), and, once the subset cannot shrink
further, cuts the last epoch of the trials still to start (their rungs below it are everyone's); where the
trials promised still do not fit, their subset goes below its floor once (:meth:`Replanner._yield_subset`).

With parallel workers the first trials start together, before anything was measured: at twice the planned
epoch cost, the first two trials of an ASHA run found its rungs empty, climbed every rung, and spent 6 of its
10 trial-seconds before the first look. So with two workers or more the first look comes as soon as as many
trials as a look waits for were measured, counting each trial in flight that reported twice (its epoch time
is then known), not only collected ones; and a re-plan
that lowers the fidelity also lowers the last epoch of the trials in flight to what the new plan gives a
trial (:meth:`Replanner.take_cuts`; never below half of theirs, nor below what they ran).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..auto_replan import (
    GROW_AFTER,
    MIN_FIDELITY_SHARE,
    OWNABLE,
    CostModel,
    Plan,
    TrialCost,
    count_subset_floor,
    fidelity_floor,
    kept_trials,
    measure,
    needs_replan,
    plan_trial_seconds,
    projected_seconds,
    replan,
)
from ..time_model import min_epochs, trial_cost
from .settings import RunSettings

logger = logging.getLogger("hpopt")

AshaEpochs = Callable[[int, int, int], float]  # (trials started, trials planned, last epoch) -> mean epochs of the rest

_WINDOW = 16  # recent collected trials the cost model is fitted to: follows a load that changes
NEW_GROUP_MIN = 6  # ASHA: trials still to start for a subset cut to be worth a rung group whose rungs start empty
MIN_SUBSET_CUT = 0.1  # ASHA: a subset cut smaller than this share is not worth a rung group
MIN_TOP_SHARE = 0.5  # ASHA: a re-plan never cuts the last epoch below this share of the plan's at the start


@dataclass(frozen=True)
class InFlight:
    """A trial given out and not yet collected, as the controller sees it."""

    trial_id: int
    done: int  # epochs reported so far
    iterations: int  # its last epoch now
    subset_ratio: float
    epoch_s: float | None  # its own epoch time, once it reported twice


class Replanner:
    """Keeps a run with a deadline in seconds on a plan that fits it."""

    def __init__(self, settings: RunSettings, owned: Iterable[str], model: CostModel | None, min_subset: float,
                 asha_epochs: AshaEpochs | None = None, suggestion_s: float = 0.0, min_top: int = 1,
                 count_subset: float | None = None) -> None:
        self.settings = settings
        # ASHA's epochs follow its rung schedule: its number of trials and its subset move, and its last epoch
        # once the subset cannot. A cut subset starts a rung group of its own (rung_group), since scores of
        # two subsets do not compare; a cut last epoch keeps the rungs below it.
        self.owned = frozenset(o for o in owned if o in OWNABLE)
        self.model = model
        self.min_subset = float(min_subset)
        # the subset's floor yields down to this for the count promised (None: half the floor's samples)
        self.count_subset = count_subset_floor(self.min_subset) if count_subset is None else float(count_subset)
        self.asha_epochs = asha_epochs
        self.min_top = int(min_top)  # ASHA: the smallest last epoch that keeps a rung below it
        self.initial = self.plan
        self.suggestion_s = float(suggestion_s)  # what the plan at the start counted per trial for its suggestion
        self.replans: list[dict[str, Any]] = []
        self._costs: deque[TrialCost] = deque(maxlen=_WINDOW)
        self._collected = 0
        self._collected_at_last_look = 0
        self._looked_in_flight = False  # the early look of a parallel run (module doc) was made
        self._cuts: dict[int, int] = {}  # trial in flight -> its new last epoch, for the controller to apply
        self._top_yielded = False  # ASHA: the last cut of the last epoch went below the cost floor, for the count
        self.count_at_risk = False  # the last look's forecast of trials fell short of the share promised
        self._forecast = 0  # that forecast, in trials (for the log line of a change)
        self._group_epochs: dict[tuple[int, int], list[int]] = {}  # ASHA: (rung group, last epoch) -> [trials
        # collected, epochs they ran]

    @property
    def active(self) -> bool:
        return self.model is not None and bool(self.owned)

    @property
    def plan(self) -> Plan:
        s = self.settings
        return Plan(num_trials=s.num_trials, max_iterations=s.max_iterations, subset_ratio=s.subset_ratio)

    def count(self, extra: Mapping[str, Any], iterations: int | None = None) -> None:
        """A collected trial's measured cost (its entry's extra fields; ``iterations``: its last epoch), for
        the cost model."""
        self._collected += 1
        seconds, epochs = extra.get("cost_s"), extra.get("num_iterations_run")
        if self.asha_epochs is not None and isinstance(epochs, int):
            top = self.initial.max_iterations if iterations is None else int(iterations)
            seen = self._group_epochs.setdefault((int(extra.get("rung_group") or 0), top), [0, 0])
            seen[0], seen[1] = seen[0] + 1, seen[1] + epochs
        if isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
            subset = extra.get("subset_ratio", self.initial.subset_ratio)
            epoch_s = extra.get("epoch_s")
            self._costs.append(TrialCost(epochs, float(subset), None if epoch_s is None else float(epoch_s),
                                         float(seconds), float(extra.get("suggest_s") or 0.0)))

    def measured_epoch(self, extra: Mapping[str, Any]) -> tuple[float, float] | None:
        """A collected trial's measured epoch seconds and what the plan's model gives an epoch on its subset
        (from its entry's extra fields), when the run has a model (a deadline in seconds) and the trial's
        epochs were measured; else None."""
        epoch_s = extra.get("epoch_s")
        if self.model is None or not isinstance(epoch_s, (int, float)) or not epoch_s > 0:
            return None
        planned = self.model.planned_epoch_seconds(float(extra.get("subset_ratio", self.initial.subset_ratio)))
        return (float(epoch_s), planned) if planned > 0 else None

    def check(self, started: int, seconds_left: float, in_flight: Sequence[InFlight] = ()) -> bool:
        """Re-plan when enough new trials were measured (collected ones; with parallel workers, before the first
        regular look, also the trials in flight that reported twice: :meth:`_early_costs`; and once every
        trial planned was collected) and the rest of the plan misses the time left by more than the drift
        allowed; True when the settings changed (the caller checkpoints and applies :meth:`take_cuts`).
        Growth waits for :data:`GROW_AFTER` measured trials, or for all of a plan that has fewer: a plan of
        four trials whose epochs cost a fifth of the plan's would otherwise end at a fraction of the time.
        A look that puts the count at risk, or finds it safe again, says so (:attr:`count_at_risk`)."""
        was_at_risk = self.count_at_risk
        changed = self._look(started, seconds_left, in_flight)
        if self.count_at_risk != was_at_risk:
            promised = kept_trials(self.initial.num_trials, 0)
            logger.info("auto config: at the measured costs the run reaches %d of the %d trials planned at the "
                        "start (%s %d): the search %s", self._forecast, self.initial.num_trials,
                        "fewer than" if self.count_at_risk else "at least", promised,
                        "now prefers the cheapest of the configs it rates about as good as the best"
                        if self.count_at_risk else "weighs cost as before")
        return changed

    def _look(self, started: int, seconds_left: float, in_flight: Sequence[InFlight]) -> bool:
        """:meth:`check`'s work."""
        look_every = max(2, self.settings.num_workers)
        self._cuts = {}
        if not self.active:
            return False
        early = self._early_costs(in_flight, look_every)
        # a plan's last trial collected off the cadence: a look now may still grow it (else the run ends early)
        plan_done = self._collected >= self.settings.num_trials > self._collected_at_last_look
        if early is None and self._collected - self._collected_at_last_look < look_every and not plan_done:
            return False
        costs: Iterable[TrialCost]
        if early is not None:
            self._looked_in_flight = True
            costs = early
        else:
            self._collected_at_last_look = self._collected
            costs = self._costs
        assert self.model is not None
        fitted = measure(self.model, costs, self.suggestion_s)
        if fitted is None:
            return False
        plan = self.plan
        excess = 1.0 if self.asha_epochs is None else self._excess()
        epochs = self._asha_rest_epochs(started, plan.num_trials, excess)
        changed = self._replan(plan, started, seconds_left, fitted, excess, epochs, in_flight, early)
        if changed:  # the new plan's epochs: its last epoch, and for ASHA its rung group, may differ
            epochs = self._asha_rest_epochs(started, self.plan.num_trials, excess)
        self._forecast_count(self.plan, started, seconds_left, fitted, epochs)
        return changed

    def _replan(self, plan: Plan, started: int, seconds_left: float, fitted: CostModel, excess: float,
                epochs: float | None, in_flight: Sequence[InFlight], early: list[TrialCost] | None) -> bool:
        """Re-plan when ``plan`` (whose trials still to start run ``epochs`` each, None: its last epoch) misses
        the time left; apply and record the new plan. True when the settings changed."""
        if not needs_replan(plan, started, seconds_left, fitted, epochs, self.owned,
                            may_grow=self._collected >= min(GROW_AFTER, plan.num_trials)):
            return False
        floor = MIN_FIDELITY_SHARE * self._initial_per_trial()  # a sequential algorithm's, in full trainings
        new = (self._hold_count(replan(plan, started, seconds_left, fitted, self.owned, self.min_subset, epochs,
                                       min_per_trial=floor, keep=kept_trials(self.initial.num_trials, started),
                                       restore_to=self.initial.num_trials, count_subset=self._yielding_subset(plan)),
                                started)
               if self.asha_epochs is None
               else self._asha_replan(plan, started, seconds_left, fitted, excess))
        if new == plan:
            return False
        before = projected_seconds(plan, started, fitted, epochs)
        more = "" if excess == 1.0 else f", its trials run {excess:.2f}x the epochs ASHA's schedule expects"
        reason = (f"an epoch costs {fitted.epoch_scale:.2f}x the plan's and a trial {fitted.overhead_s:.2f} s "
                  f"more{more}, so the {max(0, plan.num_trials - started)} trials still planned would take "
                  f"{before:.0f} s of the {max(0.0, seconds_left):.0f} s of trial time left")
        if early is not None:
            timed = sum(f.epoch_s is not None for f in in_flight)
            reason = (f"from the first epochs of the {timed} trial{'s' if timed > 1 else ''} in flight"
                      + (f" and the {self._collected} collected" if self._collected else "") + ", " + reason)
        self._cuts = self._in_flight_cuts(in_flight, new)
        if self._cuts:
            reason += ("; the trials in flight stop at the new plan's fidelity (last epoch "
                       + ", ".join(f"{top} for trial {tid}" for tid, top in sorted(self._cuts.items())) + ")")
        planned = self.initial.num_trials
        if self._below_floor(new, floor):
            reason += (f"; below the fidelity floor (half the start's), to keep {kept_trials(planned, 0)} of the "
                       f"{planned} trials planned at the start")
        if new.subset_ratio < min(plan.subset_ratio, self.min_subset) * (1 - 1e-9):
            n = self.settings.full_dataset_size
            reason += (f"; the subset below its floor of {round(self.min_subset * n)} samples, to "
                       f"{round(new.subset_ratio * n)}, to keep {kept_trials(planned, 0)} of the {planned} trials "
                       "planned at the start")
        self.replans.append({"after_trials": started, "reason": reason, "num_trials": new.num_trials,
                             "max_iterations": new.max_iterations, "subset_ratio": round(new.subset_ratio, 6),
                             **({"in_flight_cut": {str(t): top for t, top in sorted(self._cuts.items())}}
                                if self._cuts else {})})
        logger.warning("auto config re-planned after %d trials: %s; now %d trials x up to %d epochs on %.0f%% of "
                       "the training set (planned at the start: %d x %d on %.0f%%)", started, reason, new.num_trials,
                       new.max_iterations, 100 * new.subset_ratio, self.initial.num_trials,
                       self.initial.max_iterations, 100 * self.initial.subset_ratio)
        s = self.settings
        s.num_trials, s.max_iterations, s.subset_ratio = new.num_trials, new.max_iterations, new.subset_ratio
        return True

    def _forecast_count(self, plan: Plan, started: int, seconds_left: float, fitted: CostModel,
                        epochs: float | None) -> None:
        """Set :attr:`count_at_risk`: whether the trials started plus those the time left buys at ``plan``'s
        fidelity and the measured costs fall short of :data:`KEEP_SHARE` (plus :data:`KEEP_AIM`) of the
        count planned at the start. The fidelity floors can leave a re-plan nothing but the count to give
        (ASHA at the smallest subset and last epoch it may cut to); the searcher can still propose cheaper
        configs (:meth:`~hpopt.algorithms.algorithm.Algorithm.on_count_at_risk`). ``epochs``: what each of
        its trials still to start runs (ASHA's schedule; None: the plan's last epoch). Nothing promised
        (:func:`~hpopt.auto_replan.kept_trials` 0): never at risk."""
        one = plan_trial_seconds(plan, fitted, epochs)
        forecast = started + (max(0.0, seconds_left) / one if one > 0 else math.inf)
        self._forecast = int(min(forecast, 10 * self.initial.num_trials))
        self.count_at_risk = forecast < kept_trials(self.initial.num_trials, 0)

    def take_cuts(self) -> dict[int, int]:
        """The last re-plan's new last epoch per trial in flight (empty when it cut none); given once."""
        cuts, self._cuts = self._cuts, {}
        return cuts

    def _early_costs(self, in_flight: Sequence[InFlight], look_every: int) -> list[TrialCost] | None:
        """With parallel workers, the costs of a look before the first regular one (module doc): the trials
        collected so far and the epochs of those in flight that reported twice, once they are as many as a
        regular look waits for. None when there is no such look to make: one worker's run looks after its
        first two trials, as before; a resumed run whose first session re-planned does not look again."""
        if (self.settings.num_workers < 2 or self._looked_in_flight or self._collected >= look_every
                or self._collected_at_last_look or self.replans):
            return None
        timed = [TrialCost(f.done, f.subset_ratio, f.epoch_s, f.done * f.epoch_s)
                 for f in in_flight if f.epoch_s is not None and f.epoch_s > 0]
        if not timed or len(timed) + len(self._costs) < look_every:
            return None
        return [*self._costs, *timed]

    def _in_flight_cuts(self, in_flight: Sequence[InFlight], new: Plan) -> dict[int, int]:
        """The new last epoch of each trial in flight whose fidelity (epochs x subset) is above what ``new``
        gives a trial: fewer epochs before fewer trials holds for the trials already running too. Never
        below half its last epoch (nor ASHA's ``min_top``, nor the fewest epochs auto config gives), and
        never below the epochs it ran (it then stops at once)."""
        if "max_iterations" not in self.owned and "subset_ratio" not in self.owned:
            return {}
        assert self.model is not None
        lowest = self.min_top if self.asha_epochs is not None else min_epochs(self.model.num_full_iterations)
        fidelity = new.max_iterations * new.subset_ratio
        cuts = {}
        for f in in_flight:
            floor = max(math.ceil(MIN_TOP_SHARE * f.iterations), min(lowest, f.iterations), f.done)
            top = max(floor, math.floor(fidelity / f.subset_ratio + 1e-9))
            if top < f.iterations:
                cuts[f.trial_id] = top
        return cuts

    def _below_floor(self, new: Plan, floor: float) -> bool:
        """Whether ``new`` gives a trial less than a floor that yielded to the count (``KEEP_SHARE``): ``floor``
        full trainings per trial, or for ASHA the cost floor of its last-epoch cut (:meth:`_cut_top`)."""
        if self.asha_epochs is not None:
            return self._top_yielded
        assert self.model is not None
        m = self.model
        cost = trial_cost(new.max_iterations, m.num_full_iterations, new.subset_ratio, m.non_pure_train_ratio)
        return cost < floor * (1 - 1e-9)

    def _initial_per_trial(self, epochs: float | None = None) -> float:
        """Full trainings one trial of the plan at the start costs by the plan's model, at ``epochs`` per
        trial (None: max_iterations)."""
        assert self.model is not None
        i = self.initial
        return trial_cost(i.max_iterations if epochs is None else epochs, self.model.num_full_iterations,
                          i.subset_ratio, self.model.non_pure_train_ratio)

    # --- ASHA: its subset and its count --------------------------------------------------------------

    def subsets(self) -> list[float]:
        """The subsets the run has trained on, in order: the plan's at the start, then each one a re-plan
        cut to. A trial's rung group is its subset's place in this list."""
        out = [round(self.initial.subset_ratio, 6)]
        for r in self.replans:
            subset = round(float(r["subset_ratio"]), 6)
            if subset not in out:
                out.append(subset)
        return out

    def rung_group(self, subset_ratio: float) -> int:
        """The rung group of an ASHA trial on ``subset_ratio`` (0: the plan's subset at the start)."""
        subsets = self.subsets()
        key = round(float(subset_ratio), 6)
        return subsets.index(key) if key in subsets else 0

    def subset_share(self, subset_ratio: float) -> float:
        """A trial's subset over the plan's at the start: how much of an epoch each of its epochs is."""
        return float(subset_ratio) / self.initial.subset_ratio

    def _group_start(self) -> int:
        """Trials started before the current rung group's first (0 while the subset is the start's)."""
        group = self.rung_group(self.settings.subset_ratio)
        if group == 0:
            return 0
        subset = self.subsets()[group]
        return next(int(r["after_trials"]) for r in self.replans if round(float(r["subset_ratio"]), 6) == subset)

    def _excess(self) -> float:
        """Epochs ASHA's collected trials ran over what the plan counts for as many trials (``asha_epochs``:
        the rung schedule's simulation times the sampler's measured factor, which a workload's configs may
        beat or fall short of). Pooled over the rung groups (each group's trials are
        expected to run what a fresh run's first ones do), and drawn towards 1 by a prior worth the first
        four trials: which few trials reach the top rung makes a handful of trials' ratio swing 0.5-1.8x."""
        assert self.asha_epochs is not None
        prior = 4 * self.asha_epochs(0, 4, self.initial.max_iterations)
        ran, expected = prior, prior
        for (_, top), (count, epochs) in self._group_epochs.items():
            if count:
                ran += epochs
                expected += count * self.asha_epochs(0, int(count), top)
        return min(4.0, max(0.5, ran / expected))

    def _asha_rest_epochs(self, started: int, total: int, excess: float, top: int | None = None) -> float | None:
        """Mean epochs of the trials still to start in the current rung group, ending at ``top`` (None: the
        current last epoch), scaled by the measured ``excess`` (:meth:`_excess`); None for an algorithm
        without rungs."""
        if self.asha_epochs is None:
            return None
        g0 = self._group_start()
        top = self.settings.max_iterations if top is None else top
        return self.asha_epochs(started - g0, max(started + 1, total) - g0, top) * excess

    def _asha_replan(self, plan: Plan, started: int, seconds_left: float, fitted: CostModel, excess: float) -> Plan:
        """ASHA's re-plan: a smaller subset for the trials still to start when they would not fit (they start
        a rung group of their own, so the trials of a new group cost what a fresh run's first ones do),
        else a larger count when time is over; then, if they still would not fit, a cut of their last
        epoch (:meth:`_cut_top`). Never fewer trials (the seconds budget ends the run anyway, and a count cut
        on an early, pessimistic forecast lost trials the time had room for) and never a larger subset or
        last epoch (each subset change starts a new group, whose rungs start empty: not worth it for fewer
        than :data:`NEW_GROUP_MIN` trials)."""
        assert self.asha_epochs is not None
        rest = max(1, plan.num_trials - started)
        fresh = self.asha_epochs(0, rest, plan.max_iterations) * excess
        cut = replan(plan, started, seconds_left, fitted, self.owned, self.min_subset, fresh,
                     min_per_trial=self._asha_floor())
        if cut.subset_ratio < plan.subset_ratio * (1 - MIN_SUBSET_CUT) and rest >= NEW_GROUP_MIN:
            new = Plan(max(plan.num_trials, cut.num_trials), plan.max_iterations, cut.subset_ratio)
            fresh_at = self.asha_epochs
            new = self._cut_top(new, started, seconds_left, fitted, lambda top: fresh_at(0, rest, top) * excess)
            return self._yield_subset(new, started, seconds_left, fitted, excess)
        same = replan(plan, started, seconds_left, fitted, self.owned - {"subset_ratio"}, self.min_subset,
                      self._asha_rest_epochs(started, plan.num_trials, excess))
        new = Plan(max(plan.num_trials, same.num_trials), plan.max_iterations, plan.subset_ratio)
        new = self._cut_top(new, started, seconds_left, fitted,
                            lambda top: self._asha_rest_epochs(started, plan.num_trials, excess, top) or 0.0)
        return self._yield_subset(new, started, seconds_left, fitted, excess)

    def _yielding_subset(self, plan: Plan) -> float | None:
        """The subset the 500-sample floor may yield to for the count promised (:attr:`count_subset`), once
        :data:`~hpopt.auto_replan.GROW_AFTER` trials were measured (all of a plan with fewer); None before.
        The first trials are a poor sample of what trials cost (a random draw of a wide net climbing every
        empty rung): on the digits sample at r = 2, of five ASHA runs that cut to 250 samples after their
        first two or four trials, four then ran 139-203 % of the plan on the cut subset, and four returned a
        worse config than the code that kept its floor (test accuracy 0.10-0.96 against 0.97-0.99)."""
        return self.count_subset if self._collected >= min(GROW_AFTER, plan.num_trials) else None

    def _hold_count(self, new: Plan, started: int) -> Plan:
        """A sequential re-plan before the subset's floor may yield (:meth:`_yielding_subset`) keeps the count
        promised where it would cut it with the subset at that floor: the look that may yield comes after six
        measured trials, and a count cut earlier to what the time then bought left that look nothing to
        re-plan (the cut plan fit), so the floor never yielded. The trials before it run at the floors either
        way; the budget still ends the run on time."""
        if ("num_trials" not in self.owned or "subset_ratio" not in self.owned or self.count_subset >= self.min_subset
                or self._yielding_subset(new) is not None or new.subset_ratio > self.min_subset * (1 + 1e-9)):
            return new
        promised = started + kept_trials(self.initial.num_trials, started)
        return Plan(max(new.num_trials, min(promised, self.initial.num_trials)), new.max_iterations, new.subset_ratio)

    def _yield_subset(self, plan: Plan, started: int, seconds_left: float, fitted: CostModel, excess: float) -> Plan:
        """ASHA's last resort before fewer trials: where the subset is at its floor and the last epoch at the
        lowest it may be cut to, and the trials promised still do not fit, the subset the floor yields to
        (:meth:`_yielding_subset`) at once, for a rung group of its own; only where at least
        :data:`NEW_GROUP_MIN` trials are still to start. At once, not as far as the count needs (as
        baye_opt's subset yields): each cut starts a group whose first trials climb every rung while its
        rungs are empty, and on the digits sample's conv net at r = 2 three such cuts, each just enough for
        the forecast of its look, left 68 % of the plan (docs/benchmarks.md)."""
        rest = plan.num_trials - started
        keep = min(kept_trials(self.initial.num_trials, started), rest)
        if (self._yielding_subset(plan) is None or "subset_ratio" not in self.owned or rest < NEW_GROUP_MIN
                or keep < 1 or plan.subset_ratio > self.min_subset * (1 + 1e-9)):
            return plan
        assert self.asha_epochs is not None
        same_group = math.isclose(plan.subset_ratio, self.settings.subset_ratio)
        epochs = (self._asha_rest_epochs(started, plan.num_trials, excess, plan.max_iterations) or 0.0) if same_group \
            else self.asha_epochs(0, rest, plan.max_iterations) * excess  # a new rung group's first trials
        one = fitted.trial_seconds(epochs, plan.subset_ratio)
        if (keep * one <= seconds_left or self.count_subset > plan.subset_ratio * (1 - MIN_SUBSET_CUT)
                or fitted.trial_seconds(epochs, self.count_subset) > one * (1 - MIN_SUBSET_CUT)):
            return plan  # the promise fits, or the cut saves too little (an epoch's fixed share) for a group
        return Plan(plan.num_trials, plan.max_iterations, self.count_subset)

    def _asha_floor(self) -> float:
        """Full trainings an ASHA trial of a re-plan costs at least: a share of the plan's at the start."""
        assert self.asha_epochs is not None
        i = self.initial
        return MIN_FIDELITY_SHARE * self._initial_per_trial(self.asha_epochs(0, i.num_trials, i.max_iterations))

    def _cut_top(self, plan: Plan, started: int, seconds_left: float, fitted: CostModel,
                 epochs_at: Callable[[int], float]) -> Plan:
        """The last epoch of the trials still to start, cut to the largest that makes them fit when the
        subset could not (at its floor, or a change too small for a rung group): fewer epochs before
        fewer trials. Their rungs below the cut are the run's own rungs, so no rung group starts; the best
        config then compares every trial up to the smallest last epoch (:func:`~hpopt.algorithms.scores.
        rank_key`). Never below ``min_top`` (bracket 0's second rung, so a rung stays below the cut) nor
        below :data:`MIN_TOP_SHARE` of the start's last epoch, even where the run then falls short of the
        share of the plan promised: a last epoch cut to 2 for the count (12 -> 2 on the digits sample at
        r = 2, on 5 % of the data) made the run choose among 2-epoch scores, and two of four such runs
        returned a config that diverges when fully trained (test accuracy 0.097, against 0.950 for the
        static plan); a floor at a third (12 -> 4) missed the count as often and picked worse configs
        (docs/benchmarks.md). The cost floor of a subset cut yields to the count as far as that last epoch
        allows (:func:`~hpopt.auto_replan.fidelity_floor`)."""
        self._top_yielded = False
        if "max_iterations" not in self.owned or plan.num_trials - started < 1:
            return plan
        rest = plan.num_trials - started

        def trial_seconds(epochs: float) -> float:
            return fitted.trial_seconds(epochs, plan.subset_ratio)

        best, best_epochs = plan.max_iterations, epochs_at(plan.max_iterations)
        if rest * trial_seconds(best_epochs) <= seconds_left:
            return plan
        keep = kept_trials(self.initial.num_trials, started)
        unit, asha_floor = fitted.full_train_seconds * fitted.epoch_scale, self._asha_floor()
        fixed_floor = asha_floor * unit
        floor = fidelity_floor(asha_floor, keep, seconds_left, fitted) * unit
        lowest = max(math.ceil(MIN_TOP_SHARE * self.initial.max_iterations), self.min_top)
        for top in range(plan.max_iterations - 1, lowest - 1, -1):  # never below lowest, even for the count
            epochs = epochs_at(top)
            if trial_seconds(epochs) - fitted.overhead_s < floor:
                break
            if epochs < best_epochs:  # a cut that saves no epochs is no cut
                best, best_epochs = top, epochs
            if rest * trial_seconds(epochs) <= seconds_left:
                break
        if best == plan.max_iterations:
            return plan
        self._top_yielded = trial_seconds(best_epochs) - fitted.overhead_s < fixed_floor
        return Plan(plan.num_trials, best, plan.subset_ratio)

    def state(self) -> dict[str, Any]:
        if not self.active:
            return {}
        i = self.initial
        return {"auto_plan": {"owned": sorted(self.owned), "num_trials": i.num_trials,
                              "max_iterations": i.max_iterations, "subset_ratio": i.subset_ratio,
                              "suggestion_s": round(self.suggestion_s, 6)},
                "replans": list(self.replans), **self.live_state()}

    def live_state(self) -> dict[str, Any]:
        """What changes without a re-plan and goes with every journal record: the collected count at the
        last look, and whether that look's forecast put the count at risk (the searcher's ties depend on it).
        A resumed run then looks when the first session would have, not at once: a look the
        first session never made (its last decision fell between two) re-planned the epochs of a finished
        deadline run down and issued one more trial after the resume."""
        if not self.active:
            return {}
        return {"replan_looked_at": self._collected_at_last_look, "count_at_risk": self.count_at_risk}

    def restore(self, stored: Mapping[str, Any]) -> None:
        """A resumed run: the owned values and the plan at the start are the stored ones, not what the
        resumed create() filled (it took the stored values, so it filled nothing)."""
        plan = stored.get("auto_plan")
        if isinstance(plan, Mapping):
            self.owned = frozenset(o for o in plan.get("owned", ()) if o in OWNABLE)
            self.initial = Plan(int(plan["num_trials"]), int(plan["max_iterations"]), float(plan["subset_ratio"]))
            self.suggestion_s = float(plan.get("suggestion_s") or 0.0)
        self.replans = [dict(r) for r in stored.get("replans", ()) if isinstance(r, Mapping)]
        self._collected_at_last_look = int(stored.get("replan_looked_at") or 0)
        self.count_at_risk = bool(stored.get("count_at_risk", False))
