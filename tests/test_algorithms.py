"""The pure algorithms on their own: no save_path, no controller, no files (see test_architecture.py)."""

from __future__ import annotations

import pytest

import hpopt
from hpopt.algorithms import SuggestRequest, build_algorithm
from hpopt.algorithms.asha import RungModelSearcher, RungSchedule
from hpopt.algorithms.gp_ucb import GpUcbSearcher
from hpopt.algorithms.random_search import RandomSearcher
from hpopt.algorithms.rank_summary import RankSummary
from hpopt.algorithms.rung_math import asha_epochs_curve, cut_rungs
from hpopt.algorithms.stoppers import AshaStopper, MedianStopper, Progress, stopper_for
from hpopt.search_space import normalize_space

SPACE = normalize_space({"x": hpopt.search_space("uniform", [0, 1]),
                         "opt": hpopt.search_space("choice", ["sgd", "adam"])})
TINY = normalize_space({"opt": hpopt.search_space("choice", ["sgd", "adam"])})


def asha_config(k_rungs=(9, 3, 1), bracket=0, iterations=9, mode="max"):
    return {"trial_id": 5, "mode": mode, "iterations": iterations, "early_stop": "asha", "bracket": bracket,
            "rungs": list(k_rungs), "reduction_factor": 3}


def test_random_searcher_is_deterministic_and_ends_on_an_exhausted_space():
    a, b = RandomSearcher(7), RandomSearcher(7)
    draws = [a.suggest(SuggestRequest(i, 0, SPACE)) for i in range(5)]
    assert draws == [b.suggest(SuggestRequest(i, 0, SPACE)) for i in range(5)]
    tiny = RandomSearcher(0)
    got = [tiny.suggest(SuggestRequest(i, 0, TINY)) for i in range(2)]
    assert sorted(g["opt"] for g in got) == ["adam", "sgd"]
    assert tiny.suggest(SuggestRequest(2, 0, TINY)) is None and tiny.exhausted
    assert tiny.suggest(SuggestRequest(0, 1, TINY)) is not None  # a re-sample always gets params


def test_asha_stopper_on_a_hand_made_rung():
    stopper, cfg = AshaStopper(), asha_config()
    assert stopper.summary_at(cfg, 1) == "bracket_0_rung_1" and stopper.summary_at(cfg, 2) is None
    assert stopper.summary_at(cfg, 9) is None  # max is the end, not a decision
    # a trial on a subset a re-plan cut is judged among its own rung group's
    assert stopper.summary_at({**cfg, "rung_group": 2}, 1) == "group_2_bracket_0_rung_1"
    rung = RankSummary()
    verdicts = [stopper.judge(cfg, Progress(1, best, best, False), rung) for best in (0.5, 0.9, 0.4, 0.95, 0.3)]
    # 1 and 2 results: fewer than rf, all go on; 0.4 is 3rd of 3 (top 1): stops; 0.95 best of 4; 0.3 last of 5
    assert verdicts == [False, False, True, False, True] and rung.count == 5
    assert stopper.judge(cfg, Progress(1, None, None, False), rung) is True  # no valid score by a rung
    assert stopper.judge(cfg, Progress(1, 0.99, 0.99, True), rung) is False and rung.count == 5  # counted before
    assert stopper.judge(asha_config(mode="min"), Progress(1, 0.3, 0.3, True), rung) is False


def test_median_stopper_waits_for_three_others_and_adds_after_deciding():
    stopper = MedianStopper()
    cfg = {"trial_id": 1, "mode": "max", "iterations": 9, "early_stop": "median_stop"}
    assert stopper.summary_at(cfg, 2) == "step_2" and stopper.summary_at({**cfg, "early_stop": None}, 2) is None
    step = RankSummary()
    for mean in (1.0, 2.0):
        assert stopper.judge(cfg, Progress(2, 0.0, mean, False), step) is False  # fewer than 3 others
    assert stopper.judge(cfg, Progress(2, 0.0, 3.0, False), step) is False and step.count == 3
    assert stopper.judge(cfg, Progress(2, 1.5, 1.5, False), step) is True  # 1.5 < median(1, 2, 3) = 2
    assert stopper.judge(cfg, Progress(2, 2.25, None, False), step) is False and step.count == 4  # tie-ish: above
    assert stopper_for(cfg) is not None and stopper_for({"early_stop": None}) is None


def test_rung_schedule():
    schedule = RungSchedule(1, 27, 3, 2)
    assert schedule.rungs_in_brackets == [[27, 9, 3, 1], [27, 9, 3]]
    assert schedule.bracket_of(3) == 1 and schedule.train_config(3)["rungs"] == [27, 9, 3]
    assert schedule.expected_epochs(0, 27) == 27
    assert schedule.expected_epochs(0, 0) == pytest.approx(1 * 2 / 3 + 3 * 2 / 9 + 9 * 2 / 27 + 27 / 27)
    summaries = schedule.rung_summaries([(0, [0.1, 0.2, 0.3, 0.4]), (2, [0.5]), (1, [0.2, 0.1, 0.9])], "max")
    assert summaries["bracket_0_rung_1"].means == [0.1, 0.5] and summaries["bracket_0_rung_3"].means == [0.3]
    assert summaries["bracket_1_rung_3"].means == [0.9] and "bracket_1_rung_1" not in summaries
    grouped = schedule.rung_summaries([(0, [0.1, 0.2, 0.3, 0.4]), (2, [0.5])], "max", groups={2: 1})
    assert grouped["bracket_0_rung_1"].means == [0.1] and grouped["group_1_bracket_0_rung_1"].means == [0.5]


def test_rung_schedule_of_a_trial_whose_last_epoch_a_re_plan_cut():
    schedule = RungSchedule(1, 27, 3, 2)
    # a trial issued after a re-plan cut the last epoch to 12: its rungs end there, the ones below are the run's
    assert schedule.train_config(0, 12)["rungs"] == [12, 9, 3, 1]
    assert schedule.train_config(0, 27)["rungs"] == [27, 9, 3, 1]
    assert schedule.train_config(1, 9)["rungs"] == [9, 3]  # the cut falls on a rung: that rung is the last
    assert schedule.expected_epochs(0, 12, 12) == 12
    assert schedule.expected_epochs(0, 0, 12) == pytest.approx(1 * 2 / 3 + 3 * 2 / 9 + 9 * 2 / 27 + 12 / 27)
    assert schedule.expected_epochs(0, 0, 12) < schedule.expected_epochs(0, 0)
    # the rebuild counts a cut trial at the rungs below its last epoch only, as its stopper judged it live
    scores = [0.1] * 9
    assert "bracket_0_rung_9" in schedule.rung_summaries([(0, scores)], "max")
    assert "bracket_0_rung_9" not in schedule.rung_summaries([(0, scores)], "max", tops={0: 9})
    assert schedule.rung_summaries([(0, scores)], "max", tops={0: 9})["bracket_0_rung_3"].count == 1


def test_cut_rungs_and_the_epochs_a_cut_saves():
    assert cut_rungs([1, 2, 4, 8, 12], 6) == [1, 2, 4, 6] and cut_rungs([1, 2, 4, 8, 12], 8) == [1, 2, 4, 8]
    assert cut_rungs([1, 2, 4, 8, 12], None) == cut_rungs([1, 2, 4, 8, 12], 12) == [1, 2, 4, 8, 12]
    assert cut_rungs([8, 12], 6) == [6]  # a bracket whose first rung is above the cut trains straight to it
    full = asha_epochs_curve(1, 12, 2, 4, 46)[46]
    assert asha_epochs_curve(1, 12, 2, 4, 46, top=12)[46] == full
    assert asha_epochs_curve(1, 12, 2, 4, 46, top=8)[46] < full and asha_epochs_curve(1, 12, 2, 4, 46, top=6)[46] < \
        asha_epochs_curve(1, 12, 2, 4, 46, top=8)[46]


def test_rung_model_searcher_switches_to_the_gp_when_a_rung_is_full():
    space = normalize_space({"x": hpopt.search_space("uniform", [0, 1])})
    gp = GpUcbSearcher(space, mode="max", seed=0, num_init_trials=4)
    searcher = RungModelSearcher(gp, RandomSearcher(0), [1, 3, 9], "max")
    for tid in range(4):
        params = searcher.suggest(SuggestRequest(tid, 0, space))
        searcher.on_config(tid, 0, params)
        assert searcher.model_rung() is None
        searcher.on_scores(tid, 0, [-(params["x"] - 0.7) ** 2])
    assert searcher.model_rung() == 1  # 4 results at epoch 1 >= max(4, dims + 1)
    x, y = searcher.observations()
    assert x.shape == (4, 1) and len(y) == 4
    searcher.on_config(0, 1, searcher.gp.params_of(0))  # trial 0 re-issued: its epoch-1 result is stale
    assert searcher.model_rung() is None  # 3 current results: too few again
    assert 0 <= searcher.suggest(SuggestRequest(4, 0, space))["x"] <= 1


def test_gp_ucb_kappa_decays_per_result():
    gp = GpUcbSearcher(SPACE, mode="min", seed=0, kappa=2.0, kappa_decay=0.5, kappa_decay_delay=1)
    for tid in range(3):
        gp.on_config(tid, 0, {"x": 0.1 * tid, "opt": "sgd"})
        gp.on_result(tid, None if tid == 1 else float(tid))
    assert gp.kappa == pytest.approx(2.0 * 0.5**2)
    x, y = gp.observations()
    assert list(y) == [-0.0, -2.0]  # min mode: signed to maximise; the failed trial is not an observation


def test_build_algorithm_composes_asha_of_any_searcher():
    algo = build_algorithm("asha", space=SPACE, mode="max", seed=1, max_iterations=9, min_iterations=1,
                           reduction_factor=3, num_brackets=1, sampler="bayes")
    assert algo.name == "asha" and isinstance(algo.searcher, RungModelSearcher) and algo.early_stop == "asha"
    assert algo.train_config(0)["rungs"] == [9, 3, 1] and algo.entry(0) == {"bracket": 0}
    assert algo.state()["sampler"] == "bayes"
    smbo = build_algorithm("baye_opt", space=SPACE, mode="max", seed=1, early_stop="median_stop", num_init_trials=4)
    assert smbo.name == "smbo" and smbo.train_config(3)["early_stop"] is None
    assert smbo.train_config(4)["early_stop"] == "median_stop"
    with pytest.raises(ValueError, match="sampler"):
        build_algorithm("asha", space=SPACE, mode="max", seed=1, sampler="tpe")
