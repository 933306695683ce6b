"""Re-planning during a run: auto config's values re-chosen from what the trials really cost.

Auto config plans once, from a full training measured before HPO. A machine whose load changes, configs
whose epochs cost several times the default's, and start-up costs the model ignores all break that plan:
on a busy 2-core machine the main job planned 50 trials and ran 8. With ``full_train_seconds`` the run
has a deadline in seconds, so once trials have been measured the rest of the budget can be re-planned:

    a trial of e epochs on subset s costs  overhead + e * k * F / E * ((1 - p) * s + p)  seconds

where F is the measured full training (seconds), E its epochs, p the non-pure share of an epoch, and
``k`` the measured epoch cost over the plan's (1 when the plan was right). The trials still to start
share what is left of the budget; the values auto config owns (never the user's) are chosen by the same
rule as at the start (:func:`~hpopt.time_model.fidelity_for`): fewer epochs or a smaller subset before
fewer trials, so the search keeps its trials; and when trials are cheaper than planned, more fidelity
first, then more trials. ASHA's epochs follow its rung schedule, so the rule moves at most its subset
and its number of trials (the replanner cuts ASHA's subset into a rung group of its own, and only grows
its count). Pure functions: the controller's :mod:`hpopt.run.replanner` measures and applies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .time_model import clamp, fidelity_for, trial_cost

OWNABLE = ("num_trials", "max_iterations", "subset_ratio")
DRIFT = 0.2  # re-plan when the rest of the plan would miss the budget by more than this share
MIN_FIDELITY_SHARE = 0.5  # a re-plan never gives a trial less than this share of the start's per-trial cost...
KEEP_SHARE = 0.7  # ...unless that floor would leave fewer than this share of the trials planned at the start
KEEP_AIM = 0.05  # re-plans that yield the floor aim this much above KEEP_SHARE: the forecast's small misses then
# cost the margin, not the promise (aimed at exactly 70 %, wide-space runs ended at 67-68 %: one trial short)
FIDELITY_RESERVE = 2.0  # a run that re-plans starts its trials at >= this many times the lowest fidelity's cost
# (baye_opt and random search): room to cut when the search moves to dearer configs. Chosen on the bench's
# development scenarios at r = 2 (quiet, burner, wide), where a plan near the floor ran 66 % of its trials
COUNT_SUBSET_SHARE = 0.5  # where the subset's floor and the lowest last epoch or fidelity still leave fewer trials than
# promised, a re-plan may cut the subset to this share of its floor (250 of the 500 samples) before the count gives
GROW_AFTER = 6  # collected trials before a re-plan may add fidelity or trials (cutting needs no such wait)
FEWEST_AT_A_GROWN_FIDELITY = 3  # baye_opt and random search: a fidelity grows for at least this many trials
# (as far as the time left buys them at the plan's), as many as the GP's best config needs at a fidelity
# (hpopt.algorithms.gp_ucb.COMPARE_AT_LEAST)


@dataclass(frozen=True)
class Plan:
    """The values a re-plan may change."""

    num_trials: int
    max_iterations: int
    subset_ratio: float


@dataclass(frozen=True)
class CostModel:
    """What a trial costs in seconds: the plan's model scaled by what was measured."""

    full_train_seconds: float  # F
    num_full_iterations: int  # E
    non_pure_train_ratio: float  # p
    epoch_scale: float = 1.0  # k: measured epoch seconds over the plan's
    overhead_s: float = 0.0  # seconds per trial outside its epochs (suggestion, start-up)

    def planned_epoch_seconds(self, subset_ratio: float) -> float:
        """Seconds of one epoch on ``subset_ratio`` of the data by the plan's model (k = 1)."""
        return self.full_train_seconds * trial_cost(1, self.num_full_iterations, subset_ratio,
                                                    self.non_pure_train_ratio)

    def trial_seconds(self, epochs: float, subset_ratio: float) -> float:
        return self.overhead_s + epochs * self.epoch_scale * self.planned_epoch_seconds(subset_ratio)


@dataclass(frozen=True)
class TrialCost:
    """One collected trial, as measured: epochs run, its subset, its epoch time and its whole cost."""

    epochs: int
    subset_ratio: float
    epoch_seconds: float | None
    seconds: float
    suggest_seconds: float = 0.0  # of ``seconds``: waiting for the searcher's suggestion


def measure(model: CostModel, trials: Iterable[TrialCost], suggestion_s: float = 0.0) -> CostModel | None:
    """The cost model fitted to collected trials (None when none can be used).

    The mean, not the median, of each trial's epoch cost over the plan's: the budget pays for the sum, and
    configs whose epochs cost several times the others' are part of it. A trial with one report tells its
    whole cost but not the split, so it counts as epochs only. A trial's overhead is its suggestion plus
    the rest; the suggestions still to come cost at least ``suggestion_s`` (what the plan at the start
    measured a model-based suggestion to take): the first trials are random draws that cost nothing to
    suggest, and a forecast from them alone missed the model's share of the digits sample's r = 2 budget.
    """
    scales, overheads, suggestions = [], [], []
    for t in trials:
        if t.epochs < 1 or not t.seconds > 0:
            continue
        planned = model.planned_epoch_seconds(t.subset_ratio)
        if t.epoch_seconds is not None and t.epoch_seconds > 0:
            scales.append(t.epoch_seconds / planned)
            suggest = min(max(0.0, t.suggest_seconds), t.seconds)
            overheads.append(max(0.0, t.seconds - t.epochs * t.epoch_seconds - suggest))
            suggestions.append(suggest)
        else:
            scales.append(t.seconds / (t.epochs * planned))
    if not scales:
        return None
    return CostModel(model.full_train_seconds, model.num_full_iterations, model.non_pure_train_ratio,
                     epoch_scale=_mean(scales), overhead_s=_mean(overheads) + max(suggestion_s, _mean(suggestions)))


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def epochs_per_trial(plan: Plan, asha_epochs: float | None) -> float:
    """Epochs a trial of the plan runs on average: ASHA's schedule's, else max_iterations."""
    return float(plan.max_iterations) if asha_epochs is None else asha_epochs


def plan_trial_seconds(plan: Plan, model: CostModel, asha_epochs: float | None) -> float:
    """Seconds one trial still to start costs under ``plan``."""
    return model.trial_seconds(epochs_per_trial(plan, asha_epochs), plan.subset_ratio)


def trials_that_fit(seconds: float, one: float) -> int:
    """Whole trials of ``one`` seconds each (> 0) that ``seconds`` buys (0 when none are left)."""
    return math.floor(max(0.0, seconds) / one + 1e-9)


def projected_seconds(plan: Plan, started: int, model: CostModel, asha_epochs: float | None) -> float:
    """Seconds the trials not yet started would cost under ``plan``."""
    return max(0, plan.num_trials - started) * plan_trial_seconds(plan, model, asha_epochs)


def needs_replan(plan: Plan, started: int, seconds_left: float, model: CostModel, asha_epochs: float | None,
                 owned: frozenset[str], may_grow: bool = True) -> bool:
    """Whether the rest of the plan misses the time left by more than DRIFT (and a re-plan could help).

    Too costly: always, while at least two trials are still to start. Too cheap: only when ``may_grow``
    and the number of trials or a fidelity below full may grow. The caller allows growth only once
    :data:`GROW_AFTER` trials were measured: where epochs cost several-fold by config, the first two
    trials said "0.53x the plan" on the digits sample's wide space, a re-plan doubled the fidelity, and the
    next trials, dearer, made re-plans cut it to a quarter of that; the first and the later scores then
    came from fidelities four times apart.
    """
    if not owned or seconds_left <= 0:
        return False
    rest = plan.num_trials - started
    projected = projected_seconds(plan, started, model, asha_epochs)
    if rest >= 2 and projected > seconds_left * (1 + DRIFT):
        return True
    can_grow = "num_trials" in owned or ("subset_ratio" in owned and plan.subset_ratio < 1.0) or (
        "max_iterations" in owned and asha_epochs is None and plan.max_iterations < model.num_full_iterations)
    one = plan_trial_seconds(plan, model, asha_epochs)
    return may_grow and can_grow and projected + 2 * one < seconds_left * (1 - DRIFT)


def per_trial_share(count: int, seconds_left: float, model: CostModel) -> float:
    """Full trainings of the plan's model each of ``count`` trials may spend on epochs in ``seconds_left``."""
    per_trial_s = max(0.0, seconds_left / max(1, count) - model.overhead_s)
    return per_trial_s / (model.epoch_scale * model.full_train_seconds)


def fidelity_floor(min_per_trial: float, keep: int, seconds_left: float, model: CostModel) -> float:
    """The lowest per-trial cost (full trainings) a re-plan may give: ``min_per_trial``, lowered as far as
    needed for ``keep`` more trials to fit ``seconds_left`` (0: no such need).

    The floor protects the scores from fidelities too low to rank configs; the count protects the search
    from having too few trials to work with. Where configs cost several times what was planned (a search
    that moves to wide networks: 4.3x on the digits sample's wide space), both cannot hold, and a floor that
    always wins left 57-65 % of the planned trials. So the floor yields once the count it would leave falls
    below the share of the plan promised (:data:`KEEP_SHARE`), and only by as much as that count needs.
    """
    if keep <= 0:
        return min_per_trial
    return min(min_per_trial, per_trial_share(keep, seconds_left, model))


def count_subset_floor(min_subset: float) -> float:
    """The smallest subset a re-plan may cut to for the count promised: :data:`COUNT_SUBSET_SHARE` of the
    subset's floor (``min_subset``, which holds 500 samples); no lower than the floor where subsetting is off."""
    return min_subset if min_subset >= 1.0 else min_subset * COUNT_SUBSET_SHARE


def subset_for_count(keep: int, epochs: float, subset: float, count_subset: float, seconds_left: float,
                     model: CostModel) -> float:
    """The subset, between ``count_subset`` and ``subset``, at which ``keep`` trials of ``epochs`` epochs fit
    ``seconds_left``: ``subset`` itself when they fit there, ``count_subset`` when even that is too dear.

    The 500-sample floor protects the scores; the count protects the search. At r = 2 the plan starts at
    (ASHA) or reaches (baye_opt) that floor, and configs dearer than the one timed, or a machine that
    turned twice as slow, left only the count to give: 5 of 40 such runs ended below 70 % of their plan.
    So, as the fidelity floor does (:func:`fidelity_floor`), the subset's floor yields to the count, and
    only as far as the count needs, down to :data:`COUNT_SUBSET_SHARE` of it.
    """
    full, p = model.num_full_iterations, model.non_pure_train_ratio
    if keep <= 0 or epochs <= 0 or count_subset >= subset or p >= 1.0:
        return subset
    if keep * model.trial_seconds(epochs, subset) <= seconds_left:
        return subset
    per = per_trial_share(keep, seconds_left, model)
    return clamp((per * full / epochs - p) / (1.0 - p), count_subset, subset)


def kept_trials(planned_at_start: int, started: int) -> int:
    """Trials still to start for the run to reach :data:`KEEP_SHARE` (plus the :data:`KEEP_AIM` margin) of the
    count planned at the start; 0 when nothing is promised (``KEEP_SHARE`` 0)."""
    if KEEP_SHARE <= 0:
        return 0
    return max(0, math.ceil(min(1.0, KEEP_SHARE + KEEP_AIM) * planned_at_start - 1e-9) - started)


def replan(plan: Plan, started: int, seconds_left: float, model: CostModel, owned: frozenset[str],
           min_subset: float, asha_epochs: float | None = None, min_per_trial: float = 0.0, keep: int = 0,
           restore_to: int = 0, count_subset: float | None = None) -> Plan:
    """The values auto config owns, re-chosen so the trials still to start fit ``seconds_left``.

    The trials still planned keep their number while a lower fidelity makes them fit: never below one
    epoch or ``min_subset``, nor below ``min_per_trial`` full trainings of the plan's model (a re-plan that
    halves the fidelity again and again leaves scores too noisy to tell configs apart: on the digits
    sample under load, one epoch on 5 % of the data gave a worse tuned config than fewer trials did),
    except where that floor would leave fewer than ``keep`` more trials (:func:`fidelity_floor`).
    Where the subset then sits at ``min_subset`` and still leaves fewer than ``keep`` trials, it yields
    down to ``count_subset`` (:func:`subset_for_count`; None: it does not yield). Only then, or when even
    full fidelity leaves time over, does the number of trials change, and only when it is auto config's.

    Growing mirrors cutting: a count an earlier re-plan cut below ``restore_to`` (the count planned at the
    start) comes back, as far as the time left allows at the plan's fidelity, before any fidelity grows.
    On the digits sample's conv net at r = 2, baye_opt's first dear configs cut the count from 33 to 22-27;
    when later trials cost less, re-plans grew the subset from 5 % to 9-34 % and left the count cut, and
    the runs ended at 67-79 % of the plan. Nor does a fidelity grow for fewer than
    :data:`FEWEST_AT_A_GROWN_FIDELITY` trials where the time left buys that many at the plan's (baye_opt and
    random search): at the end of 6 of 75 re-planned baye_opt runs on the digits sample, the last one or
    two trials got all the time left, at 2-8 times the fidelity of every trial before them, a score nothing
    else compares with.
    """
    full, p = model.num_full_iterations, model.non_pure_train_ratio
    rest = max(1, plan.num_trials - started)
    if "num_trials" in owned and (plan.num_trials < restore_to or asha_epochs is None):
        at_plan = plan_trial_seconds(plan, model, asha_epochs)
        fits = trials_that_fit(seconds_left, at_plan) if at_plan > 0 else max(restore_to, rest)
        if plan.num_trials < restore_to:
            rest = max(rest, min(restore_to - started, fits))
        if asha_epochs is None:
            rest = max(rest, min(FEWEST_AT_A_GROWN_FIDELITY, fits))
    per_trial = per_trial_share(rest, seconds_left, model)  # in full trainings, as planned
    per_trial = max(per_trial, fidelity_floor(min_per_trial, min(keep, rest), seconds_left, model))
    iterations, subset = plan.max_iterations, plan.subset_ratio
    if asha_epochs is None:
        iterations, subset = fidelity_for(per_trial, full, p, min_subset,
                                          None if "max_iterations" in owned else iterations,
                                          None if "subset_ratio" in owned else subset)
    elif "subset_ratio" in owned:
        subset = clamp((per_trial * full / asha_epochs - p) / (1.0 - p), min_subset, 1.0)
    if count_subset is not None and "subset_ratio" in owned and subset <= min_subset * (1 + 1e-9):
        subset = subset_for_count(min(keep, rest), asha_epochs if asha_epochs is not None else iterations, subset,
                                  count_subset, seconds_left, model)
    num_trials = plan.num_trials
    if "num_trials" in owned:
        one = model.trial_seconds(asha_epochs if asha_epochs is not None else iterations, subset)
        if one > 0:
            num_trials = max(1, started + trials_that_fit(seconds_left, one))
    return Plan(num_trials=num_trials, max_iterations=iterations, subset_ratio=subset)
