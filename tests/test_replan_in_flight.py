"""Re-planning from the trials in flight: with parallel workers the first look comes once every running trial
reported twice, and a re-plan that lowers the fidelity lowers the last epoch of the trials still running."""

from __future__ import annotations

import time

import pytest

import hpopt
from hpopt.auto_replan import CostModel, Plan, projected_seconds
from hpopt.run.replanner import InFlight, Replanner
from hpopt.run.settings import RunSettings
from hpopt.state.trial_record import TrialRecord, new_attempt
from hpopt.trial import Status

MODEL = CostModel(full_train_seconds=100.0, num_full_iterations=20, non_pure_train_ratio=0.2)
ALL = frozenset({"num_trials", "max_iterations", "subset_ratio"})


def replanner(workers: int, owned=ALL) -> Replanner:
    settings = RunSettings(search_space={}, full_dataset_size=10_000, num_full_iterations=20, num_trials=20,
                           max_iterations=8, subset_ratio=0.3, num_workers=workers)
    return Replanner(settings, owned, MODEL, min_subset=0.05)


def flying(k: float, done: int = 2, trials: int = 2, timed: bool = True) -> list[InFlight]:
    """``trials`` trials in flight at ``k`` times the plan's epoch cost, ``done`` epochs each."""
    epoch_s = k * MODEL.planned_epoch_seconds(0.3) if timed else None
    return [InFlight(tid, done, 8, 0.3, epoch_s) for tid in range(trials)]


def time_left(k: float, in_flight: list[InFlight]) -> float:
    """The plan's budget less what the trials in flight spent and will still spend at ``k`` x the plan."""
    budget = projected_seconds(Plan(20, 8, 0.3), 0, MODEL, None)
    return budget - sum(f.iterations * k * MODEL.planned_epoch_seconds(0.3) for f in in_flight)


def test_parallel_workers_look_once_their_trials_in_flight_reported_twice():
    r = replanner(workers=2)
    assert not r.check(2, time_left(2.5, flying(2.5)), flying(2.5, timed=False))  # their epoch time is unknown
    assert not r.check(2, time_left(2.5, flying(2.5)), flying(2.5)[:1] + flying(2.5, timed=False)[1:])
    assert r.check(2, time_left(2.5, flying(2.5)), flying(2.5))
    new = r.settings
    assert new.num_trials * new.max_iterations * new.subset_ratio < 20 * 8 * 0.3  # less fidelity, fewer trials
    reason = r.replans[0]["reason"]
    assert reason.startswith("from the first epochs of the 2 trials in flight, an epoch costs 2.50x the plan's")
    # the trials in flight get the new plan's fidelity: its epochs x subset over theirs, at least half theirs
    top = max(4, int(new.max_iterations * new.subset_ratio / 0.3 + 1e-9))
    assert top < 8
    assert r.take_cuts() == {0: top, 1: top} and r.take_cuts() == {}  # given once
    assert r.replans[0]["in_flight_cut"] == {"0": top, "1": top} and f"last epoch {top} for trial 0" in reason
    # once only: the next look waits for two collected trials, as before
    assert not r.check(2, time_left(2.5, flying(2.5)) * 0.5, flying(2.5, done=3))


def test_a_trial_collected_at_its_first_rung_and_one_in_flight_make_the_first_look():
    """ASHA stops most trials at their first rung: one collected after an epoch and one in flight that reported
    twice are the two measured trials the look waits for. The trial just issued in its place (no report yet)
    is in flight too, so it is cut with the other."""
    r = replanner(workers=2)
    epoch_s = 2.5 * MODEL.planned_epoch_seconds(0.3)
    r.count({"cost_s": epoch_s, "num_iterations_run": 1, "epoch_s": None, "subset_ratio": 0.3})
    in_flight = [InFlight(0, 3, 8, 0.3, epoch_s), InFlight(2, 0, 8, 0.3, None)]
    assert r.check(3, time_left(2.5, in_flight), in_flight)
    assert r.replans[0]["reason"].startswith("from the first epochs of the 1 trial in flight and the 1 collected")
    assert set(r.take_cuts()) == {0, 2}


def test_one_worker_still_looks_after_two_collected_trials():
    r = replanner(workers=1)
    assert not r.check(1, time_left(2.5, flying(2.5, trials=1)), flying(2.5, trials=1))
    assert not r.replans


def test_trials_in_flight_at_the_plans_cost_are_left_alone():
    r = replanner(workers=2)
    assert not r.check(2, time_left(1.0, flying(1.0)), flying(1.0))
    assert r.take_cuts() == {} and not r.replans


def test_a_trial_in_flight_is_never_cut_below_what_it_ran_nor_below_half_its_epochs():
    r = replanner(workers=2)
    ran_six = [InFlight(0, 6, 8, 0.3, 4 * MODEL.planned_epoch_seconds(0.3)),
               InFlight(1, 2, 8, 0.3, 4 * MODEL.planned_epoch_seconds(0.3))]
    assert r.check(2, time_left(4.0, ran_six), ran_six)
    assert r.take_cuts() == {0: 6, 1: 4}  # trial 0 stops where it is; trial 1 keeps half its 8 epochs


def test_user_set_fidelity_is_never_cut_in_flight():
    r = replanner(workers=2, owned=frozenset({"num_trials"}))
    assert r.check(2, time_left(2.5, flying(2.5)), flying(2.5))  # fewer trials...
    assert r.take_cuts() == {} and (r.settings.max_iterations, r.settings.subset_ratio) == (8, 0.3)  # ...only


def test_a_cut_record_stops_its_trainer_there_and_replays_from_its_log():
    doc = new_attempt(3, 0, "run", {"x": 1}, 10, None)
    record = TrialRecord(doc)
    record.add_score(0.5, 1.0)
    record.add_score(0.6, 2.0)
    record.cut(4)
    record.cut(6)  # a cut never raises the last epoch
    assert doc["iterations"] == 4 and record.status == Status.RUNNING
    lines = record.take_changes()
    assert lines[-1] == {"a": 0, "n": 2, "s": 0.6, "t": 2.0, "it": 4}
    replayed = TrialRecord(new_attempt(3, 0, "run", {"x": 1}, 10, None))
    for line in lines:
        replayed.apply(line)
    assert replayed.doc["iterations"] == 4 and replayed.scores == [0.5, 0.6]
    record.cut(2)  # at or below what it ran: it stops now
    assert record.status == Status.STOP and doc["iterations"] == 2
    with pytest.raises(ValueError):
        replayed.apply({"a": 0, "n": 2, "it": "4"})


FULL_S = 4.0


def test_a_parallel_run_cuts_its_trials_in_flight_and_a_resume_keeps_the_cut(tmp_path):
    """Two trials given out at once (two workers), their first epochs 3x the plan's: looking at them (any call
    that collects, here running_trials()) re-plans and lowers their last epoch; report() then stops each there,
    although its config still says the plan's; the cut is in the trial file and the journal, so a resume
    keeps it."""
    kw = dict(full_dataset_size=10_000, num_full_iterations=20, save_path=str(tmp_path / "hpo"),
              search_space={"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])},
              search_alg="random", expected_time_ratio=2.5, full_train_seconds=FULL_S, non_pure_train_ratio=0.2,
              num_workers=2, seed=3)
    hpo = hpopt.create(**kw)
    configs = hpo.get_next_samples()
    assert len(configs) == 2 and configs[0]["iterations"] == hpo.max_iterations
    planned_epoch = FULL_S / 20 * (0.8 * configs[0]["subset_ratio"] + 0.2)
    for _ in range(2):
        for cfg in configs:
            assert hpopt.report(cfg, 0.1) == hpopt.Status.RUNNING
        time.sleep(3 * planned_epoch)
    assert hpo.running_trials() == [0, 1]
    status = hpo.get_current_status()
    assert len(status["replans"]) == 1, status.get("replans")
    cut = status["replans"][0]["in_flight_cut"]
    top = cut["0"]
    assert cut == {"0": top, "1": top} and 2 <= top < configs[0]["iterations"]
    assert [e["iterations"] for e in status["config_list"]] == [top, top]
    for epoch in range(2, top):  # trial 0 runs on: report() stops it at the cut, its config says the plan's
        assert hpopt.report(configs[0], 0.2) == (hpopt.Status.STOP if epoch == top - 1 else hpopt.Status.RUNNING)
    assert hpo.running_trials() == [1]
    assert hpo.get_current_status()["config_list"][0]["num_iterations_run"] == top
    hpo.close()
    resumed = hpopt.create(**kw, resume=True)  # trial 1 was in flight: it runs again, to the cut
    again = resumed.get_next_sample()
    assert (again["trial_id"], again["iterations"], again["attempt"]) == (1, top, 1)
    assert len(resumed.get_current_status()["replans"]) == 1  # no second look at the same trials
