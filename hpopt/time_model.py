"""The time model auto config plans with: what a trial costs, in full trainings, and what HPO may spend.

A trial of ``epochs`` epochs on a subset ``s`` of the data costs ``epochs / E * ((1 - p) * s + p)`` full
trainings, where p is the share of an epoch that does not shrink with the subset (validation, set-up);
HPO may spend ``(r - 1) * W`` full trainings of trial time. Pure functions, checked inputs.
"""

from __future__ import annotations

import math

from ._validate import check_int, check_non_pure_ratio, check_real, check_subset_ratio, check_time_ratio

__all__ = ["MIN_SUBSET_SAMPLES", "clamp", "fidelity_for", "hpo_budget", "min_epochs", "min_subset_ratio",
           "non_pure_train_ratio_from_timings", "trial_cost"]

MIN_SUBSET_SAMPLES = 500
"""A subset smaller than this says little about the full data, so auto config never plans below it (a re-plan
may cut to half of it, the last step before fewer trials than promised: ``auto_replan.COUNT_SUBSET_SHARE``)."""


def clamp(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


def min_subset_ratio(full_dataset_size: int) -> float:
    """Smallest subset ratio that still holds MIN_SUBSET_SAMPLES samples (1.0 for tiny or unknown N).

    ``full_dataset_size == 0`` means "unknown": then subsetting is off (1.0) rather than guessed.
    """
    n = check_int("full_dataset_size", full_dataset_size, 0)
    if n <= MIN_SUBSET_SAMPLES:
        return 1.0
    return MIN_SUBSET_SAMPLES / n


def trial_cost(
    epochs: float, num_full_iterations: int, subset_ratio: float, non_pure_train_ratio: float
) -> float:
    """Time of one trial in full trainings: ``epochs / E * ((1 - p) * s + p)``.

    Only the pure-training share ``1 - p`` of an epoch shrinks with the subset; validation and
    start-up (share ``p``) cost the same whatever the subset, which is why tiny subsets are not free.
    """
    e = check_real("epochs", epochs)
    if e < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs!r}")
    full = check_int("num_full_iterations", num_full_iterations, 1)
    s = check_subset_ratio(subset_ratio)
    p = check_non_pure_ratio(non_pure_train_ratio)
    return e / full * ((1.0 - p) * s + p)


def non_pure_train_ratio_from_timings(full_epoch_seconds: float, subset_epoch_seconds: float,
                                      subset_ratio: float) -> float:
    """The share p of an epoch that does not shrink with the subset, from two measured epochs.

    Solves ``t_subset = t_full * ((1 - p) * s + p)`` for p: time one epoch on all the data and one on a
    subset ``s`` (validation included in both, as in a trial) and pass the result as
    ``non_pure_train_ratio`` instead of guessing it. Clamped to [0, 0.95]: timing noise can push the raw
    value a little below 0, and p near 1 would make every subset cost a full epoch.
    """
    full = check_real("full_epoch_seconds", full_epoch_seconds)
    part = check_real("subset_epoch_seconds", subset_epoch_seconds)
    s = check_subset_ratio(subset_ratio)
    if not full > 0 or not part > 0:
        raise ValueError(f"epoch times must be > 0 seconds, got full={full_epoch_seconds!r}, "
                         f"subset={subset_epoch_seconds!r}")
    if s >= 1.0:
        raise ValueError("subset_ratio must be < 1 to tell the two parts of an epoch apart, got 1.0")
    return clamp((part / full - s) / (1.0 - s), 0.0, 0.95)


def hpo_budget(expected_time_ratio: float, num_workers: int = 1) -> float:
    """Total trial time HPO may spend, in full trainings: ``(r - 1) * W``.

    ``r - 1`` (not ``r``) because the final training itself takes one of the r units of wall time;
    W workers run trials side by side, so they get W times as much trial time in that wall time.
    """
    r = check_time_ratio(expected_time_ratio)
    w = check_int("num_workers", num_workers, 1)
    return (r - 1.0) * w


def round_half_up(x: float) -> int:
    """Round .5 up; Python's round() rounds half to even, which is surprising in a user-facing rule."""
    return math.floor(x + 0.5)


def _balanced_fraction(per_trial: float, p: float) -> float:
    """Positive root u of ``u * ((1 - p) * u + p) = per_trial`` (iterations fraction = subset = u).

    Written as ``2f / (p + sqrt(p^2 + 4 (1 - p) f))`` rather than the textbook form, which cancels
    catastrophically when p is close to 1. No time per trial is a fraction of 0: a re-plan near the deadline
    asks for it, and with a measured p of 0 the formula divides 0 by 0.
    """
    if per_trial <= 0.0:
        return 0.0
    return 2.0 * per_trial / (p + math.sqrt(p * p + 4.0 * (1.0 - p) * per_trial))


def min_epochs(num_full_iterations: int) -> int:
    """Fewest epochs auto config gives a trial: 2 when the full training has 4 or more.

    A single epoch's score rewards the fastest start and shows nothing of how training goes on: on the
    digits sample (12 epochs) both runs whose trials had one epoch tuned a learning rate near 0.3 that
    then trained to a test accuracy of 0.64 and 0.87 (docs/auto_config.md has the figures).
    """
    return 2 if num_full_iterations >= 4 else 1


def fidelity_for(per_trial: float, num_full_iterations: int, non_pure_train_ratio: float, min_subset: float,
                 iterations: int | None = None, subset_ratio: float | None = None) -> tuple[int, float]:
    """Epochs and subset for trials of ``per_trial`` full trainings each; a value given is kept as it is.

    Full fidelity when the budget affords it; below that the shortfall is split evenly between fewer
    epochs (never below :func:`min_epochs`) and a smaller subset, so neither fidelity is sacrificed
    alone. The subset is solved again after the epochs are rounded, within ``[min_subset, 1]``. Auto
    config plans with this and re-planning during a run re-plans with it, so both follow one rule.
    """
    full, p = num_full_iterations, non_pure_train_ratio
    if iterations is None:
        if per_trial >= 1.0:
            fraction = 1.0
        elif subset_ratio is None:
            fraction = _balanced_fraction(per_trial, p)
        else:
            fraction = per_trial / ((1.0 - p) * subset_ratio + p)
        iterations = int(clamp(round_half_up(fraction * full), min_epochs(full), full))
    if subset_ratio is None:
        subset_ratio = clamp((per_trial * full / iterations - p) / (1.0 - p), min_subset, 1.0)
    return iterations, subset_ratio
