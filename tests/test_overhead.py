"""Measured per-trial overhead: the ledger's arithmetic, and the epoch budget charging it end to end."""

from __future__ import annotations

import time

import pytest

import hpopt
from hpopt.run.overhead import OverheadLedger


def test_ledger_splits_start_up_from_epochs():
    ledger = OverheadLedger()
    # issued at 100, first report at 103 after a 1 s epoch, 4 reports one second apart: 2 s start-up.
    doc = {"scores": [0.1, 0.2, 0.3, 0.4], "t": [103.0, 106.0]}
    cost = ledger.measure(doc, {"issued_at": 100.0, "suggest_s": 0.5})
    assert cost.overhead_epochs == pytest.approx(2.5) and cost.epoch_seconds == pytest.approx(1.0)
    assert cost.seconds == pytest.approx(2.5 + 4)  # suggestion and start-up, then four epochs
    assert ledger.forecast() == pytest.approx(2.5)
    # One report, 6 s after it was issued: it is charged in the epochs seen (1 s) with the low quantile of
    # start-ups (2 s), but its own epoch is its span less the typical start-up: 4 s, a dearer config.
    cost = ledger.measure({"scores": [0.3], "t": [206.0, 206.0]}, {"issued_at": 200.0})
    assert cost.overhead_epochs == pytest.approx(2.0) and cost.epoch_seconds == pytest.approx(4.0)
    assert cost.seconds == pytest.approx(6.0)
    assert ledger.forecast_seconds(3) == pytest.approx((2.5 + 2.0) / 2 + 3 * 1.0)  # median overhead + 3 epochs
    # Clock noise cannot make a one-report epoch vanish or explode: it stays within [0.1, 8] x the median.
    assert ledger.measure({"scores": [0.3], "t": [301.0, 301.0]}, {"issued_at": 300.0}).epoch_seconds == 0.1
    assert ledger.measure({"scores": [0.3], "t": [450.0, 450.0]}, {"issued_at": 400.0}).epoch_seconds == 8.0


def test_one_report_trials_tell_their_own_epoch_cost():
    """Under ASHA most trials stop after one epoch: their costs must show a drift, not echo the median."""
    ledger = OverheadLedger()
    ledger.measure({"scores": [0.0] * 3, "t": [1.5, 3.5]}, {"issued_at": 0.0})  # 0.5 s start-up, 1 s epochs
    spans = [1.5, 3.5, 2.5, 4.5]  # one-report trials whose epochs cost 1, 3, 2 and 4 s
    own = [ledger.measure({"scores": [0.0], "t": [10.0 + s, 10.0 + s]}, {"issued_at": 10.0}).epoch_seconds
           for s in spans]
    assert own == pytest.approx([1.0, 3.0, 2.0, 4.0])


def test_a_resumed_ledger_forecasts_as_the_live_one_did():
    """On resume the ledger is rebuilt from the stored costs; a one-report trial's own epoch (4 s here, a
    dear config) must not become one of the recent epochs there either."""
    live, docs = OverheadLedger(), [({"scores": [0.0] * 3, "t": [1.5, 3.5]}, {"issued_at": 0.0, "suggest_s": 0.2}),
                                    ({"scores": [0.0], "t": [14.5, 14.5]}, {"issued_at": 10.0})]
    costs = [(live.measure(doc, extra), len(doc["scores"])) for doc, extra in docs]
    resumed = OverheadLedger()
    for cost, n in costs:
        resumed.add(cost.overhead_epochs, cost.epoch_seconds, cost.seconds, n)
    assert costs[1][0].epoch_seconds == pytest.approx(4.0)
    assert resumed.forecast() == pytest.approx(live.forecast())
    assert resumed.forecast_seconds(3) == pytest.approx(live.forecast_seconds(3))  # median epoch 1 s, not 2.5


def test_waiting_before_training_is_not_charged_as_overhead():
    """Configs fetched together and trained one after another wait; the low quantile ignores the wait."""
    ledger = OverheadLedger()
    charged = []
    for k in range(10):
        wait = 10.0 * (k % 4)  # a batch of 4 trained in turn: waits 0, 10, 20, 30 s
        doc = {"scores": [0.0] * 5, "t": [wait + 1.0, wait + 5.0]}
        charged.append(ledger.measure(doc, {"issued_at": 0.0}).overhead_epochs)
    assert max(charged) < 1.0  # never the 10-30 s of waiting


def test_missing_stamps_give_no_measure():
    ledger = OverheadLedger()
    assert ledger.forecast_seconds(5) is None  # nothing measured: no forecast
    assert ledger.measure({"scores": [1.0]}, {"issued_at": 1.0}) is None
    # One report and no other trial: the whole span is charged, the split into start-up and epoch unknown.
    assert ledger.measure({"scores": [1.0], "t": [2.0, 2.0]}, {"issued_at": 1.0}) == (0.0, None, 1.0)
    assert ledger.measure({"scores": [1.0, 2.0], "t": [2.0, 3.0]}, {}) is None
    assert ledger.forecast() == 0.0
    assert ledger.forecast_seconds(5) == pytest.approx(5 * 1.0)  # one-report trials: their cost per epoch


def test_report_stamps_first_and_latest_report(tmp_path):
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=3, num_trials=1, max_iterations=3,
                       subset_ratio=1.0, search_space={"x": hpopt.search_space("uniform", [0, 1])},
                       save_path=str(tmp_path), search_alg="random")
    cfg = hpo.get_next_sample()
    before = time.time()
    for _ in range(3):
        hpopt.report(cfg, 0.5)
    doc = hpopt.load_json(cfg["file_path"])
    first, last = doc["t"]
    assert before - 0.01 <= first <= last <= time.time() + 0.01


def _slow_start_run(save_path, startup_s: float, epoch_s: float, **kw) -> tuple:
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=4, max_iterations=2, subset_ratio=1.0,
                       search_space={"x": hpopt.search_space("uniform", [0, 1])}, save_path=str(save_path),
                       search_alg="random", expected_time_ratio=3, seed=0, **kw)
    planned = hpo.num_trials
    while (cfg := hpo.get_next_sample()) is not None:
        time.sleep(startup_s)  # building the model, loading data: time before the first epoch
        for _ in range(cfg["iterations"]):
            time.sleep(epoch_s)
            if hpopt.report(cfg, cfg["params"]["x"]) == hpopt.Status.STOP:
                break
    return hpo, planned


def test_auto_filled_trials_shrink_when_start_up_costs_more_than_the_epochs(tmp_path):
    hpo, planned = _slow_start_run(tmp_path / "a", startup_s=0.06, epoch_s=0.02)
    trials = hpo.get_current_status()["config_list"]
    assert planned == 4  # B = 2 full trainings of 4 epochs; a trial runs 2 epochs
    # Each trial really costs 2 epochs + ~3 epochs of start-up: the budget of 8 epochs fits 2, not 4.
    assert 1 <= len(trials) < planned
    assert all(t.get("overhead_epochs", 0) > 1.5 for t in trials[1:])
    assert hpo.is_finished() and hpo.epochs_used <= hpo.epoch_budget + 5


def test_user_set_num_trials_is_kept_whatever_the_overhead(tmp_path):
    hpo, planned = _slow_start_run(tmp_path / "b", startup_s=0.03, epoch_s=0.01, num_trials=4)
    assert hpo.epoch_budget is None and len(hpo.get_current_status()["config_list"]) == planned == 4


def test_full_train_seconds_ends_the_run_on_time(tmp_path):
    """Told a full training takes 0.4 s and r = 2, trials of ~0.1 s stop being issued at ~0.4 s of trials."""
    hpo, planned = _slow_start_run(tmp_path / "c", startup_s=0.02, epoch_s=0.04, num_trials=50,
                                   full_train_seconds=0.4)
    trials = hpo.get_current_status()["config_list"]
    assert hpo.time_budget_s == pytest.approx((3 - 1) * 0.4)
    spent = sum(t["cost_s"] for t in trials if "cost_s" in t)
    assert len(trials) < planned == 50
    assert 0.8 * 0.5 < spent <= 0.8 * 1.2  # within one trial of the budget
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="full_train_seconds must be > 0"):
            _slow_start_run(tmp_path / "d", 0, 0, full_train_seconds=bad)
