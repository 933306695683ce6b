"""Where baye_opt's acquisition search looks: a trust region around the best point (TuRBO's rule).

GP-UCB maximized over the whole box spends much of a small budget where the GP is unsure only because
nothing was tried there: the far corners. On smooth, ill-conditioned problems (a rotated ellipsoid, a
long valley) the gain is near the best point, and that exploration is what an exploitative acquisition
such as Optuna's log-EI skips. The UCB stays the acquisition (the user's kappa and decay keep their
meaning); only the region it is maximized over shrinks and grows with the evidence, after Eriksson et al.
(2019), "Scalable Global Optimization via Local Bayesian Optimization" (TuRBO):

- the region is a box centred on the best point so far, side ``length`` scaled per coordinate by the
  GP's length scales (normalized to geometric mean 1), so it is long along the directions the function
  barely changes in;
- it starts at ``INITIAL_LENGTH``, or ``CONTINUOUS_INITIAL_LENGTH`` when every parameter is continuous;
  ``SUCCESSES`` improvements in a row double it (up to ``MAX_LENGTH``), ``max(MIN_FAILURES, d)``
  suggestions in a row without one halve it; below ``MIN_LENGTH`` it starts over where it started (TuRBO
  restarts with a fresh design; here the observations are kept);
- when the run's planned trial count is known, the side is also capped by how much of the run is left
  (:func:`closing_length`): the start's side times the share of the planned trials still to come. The
  last suggestions then refine around the best point instead of exploring what the run has no trials
  left to follow up. TuRBO's rule alone does not know the budget, and in a short run (30 trials) it
  barely shrinks before the end: the UCB kept sampling the region's faces while Optuna's greedier log-EI
  was converging.

The smaller start on continuous spaces was chosen on bench/bo_quality's development half: there it lowered
the median regret on 10 of 16 problems at 30 evaluations and 9 of 16 at 50, and made the one mixed space
(an integer and a choice) 31x worse at 30; on integer and choice coordinates a narrow box around the best
point leaves few distinct values to try (docs/benchmarks.md has both halves).

The closing cap was chosen on bench/bo_quality's development half at 30 and 50 evaluations and then
checked on the held-out half (docs/benchmarks.md).

The length is replayed from the sequence of observed scores every time (:func:`side_length`), so it needs
no state of its own: same observations, same region, after a resume too. Pure: no files, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

INITIAL_LENGTH = 0.8
CONTINUOUS_INITIAL_LENGTH = 0.4  # every parameter continuous (uniform, loguniform): start nearer the best point
MIN_LENGTH = 0.5**7
MAX_LENGTH = 1.6
SUCCESSES = 3
MIN_FAILURES = 4
IMPROVEMENT = 1e-3  # a success improves the best score by more than this share of its magnitude
CLOSING_POWER = 1.0  # the cap is the start's side x (share of the run left) ** CLOSING_POWER


def initial_length(continuous: bool) -> float:
    """Where the region starts (and starts over): smaller when every parameter is continuous."""
    return CONTINUOUS_INITIAL_LENGTH if continuous else INITIAL_LENGTH


def share_left(trial_id: int, planned: int | None) -> float | None:
    """Share of the run's ``planned`` trials still to come when trial ``trial_id`` (0-based) is
    suggested, that one included, in [0, 1]; None when the plan is unknown."""
    if planned is None or planned <= 0:
        return None
    return min(1.0, max(0.0, (planned - trial_id) / planned))


def closing_length(initial: float, left: float) -> float:
    """The cap on the region's side when ``left`` (see :func:`share_left`) of the run remains: the start's
    side scaled by ``left ** CLOSING_POWER``, never below twice ``MIN_LENGTH``."""
    if not 0.0 <= left <= 1.0:
        raise ValueError(f"left must be in [0, 1], got {left}")
    return max(2.0 * MIN_LENGTH, initial * left**CLOSING_POWER)


def side_length(scores: Sequence[float], dims: int, num_initial: int, initial: float = INITIAL_LENGTH,
                left: float | None = None) -> float:
    """The region's side after the max-mode ``scores`` in the order they were observed, starting (and
    starting over) at ``initial``, capped by :func:`closing_length` when ``left`` (the share of the run
    still to come) is known.

    The first ``num_initial`` scores (the space-filling start) set the best; each later one is a success
    if it beats the best by more than ``IMPROVEMENT`` x its magnitude, else a failure. The cap does not
    feed back into that sequence: it only bounds the side returned.
    """
    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims}")
    first = float(initial)
    cap = math.inf if left is None else closing_length(first, left)
    scores = [float(s) for s in scores]
    start = max(1, min(int(num_initial), len(scores)))
    if not scores:
        return min(first, cap)
    best = max(scores[:start])
    length, successes, failures = first, 0, 0
    tolerance = max(MIN_FAILURES, dims)
    for y in scores[start:]:
        if y > best + IMPROVEMENT * abs(best):
            successes, failures = successes + 1, 0
        else:
            successes, failures = 0, failures + 1
        best = max(best, y)
        if successes == SUCCESSES:
            length, successes = min(2.0 * length, MAX_LENGTH), 0
        elif failures == tolerance:
            length, failures = length / 2.0, 0
        if length < MIN_LENGTH:
            length = first
    return min(length, cap)


def region(center: np.ndarray, length_scales: np.ndarray, length: float, upper: np.ndarray,
           free: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of the region: ``center`` +- ``length`` / 2, stretched per coordinate by the
    length scales (geometric mean 1), inside [0, ``upper``]. Coordinates marked in ``free`` (one-hot
    choices, which a narrow box would freeze to the centre's value) keep their full range."""
    center = np.asarray(center, dtype=float)
    scales = np.broadcast_to(np.asarray(length_scales, dtype=float), center.shape)
    weights = scales / np.exp(np.mean(np.log(scales)))
    half = 0.5 * length * weights
    lo = np.clip(center - half, 0.0, upper)
    hi = np.clip(center + half, 0.0, upper)
    if free is not None:
        lo = np.where(free, 0.0, lo)
        hi = np.where(free, upper, hi)
    return lo, hi
