"""Re-planning auto config's values during a run: the pure rule on simulated costs, then a real run."""

from __future__ import annotations

import logging
import time

import pytest

import hpopt
from hpopt import auto_replan
from hpopt.auto_replan import (
    GROW_AFTER,
    CostModel,
    Plan,
    TrialCost,
    fidelity_floor,
    kept_trials,
    measure,
    needs_replan,
    projected_seconds,
    replan,
)
from hpopt.run.replanner import Replanner
from hpopt.run.settings import RunSettings

MODEL = CostModel(full_train_seconds=100.0, num_full_iterations=20, non_pure_train_ratio=0.2)
ALL = frozenset({"num_trials", "max_iterations", "subset_ratio"})


def scaled(k: float, overhead: float = 0.0) -> CostModel:
    return CostModel(MODEL.full_train_seconds, MODEL.num_full_iterations, MODEL.non_pure_train_ratio, k, overhead)


def test_measure_fits_the_mean_epoch_scale_and_overhead():
    planned = MODEL.planned_epoch_seconds(0.5)  # 100 / 20 * (0.8 * 0.5 + 0.2) = 3 s
    assert planned == pytest.approx(3.0)
    trials = [TrialCost(4, 0.5, 3.0, 4 * 3.0 + 2.0), TrialCost(4, 0.5, 9.0, 4 * 9.0 + 4.0)]
    fitted = measure(MODEL, trials)
    assert fitted.epoch_scale == pytest.approx((1.0 + 3.0) / 2)  # the mean: the budget pays for the sum
    assert fitted.overhead_s == pytest.approx(3.0)
    one_report = measure(MODEL, [TrialCost(1, 0.5, None, 6.0)])  # the whole cost counts as its epoch
    assert one_report.epoch_scale == pytest.approx(2.0) and one_report.overhead_s == 0.0
    assert measure(MODEL, []) is None and measure(MODEL, [TrialCost(0, 0.5, None, 0.0)]) is None


def test_costlier_trials_get_less_fidelity_not_fewer_trials():
    plan = Plan(num_trials=50, max_iterations=10, subset_ratio=0.4)
    slow = scaled(3.0, overhead=1.0)
    started, left = 10, 40 * 10 * 5 * (0.8 * 0.4 + 0.2)  # the plan's seconds for the 40 trials still to start
    assert projected_seconds(plan, started, MODEL, None) == pytest.approx(left)
    assert needs_replan(plan, started, left, slow, None, ALL)
    new = replan(plan, started, left, slow, ALL, min_subset=0.05)
    assert new.num_trials == 50  # the search keeps its trials
    assert new.max_iterations < 10 and new.subset_ratio < 0.4  # both fidelities give way, neither alone
    assert projected_seconds(new, started, slow, None) <= left * 1.0001
    assert projected_seconds(new, started, slow, None) > 0.8 * left  # and the time is used


def test_user_values_never_move():
    plan = Plan(num_trials=50, max_iterations=10, subset_ratio=0.4)
    slow = scaled(3.0)
    left = 40 * 30.0
    only_subset = replan(plan, 10, left, slow, frozenset({"subset_ratio"}), min_subset=0.05)
    assert only_subset.max_iterations == 10 and only_subset.num_trials == 50 and only_subset.subset_ratio < 0.4
    nothing = replan(plan, 10, left, slow, frozenset(), min_subset=0.05)
    assert nothing == plan
    assert not needs_replan(plan, 10, left, slow, None, frozenset())


def test_fewer_trials_only_below_the_lowest_fidelity():
    plan = Plan(num_trials=50, max_iterations=4, subset_ratio=0.1)
    very_slow = scaled(20.0, overhead=5.0)
    left = 400.0
    new = replan(plan, 10, left, very_slow, ALL, min_subset=0.1)
    assert (new.max_iterations, new.subset_ratio) == (2, 0.1)  # the floor: two epochs on the smallest subset
    one = very_slow.trial_seconds(2, 0.1)
    assert new.num_trials == 10 + int(left // one) < 50
    fixed_count = replan(plan, 10, left, very_slow, frozenset({"max_iterations", "subset_ratio"}), 0.1)
    assert fixed_count.num_trials == 50  # a count the user set stays, even when it cannot fit


@pytest.mark.parametrize("non_pure", [0.0, 0.2])
def test_a_replan_with_no_time_left_gives_the_lowest_fidelity_and_no_more_trials(non_pure):
    # A re-plan near the deadline, where the trials still running hold the rest of the budget: nothing is left
    # for a new trial's epochs. With a measured non_pure_train_ratio of 0 this divided 0 by 0 (a baye_opt run
    # of the digits sample under the burners crashed in get_next_sample).
    model = CostModel(MODEL.full_train_seconds, MODEL.num_full_iterations, non_pure, 1.8, 0.1)
    plan = Plan(num_trials=34, max_iterations=2, subset_ratio=0.09)
    for left in (0.0, 0.05):  # none at all; less than a trial's overhead
        new = replan(plan, 20, left, model, ALL, min_subset=0.05, min_per_trial=0.01, keep=4)
        assert (new.max_iterations, new.subset_ratio, new.num_trials) == (2, 0.05, 20)


def test_a_replan_keeps_at_least_a_share_of_the_starting_fidelity():
    plan = Plan(num_trials=50, max_iterations=10, subset_ratio=0.4)
    very_slow = scaled(6.0)
    left = projected_seconds(plan, 10, MODEL, None)
    start_cost = 10 / 20 * (0.8 * 0.4 + 0.2)  # full trainings per trial at the start
    new = replan(plan, 10, left, very_slow, ALL, min_subset=0.05, min_per_trial=0.5 * start_cost)
    per_trial = new.max_iterations / 20 * (0.8 * new.subset_ratio + 0.2)
    assert per_trial >= 0.5 * start_cost * 0.999 and new.num_trials < 50  # fewer trials, not worse ones
    assert projected_seconds(new, 10, very_slow, None) <= left * 1.0001


def test_the_fidelity_floor_yields_only_as_far_as_the_promised_share_of_trials_needs():
    plan = Plan(num_trials=50, max_iterations=10, subset_ratio=0.4)
    very_slow = scaled(6.0)
    left = projected_seconds(plan, 10, MODEL, None)  # the plan's seconds for its 40 trials still to start
    start_cost = 10 / 20 * (0.8 * 0.4 + 0.2)
    floor = 0.5 * start_cost
    assert kept_trials(50, 10) == 28 and kept_trials(50, 38) == 0  # 70 % of 50 is 35; re-plans aim at 75 %: 38
    with pytest.MonkeyPatch.context() as m:
        m.setattr("hpopt.auto_replan.KEEP_SHARE", 0.0)
        assert kept_trials(50, 10) == 0  # nothing promised: no aim either
    held = replan(plan, 10, left, very_slow, ALL, min_subset=0.05, min_per_trial=floor)
    assert held.num_trials < 35  # the floor alone: 6x dearer epochs leave fewer than 70 % of the plan
    kept = replan(plan, 10, left, very_slow, ALL, min_subset=0.05, min_per_trial=floor, keep=kept_trials(50, 10))
    per_trial = kept.max_iterations / 20 * (0.8 * kept.subset_ratio + 0.2)
    assert 38 <= kept.num_trials <= 40 and per_trial < floor  # the floor gave way, by no more than needed
    assert projected_seconds(kept, 10, very_slow, None) <= left * 1.0001
    # where the floor already keeps the share, it holds as before
    slow = scaled(2.5)
    assert replan(plan, 10, left, slow, ALL, 0.05, min_per_trial=floor, keep=28) == replan(
        plan, 10, left, slow, ALL, 0.05, min_per_trial=floor)
    # the floor moves only down, and to what the kept trials can spend
    assert fidelity_floor(floor, 0, left, very_slow) == floor
    assert fidelity_floor(floor, 28, left, very_slow) == pytest.approx(left / 28 / (6.0 * 100.0))
    assert fidelity_floor(floor, 1, left, very_slow) == floor


def test_cheaper_trials_buy_fidelity_first_then_trials():
    plan = Plan(num_trials=20, max_iterations=5, subset_ratio=0.3)
    fast = scaled(0.3)
    left = 10 * projected_seconds(plan, 10, MODEL, None)  # ten times what the 10 remaining trials need
    assert needs_replan(plan, 10, left, fast, None, ALL)
    new = replan(plan, 10, left, fast, ALL, min_subset=0.05)
    assert (new.max_iterations, new.subset_ratio) == (20, 1.0)
    assert new.num_trials > 20
    assert projected_seconds(new, 10, fast, None) <= left * 1.0001
    no_more = replan(plan, 10, left, fast, frozenset({"max_iterations", "subset_ratio"}), 0.05)
    assert no_more.num_trials == 20 and no_more.max_iterations == 20
    assert not needs_replan(plan, 10, left, fast, None, frozenset({"num_trials"}) - {"num_trials"})


def test_a_count_cut_earlier_comes_back_before_the_fidelity_grows():
    """baye_opt on the conv net at r = 2: the first dear configs cut 33 trials to 23; later trials cost less.
    The re-plan gives the count back, at the plan's fidelity, before it grows the subset; the subset grows
    only with the time the count at the start leaves over; and where the time left cannot buy the whole
    count back, the count grows as far as it can and the fidelity stays."""
    cut = Plan(num_trials=23, max_iterations=2, subset_ratio=0.05)
    one = MODEL.trial_seconds(2, 0.05)
    for spare in (1.0, 1.5):  # time for exactly the 21 trials of the count at the start, then 50 % more
        left = spare * 21 * one
        new = replan(cut, 12, left, MODEL, ALL, min_subset=0.05, restore_to=33)
        assert new.num_trials == 33
        assert projected_seconds(new, 12, MODEL, None) <= left * 1.0001
        if spare == 1.0:
            assert (new.max_iterations, new.subset_ratio) == (2, pytest.approx(0.05))
        else:
            assert new.max_iterations * new.subset_ratio > 2 * 0.05
        old = replan(cut, 12, left, MODEL, ALL, min_subset=0.05)  # without restore_to: the subset took it all
        assert old.num_trials == 23 and old.max_iterations * old.subset_ratio > new.max_iterations * new.subset_ratio
    short = replan(cut, 12, 15 * one, MODEL, ALL, min_subset=0.05, restore_to=33)  # 15 of the 21 fit
    assert (short.num_trials, short.max_iterations, short.subset_ratio) == (27, 2, pytest.approx(0.05))
    # a count the user set, or a count never cut, is left as the rule always left it
    fixed = frozenset({"max_iterations", "subset_ratio"})
    assert replan(cut, 12, 21 * one, MODEL, fixed, 0.05, restore_to=33) == replan(cut, 12, 21 * one, MODEL, fixed,
                                                                                   0.05)
    whole = Plan(num_trials=33, max_iterations=2, subset_ratio=0.05)
    assert replan(whole, 12, 30 * one, MODEL, ALL, 0.05, restore_to=33) == replan(whole, 12, 30 * one, MODEL, ALL,
                                                                                   0.05)


def test_time_left_at_the_end_grows_the_fidelity_of_three_trials_not_of_the_last_one(monkeypatch):
    """The end of a baye_opt run on the wide space at r = 4: 60 of 60 trials started but one, and time for
    four at the plan's fidelity. All of it went to the last trial (5 epochs on 38 % of the data where every
    trial before had at most 3 on 18 %), a score nothing compares with. Now three trials share it."""
    plan = Plan(num_trials=60, max_iterations=3, subset_ratio=0.18)
    one = MODEL.trial_seconds(3, 0.18)
    left = 4 * one
    assert needs_replan(plan, 59, left, MODEL, None, ALL)  # time for more than one trial, 2 more and 20 %
    new = replan(plan, 59, left, MODEL, ALL, min_subset=0.05)
    assert new.num_trials == 62  # three trials to start, at a fidelity a little above the plan's
    fidelity = new.max_iterations * new.subset_ratio
    assert 3 * 0.18 <= fidelity <= 4 / 3 * 3 * 0.18 * 1.0001
    assert projected_seconds(new, 59, MODEL, None) <= left * 1.0001
    # time for two trials only: two, at the plan's fidelity or above
    two = replan(plan, 59, 2.5 * one, MODEL, ALL, min_subset=0.05)
    assert two.num_trials == 61 and two.max_iterations * two.subset_ratio >= 3 * 0.18
    asha = Plan(num_trials=60, max_iterations=12, subset_ratio=0.18)
    asha_new = replan(asha, 59, left, MODEL, ALL, 0.05, asha_epochs=4.0)
    monkeypatch.setattr(auto_replan, "FEWEST_AT_A_GROWN_FIDELITY", 1)  # the rule before: one trial takes it all
    old = replan(plan, 59, left, MODEL, ALL, min_subset=0.05)
    assert old.num_trials == 60 and old.max_iterations * old.subset_ratio > 3 * fidelity
    assert replan(asha, 59, left, MODEL, ALL, 0.05, asha_epochs=4.0) == asha_new  # ASHA's is not touched


def test_asha_moves_only_its_subset_and_count():
    plan = Plan(num_trials=40, max_iterations=20, subset_ratio=0.5)
    slow = scaled(2.0)
    asha_epochs = 3.5
    left = projected_seconds(plan, 8, MODEL, asha_epochs)
    new = replan(plan, 8, left, slow, ALL, min_subset=0.05, asha_epochs=asha_epochs)
    assert new.max_iterations == 20 and new.num_trials == 40 and new.subset_ratio < 0.5
    assert projected_seconds(new, 8, slow, asha_epochs) == pytest.approx(left, rel=0.02)


def test_small_drift_is_left_alone():
    plan = Plan(num_trials=30, max_iterations=6, subset_ratio=0.3)
    left = projected_seconds(plan, 5, MODEL, None)
    assert not needs_replan(plan, 5, left, scaled(1.15), None, ALL)
    assert not needs_replan(plan, 5, left, scaled(0.9), None, ALL)
    assert needs_replan(plan, 5, left, scaled(1.3), None, ALL)
    last = projected_seconds(plan, 29, MODEL, None)
    assert not needs_replan(plan, 29, last, scaled(5.0), None, ALL)  # one trial left: nothing to re-plan


def simulate(load, owned=ALL, workers=1, asha_epochs=None, num_trials=50, iterations=8, subset=0.3, seed_k=1.0,
             asha_excess=1.0, min_subset=0.05, top_scales=False, count_subset=None):
    """A run on simulated costs: trial i costs ``load(i)`` times the plan's model plus 0.2 s; the budget is
    what the plan at the start would have cost at load 1. ASHA's trials run ``asha_excess`` times the epochs
    its schedule expects (``top_scales``: in proportion to their last epoch, else the same whatever it is).
    ``count_subset``: the subset the floor yields to for the count (None: the replanner's default, half the
    floor). Returns (trials run, seconds spent, budget, the replanner)."""
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=num_trials,
                           max_iterations=iterations, subset_ratio=subset, num_workers=workers)

    def schedule(started, total, top):
        return asha_epochs * (top / iterations if top_scales else 1.0)

    replanner = Replanner(settings, owned, MODEL, min_subset=min_subset,
                          asha_epochs=None if asha_epochs is None else schedule, min_top=2, count_subset=count_subset)
    budget = projected_seconds(replanner.plan, 0, MODEL, asha_epochs)
    spent, started = 0.0, 0
    while started < settings.num_trials:
        top = settings.max_iterations
        epochs = schedule(0, 1, top) * asha_excess if asha_epochs is not None else top
        epoch_s = load(started) * seed_k * MODEL.planned_epoch_seconds(settings.subset_ratio)
        cost = 0.2 + epochs * epoch_s
        if spent + cost > budget:
            break
        spent += cost
        started += 1
        subset = settings.subset_ratio
        replanner.count({"cost_s": cost, "num_iterations_run": max(1, round(epochs)), "epoch_s": epoch_s,
                         "subset_ratio": subset, "rung_group": replanner.rung_group(subset)}, top)
        replanner.check(started, budget - spent)
    return started, spent, budget, replanner


@pytest.mark.parametrize("load", [lambda i: 2.0, lambda i: 1.0 if i < 15 else 2.5, lambda i: 4.0 if i % 2 else 1.0],
                         ids=["2x-from-the-start", "2.5x-after-a-third", "epoch-cost-varies-4x"])
def test_simulated_runs_keep_the_plan(load):
    static = simulate(load, owned=frozenset())
    started, spent, budget, replanner = simulate(load)
    assert replanner.replans, "the drift was not noticed"
    assert started >= 0.7 * 50 > static[0]  # the plan's trials run; without re-planning they did not
    assert 0.85 * budget <= spent <= budget


def test_simulated_asha_and_cheap_trials():
    # ASHA, trials 1.6x the plan: a smaller subset for the rest (a rung group of their own), never fewer trials
    started, spent, budget, replanner = simulate(lambda i: 1.6, asha_epochs=3)
    s = replanner.settings
    assert (s.max_iterations, s.num_trials) == (8, 50) and s.subset_ratio < 0.3 and len(replanner.replans) == 1
    assert replanner.rung_group(s.subset_ratio) == 1 and replanner.rung_group(0.3) == 0
    assert started >= 0.7 * 50 > 50 / 1.6 and 0.85 * budget <= spent <= budget
    # ... and when no smaller subset is allowed, the same count, ended by the budget
    started, spent, budget, replanner = simulate(lambda i: 1.6, asha_epochs=3, owned=frozenset({"num_trials"}),
                                                 top_scales=True)
    s = replanner.settings
    assert (s.max_iterations, s.subset_ratio, s.num_trials) == (8, 0.3, 50) and not replanner.replans
    assert 50 / 1.6 * 0.85 <= started <= 50 / 1.6 * 1.15 and spent >= 0.85 * budget  # the budget ended it
    started, spent, budget, replanner = simulate(lambda i: 0.3, asha_epochs=3)  # but more, when they are cheap
    assert replanner.settings.num_trials > 50 and started > 50 and replanner.settings.subset_ratio == 0.3
    started, spent, budget, replanner = simulate(lambda i: 0.3)  # cheaper trials: more fidelity first
    assert started >= 49 and spent >= 0.85 * budget and replanner.settings.max_iterations > 8
    started, spent, budget, replanner = simulate(lambda i: 0.02)  # far cheaper: full fidelity, then more trials
    s = replanner.settings
    assert (s.max_iterations, s.subset_ratio) == (20, 1.0) and started > 50 and spent >= 0.85 * budget


def _two_trials_and_no_time_left(owned: frozenset[str]) -> Replanner:
    """A replanner for 50 trials that collected two trials at the plan's cost and has no time left."""
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=50,
                           max_iterations=8, subset_ratio=0.3)
    replanner = Replanner(settings, owned, MODEL, min_subset=0.05, asha_epochs=lambda started, total, top: 3.0)
    epoch_s = MODEL.planned_epoch_seconds(0.3)
    for _ in range(2):
        replanner.count({"cost_s": 3 * epoch_s, "num_iterations_run": 3, "epoch_s": epoch_s, "subset_ratio": 0.3,
                         "rung_group": 0}, 8)
    replanner.check(2, 0.0)
    return replanner


def test_the_replanner_says_when_its_forecast_puts_the_count_at_risk(monkeypatch):
    """ASHA with nothing but its count to give (the user set its subset and last epoch), trials at 1.6x the
    plan: the forecast falls short of the share promised, and says so at every look; at the plan's cost it
    does not. The flag survives a resume (the searcher's ties depend on it). Where nothing is promised
    (``KEEP_SHARE`` 0) nothing is at risk."""
    only_count = frozenset({"num_trials"})
    *_, slow = simulate(lambda i: 1.6, asha_epochs=3, owned=only_count, top_scales=True)
    assert slow.count_at_risk and slow.live_state()["count_at_risk"] is True
    with monkeypatch.context() as m:
        m.setattr(auto_replan, "KEEP_SHARE", 0.0)
        *_, unpromised = simulate(lambda i: 1.6, asha_epochs=3, owned=only_count, top_scales=True)
        assert not unpromised.count_at_risk
        # ... not even when the time left buys no trial at all (the forecast is the 2 started, 4 % of 50)
        assert not _two_trials_and_no_time_left(only_count).count_at_risk
    assert _two_trials_and_no_time_left(only_count).count_at_risk
    *_, on_plan = simulate(lambda i: 1.0, asha_epochs=3, owned=only_count, top_scales=True)
    assert not on_plan.count_at_risk
    *_, cut = simulate(lambda i: 1.6)  # a sequential run whose fidelity absorbs the cost: not at risk
    assert cut.replans and not cut.count_at_risk
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=50,
                           max_iterations=8, subset_ratio=0.3)
    resumed = Replanner(settings, only_count, MODEL, min_subset=0.05)
    resumed.restore(slow.state())
    assert resumed.count_at_risk


# --- a real run: trainers that sleep through epochs twice as long as the plan assumed ----------------------


FULL_S = 4.0


def sleepy_run(tmp_path, **kw):
    # full training: 20 epochs of 0.2 s; r = 2.5 gives 6 s of trial time
    args = dict(full_dataset_size=10_000, num_full_iterations=20, save_path=str(tmp_path / "hpo"),
                search_space={"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])},
                search_alg="random", expected_time_ratio=2.5, full_train_seconds=FULL_S, non_pure_train_ratio=0.2,
                seed=3)
    args.update(kw)
    return hpopt.create(**args)


def train_slowly(cfg, slowdown: float, full_s: float = FULL_S) -> None:
    """Epochs that sleep ``slowdown`` times what the plan gives them (a full training of ``full_s``)."""
    planned_epoch = full_s / 20 * (0.8 * cfg["subset_ratio"] + 0.2)
    for epoch in range(cfg["iterations"]):
        time.sleep(slowdown * planned_epoch)
        if hpopt.report(cfg, cfg["params"]["x"] + 0.01 * epoch) == hpopt.Status.STOP:
            break


def test_a_slow_run_is_replanned_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hpopt")
    hpo = sleepy_run(tmp_path)
    planned = (hpo.num_trials, hpo.max_iterations, hpo.subset_ratio)
    configs = []
    while (cfg := hpo.get_next_sample()) is not None:
        configs.append((cfg["iterations"], cfg["subset_ratio"]))
        train_slowly(cfg, slowdown=2.0)  # twice the plan: fits at half its fidelity
    assert hpo.is_finished()
    status = hpo.get_current_status()
    assert status["replans"] and status["auto_plan"]["num_trials"] == planned[0]
    assert len(configs) >= 0.7 * planned[0]
    assert configs[0] == (planned[1], pytest.approx(planned[2]))
    assert (configs[-1][0], configs[-1][1]) < (planned[1], planned[2])  # later trials got less fidelity
    entries = status["config_list"]
    assert all(e["subset_ratio"] == pytest.approx(c[1]) for e, c in zip(entries, configs, strict=True))
    assert any("re-planned after" in r.message for r in caplog.records)
    end = [r.message for r in caplog.records if r.message.startswith("the run is over")]
    assert end and f"of {planned[0]} planned (" in end[0] and "re-plan" in end[0]
    hpo.close()
    resumed = sleepy_run(tmp_path, resume=True)  # the plan at the start and the re-plans survive
    again = resumed.get_current_status()
    assert again["auto_plan"] == status["auto_plan"] and again["replans"] == status["replans"]
    assert resumed.is_finished()


def test_a_run_too_slow_for_any_replan_says_its_epochs_are_why(tmp_path, caplog):
    """Epochs at 8x the plan: re-plans reach the lowest fidelity and the run still ends short of its plan;
    the end-of-run line says the epochs cost that much more than the measured full training implies."""
    import re

    caplog.set_level(logging.INFO, logger="hpopt")
    hpo = sleepy_run(tmp_path)
    while (cfg := hpo.get_next_sample()) is not None:
        train_slowly(cfg, slowdown=8.0)
    assert hpo.is_finished()
    end = [r.message for r in caplog.records if r.message.startswith("the run is over")]
    assert hpo.get_current_status()["replans"] and len(end) == 1
    said = re.search(r"its epochs cost ([0-9.]+)x what the measured full training implies", end[0])
    assert said and 6.0 <= float(said.group(1)) <= 10.0, end[0]  # 8x, give or take the sleeps' overshoot


@pytest.mark.parametrize("search_alg", ["asha", "baye_opt"])
def test_a_deadline_run_tells_the_searcher_what_each_trials_epochs_cost(tmp_path, monkeypatch, search_alg):
    """ASHA's forest and baye_opt's GP weigh epoch costs in a run with a deadline in seconds: each collected
    trial's epochs, measured against the plan's model on its subset, reach the searcher (twice the plan)."""
    from hpopt.algorithms.forest_searcher import FidelityForestSearcher
    from hpopt.algorithms.gp_ucb import GpUcbSearcher

    told: list[tuple[int, float]] = []
    searcher = FidelityForestSearcher if search_alg == "asha" else GpUcbSearcher
    monkeypatch.setattr(searcher, "on_cost", lambda self, tid, scale: told.append((tid, scale)))
    hpo = sleepy_run(tmp_path, search_alg=search_alg)
    while (cfg := hpo.get_next_sample()) is not None:
        train_slowly(cfg, slowdown=2.0)
    multi_epoch = [e for e in hpo.get_current_status()["config_list"] if e.get("epoch_s")]
    assert multi_epoch and sorted(t for t, _ in told) == sorted(e["trial_id"] for e in multi_epoch)
    assert all(1.6 <= scale <= 3.0 for _, scale in told), told  # 2x, give or take the sleeps' overshoot


@pytest.mark.parametrize("search_alg", ["asha", "baye_opt"])
def test_a_run_far_dearer_than_planned_tells_the_searcher_its_count_is_at_risk(tmp_path, monkeypatch, caplog,
                                                                              search_alg):
    """Epochs at 4x the plan: the re-planner's looks find the count at risk, the log says so, and the
    searcher hears it before the next proposals; at the plan's cost (a quick run of 0.5x) none of that."""
    from hpopt.algorithms.forest_searcher import FidelityForestSearcher
    from hpopt.algorithms.gp_ucb import GpUcbSearcher

    caplog.set_level(logging.INFO, logger="hpopt")
    searcher = FidelityForestSearcher if search_alg == "asha" else GpUcbSearcher
    for slowdown, expect in ((4.0, True), (0.5, False)):
        caplog.clear()
        told: list[bool] = []
        monkeypatch.setattr(searcher, "on_count_at_risk", lambda self, at_risk, told=told: told.append(at_risk))
        hpo = sleepy_run(tmp_path / str(slowdown), search_alg=search_alg)
        while (cfg := hpo.get_next_sample()) is not None:
            train_slowly(cfg, slowdown=slowdown)
        assert told and any(told) is expect, (slowdown, told)
        said = [r.message for r in caplog.records if "trials planned at the start (" in r.message]
        assert any("(fewer than" in m and "prefers the cheapest" in m for m in said) is expect, said
        assert hpo.get_current_status()["count_at_risk"] is told[-1]


def test_no_deadline_or_user_values_no_replan(tmp_path):
    for kw in ({"full_train_seconds": None}, {"num_trials": 6, "max_iterations": 4, "subset_ratio": 0.5},
               {"replan": False}):
        hpo = sleepy_run(tmp_path / "_".join(kw), **kw)
        while (cfg := hpo.get_next_sample()) is not None:
            train_slowly(cfg, slowdown=2.5 if "replan" in kw else 0.5)  # 2.5: re-planned, were it on
        status = hpo.get_current_status()
        assert "replans" not in status and "auto_plan" not in status
        assert all(e.get("subset_ratio") is None for e in status["config_list"])


def _sleepy_trainer(cfg):
    train_slowly(cfg, slowdown=2.0)


@pytest.mark.parametrize("search_alg, ratio", [("random", 2.5), ("asha", 4.0)])
def test_parallel_workers_replan_and_keep_the_deadline(tmp_path, search_alg, ratio):
    """Two trainer processes (the local adapter), trials twice as slow as planned: re-planned, on time. ASHA
    as create() gives it (the forest sampler, every bracket): its trials collected in any order, the re-plan
    looks once two were, and a subset it cuts puts the later trials in a rung group of their own. ASHA gets
    r = 4: its create() times the forest's suggestions on the run's clock, and its first two trials climb
    every rung, so at r = 2.5 a loaded machine could leave no time for trials after the first look."""
    from hpopt.adapters.local import run_local

    hpo = sleepy_run(tmp_path, num_workers=2, search_alg=search_alg, expected_time_ratio=ratio)
    planned, start_subset = hpo.num_trials, hpo.subset_ratio
    asked = (ratio - 1) * FULL_S  # wall seconds: the budget is 2 workers x that in trial seconds
    start = time.monotonic()
    summary = run_local(hpo, _sleepy_trainer, n_parallel=2, resources="cpu", progress=False, start_method="fork")
    wall = time.monotonic() - start
    status = hpo.get_current_status()
    assert summary.finished and status["replans"]
    # random: 17 of 20 on a quiet machine; on a loaded one each trial's process start-up eats the budget too
    # (CI: 12). ASHA: 17-29 of 20. Its first trials climb every rung while the rungs are empty, two at a time
    # here, at twice the planned cost: the first look comes from their first epochs, and cuts their last
    # epoch (docs/benchmarks.md, "Parallel workers: the first look from the trials in flight", has the figures).
    assert summary.trials_done >= (0.5 if search_alg == "random" else 0.4) * planned, status["replans"]
    assert wall <= 1.5 * asked + 2.0  # loose for the same reason: the figure is in docs/benchmarks.md
    first = status["replans"][0]
    assert first["after_trials"] >= 2
    if search_alg == "random":  # its trials run every epoch: the look comes while the first two run
        assert "trials in flight" in first["reason"] and first["in_flight_cut"], first
    if search_alg == "asha":
        subsets = [round(start_subset, 6)] + [round(r["subset_ratio"], 6) for r in status["replans"]]
        subsets = list(dict.fromkeys(subsets))  # a trial's rung group: its subset's place in the run's subsets
        entries = status["config_list"]
        assert len(subsets) > 1 and any(e.get("rung_group") for e in entries), status["replans"]
        groups = [subsets.index(round(e.get("subset_ratio", start_subset), 6)) for e in entries]
        assert [e.get("rung_group", 0) for e in entries] == groups


def test_no_more_fidelity_on_the_first_trials_alone():
    # The first two trials are cheap configs, the rest cost 1.5x the plan (a space whose epoch cost varies by
    # config): two trials are too few to buy fidelity on, so the run never goes above the plan's fidelity.
    started, spent, budget, replanner = simulate(lambda i: 0.3 if i < 2 else 1.5)
    assert replanner.replans and all(r["after_trials"] >= 2 for r in replanner.replans)
    assert all((r["max_iterations"], r["subset_ratio"]) <= (8, 0.3) for r in replanner.replans)
    assert started >= 0.7 * 50 and spent <= budget
    # cheap throughout: once enough trials were measured, fidelity grows as before
    started, spent, budget, replanner = simulate(lambda i: 0.3)
    assert replanner.replans[0]["after_trials"] >= GROW_AFTER and replanner.settings.max_iterations > 8


@pytest.mark.parametrize("num_trials", [1, 3, GROW_AFTER - 1])
def test_a_plan_of_fewer_trials_than_the_growth_wait_still_grows_when_they_are_cheap(num_trials):
    # Epochs at a fifth of the plan's: the whole plan ran once its last trial is collected, so a look then
    # may grow it. Without that look (or with growth waiting for GROW_AFTER trials) the run ended at a
    # fraction of its time.
    started, spent, budget, replanner = simulate(lambda i: 0.2, num_trials=num_trials)
    assert replanner.replans and replanner.replans[0]["after_trials"] == num_trials
    assert started > num_trials and spent >= 0.7 * budget
    # as dear as planned: no look grows it, and the plan runs as planned
    started, spent, budget, replanner = simulate(lambda i: 1.0, num_trials=num_trials)
    assert not replanner.replans and started <= num_trials


def test_asha_trials_that_climb_more_rungs_than_expected_get_a_smaller_subset():
    # A sampler that proposes good configs sends more of them up the rungs than the schedule's random order:
    # here each trial runs twice the epochs the plan expects, at the plan's epoch cost. The re-plan counts
    # the excess (drawn towards 1 by a prior worth four trials) and cuts the subset, so the trials planned
    # still run.
    static = simulate(lambda i: 1.0, owned=frozenset({"num_trials"}), asha_epochs=3, asha_excess=2.0)
    started, spent, budget, replanner = simulate(lambda i: 1.0, asha_epochs=3, asha_excess=2.0)
    assert static[0] <= 0.55 * 50
    reasons = [r["reason"] for r in replanner.replans]
    assert reasons and all("x the epochs ASHA's schedule expects" in r for r in reasons)
    assert "1.33x the epochs" in reasons[0]  # two trials at 2x, four of the prior at 1x
    assert replanner.settings.subset_ratio < 0.3
    assert started >= 0.7 * 50 and spent <= budget
    # and the cut never goes below half the start's per-trial cost (MIN_FIDELITY_SHARE)
    started, spent, budget, replanner = simulate(lambda i: 1.0, asha_epochs=3, asha_excess=4.0)
    floor = 0.5 * MODEL.planned_epoch_seconds(0.3) / 4  # half the start's trial cost, over 4x the epochs
    assert MODEL.planned_epoch_seconds(replanner.settings.subset_ratio) >= floor * 0.999


@pytest.mark.parametrize("asha_epochs", [None, 3], ids=["sequential", "asha"])
def test_configs_far_dearer_than_planned_still_run_the_promised_share_of_trials(asha_epochs, monkeypatch):
    # Every trial at 3.5x the plan's epoch cost (a search that moved to wide networks): the fidelity floor
    # alone leaves fewer than 70 % of the planned trials; yielding it keeps 70 % within the same budget
    # (ASHA: a smaller subset, then a lower last epoch, whose trials then run fewer epochs).
    kw = dict(asha_epochs=asha_epochs, min_subset=0.01, top_scales=True)
    started, spent, budget, replanner = simulate(lambda i: 3.5, **kw)
    assert started >= 0.7 * 50 and spent <= budget
    said = "below the fidelity floor (half the start's), to keep 38 of the 50 trials planned at the start"
    assert any(said in r["reason"] for r in replanner.replans)  # the log and the status say why
    monkeypatch.setattr("hpopt.auto_replan.KEEP_SHARE", 0.0)  # the floor that never yields
    floored = simulate(lambda i: 3.5, **kw)
    assert not any("fidelity floor" in r["reason"] for r in floored[3].replans)
    assert floored[0] < 0.7 * 50 and floored[1] <= budget


def test_a_slow_asha_run_cuts_its_subset_into_a_rung_group_of_its_own(tmp_path):
    """ASHA, trials twice as slow as planned: the re-plan cuts the subset of the trials still to start; they
    are judged at rungs of their own (scores on two subsets do not compare), and a resume rebuilds those."""
    from hpopt.algorithms.stoppers import rung_summary_name
    from hpopt.state import FileStore

    full_s = 1.0

    kw = dict(search_alg="asha", sampler="random", full_train_seconds=full_s, expected_time_ratio=8)
    hpo = sleepy_run(tmp_path, **kw)
    start_subset = hpo.subset_ratio
    configs = []
    while (cfg := hpo.get_next_sample()) is not None:
        configs.append(cfg)
        train_slowly(cfg, slowdown=2.0, full_s=full_s)
    status = hpo.get_current_status()
    assert status["replans"] and status["replans"][0]["subset_ratio"] < start_subset
    groups = [c.get("rung_group", 0) for c in configs]
    cut = status["replans"][0]["after_trials"]
    assert groups == [0] * cut + [1] * (len(configs) - cut) and len(configs) > cut
    assert all(c["subset_ratio"] == pytest.approx(start_subset) for c in configs[:cut])
    assert all(c["subset_ratio"] < start_subset for c in configs[cut:])
    entries = status["config_list"]
    assert [e.get("rung_group", 0) for e in entries] == groups
    store = FileStore(hpo.save_path)

    def rung_1_counts():
        return {g: store.read_summary("asha", rung_summary_name(0, 1, g)).count for g in (0, 1)}

    counts = rung_1_counts()
    assert counts == {0: cut, 1: len(configs) - cut}  # every trial reports epoch 1, in its own group's rung
    hpo.close()
    store.replace_summaries("asha", {}, status["run_id"])  # the rung records lost: a resume rebuilds them
    assert rung_1_counts() == {0: 0, 1: 0}
    resumed = sleepy_run(tmp_path, resume=True, **kw)
    assert resumed.is_finished() and rung_1_counts() == counts


def test_a_slow_asha_run_at_its_floors_cuts_its_subset_below_the_floor_once(tmp_path, caplog):
    """ASHA whose plan starts at the 500-sample floor, epochs twice as slow as planned: the first look cuts the
    last epoch to half; once six trials were measured and the trials promised still do not fit, the subset
    goes to 250 samples, once, in a rung group of its own; the plan line and the reason say so."""
    caplog.set_level(logging.INFO, logger="hpopt")
    p, full_s = 0.05, 4.0
    hpo = sleepy_run(tmp_path, search_alg="asha", sampler="random", expected_time_ratio=2.0, full_train_seconds=full_s,
                     non_pure_train_ratio=p, search_space={k: hpopt.search_space("uniform", [0, 1]) for k in "xyzw"})
    assert hpo.subset_ratio == pytest.approx(0.05) and hpo.num_trials >= 30  # 500 of 10 000 samples
    assert "then a subset cut to 250 samples, then fewer trials" in caplog.text  # the plan line says what gives
    configs = []
    while (cfg := hpo.get_next_sample()) is not None:
        configs.append(cfg)
        epoch_s = 2.0 * full_s / 20 * ((1 - p) * cfg["subset_ratio"] + p)
        for epoch in range(cfg["iterations"]):
            time.sleep(epoch_s)
            if hpopt.report(cfg, cfg["params"]["x"] + 0.01 * epoch) == hpopt.Status.STOP:
                break
    status = hpo.get_current_status()
    first, *rest = status["replans"]
    assert first["max_iterations"] == 10 and first["subset_ratio"] == pytest.approx(0.05)  # the last epoch first
    yields = [r for r in rest if "the subset below its floor of 500 samples, to 250, to keep" in r["reason"]]
    assert len(yields) == 1 and yields[0]["subset_ratio"] == pytest.approx(0.025)
    cut = yields[0]["after_trials"]
    assert cut >= auto_replan.GROW_AFTER  # not on the first trials' costs alone
    assert len(configs) > cut and all(c["subset_ratio"] == pytest.approx(0.025) for c in configs[cut:])
    assert {c.get("rung_group", 0) for c in configs[:cut]} == {0} and {c["rung_group"] for c in configs[cut:]} == {1}
    assert all(c["subset_ratio"] == pytest.approx(0.05) for c in configs[:cut])


@pytest.mark.parametrize("sampler", ["random", "forest", "bayes"])
def test_the_replanner_counts_asha_epochs_as_the_plan_at_the_start_did(tmp_path, sampler):
    """The re-planner forecasts the rest of an ASHA run with the plan's count, the sampler's excess over the
    rung simulation included: otherwise its first look sees a forest run as 1.4x cheaper than planned."""
    from hpopt.algorithms import epoch_excess

    hpo = sleepy_run(tmp_path, search_alg="asha", sampler=sampler, expected_time_ratio=6)
    rest = hpo.budget.replanner.asha_epochs
    n, top = hpo.num_trials, hpo.max_iterations
    assert rest(0, n, top) == pytest.approx(hpo.epoch_budget / n)
    assert (epoch_excess(sampler, n) > 1.1) == (sampler == "forest")
    hpo.close()


@pytest.mark.parametrize("left_to_start, cut", [(4, False), (8, True)])
def test_asha_starts_no_rung_group_for_the_last_few_trials(left_to_start, cut):
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=50,
                           max_iterations=8, subset_ratio=0.3)
    replanner = Replanner(settings, ALL, MODEL, min_subset=0.05, asha_epochs=lambda started, total, top: 3.0)
    planned = 3 * MODEL.planned_epoch_seconds(0.3)
    for _ in range(4):  # trials at twice the plan's epoch cost
        replanner.count({"cost_s": 2 * planned, "num_iterations_run": 3, "epoch_s": 2 * planned / 3,
                         "subset_ratio": 0.3})
    started = 50 - left_to_start
    assert replanner.check(started, left_to_start * planned) is cut  # half what the rest would take
    assert (settings.subset_ratio < 0.3) is cut and settings.num_trials == 50


def test_asha_at_its_smallest_subset_cuts_the_last_epoch_of_the_trials_still_to_start():
    # The subset is at its floor (min_subset, which here does not yield: count_subset 0.3), trials cost 1.6x
    # the plan: fewer epochs before fewer trials. Without the last epoch to own, the budget ends the run short.
    held = dict(asha_epochs=3, min_subset=0.3, count_subset=0.3)
    started, spent, budget, replanner = simulate(lambda i: 1.6, top_scales=True, **held)
    s = replanner.settings
    assert s.subset_ratio == 0.3 and s.num_trials >= 50 and 4 <= s.max_iterations < 8
    assert [r["max_iterations"] for r in replanner.replans][0] < 8
    assert started >= 0.7 * 50 and 0.85 * budget <= spent <= budget
    # 4x the plan: never below half the start's last epoch, even though the promised 70 % of the trials
    # then does not fit (scores after 2 epochs on a tiny subset picked configs that diverge)
    started, spent, budget, replanner = simulate(lambda i: 4.0, top_scales=True, **held)
    assert replanner.settings.max_iterations == 4 and started < 0.7 * 50 and spent <= budget
    # a cut that saves no epochs (the schedule's epochs do not depend on the last one) is not made
    started, spent, budget, replanner = simulate(lambda i: 1.6, **held)
    assert replanner.settings.max_iterations == 8 and not replanner.replans
    # and with a subset to cut, the subset goes first
    started, spent, budget, replanner = simulate(lambda i: 1.6, asha_epochs=3, top_scales=True)
    assert replanner.settings.subset_ratio < 0.3 and replanner.settings.max_iterations == 8


def test_asha_at_its_floors_cuts_the_subset_below_its_floor_before_the_count():
    # Trials at 1.6x the plan whose epochs the last epoch does not move: the subset at its floor, no cut of the
    # last epoch saves epochs, so the floor yields, at once to half itself: one rung group of its own, not a
    # group per look (each group's first trials climb its empty rungs).
    started, spent, budget, replanner = simulate(lambda i: 1.6, asha_epochs=3, min_subset=0.3)
    s = replanner.settings
    assert s.subset_ratio == pytest.approx(0.15) and s.max_iterations == 8
    assert len({r["subset_ratio"] for r in replanner.replans}) == 1
    assert started >= 0.7 * 50 and spent <= budget
    said = "the subset below its floor of 3000 samples, to"
    assert any(said in r["reason"] and "to keep 38 of the 50 trials" in r["reason"] for r in replanner.replans)
    assert replanner.subsets() == [0.3, round(s.subset_ratio, 6)] and replanner.rung_group(s.subset_ratio) == 1
    # 4x the plan: the last epoch at its lowest (half the start's), then the subset at half its floor
    started, spent, budget, replanner = simulate(lambda i: 4.0, asha_epochs=3, min_subset=0.3, top_scales=True)
    s = replanner.settings
    assert s.max_iterations == 4 and s.subset_ratio == pytest.approx(0.15) and spent <= budget
    held = simulate(lambda i: 4.0, asha_epochs=3, min_subset=0.3, top_scales=True, count_subset=0.3)
    assert started > held[0]  # more of the trials promised than with a floor that holds
    # where the floor keeps the count, it holds: 1.2x the plan is a top cut at most
    started, spent, budget, replanner = simulate(lambda i: 1.2, asha_epochs=3, min_subset=0.3, top_scales=True)
    assert replanner.settings.subset_ratio == 0.3 and started >= 0.7 * 50


def test_the_subset_floor_yields_only_once_six_trials_were_measured():
    # Trials at 6x the plan from the start, the subset's floor at 0.3 (count_subset 0.15): the first looks
    # (after two and four trials) keep the floor, a poor sample of what trials cost; the one after six yields.
    started, spent, budget, replanner = simulate(lambda i: 6.0, min_subset=0.3)
    below = [r for r in replanner.replans if r["subset_ratio"] < 0.3 - 1e-9]
    assert below and below[0]["after_trials"] >= GROW_AFTER
    assert all(r["subset_ratio"] >= 0.3 - 1e-9 for r in replanner.replans if r["after_trials"] < GROW_AFTER)
    assert min(r["subset_ratio"] for r in replanner.replans) >= 0.15 - 1e-9 and spent <= budget
    held = simulate(lambda i: 6.0, min_subset=0.3, count_subset=0.3)  # a floor that never yields
    assert started > held[0]


def test_a_sequential_replan_cuts_the_subset_below_its_floor_only_for_the_count():
    plan = Plan(num_trials=50, max_iterations=10, subset_ratio=0.4)
    left = projected_seconds(plan, 10, MODEL, None)
    very_slow = scaled(6.0)
    keep = kept_trials(50, 10)
    at_floor = replan(plan, 10, left, very_slow, ALL, min_subset=0.3, keep=keep)
    assert at_floor.subset_ratio == 0.3 and at_floor.num_trials < 10 + keep  # the floor holds: fewer trials
    yielded = replan(plan, 10, left, very_slow, ALL, min_subset=0.3, keep=keep, count_subset=0.15)
    assert 0.15 <= yielded.subset_ratio < 0.3 and yielded.max_iterations == at_floor.max_iterations
    assert yielded.num_trials > at_floor.num_trials and projected_seconds(yielded, 10, very_slow, None) <= left * 1.0001
    # only as far as the count needs: a little dearer than the floor allows cuts a little below it
    # (the kept trials at the lowest epochs on the floor's subset would take 1.15x the time left)
    a_bit = scaled(1.15 * left / (keep * MODEL.trial_seconds(at_floor.max_iterations, 0.3)))
    near = replan(plan, 10, left, a_bit, ALL, min_subset=0.3, keep=keep, count_subset=0.15)
    assert near.max_iterations == at_floor.max_iterations and 0.2 < near.subset_ratio < 0.3
    assert near.num_trials == 10 + keep
    # nothing promised, or no subset to own: the floor holds
    assert replan(plan, 10, left, very_slow, ALL, 0.3, keep=0, count_subset=0.15) == replan(
        plan, 10, left, very_slow, ALL, 0.3)
    no_subset = ALL - {"subset_ratio"}
    assert replan(plan, 10, left, very_slow, no_subset, 0.3, keep=keep, count_subset=0.15).subset_ratio == 0.4
    # the floor that yields: half the 500 samples, and none where subsetting is off
    assert auto_replan.count_subset_floor(0.05) == pytest.approx(0.025) and auto_replan.count_subset_floor(1.0) == 1.0


def test_the_suggestions_still_to_come_cost_what_the_plan_measured():
    # The first trials were random draws (no suggestion time); a model's suggestions, timed at 1.5 s by
    # create(), come next: the forecast counts them, and a measured cost above the plan's wins.
    random_draws = [TrialCost(4, 0.5, 3.0, 4 * 3.0 + 0.5, 0.0)] * 2
    assert measure(MODEL, random_draws).overhead_s == pytest.approx(0.5)
    assert measure(MODEL, random_draws, suggestion_s=1.5).overhead_s == pytest.approx(2.0)
    modelled = [TrialCost(4, 0.5, 3.0, 4 * 3.0 + 0.5 + 2.5, 2.5)] * 2
    assert measure(MODEL, modelled, suggestion_s=1.5).overhead_s == pytest.approx(3.0)


def test_a_slow_asha_run_on_all_its_data_cuts_the_last_epoch_of_later_trials(tmp_path):
    """ASHA whose subset cannot shrink (all of a small data set), trials twice as slow as planned: the re-plan
    cuts the last epoch of the trials still to start. Their rungs end there, the rungs below are shared with
    the earlier trials, hpopt status and the results pick the same best config as the controller, and a
    resume rebuilds the rungs as the stoppers built them."""
    from hpopt.algorithms.stoppers import rung_summary_name
    from hpopt.state import FileStore
    from hpopt.views.results import read_run
    from hpopt.views.run_status import run_status

    full_s = 1.0

    # r = 8: the first two trials train 20 epochs each (4 s at twice the plan's cost) and leave 3 s, so trials
    # start after the re-plan even on a busy machine (at r = 6 the 1 s left fitted none under load)
    kw = dict(search_alg="asha", sampler="random", full_train_seconds=full_s, expected_time_ratio=8,
              full_dataset_size=400)  # under 500 samples: no subset, so the last epoch is the lever left
    hpo = sleepy_run(tmp_path, **kw)
    assert hpo.subset_ratio == 1.0 and hpo.max_iterations == 20
    configs = []
    while (cfg := hpo.get_next_sample()) is not None:
        configs.append(cfg)
        train_slowly(cfg, slowdown=2.0, full_s=full_s)
    status = hpo.get_current_status()
    assert status["replans"], "the drift was not noticed"
    first = status["replans"][0]
    # below half of 20: the first two trials used 4 of the 7 s, and the promised 70 % of the plan needs it
    assert first["subset_ratio"] == 1.0 and 2 <= first["max_iterations"] < 20
    cut = first["after_trials"]
    assert all(c["iterations"] == 20 and c["rungs"][0] == 20 for c in configs[:cut])
    later = configs[cut:]
    cuts = [r["max_iterations"] for r in status["replans"]]
    assert cuts == sorted(cuts, reverse=True)  # a later cut only goes lower
    assert later and all(c["iterations"] in cuts for c in later) and later[0]["iterations"] == cuts[0]
    assert all(c["rungs"][0] == c["iterations"] and all(r < c["iterations"] for r in c["rungs"][1:]) for c in later)
    assert all("rung_group" not in c for c in configs)  # same data: the rungs below the cut are shared
    assert [e["iterations"] for e in status["config_list"]] == [c["iterations"] for c in configs]
    best = status["best_config_id"]
    hpo.close()
    assert run_status(hpo.save_path)["best"]["trial_id"] == best
    assert read_run(hpo.save_path).best()["trial_id"] == best
    store = FileStore(hpo.save_path)

    def rung_counts():
        return {(b, r): store.read_summary("asha", rung_summary_name(b, r)).count
                for b, rungs in enumerate(status["rungs_in_brackets"]) for r in rungs[1:]}

    live = rung_counts()
    assert sum(live.values()) > 0
    store.replace_summaries("asha", {}, status["run_id"])  # the rung records lost: a resume rebuilds them
    assert sum(rung_counts().values()) == 0
    resumed = sleepy_run(tmp_path, resume=True, **kw)
    assert resumed.is_finished() and rung_counts() == live
    assert resumed.get_current_status()["best_config_id"] == best


def test_a_resumed_replanner_looks_when_the_first_session_would_have():
    """It looks every 2 collected trials. Two trials at the plan's cost (a look: nothing to do), then one
    at 5x: the first session does not look again before a fourth. Resumed from its state with the same
    three trials, it must not look either (a look at once re-planned a finished deadline run's epochs down
    and issued one more trial past its end), and it looks after the fourth as the first session would."""
    def session(stored=None):
        settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=30,
                               max_iterations=6, subset_ratio=0.3)
        replanner = Replanner(settings, ALL, MODEL, min_subset=0.05)
        if stored is not None:
            replanner.restore(stored)
        return replanner

    def trial(k: float) -> dict:
        epoch_s = k * MODEL.planned_epoch_seconds(0.3)
        return {"cost_s": 6 * epoch_s, "num_iterations_run": 6, "epoch_s": epoch_s, "subset_ratio": 0.3}

    left = projected_seconds(Plan(30, 6, 0.3), 0, MODEL, None)
    first = session()
    for started, k in enumerate([1.0, 1.0, 5.0], start=1):
        first.count(trial(k))
        assert not first.check(started, left - started * 6 * MODEL.planned_epoch_seconds(0.3))
    resumed = session(first.state())
    for k in [1.0, 1.0, 5.0]:
        resumed.count(trial(k))
    assert not resumed.check(3, left - 3 * 6 * MODEL.planned_epoch_seconds(0.3))
    for replanner in (first, resumed):
        replanner.count(trial(5.0))
        assert replanner.check(4, left - 4 * 6 * MODEL.planned_epoch_seconds(0.3))
    assert first.settings.max_iterations == resumed.settings.max_iterations
