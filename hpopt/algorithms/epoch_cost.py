"""What a config's epochs cost, for searchers that weigh it under a deadline in seconds.

Auto config with ``full_train_seconds`` and re-planning measures every collected trial's epoch seconds
over what the plan gives an epoch (:meth:`~hpopt.run.replanner.Replanner.measured_epoch`); the controller
passes that ratio to the searcher (``on_cost``). A search that drifts to configs whose epochs cost several
times the plan's (small batches, wide networks) spends the deadline on few trials, so among the candidates
its model cannot tell apart from the best, the cheapest is proposed (:func:`prefer_cheap`). Both ASHA's
forest and baye_opt's GP use this rule; its constants were set on the synthetic problem of
tests/test_forest_searcher.py (one input that sets only the cost) and are shared, not tuned per searcher.

The cost model is a ridge-regularised linear fit of log epoch cost over the unit box: epoch costs scale as
powers of batch size and width, which the box holds on a log scale. It cannot tell a config's cost from
the machine's load: trials run while other work competes for the cores look dearer whatever their config.
Pure: no clock, no files.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TIE_SPREAD = 1.0  # candidates within this many of the model's standard deviations (at the best) count as tied
# ...and within this many while the run's forecast falls short of the share of its planned trials that auto
# config promises (:attr:`EpochCosts.at_risk`): the run then trades more of the model's doubt for trials.
TIE_SPREAD_AT_RISK = 2.0
RIDGE = 0.1  # the cost model's ridge penalty (log cost, linear in the unit box); the intercept is not shrunk

CostModel = Callable[[np.ndarray], np.ndarray]  # unit-box rows -> a value in (0, 1), cheaper lower


class EpochCosts:
    """Each measured trial's log epoch cost over the plan's, and the linear model fitted to them."""

    def __init__(self, min_trials: int) -> None:
        self.min_trials = int(min_trials)  # trials measured before the model is trusted
        self._log_cost: dict[int, float] = {}
        self.at_risk = False  # the run's count of trials is at risk (the re-planner's forecast, via on_count_at_risk)

    @property
    def tie_spread(self) -> float:
        """How many standard deviations of the model count as a tie now (:func:`prefer_cheap`)."""
        return TIE_SPREAD_AT_RISK if self.at_risk else TIE_SPREAD

    def add(self, trial_id: int, epoch_scale: float) -> None:
        """Trial ``trial_id``'s epochs cost ``epoch_scale`` times the plan's (ignored unless positive and finite)."""
        if epoch_scale > 0 and math.isfinite(epoch_scale):
            self._log_cost[trial_id] = math.log(epoch_scale)

    def __len__(self) -> int:
        return len(self._log_cost)

    @property
    def trial_ids(self) -> list[int]:
        """The trials measured, in id order."""
        return sorted(self._log_cost)

    def model(self, encode: Callable[[int], np.ndarray | None]) -> CostModel | None:
        """A function of unit-box rows giving a value in (0, 1), cheaper lower, fitted to the measured trials
        that ``encode`` (trial id -> the config's unit-box row, None when the searcher does not know it)
        places; None before ``min_trials`` of them."""
        rows = {tid: row for tid in self.trial_ids if (row := encode(tid)) is not None}
        if not rows or len(rows) < self.min_trials:
            return None
        x = np.array(list(rows.values()), dtype=float)
        x = np.hstack([x, np.ones((len(rows), 1))])
        y = np.array([self._log_cost[tid] for tid in rows])
        penalty = RIDGE * np.eye(x.shape[1])
        penalty[-1, -1] = 0.0
        coef = np.linalg.solve(x.T @ x + penalty, x.T @ y)

        def predicted(points: np.ndarray) -> np.ndarray:
            log_cost = points @ coef[:-1] + coef[-1]
            return 1.0 / (1.0 + np.exp(-np.clip(log_cost, -30.0, 30.0)))

        return predicted


def prefer_cheap(score: np.ndarray, spread_at_best: float, cost: np.ndarray, ties: float = TIE_SPREAD) -> np.ndarray:
    """``score`` re-ranked so that the candidates within ``ties x spread_at_best`` of the best come first,
    cheapest first (``cost``: the model's value, cheaper lower), and the rest keep their order after them.
    The argmax of the result is the cheapest tied candidate."""
    score = np.asarray(score, dtype=float)
    best = float(np.max(score))
    tied = score >= best - float(ties) * max(float(spread_at_best), 0.0)
    return np.where(tied, best + 1.0 - np.asarray(cost, dtype=float), score)
