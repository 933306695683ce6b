"""The end-of-run line: trials run of those planned, time used of the time asked, and why a run fell short."""

from __future__ import annotations

import logging
import re
import time

import pytest
from workloads import space

import hpopt
from hpopt.auto_replan import CostModel
from hpopt.run.budget import Budget
from hpopt.run.outcome import outcome
from hpopt.run.replanner import Replanner
from hpopt.run.settings import RunSettings
from hpopt.trial import Status, Trial


def _trial(tid: int, issued: float) -> Trial:
    trial = Trial(trial_id=tid, config={}, iterations=3)
    trial.status = Status.STOP
    trial.extra["issued_at"] = issued
    return trial


def test_a_run_short_of_its_plan_says_how_far_and_why():
    budget = Budget(epoch_budget=None, time_budget_s=100.0, charge_overhead=True)
    budget.seconds_charged = 100.0  # 4 trials used it all; the plan gave 50 trials 2 s each
    line, short = outcome([_trial(t, 1000.0 + t) for t in range(4)], 50, 1, budget, now=1098.0)
    assert short
    assert line == ("the run is over: 4 trials of 50 planned, 98 s of the 100 s asked (98%); a trial cost 12.5x what "
                    "the plan assumed (25s instead of 2s), so the budget ended the run early")


def test_a_short_run_says_its_seconds_in_tenths():
    # whole seconds read "6 s of the 5 s asked (108%)" for 5.7 s of 5.3 s
    budget = Budget(epoch_budget=None, time_budget_s=5.3, charge_overhead=True)
    budget.seconds_charged = 5.0
    line, _ = outcome([_trial(t, 1000.0 + t) for t in range(4)], 4, 1, budget, now=1005.7)
    assert line == "the run is over: 4 trials of 4 planned, 5.7 s of the 5.3 s asked (108%)"


def _replanned_budget() -> Budget:
    """A budget with the plan's model: a 100 s full training of 20 epochs, p = 0.2, so an epoch on 30 % of
    the data is planned at 2.2 s."""
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=50,
                           max_iterations=8, subset_ratio=0.3)
    model = CostModel(full_train_seconds=100.0, num_full_iterations=20, non_pure_train_ratio=0.2)
    budget = Budget(epoch_budget=None, time_budget_s=880.0, charge_overhead=True,
                    replanner=Replanner(settings, {"num_trials"}, model, min_subset=0.05))
    budget.seconds_charged = 880.0
    return budget


@pytest.mark.parametrize("scale, said", [(3.0, "its epochs cost 3.0x"), (1.0, None)])
def test_a_short_run_says_when_its_epochs_cost_more_than_the_measured_full_training_implies(scale, said):
    # 50 trials were planned in 880 s, 10 ran: half of them on the plan's 30 % of the data (an epoch planned
    # at 2.2 s), half on a subset a re-plan cut to 10 % (1.4 s). Epochs at 3x those (a search that moved to
    # dearer configs): the line says the epochs are why; at the plan's cost it does not (the trials overran
    # elsewhere: start-up, suggestions).
    trials = []
    for t in range(10):
        trial = _trial(t, 1000.0 + t)
        subset = 0.3 if t < 5 else 0.1
        trial.extra.update(num_iterations_run=8, subset_ratio=subset, epoch_s=scale * 5.0 * (0.8 * subset + 0.2))
        trials.append(trial)
    line, short = outcome(trials, 50, 1, _replanned_budget(), now=1880.0)
    assert short and "a trial cost 5.0x what the plan assumed" in line
    if said is None:
        assert "its epochs cost" not in line
    else:
        assert said in line and "a larger expected_time_ratio" in line


def test_a_run_that_kept_its_plan_is_told_plainly():
    budget = Budget(epoch_budget=60.0, time_budget_s=None, charge_overhead=True)
    budget.epochs_charged = 57.0
    line, short = outcome([_trial(t, 0.0) for t in range(20)], 20, 2, budget, now=30.0)
    assert not short and line == "the run is over: 20 trials of 20 planned, 30 s since the first trial"


def _train_all(hpo, epoch_s: float = 0.0) -> int:
    """The README's loop: every config trained, one constant score an epoch (``epoch_s`` seconds each) until
    told to stop; returns how many configs were issued."""
    issued = 0
    while (cfg := hpo.get_next_sample()) is not None:
        issued += 1
        for _ in range(cfg["iterations"]):
            time.sleep(epoch_s)
            if hpopt.report(cfg, 0.5) == hpopt.Status.STOP:
                break
    return issued


def test_the_controller_says_it_once_when_the_run_ends(tmp_path, caplog):
    """A real run whose trials cost far more than the plan assumed: a 0.05 s "full training" while each
    trial takes ~0.1 s, so the seconds budget ends it after a few of the planned trials."""
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=2, search_space=space(), save_path=str(tmp_path),
                       search_alg="random", expected_time_ratio=3, full_train_seconds=0.05, seed=0)
    planned = hpo.num_trials
    caplog.set_level(logging.INFO, logger="hpopt")
    ran = _train_all(hpo, epoch_s=0.05)
    assert hpo.is_finished() and hpo.is_finished()
    said = [r for r in caplog.records if r.getMessage().startswith("the run is over")]
    assert len(said) == 1, "said once, however often is_finished() is asked"
    assert ran < 0.7 * planned and said[0].levelno == logging.WARNING
    assert f"{ran} trials of {planned} planned" in said[0].getMessage()
    assert "what the plan assumed" in said[0].getMessage()


@pytest.mark.parametrize("num_trials", [3])
def test_a_run_with_the_trials_it_planned_logs_info(tmp_path, caplog, capsys, num_trials):
    """An info line goes unseen where logging is not set up, so print_results() repeats it once the run is
    over (and not before)."""
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=2, search_space=space(), save_path=str(tmp_path),
                       search_alg="random", num_trials=num_trials, max_iterations=2, subset_ratio=1.0, seed=0)
    caplog.set_level(logging.INFO, logger="hpopt")
    while (cfg := hpo.get_next_sample()) is not None:
        hpo.print_results()
        assert "the run is over" not in capsys.readouterr().out
        for _ in range(2):
            hpopt.report(cfg, 0.5)
    assert hpo.is_finished()
    said = [r for r in caplog.records if r.getMessage().startswith("the run is over")]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    assert said[0].getMessage().startswith(f"the run is over: {num_trials} trials of {num_trials} planned")
    hpo.print_results()
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == said[0].getMessage()


def test_print_results_after_the_loop_ends_with_the_end_of_run_line(tmp_path, capsys):
    """The README's loop: get_next_sample() until None, then print_results(), with no is_finished() between."""
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=2, search_space=space(), save_path=str(tmp_path),
                       search_alg="asha", num_trials=4, seed=0)
    _train_all(hpo)
    hpo.print_results()
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("the run is over: 4 trials of 4 planned")


def _seconds_used(line: str) -> float:
    return float(re.search(r", ([\d.]+) s of the ", line).group(1))


def test_a_run_that_said_it_was_over_stays_over_on_resume_unless_asked_for_more_trials(tmp_path, monkeypatch):
    """The end of a deadline run is journaled: resumed, the run stays over even where the budget's forecast
    would now fit one more trial (a forecast a little different on resume did, about 1 run in 20 on a
    loaded machine). A larger num_trials on resume extends it, as it extends any run (here with room in
    the budget)."""
    def create(**more):
        return hpopt.create(full_dataset_size=1000, num_full_iterations=2, search_space=space(),
                            save_path=str(tmp_path), search_alg="random", expected_time_ratio=3,
                            full_train_seconds=0.05, seed=0, resume=True, **more)

    hpo = create()
    ran = _train_all(hpo, epoch_s=0.05)
    assert hpo.is_finished() and ran < hpo.num_trials  # the seconds budget ended it, short of its plan
    planned = hpo.num_trials
    del hpo
    monkeypatch.setattr(Budget, "allows_new", lambda *args: True)  # the forecast on resume: one more fits
    again = create()
    assert again.get_next_sample() is None and again.is_finished()
    del again
    assert _train_all(create(num_trials=planned + 2)) > 0  # asked for more: the budget decides again


def test_a_finished_deadline_run_resumed_later_issues_nothing_and_does_not_count_the_pause(tmp_path, caplog):
    """A finished run with a deadline in seconds, resumed after a pause, stays finished: its wall clock is
    journaled with every change and with the decision that ended it (from the last checkpoint alone, a
    whole trial list behind, it issued trials past the time asked; from its last collected trial alone, a
    few milliseconds before the end, one more trial fitted about 1 resume in 30), its re-planner looks when
    the first session would have (a look at once re-planned the epochs down and issued one more trial),
    and its end-of-run line leaves out the time between the two sessions. Run several times, since each
    of those slips needed an unlucky timing."""
    def run(path, resume: bool) -> tuple[int, str]:
        hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=2, search_space=space(),
                           save_path=str(path), search_alg="random", expected_time_ratio=3,
                           full_train_seconds=0.5, seed=0, resume=resume)
        caplog.clear()
        issued = _train_all(hpo, epoch_s=0.01)
        assert hpo.is_finished()
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("the run is over")]
        return issued, said[0]

    caplog.set_level(logging.INFO, logger="hpopt")
    for attempt in range(6):
        path = tmp_path / str(attempt)
        issued, first = run(path, False)
        assert issued > 10
        time.sleep(3.0 if attempt == 0 else 0.2)
        again, resumed = run(path, True)
        assert again == 0, (attempt, first, resumed)
        assert _seconds_used(resumed) <= _seconds_used(first) + 1, (first, resumed)
