"""Auto config: turn a time budget into num_trials, max_iterations and subset_ratio.

The user states how much longer the whole job (HPO + final training) may take than the final
training alone: ``expected_time_ratio`` r.  HPO may therefore spend ``(r - 1)`` full trainings of
wall time, i.e. ``B = (r - 1) * num_workers`` full trainings of trial time.  Auto config fills only
the values the user left as ``None`` so that the planned trials fit ``B``; user values always win,
and anything that would break the budget or a sanity rule is reported in ``AutoConfig.warnings``.

Everything here is a pure function of its arguments (no I/O, no logging); see
``docs/auto_config.md`` for the model, the rule and worked examples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ._validate import check_int, check_non_pure_ratio, check_real, check_subset_ratio, check_time_ratio
from .algorithms.algorithm import epoch_excess, sampler_epochs
from .algorithms.bracket_choice import planned_shares
from .algorithms.rung_math import (
    asha_bracket_epochs,
    asha_epochs_curve,
    asha_expected_epochs,
    asha_rungs,
    expected_epochs_after,
    max_brackets,
    round_robin_shares,
)
from .auto_replan import KEEP_SHARE
from .time_model import (
    MIN_SUBSET_SAMPLES,
    clamp,
    fidelity_for,
    hpo_budget,
    min_epochs,
    min_subset_ratio,
    non_pure_train_ratio_from_timings,
    trial_cost,
)

__all__ = [
    "MIN_SUBSET_SAMPLES",
    "TRIALS_PER_HYPERPARAMETER",
    "AutoConfig",
    "asha_bracket_epochs",
    "asha_epochs_curve",
    "asha_expected_epochs",
    "asha_rungs",
    "auto_config",
    "auto_config_asha",
    "expected_epochs_after",
    "hpo_budget",
    "max_brackets",
    "min_subset_ratio",
    "non_pure_train_ratio_from_timings",
    "round_robin_shares",
    "trial_cost",
]

TRIALS_PER_HYPERPARAMETER = 10
"""Rule of thumb for GP-based optimization: about 10 evaluations per search-space dimension."""

_REL_TOL = 1e-9  # slack for float round-off when comparing costs with the budget


@dataclass(frozen=True)
class AutoConfig:
    """The filled configuration plus the numbers that justify it.

    ``rungs`` (an addition, defaulted so the other fields keep their positions) holds the ASHA rung
    schedule per bracket, bracket 0 first; it is empty for sequential algorithms.
    """

    num_trials: int
    max_iterations: int
    subset_ratio: float
    min_iterations: int | None  # ASHA only, else None
    num_brackets: int | None  # ASHA only, else None
    expected_epochs_per_trial: float  # = max_iterations for sequential algorithms
    epoch_budget: float  # num_trials * expected_epochs_per_trial (epochs on the subset)
    estimated_hpo_time: float  # wall time of HPO, in full trainings
    estimated_time_ratio: float  # 1 + estimated_hpo_time
    filled: tuple[str, ...]  # names auto config filled, in signature order
    warnings: tuple[str, ...]
    rungs: tuple[tuple[int, ...], ...] = ()
    trial_overhead: float = 0.0  # full trainings each trial also spends outside its epochs (its suggestion)
    fidelity_reserve: float = 1.0  # times the lowest fidelity's cost a trial was raised to (1: no reserve bound)


# --------------------------------------------------------------------------- validation helpers


def _check_common(
    full_dataset_size: object,
    num_full_iterations: object,
    num_hyperparameters: object,
    expected_time_ratio: object,
    non_pure_train_ratio: object,
    num_workers: object,
) -> tuple[int, int, int, float, float, int]:
    """The inputs both rules share, checked once."""
    return (
        check_int("full_dataset_size", full_dataset_size, 0),
        check_int("num_full_iterations", num_full_iterations, 1),
        check_int("num_hyperparameters", num_hyperparameters, 1),
        check_time_ratio(expected_time_ratio),
        check_non_pure_ratio(non_pure_train_ratio),
        check_int("num_workers", num_workers, 1),
    )


def _check_at_least(name: str, value: object, low: float, unit: str) -> float:
    """A finite real >= ``low`` (check_real refuses NaN and infinity), for the plan's optional knobs."""
    x = check_real(name, value)
    if x < low:
        raise ValueError(f"{name} must be a finite number >= {low:g} ({unit}), got {value!r}")
    return x


def _check_overhead(trial_overhead: object) -> float:
    return _check_at_least("trial_overhead", trial_overhead, 0.0, "full trainings per trial")


def _check_reserve(fidelity_reserve: object) -> float:
    return _check_at_least("fidelity_reserve", fidelity_reserve, 1.0, "times the lowest fidelity's cost")


def _reserved_share(share: float, reserve: float, floor_cost: float, ceiling: float) -> float:
    """A trial's share of the budget raised to ``reserve`` times the lowest fidelity's cost.

    A plan at the fidelity floor has only its count left to give when trials cost more than the one config
    the plan was timed on (the default): on the digits sample's conv net at ``expected_time_ratio=2`` the
    search moved to configs whose epochs cost 1.7-3.9x the default's, and a run planned at 1.7x the floor
    ran 57 % of its trials. A run that re-plans keeps room to cut the fidelity instead: fewer trials at the
    start, each of a higher fidelity, and a re-plan cuts that back before it cuts the count. Never above
    ``ceiling``: one trial's share of the whole budget (the reserve must not plan past the time asked), and
    a trial's cost without the reserve over ``KEEP_SHARE`` (the reserve protects a promise of 70 % of the
    count, so it never costs more than 30 % of the count: where even the lowest fidelity leaves a handful of
    trials, a reserve that halved them would cost more than it protects).
    """
    return max(share, min(reserve * floor_cost, ceiling))


def _training_share(budget: float, trials: int, overhead: float, count_is_ours: bool) -> float:
    """Full trainings of epochs each of ``trials`` trials gets once its overhead is paid.

    When auto config chooses the count, a trial trains at least as long as its overhead (a GP suggestion,
    a start-up): a plan whose trials mostly wait for their suggestions buys noise, so fewer trials get
    more fidelity instead. A count the user set keeps its number; its trials get what is left (floored
    at a sliver, so the fidelity rule still answers: one epoch on the smallest subset).
    """
    share = budget / trials - overhead
    return max(share, overhead) if count_is_ours and overhead > 0 else max(share, 1e-12)


# --------------------------------------------------------------------------- shared tail


def _fit_trials(
    *,
    budget: float,
    cost: float,
    num_trials: int | None,
    target_trials: int,
    num_workers: int,
    expected_time_ratio: float,
    warnings: list[str],
) -> tuple[int, float]:
    """Fill num_trials (if unset) from the budget; warn whenever the plan exceeds the budget.

    Returns (num_trials, estimated wall time of HPO in full trainings).
    """
    if num_trials is None:
        n = max(1, math.floor(budget / cost + _REL_TOL))
        if n < target_trials and cost <= budget:
            warnings.append(
                f"the budget fits only {n} trials, fewer than the {target_trials} the rule aims for "
                f"({TRIALS_PER_HYPERPARAMETER} per hyperparameter); consider a larger expected_time_ratio"
            )
    else:
        n = num_trials
    total = n * cost
    hpo_time = total / num_workers
    if total > budget * (1.0 + _REL_TOL):
        warnings.append(
            f"the run will exceed the time asked for: {n} trial(s) of {cost:.4g} full trainings each take "
            f"{hpo_time:.4g} full trainings of wall time against a budget of {budget / num_workers:.4g} "
            f"({total / budget - 1.0:.1%} over); estimated time ratio {1.0 + hpo_time:.4g} instead of "
            f"{expected_time_ratio:.4g}"
        )
    return n, hpo_time


def _unset(**user_values: object) -> tuple[str, ...]:
    """Names the user left as None, in argument order: what auto config filled."""
    return tuple(name for name, value in user_values.items() if value is None)


def _subset_warning(subset: float, s_min: float, full_dataset_size: int) -> str:
    return (
        f"subset_ratio={subset!r} holds about {subset * full_dataset_size:.0f} samples, fewer than the "
        f"{MIN_SUBSET_SAMPLES} auto config would allow (minimum ratio {s_min:.4g}); honoured as given"
    )


def _iterations_warning(max_iterations: int, full: int) -> str:
    return (
        f"max_iterations={max_iterations} exceeds num_full_iterations={full}: a trial trains longer than "
        "the final training; honoured as given"
    )


def _plan_fits_floats(rule: Callable[..., AutoConfig]) -> Callable[..., AutoConfig]:
    """An absurd budget (``expected_time_ratio=1e308``, ``num_workers=10**400``) plans more trials or epochs
    than a float can count: a ValueError naming those arguments, not an OverflowError from deep inside."""

    @functools.wraps(rule)
    def planned(**kwargs: object) -> AutoConfig:
        try:
            return rule(**kwargs)
        except OverflowError:
            raise ValueError(
                f"expected_time_ratio={kwargs.get('expected_time_ratio', 4.0)!r} with "
                f"num_workers={kwargs.get('num_workers', 1)!r} asks for more trials or epochs than can be "
                "counted; ask for a smaller expected_time_ratio") from None

    return planned


# --------------------------------------------------------------------------- sequential algorithms


@_plan_fits_floats
def auto_config(
    *,
    full_dataset_size: int,
    num_full_iterations: int,
    num_hyperparameters: int,
    expected_time_ratio: float = 4.0,
    non_pure_train_ratio: float = 0.2,
    num_workers: int = 1,
    num_trials: int | None = None,
    max_iterations: int | None = None,
    subset_ratio: float | None = None,
    trial_overhead: float = 0.0,
    fidelity_reserve: float = 1.0,
) -> AutoConfig:
    """Fill the unset ones of num_trials, max_iterations, subset_ratio for random search / GP-BO.

    Aims at 10 trials per hyperparameter (or the user's num_trials), gives each the same share f* of
    the budget, and splits any shortfall below a full training evenly between fewer epochs and a
    smaller subset, so neither fidelity is sacrificed alone. Leftovers from rounding go to trials.
    ``trial_overhead`` (full trainings a trial spends outside its epochs: the suggestion it waits for, as
    ``create()`` measures it) comes off each trial's share first. When auto config chooses the count, a
    ``fidelity_reserve`` R > 1 gives each trial at least R times the cost of the lowest fidelity auto
    config allows (:func:`_reserved_share`): room a re-plan can cut when trials cost more than planned.
    """
    n_data, full, n_hp, r, p, workers = _check_common(
        full_dataset_size, num_full_iterations, num_hyperparameters, expected_time_ratio, non_pure_train_ratio,
        num_workers,
    )
    user_trials = None if num_trials is None else check_int("num_trials", num_trials, 1)
    user_iters = None if max_iterations is None else check_int("max_iterations", max_iterations, 1)
    user_subset = None if subset_ratio is None else check_subset_ratio(subset_ratio)

    overhead = _check_overhead(trial_overhead)
    reserve = _check_reserve(fidelity_reserve)
    budget = (r - 1.0) * workers
    s_min = min_subset_ratio(n_data)
    target = TRIALS_PER_HYPERPARAMETER * n_hp
    per_trial = _training_share(budget, user_trials if user_trials is not None else target, overhead,
                                user_trials is None)
    reserved = 1.0
    if user_trials is None and reserve > 1.0 and (user_iters is None or user_subset is None):
        lowest = trial_cost(min_epochs(full) if user_iters is None else user_iters, full,
                            s_min if user_subset is None else user_subset, p)
        plain_iterations, plain_subset = fidelity_for(per_trial, full, p, s_min, user_iters, user_subset)
        planned = trial_cost(plain_iterations, full, plain_subset, p) + overhead  # a trial without the reserve
        raised = _reserved_share(per_trial, reserve, lowest, min(budget, planned / KEEP_SHARE) - overhead)
        if raised > per_trial and lowest > 0:
            per_trial, reserved = raised, raised / lowest
    warnings: list[str] = []

    if user_subset is not None and user_subset < s_min:
        warnings.append(_subset_warning(user_subset, s_min, n_data))
    if user_iters is not None and user_iters > full:
        warnings.append(_iterations_warning(user_iters, full))

    iterations, subset = fidelity_for(per_trial, full, p, s_min, user_iters, user_subset)

    cost = trial_cost(iterations, full, subset, p) + overhead
    trials, hpo_time = _fit_trials(
        budget=budget,
        cost=cost,
        num_trials=user_trials,
        target_trials=target,
        num_workers=workers,
        expected_time_ratio=r,
        warnings=warnings,
    )
    filled = _unset(num_trials=user_trials, max_iterations=user_iters, subset_ratio=user_subset)
    return AutoConfig(
        num_trials=trials,
        max_iterations=iterations,
        subset_ratio=subset,
        min_iterations=None,
        num_brackets=None,
        expected_epochs_per_trial=float(iterations),
        epoch_budget=float(trials * iterations),
        estimated_hpo_time=hpo_time,
        estimated_time_ratio=1.0 + hpo_time,
        filled=filled,
        warnings=tuple(warnings),
        trial_overhead=overhead,
        fidelity_reserve=reserved,
    )


# --------------------------------------------------------------------------- ASHA


@_plan_fits_floats
def auto_config_asha(
    *,
    full_dataset_size: int,
    num_full_iterations: int,
    num_hyperparameters: int,
    expected_time_ratio: float = 4.0,
    non_pure_train_ratio: float = 0.2,
    num_workers: int = 1,
    num_trials: int | None = None,
    max_iterations: int | None = None,
    min_iterations: int | None = None,
    reduction_factor: int = 2,
    num_brackets: int | None = None,
    subset_ratio: float | None = None,
    trial_overhead: float = 0.0,
    sampler: str | None = None,
) -> AutoConfig:
    """Fill the unset ones of the ASHA settings, costing trials by the epochs the rungs really run.

    ``sampler`` is the run's (None: ``create()``'s default, the forest): a model-based sampler makes trials
    run more epochs than the rung simulation's random order does (``hpopt.algorithms.epoch_excess``).

    Early stopping, not a smaller max_iterations, is ASHA's way to save time, so max defaults to the
    full training and only the subset is shrunk to make 10 trials per hyperparameter fit. Every distinct
    bracket by default: the bracket chooser sends trials to bracket 0 (the most aggressive, which ASHA's
    authors report usually works well) until early rungs are seen to mislead, so trials are costed as
    bracket 0's.
    """
    n_data, full, n_hp, r, p, workers = _check_common(
        full_dataset_size, num_full_iterations, num_hyperparameters, expected_time_ratio, non_pure_train_ratio,
        num_workers,
    )
    user_trials = None if num_trials is None else check_int("num_trials", num_trials, 1)
    user_max = None if max_iterations is None else check_int("max_iterations", max_iterations, 1)
    user_min = None if min_iterations is None else check_int("min_iterations", min_iterations, 1)
    rf = check_int("reduction_factor", reduction_factor, 2)
    user_brackets = None if num_brackets is None else check_int("num_brackets", num_brackets, 1)
    user_subset = None if subset_ratio is None else check_subset_ratio(subset_ratio)

    hi = full if user_max is None else user_max
    lo = 1 if user_min is None else user_min
    if lo > hi:
        raise ValueError(f"min_iterations must be <= max_iterations={hi}, got {min_iterations!r}")
    brackets = max_brackets(lo, hi, rf) if user_brackets is None else user_brackets
    asha_expected_epochs(lo, hi, rf, brackets)  # raises if num_brackets is too large
    rungs = tuple(tuple(asha_rungs(lo, hi, rf, b)) for b in range(brackets))

    overhead = _check_overhead(trial_overhead)
    epoch_excess(sampler, 1)  # raises for an unknown sampler
    budget = (r - 1.0) * workers
    s_min = min_subset_ratio(n_data)
    target = TRIALS_PER_HYPERPARAMETER * n_hp
    warnings: list[str] = []
    if user_subset is not None and user_subset < s_min:
        warnings.append(_subset_warning(user_subset, s_min, n_data))
    if user_max is not None and user_max > full:
        warnings.append(_iterations_warning(user_max, full))

    def epochs_in_run(n: int) -> float:
        """Epochs per trial in a run of n trials (asha_epochs_curve: a short run costs more per trial; times
        the sampler's excess over that curve's random order)."""
        curve = asha_epochs_curve(lo, hi, rf, brackets, n, planned_shares(brackets))
        return sampler_epochs(sampler, n, curve[n], lo, hi) / n

    planned = user_trials if user_trials is not None else target
    epochs = epochs_in_run(planned)
    if user_subset is None:
        # Size the subset for the user's trial count if given (else the target), as the sequential rule does.
        share = _training_share(budget, planned, overhead, user_trials is None)
        ideal = (share * full / epochs - p) / (1.0 - p)
        subset = clamp(ideal, s_min, 1.0)
    else:
        subset = user_subset

    cost = trial_cost(epochs, full, subset, p) + overhead
    for _ in range(8 if user_trials is None else 0):  # a run of another size spends other epochs per trial
        fitting = max(1, math.floor(budget / cost + _REL_TOL))
        if fitting == planned:
            break
        previous, planned = planned, fitting
        epochs = epochs_in_run(planned)
        cost = trial_cost(epochs, full, subset, p) + overhead
        if abs(planned - previous) <= 1 and budget / cost < planned:  # oscillating: the smaller run surely fits
            planned = min(planned, previous)
            epochs = epochs_in_run(planned)
            cost = trial_cost(epochs, full, subset, p) + overhead
            break
    trials, hpo_time = _fit_trials(
        budget=budget,
        cost=cost,
        num_trials=user_trials,
        target_trials=target,
        num_workers=workers,
        expected_time_ratio=r,
        warnings=warnings,
    )
    filled = _unset(num_trials=user_trials, max_iterations=user_max, min_iterations=user_min,
                    num_brackets=user_brackets, subset_ratio=user_subset)
    return AutoConfig(
        num_trials=trials,
        max_iterations=hi,
        subset_ratio=subset,
        min_iterations=lo,
        num_brackets=brackets,
        expected_epochs_per_trial=epochs,
        epoch_budget=trials * epochs,
        estimated_hpo_time=hpo_time,
        estimated_time_ratio=1.0 + hpo_time,
        filled=filled,
        warnings=tuple(warnings),
        rungs=rungs,
        trial_overhead=overhead,
    )
