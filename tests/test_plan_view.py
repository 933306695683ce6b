"""The plan against its use (hpopt status, the progress line): trials planned and run, time asked and used."""

from __future__ import annotations

import io

import pytest

from hpopt.adapters.progress import ProgressLine
from hpopt.trial import Status
from hpopt.views.plan_view import format_duration, format_plan, plan_view


def _status(entries, **kw):
    base = {"num_trials": 10, "num_workers": 2, "max_iterations": 5, "subset_ratio": 0.25,
            "settings": {"expected_time_ratio": 3.0, "full_train_seconds": 100.0},
            "time_budget_s": 400.0, "epoch_budget": None, "config_list": entries}
    base.update(kw)
    return base


def _entry(tid, status, issued, cost=None, epochs=0):
    return {"trial_id": tid, "status": int(status), "issued_at": issued, "cost_s": cost, "num_iterations_run": epochs}


def test_a_live_run_with_a_time_budget_reports_use_and_an_eta():
    entries = [_entry(0, Status.STOP, 1000.0, cost=50.0, epochs=5), _entry(1, Status.STOP, 1000.0, cost=30.0, epochs=3),
               _entry(2, Status.RUNNING, 1040.0)]
    docs = [{"scores": [0.1] * 5, "t": [1001, 1050]}, {"scores": [0.1] * 3, "t": [1001, 1030]},
            {"scores": [0.2, 0.3], "t": [1045, 1060]}]
    plan = plan_view(_status(entries), docs)
    assert plan["time_asked_s"] == 200.0  # 400 s of trial time on 2 workers: (3 - 1) x 100 s of wall time
    assert plan["wall_s"] == 60.0 and plan["trial_seconds_used"] == 80.0 and plan["epochs_used"] == 10
    assert plan["budget_used"] == pytest.approx(0.2)
    assert plan["eta_s"] == pytest.approx(60.0 * 0.8 / 0.2)
    line = format_plan(plan)
    assert line.startswith("plan: 2 of 10 trials finished (3 issued); up to 5 epochs on 25% of the data")
    assert "time asked 3m20s ((r - 1) = 2 x the full training), 1m00s used (30%)" in line
    assert line.endswith("about 4m00s left") and "budgeted epochs" not in line


def test_without_a_time_budget_the_epoch_budget_is_the_measure():
    entries = [_entry(0, Status.STOP, 0.0, epochs=4), _entry(1, Status.RUNNING, 5.0)]
    docs = [{"scores": [0.1] * 4, "t": [1, 10]}, {"scores": [0.5], "t": [6, 6]}]
    plan = plan_view(_status(entries, time_budget_s=None, epoch_budget=20.0), docs)
    assert plan["time_asked_s"] is None and plan["budget_used"] == pytest.approx(5 / 20)
    assert plan["eta_s"] == pytest.approx(10.0 * 0.75 / 0.25)
    assert "5 of 20 budgeted epochs" in format_plan(plan) and "time asked" not in format_plan(plan)


def test_a_finished_run_says_so_and_a_fresh_one_has_no_eta():
    done = [_entry(t, Status.STOP, 0.0, cost=10.0, epochs=5) for t in range(10)]
    plan = plan_view(_status(done), [{"scores": [0.1] * 5, "t": [1, 30]}] * 10)
    assert plan["eta_s"] == 0.0 and format_plan(plan).endswith("finished")
    fresh = plan_view(_status([]), [])
    assert fresh["wall_s"] is None and fresh["eta_s"] is None
    assert format_plan(fresh) == ("plan: 0 of 10 trials finished (0 issued); up to 5 epochs on 25% of the data; "
                                  "time asked 3m20s ((r - 1) = 2 x the full training)")


def test_progress_line_shows_the_plan_and_the_time_asked():
    out = io.StringIO()
    line = ProgressLine(True, out)
    line.update(done=3, running=2, failed=1, best=0.9, elapsed=65, left=120, planned=10, asked=600)
    assert out.getvalue() == ("hpopt: 3 of 10 trials done, 2 running, 1 failed | best 0.9 | 1m05s of 10m00s asked, "
                              "~2m00s left\n")
    assert format_duration(3725) == "1h02m"
