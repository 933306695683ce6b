"""The epoch-cost model and the tie rule that the forest and the GP share under a deadline in seconds."""

from __future__ import annotations

import math

import numpy as np

from hpopt.algorithms.epoch_cost import TIE_SPREAD, TIE_SPREAD_AT_RISK, EpochCosts, prefer_cheap


def test_the_tied_candidates_come_first_cheapest_first_and_the_rest_keep_their_order():
    score = np.array([0.50, 0.95, 0.90, 0.99, 0.70])
    cost = np.array([0.10, 0.30, 0.20, 0.90, 0.05])
    ranked = prefer_cheap(score, spread_at_best=0.1 / TIE_SPREAD, cost=cost)  # ties: within 0.1 of 0.99
    assert list(np.argsort(-ranked)) == [2, 1, 3, 4, 0]  # 0.90, 0.95, 0.99 by cost; then 0.70, 0.50
    assert int(np.argmax(prefer_cheap(score, 0.0, cost))) == 3  # no spread: the best alone is tied


def test_a_count_at_risk_widens_the_ties():
    """While the run's count is at risk, candidates further from the best count as tied: here the 0.90 one,
    0.09 below the best, is tied only then (the spread at the best is 0.05)."""
    score = np.array([0.99, 0.90, 0.70])
    cost = np.array([0.9, 0.2, 0.1])
    costs = EpochCosts(min_trials=3)
    assert costs.tie_spread == TIE_SPREAD and 0.05 * TIE_SPREAD < 0.09 < 0.05 * TIE_SPREAD_AT_RISK < 0.29
    assert int(np.argmax(prefer_cheap(score, 0.05, cost, costs.tie_spread))) == 0
    costs.at_risk = True
    assert costs.tie_spread == TIE_SPREAD_AT_RISK
    assert int(np.argmax(prefer_cheap(score, 0.05, cost, costs.tie_spread))) == 1  # not the 0.70: never tied


def test_the_cost_model_waits_for_enough_trials_and_skips_bad_measurements():
    costs = EpochCosts(min_trials=3)
    encoded = {tid: np.array([tid / 10.0]) for tid in range(5)}
    costs.add(0, 1.0)
    costs.add(1, 0.0)  # not a cost
    costs.add(2, math.inf)
    costs.add(3, 2.0)
    assert len(costs) == 2 and costs.model(encoded.get) is None
    costs.add(4, 4.0)
    assert costs.trial_ids == [0, 3, 4] and costs.model(encoded.get) is not None
    assert costs.model({0: encoded[0], 3: encoded[3]}.get) is None  # only the trials whose configs are known count


def test_the_cost_model_ranks_configs_by_their_log_linear_cost():
    """Epoch cost as a power of batch size and width (log-linear in the unit box): the model orders
    unseen configs as their true costs do, and its values lie in (0, 1)."""
    rng = np.random.default_rng(0)
    costs, encoded = EpochCosts(min_trials=4), {}
    for tid in range(20):
        x = rng.random(3)
        encoded[tid] = x
        costs.add(tid, float(np.exp(2.0 * (1.0 - x[0]) + 1.0 * x[1])))  # x[2] costs nothing
    model = costs.model(encoded.get)
    points = rng.random((200, 3))
    predicted = model(points)
    true = 2.0 * (1.0 - points[:, 0]) + 1.0 * points[:, 1]
    assert np.all((predicted > 0) & (predicted < 1))
    assert np.corrcoef(np.argsort(np.argsort(predicted)), np.argsort(np.argsort(true)))[0, 1] > 0.99
