"""The plan at the start pays for each trial's suggestion: auto config's trial_overhead and its measurement."""

from __future__ import annotations

import time

import pytest

import hpopt
from hpopt.algorithms import SuggestRequest
from hpopt.algorithms.gp_ucb import GpUcbSearcher
from hpopt.auto_config import auto_config, auto_config_asha, trial_cost
from hpopt.run.calibrate import suggestion_seconds

EXAMPLE = {"full_dataset_size": 10_000, "num_full_iterations": 12, "num_hyperparameters": 5}
SPACE = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("loguniform", [1e-4, 1e-1]),
         "b": hpopt.search_space("qloguniform", [16, 128, 16])}


def _spent(cfg, p: float) -> float:
    """Full trainings the plan's trials take, overhead included."""
    return cfg.num_trials * (trial_cost(cfg.expected_epochs_per_trial, EXAMPLE["num_full_iterations"],
                                        cfg.subset_ratio, p) + cfg.trial_overhead)


def test_no_overhead_plans_as_before():
    assert auto_config(**EXAMPLE, expected_time_ratio=4) == auto_config(**EXAMPLE, expected_time_ratio=4,
                                                                         trial_overhead=0.0)
    assert auto_config_asha(**EXAMPLE) == auto_config_asha(**EXAMPLE, trial_overhead=0.0)


@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_overhead_comes_off_each_trial_and_the_plan_still_fits(ratio):
    plain = auto_config(**EXAMPLE, expected_time_ratio=ratio, non_pure_train_ratio=0.0)
    paid = auto_config(**EXAMPLE, expected_time_ratio=ratio, non_pure_train_ratio=0.0, trial_overhead=0.019)
    assert paid.trial_overhead == 0.019
    assert _spent(paid, 0.0) <= (ratio - 1) * (1 + 1e-9)  # the overhead is inside the budget
    fid_plain = trial_cost(plain.max_iterations, 12, plain.subset_ratio, 0.0)
    assert paid.num_trials < plain.num_trials or trial_cost(paid.max_iterations, 12, paid.subset_ratio, 0.0) < fid_plain
    # a trial trains at least as long as it waits for its suggestion
    fidelity = trial_cost(paid.max_iterations, 12, paid.subset_ratio, 0.0)
    assert fidelity >= 0.019 * (1 - 1e-9) or paid.max_iterations == 1 and paid.subset_ratio == 500 / 10_000


def test_overhead_as_large_as_the_share_halves_the_count_not_the_fidelity_to_nothing():
    # r = 2, 50 trials aimed at: 0.02 full trainings each, of which a 0.019 suggestion would leave 0.001
    paid = auto_config(**EXAMPLE, expected_time_ratio=2, non_pure_train_ratio=0.0, trial_overhead=0.019)
    assert paid.num_trials <= 27  # about 1 / (2 * 0.019)
    assert any("fits only" in w for w in paid.warnings)
    assert trial_cost(paid.max_iterations, 12, paid.subset_ratio, 0.0) >= 0.019 * (1 - 1e-9)


def test_user_num_trials_is_kept_and_a_plan_over_the_budget_says_so():
    cfg = auto_config(**EXAMPLE, expected_time_ratio=2, num_trials=50, trial_overhead=0.03)
    assert cfg.num_trials == 50 and cfg.max_iterations == 2 and cfg.subset_ratio == 500 / 10_000  # the floor
    assert any("exceed the time asked for" in w for w in cfg.warnings)


def test_asha_plan_counts_the_overhead():
    plain = auto_config_asha(**EXAMPLE, expected_time_ratio=4)
    paid = auto_config_asha(**EXAMPLE, expected_time_ratio=4, trial_overhead=0.02)
    assert paid.num_trials * (trial_cost(paid.expected_epochs_per_trial, 12, paid.subset_ratio, 0.2) + 0.02) \
        <= 3 * (1 + 1e-9)
    assert paid.subset_ratio < plain.subset_ratio or paid.num_trials < plain.num_trials


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan"), "0.1", None])
def test_bad_overhead_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="trial_overhead"):
        auto_config(**EXAMPLE, trial_overhead=bad)


class _SlowSearcher:
    """A searcher whose suggestion takes a known time once it has results (what the timer must read)."""

    def __init__(self) -> None:
        self.results = 0

    def suggest(self, request):
        time.sleep(0.05 if self.results >= 3 else 0.0)
        return {"x": 0.5}

    def on_config(self, trial_id, attempt, params):
        pass

    def on_scores(self, trial_id, attempt, scores):
        pass

    def on_result(self, trial_id, score):
        self.results += 1

    def state(self):
        return {}


def test_suggestion_seconds_times_a_fed_searcher():
    fed = []
    searcher = _SlowSearcher()
    seconds = suggestion_seconds(lambda: fed.append(searcher) or searcher, SPACE, observations=3)
    assert searcher.results == 3 and len(fed) == 1
    assert 0.045 <= seconds < 0.5


def test_suggestion_seconds_of_the_real_gp():
    made = []

    def make():
        made.append(GpUcbSearcher(SPACE, mode="max", seed=0, num_init_trials=3))
        return made[-1]

    seconds = suggestion_seconds(make, SPACE, observations=8)
    assert 0.0 < seconds < 10.0
    x, y = made[0].observations()
    assert len(y) == 8  # the throwaway searcher saw the results; a suggestion after them fits the GP
    assert made[0].suggest(SuggestRequest(20, 0, SPACE)).keys() == SPACE.keys()


def _create(tmp_path, alg: str, **kw):
    return hpopt.create(search_alg=alg, search_space=SPACE, full_dataset_size=10_000, num_full_iterations=12,
                        save_path=str(tmp_path / alg), expected_time_ratio=2, full_train_seconds=0.5, seed=1,
                        non_pure_train_ratio=0.0, **kw)


def test_create_measures_the_gp_suggestion_and_plans_with_it(tmp_path):
    bo = _create(tmp_path, "baye_opt")
    plain = auto_config(full_dataset_size=10_000, num_full_iterations=12, num_hyperparameters=3,
                        expected_time_ratio=2, non_pure_train_ratio=0.0)
    status = bo.get_current_status()
    measured = status["auto_plan"]["suggestion_s"]
    assert measured > 0
    assert bo.num_trials < plain.num_trials  # a 0.5 s full training cannot pay 30 GP suggestions
    assert status["time_budget_s"] < 0.5  # measuring took the run's time, so it is charged
    rnd = _create(tmp_path, "random")  # random draws are not timed: the plan and the budget are as before
    assert rnd.num_trials == plain.num_trials and rnd.get_current_status()["time_budget_s"] == 0.5


def test_a_resumed_run_keeps_the_measured_plan(tmp_path):
    bo = _create(tmp_path, "baye_opt")
    first = bo.get_current_status()
    cfg = bo.get_next_sample()
    hpopt.report(config=cfg, score=0.5)
    bo.close()
    again = _create(tmp_path, "baye_opt", resume=True)
    status = again.get_current_status()
    assert status["auto_plan"] == first["auto_plan"] and status["time_budget_s"] == first["time_budget_s"]
    assert again.num_trials == bo.num_trials
