"""The model of epoch cost over the config that re-planning forecasts with (pure: simulated costs, no clock)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from hpopt.auto_replan import CostModel
from hpopt.config_cost import MAX_RATIO, MIN_TRIALS, epoch_cost_ratio
from hpopt.run.replanner import Replanner
from hpopt.run.settings import RunSettings


def trials(n: int, cost, load=lambda i: 1.0, noise: float = 0.1, seed: int = 0):
    """``n`` collected trials of random 3-d configs: log epoch cost = log(cost(x) * load(i)) + noise."""
    rng = np.random.default_rng(seed)
    points = [rng.random(3) for _ in range(n)]
    logs = [math.log(cost(p) * load(i)) + noise * rng.standard_normal() for i, p in enumerate(points)]
    return points, logs


def true_ratio(cost, recent, window) -> float:
    return float(np.mean([cost(p) for p in recent]) / np.mean([cost(p) for p in window]))


def wide(p) -> float:
    return math.exp(2.0 * p[0])  # the first input moves an epoch's cost e^2 ~ 7.4 times, as a width does


def test_the_ratio_of_the_configs_started_last_to_the_window_is_learned():
    points, logs = trials(40, wide)
    window = points[-16:]
    recent = [np.array([0.95, 0.5, 0.5]), np.array([0.9, 0.1, 0.8])]  # the search moved to dear configs
    got = epoch_cost_ratio(points, logs, window, recent)
    want = true_ratio(wide, recent, window)
    assert want > 1.5 and got == pytest.approx(want, rel=0.2)
    cheap = [np.array([0.05, 0.5, 0.5])]
    assert epoch_cost_ratio(points, logs, window, cheap) == pytest.approx(true_ratio(wide, cheap, window), rel=0.2)


def test_a_load_that_changes_during_the_run_is_not_taken_for_the_config():
    # a CPU burner a third of the way in doubles every epoch's cost: the config's share is still found...
    load = lambda i: 1.0 if i < 14 else 2.0  # noqa: E731
    points, logs = trials(40, wide, load=load)
    recent = [np.array([0.9, 0.5, 0.5])] * 4
    assert epoch_cost_ratio(points, logs, points[-16:], recent) == pytest.approx(
        true_ratio(wide, recent, points[-16:]), rel=0.25)
    # ... and where the config does not matter, the load alone does not switch the model on
    flat_points, flat_logs = trials(40, lambda p: 1.0, load=load)
    assert epoch_cost_ratio(flat_points, flat_logs, flat_points[-16:], recent) == 1.0


@pytest.mark.parametrize("noise", [0.05, 0.3])
def test_no_ratio_where_the_config_does_not_predict_the_cost(noise):
    points, logs = trials(60, lambda p: 1.0, noise=noise, seed=3)
    assert epoch_cost_ratio(points, logs, points[-16:], [np.array([1.0, 1.0, 1.0])]) == 1.0


def test_too_few_trials_or_nothing_to_compare_give_one():
    points, logs = trials(MIN_TRIALS - 1, wide)
    assert epoch_cost_ratio(points, logs, points, points[-2:]) == 1.0
    points, logs = trials(30, wide)
    assert epoch_cost_ratio(points, logs, [], points[-2:]) == 1.0
    assert epoch_cost_ratio(points, logs, points, []) == 1.0
    assert epoch_cost_ratio(points, logs[:-1], points, points[-2:]) == 1.0  # misaligned: not used
    logs[3] = float("nan")
    assert epoch_cost_ratio(points, logs, points, points[-2:]) == 1.0


def test_the_ratio_is_clamped():
    points, logs = trials(40, lambda p: math.exp(8.0 * p[0]), noise=0.01)
    window = [p for p in points if p[0] < 0.1]
    assert epoch_cost_ratio(points, logs, window, [np.array([1.0, 0.5, 0.5])]) == MAX_RATIO
    assert epoch_cost_ratio(points, logs, [np.array([1.0, 0.5, 0.5])], window) == 1.0 / MAX_RATIO


MODEL = CostModel(full_train_seconds=100.0, num_full_iterations=20, non_pure_train_ratio=0.2)


def run_that_moves_to_dear_configs(by_config: bool) -> tuple[Replanner, float]:
    """A sequential run planned at 50 trials x 8 epochs on 30 %: its first 20 trials are random configs over
    0.4 of the box (an epoch at e^(2 (x0 - 0.2)) the plan's: about the plan's), then the search moves to x0 ~
    0.9-1 (about 4.5x). Returns the replanner and the seconds left at its last re-plan."""
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=50,
                           max_iterations=8, subset_ratio=0.3)
    replanner = Replanner(settings, ("num_trials", "max_iterations", "subset_ratio"), MODEL, min_subset=0.01)
    rng = np.random.default_rng(0)
    points = [np.array([0.4 * rng.random(), rng.random()]) for _ in range(20)]
    points += [np.array([0.9 + 0.1 * rng.random(), rng.random()]) for _ in range(8)]
    spent, left_at_replan = 0.0, 0.0
    budget = 50 * MODEL.trial_seconds(8, 0.3)
    for i, p in enumerate(points[:22]):
        epoch_s = math.exp(2.0 * (p[0] - 0.2)) * MODEL.planned_epoch_seconds(settings.subset_ratio)
        cost = settings.max_iterations * epoch_s
        spent += cost
        replanner.count({"cost_s": cost, "num_iterations_run": settings.max_iterations, "epoch_s": epoch_s,
                         "subset_ratio": settings.subset_ratio}, settings.max_iterations, p if by_config else None)
        started = i + 5 if i >= 20 else i + 1  # from trial 20 on, the configs of trials i+1 .. i+4 were started
        if replanner.check(started, budget - spent, lambda s=started: points[s - 4:s]):
            left_at_replan = budget - spent
    return replanner, left_at_replan


def test_a_replan_forecasts_the_configs_started_last_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="hpopt"):
        with_model = run_that_moves_to_dear_configs(by_config=True)
    without = run_that_moves_to_dear_configs(by_config=False)
    assert "by a model of cost over the config" in with_model[0].replans[-1]["reason"]
    assert "by a model of cost over the config" in caplog.text
    assert not any("model of cost" in r["reason"] for r in without[0].replans)
    # At the epoch cost of the configs started last (about 4.5x the plan's), the trials the re-plan made
    # with the model still plans fit the time left; those planned from the window's mean overrun it by half.
    true = CostModel(MODEL.full_train_seconds, MODEL.num_full_iterations, MODEL.non_pure_train_ratio,
                     epoch_scale=math.exp(2.0 * 0.75))

    def overrun(run: tuple[Replanner, float]) -> float:
        replan, left = run[0].replans[-1], run[1]
        rest = replan["num_trials"] - replan["after_trials"]
        return rest * true.trial_seconds(replan["max_iterations"], replan["subset_ratio"]) / left

    assert overrun(with_model) <= 1.2 < 1.4 <= overrun(without)
