"""ASHA: rung schedule, stopping decisions, epoch budget, parallel trainers, resume, OOM and the samplers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from workloads import run_loop, space

import hpopt
from hpopt.algorithms import epoch_excess
from hpopt.algorithms.rank_summary import RankSummary
from hpopt.algorithms.stoppers import goes_on, rung_summary_name
from hpopt.auto_config import asha_epochs_curve, asha_expected_epochs, expected_epochs_after
from hpopt.state import FileStore
from hpopt.state.file_summaries import summary_path


def rung_path(save: str, bracket: int, rung: int) -> str:
    return summary_path(save, "asha", rung_summary_name(bracket, rung))


def read_rung(save: str, bracket: int, rung: int) -> RankSummary:
    return FileStore(save).read_summary("asha", rung_summary_name(bracket, rung))


ROOT = Path(__file__).parent.parent


def _asha(save: Path | str, budget: float | None = None, **kw: Any) -> Any:
    """An ASHA run; ``budget`` replaces the planned epoch budget (hand-made curves overrun the plan)."""
    args: dict[str, Any] = dict(full_dataset_size=1000, num_full_iterations=27, search_space=space(),
                                save_path=str(save), search_alg="asha", num_trials=40, max_iterations=27,
                                min_iterations=1, reduction_factor=3, num_brackets=1, subset_ratio=1.0, seed=0)
    args.update(kw)
    hpo = hpopt.create(**args)
    if budget is not None:
        hpo.epoch_budget = budget
    return hpo


# --- schedule ---------------------------------------------------------------------------------------


def test_rungs_in_brackets_and_train_config(tmp_path):
    hpo = _asha(tmp_path, num_full_iterations=100, max_iterations=100, num_brackets=5)
    assert hpo.rungs_in_brackets == [[100, 81, 27, 9, 3, 1], [100, 81, 27, 9, 3], [100, 81, 27, 9],
                                     [100, 81, 27], [100, 81]]
    configs = [hpo.get_next_sample() for _ in range(40)]
    brackets = [c["bracket"] for c in configs]
    # Before any result the bracket chooser trusts the first rung: every trial joins bracket 0 (the most
    # aggressive, what auto config plans); tests/test_bracket_choice.py moves trials by evidence.
    assert brackets == [0] * 40
    assert all(c["rungs"] == hpo.rungs_in_brackets[c["bracket"]] and c["reduction_factor"] == 3 for c in configs)
    assert all(c["iterations"] == 100 and c["early_stop"] == "asha" for c in configs)
    json.dumps(configs)  # plain data for another process
    status = hpo.get_current_status()
    assert status["search_algorithm"] == "asha" and status["reduction_factor"] == 3
    assert status["rungs_in_brackets"] == hpo.rungs_in_brackets
    assert [e["bracket"] for e in status["config_list"]] == brackets


def test_rungs_rf2_min2_max20(tmp_path):
    hpo = _asha(tmp_path, num_full_iterations=20, max_iterations=20, min_iterations=2, reduction_factor=2,
                num_brackets=3)
    assert hpo.rungs_in_brackets == [[20, 16, 8, 4, 2], [20, 16, 8, 4], [20, 16, 8]]


def test_too_many_brackets_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="num_brackets must be <= 3"):
        _asha(tmp_path, num_brackets=4)


# --- decisions --------------------------------------------------------------------------------------


def test_goes_on_rule():
    # Fewer than rf results: nothing to be in the top 1/rf of, so the trial goes on.
    assert goes_on(0, 1, 3) and goes_on(1, 2, 3)
    # 3 results, rf 3: only the best (no result ahead of it) goes on.
    assert goes_on(0, 3, 3) and not goes_on(1, 3, 3)
    # 10 results, rf 2: the top 5.
    assert goes_on(4, 10, 2) and not goes_on(5, 10, 2)


def _report_curve(hpo: Any, scores: list[float]) -> tuple[dict[str, Any], int]:
    """Issue one trial and report ``scores``; returns its config and how many reports it made."""
    cfg = hpo.get_next_sample()
    for i, s in enumerate(scores, 1):
        if hpopt.report(cfg, s) == hpopt.Status.STOP:
            return cfg, i
    return cfg, len(scores)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_stop_decisions_on_hand_made_curves(tmp_path, mode):
    sign = 1.0 if mode == "max" else -1.0
    hpo = _asha(tmp_path, 1e9, mode=mode, num_trials=10, reduction_factor=2, max_iterations=4,
                num_full_iterations=4)
    assert hpo.rungs_in_brackets == [[4, 2, 1]]
    # Rung 1 records, in order: 0.5 (alone: goes on), 0.4 (1 of 2 better: stops), 0.9 (best of 3 -> top 1),
    # 0.6 (1 better of 4 -> top 2: goes on), 0.1 (3 better of 5, top 2: stops).
    runs = [_report_curve(hpo, [sign * v for v in curve]) for curve in
            ([0.5, 0.5, 0.5, 0.5], [0.4, 0.9, 0.9, 0.9], [0.9, 0.95, 0.99, 0.99], [0.6, 0.7, 0.8, 0.8],
             [0.1, 0.2, 0.3, 0.4])]
    assert [n for _, n in runs] == [4, 1, 4, 2, 1]
    # At rung 2 (best so far): 0.5 (alone), 0.95 (best of 2), then 0.7: 2 of 3 better, top 1 -> stops.
    summary1 = read_rung(str(tmp_path), 0, 1)
    assert summary1.count == 5 and summary1.means == sorted(sign * v for v in [0.5, 0.4, 0.9, 0.6, 0.1])
    assert read_rung(str(tmp_path), 0, 2).count == 3
    assert not os.path.exists(rung_path(str(tmp_path), 0, 4))  # max is the end, not a decision
    trials = hpo.get_current_status()["config_list"]
    assert [t.get("early_stopped", 0) for t in trials] == [0, 1, 0, 1, 1]
    assert hpo.get_best_config() == runs[2][0]["params"]


def test_best_so_far_counts_at_a_rung_and_no_valid_score_stops(tmp_path):
    hpo = _asha(tmp_path, 1e9, num_trials=4, reduction_factor=2, max_iterations=4, num_full_iterations=4)
    _report_curve(hpo, [0.5, 0.5, 0.5, 0.5])
    cfg = hpo.get_next_sample()
    assert hpopt.report(cfg, 0.9) == hpopt.Status.RUNNING
    assert hpopt.report(cfg, 0.1) == hpopt.Status.RUNNING  # judged on its best (0.9), not the last score
    cfg = hpo.get_next_sample()
    assert hpopt.report(cfg, float("nan")) == hpopt.Status.STOP  # nothing to rank it by


@pytest.mark.parametrize("mode", ["max", "min"])
def test_tied_results_keep_their_order_so_a_rung_of_ties_still_lets_only_its_top_on(tmp_path, mode):
    """Configs stuck at chance level all score exactly the same. A tie that went on let every one of them
    run to the last epoch; ranked after the earlier results it ties with, a tied trial goes on only while
    the rung's top 1/rf has room, and a better trial still goes on."""
    sign = 1.0 if mode == "max" else -1.0
    hpo = _asha(tmp_path, 1e9, mode=mode, num_trials=6, reduction_factor=2, max_iterations=4, num_full_iterations=4)
    # Rung 1: 0.1 alone (goes on), 0.1 (1 tied ahead of 2, top 1: stops), 0.1 (2 ahead of 3: stops),
    # 0.5 (best of 4: goes on), 0.1 (the 0.5 and the three earlier 0.1s ahead of it, top 2: stops).
    runs = [_report_curve(hpo, [sign * v] * 4) for v in (0.1, 0.1, 0.1, 0.5, 0.1)]
    assert [n for _, n in runs] == [4, 1, 1, 4, 1]
    # Ties among the top keep their order too: 0.5 again goes on at rung 1 (only the first 0.5 ahead of
    # it, top 3 of 6), then stops at rung 2, behind the first 0.5 there (the 0.1 that went on, the first
    # 0.5 and it: top 1 of 3).
    assert _report_curve(hpo, [sign * 0.5] * 4)[1] == 2


def test_grace_with_fewer_than_rf_results(tmp_path):
    hpo = _asha(tmp_path, 1e9, num_trials=3, reduction_factor=3, max_iterations=3, num_full_iterations=3)
    # Rung 1 with rf 3: the first two results go on whatever they are.
    assert [n for _, n in (_report_curve(hpo, [v] * 3) for v in (0.9, 0.1))] == [3, 3]
    _, n = _report_curve(hpo, [0.5] * 3)  # third: 1 of 3 better, top 1 -> stops
    assert n == 1


# --- budget and the loop ----------------------------------------------------------------------------


def test_epoch_budget_ends_the_run_and_is_finished_tells_waiting_apart(tmp_path):
    planned = _asha(tmp_path / "planned", num_trials=None, reduction_factor=3, max_iterations=9, num_full_iterations=9)
    n = planned.num_trials  # charged at the epochs a run of n trials spends (more than the long-run rate), as
    # the forest (the default sampler) runs them
    assert planned.epoch_budget == pytest.approx(asha_epochs_curve(1, 9, 3, 1, n)[n] * epoch_excess("forest", n))
    assert planned.epoch_budget > n * asha_expected_epochs(1, 9, 3, 1)
    planned.close()
    hpo = _asha(tmp_path, num_trials=1000, reduction_factor=3, max_iterations=9, num_full_iterations=9)
    assert hpo.epoch_budget is None, "a num_trials the user sets is run in full: no epoch budget cuts it"
    hpo.epoch_budget = 60.0  # a small budget: trials reaching 9 epochs use it up quickly
    running = [hpo.get_next_sample() for _ in range(3)]
    assert all(running)
    issued = 3
    while (cfg := hpo.get_next_sample()) is not None:
        issued += 1
        for _ in range(9):
            if hpopt.report(cfg, 1.0) == hpopt.Status.STOP:  # ties go on: every trial runs to the end
                break
    assert hpo.get_next_sample() is None and not hpo.is_finished()  # three trials still out there
    for cfg in running:
        for _ in range(9):
            if hpopt.report(cfg, 2.0) == hpopt.Status.STOP:
                break
    assert hpo.is_finished() and hpo.get_progress() == 1.0
    # Issuing stopped on expectations; the 3 trials out at the end may each overrun theirs, by < 9 epochs.
    assert 60 - 9 < hpo.epochs_used <= 60 + 3 * 9
    assert issued < 1000


@pytest.mark.parametrize("seed", range(6))
def test_a_num_trials_the_user_sets_runs_in_full(tmp_path, seed):
    """num_trials=50, max 10, rf 3, one bracket: trials that pass more rungs than the plan's average
    must not end the run early (before, 29-50 trials ran by seed and is_finished() said True)."""
    hpo = _asha(tmp_path, num_trials=50, max_iterations=10, num_full_iterations=10, min_iterations=1,
                reduction_factor=3, subset_ratio=None, seed=seed)
    rng = np.random.default_rng(seed)
    issued = 0
    while (cfg := hpo.get_next_sample()) is not None:
        issued += 1
        for _ in range(cfg["iterations"]):
            if hpopt.report(cfg, float(rng.random())) == hpopt.Status.STOP:
                break
    assert issued == 50 and hpo.is_finished()
    assert len(hpo.get_current_status()["config_list"]) == 50


def test_expected_epochs_after():
    rungs = [1, 3, 9, 27]
    assert expected_epochs_after(rungs, 0, 3) == pytest.approx(asha_expected_epochs(1, 27, 3, 1))
    # Alive after rung 9: runs to 27 for sure.
    assert expected_epochs_after(rungs, 9, 3) == 27
    assert expected_epochs_after(rungs, 5, 3) == pytest.approx(9 * 2 / 3 + 27 / 3)
    assert expected_epochs_after(rungs, 27, 3) == 27


@pytest.mark.parametrize("mode", ["max", "min"])
def test_in_process_loop_finds_the_peak(tmp_path, mode):
    hpo = _asha(tmp_path, mode=mode, num_trials=60)
    if mode == "min":
        from workloads import train as _  # noqa: F401 - same workload, scores negated below
    while (cfg := hpo.get_next_sample()) is not None:
        for epoch in range(cfg["iterations"]):
            x = cfg["params"]["x"]
            score = -((x - 1.0) ** 2) + 0.01 * epoch
            if hpopt.report(cfg, score if mode == "max" else -score) == hpopt.Status.STOP:
                break
    assert hpo.is_finished()
    best = hpo.get_best_config()
    assert abs(best["x"] - 1.0) < 0.6
    status = hpo.get_current_status()
    runs = [t["num_iterations_run"] for t in status["config_list"]]
    assert set(runs) <= {1, 3, 9, 27} and runs.count(27) < len(runs) / 2  # stopped at rungs only


# --- parallel trainers ------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["random", pytest.param("bayes", marks=pytest.mark.slow)])
def test_original_asha_sample_with_8_trainer_processes(tmp_path, sampler):
    """The original's samples/asha.py pattern: 100 trials, rf 3, 5 brackets, min 1, max 100, 8 workers."""
    save, logs = tmp_path / "hpo", tmp_path / "logs"
    logs.mkdir()
    out = subprocess.run(
        [sys.executable, str(ROOT / "samples" / "asha_parallel.py"), "--trials", "100", "--workers", "8",
         "--save-path", str(save), "--log-dir", str(logs), "--sampler", sampler, "--start-method", "fork"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-3000:]
    status = hpopt.load_json(save / "hpopt_status.json")
    rungs = status["rungs_in_brackets"]
    trials = status["config_list"]
    assert trials and all(t["status"] == hpopt.Status.STOP for t in trials)
    assert [t["trial_id"] for t in trials] == list(range(len(trials)))
    for t in trials:
        doc = hpopt.load_json(save / f"hpopt_trial_{t['trial_id']}.json")
        # Every report that returned is on disk, in order, and nothing else is.
        returned = (logs / f"trainer_{t['trial_id']}.log").read_text().splitlines()
        assert [float(line.split(",")[3]) for line in returned] == doc["scores"]
        assert len(doc["scores"]) in rungs[t["bracket"]]  # ended at a rung of its bracket or at max
        assert t["score"] == max(doc["scores"])
    best = max(trials, key=lambda t: (t["num_iterations_run"], t["score"]))  # epochs reached first (ASHA)
    assert status["best_config_id"] == best["trial_id"]
    assert len(trials) == 100  # the num_trials asked for, all of them
    assert "best config:" in out.stdout


# --- resume and OOM ---------------------------------------------------------------------------------


def test_resume_mid_run_rebuilds_rungs_and_reissues_running(tmp_path):
    hpo = _asha(tmp_path, 1e9, num_trials=12, reduction_factor=2, max_iterations=4, num_full_iterations=4)
    finished = [_report_curve(hpo, [v] * 4) for v in (0.2, 0.8, 0.5, 0.9)]
    out = hpo.get_next_sample()
    assert hpopt.report(out, 0.85) == hpopt.Status.RUNNING  # past rung 1 when the controller dies
    rung1 = read_rung(str(tmp_path), 0, 1)
    os.unlink(rung_path(str(tmp_path), 0, 2))  # a record lost in the crash
    del hpo  # no close(): the controller "dies"

    again = _asha(tmp_path, num_trials=12, reduction_factor=2, max_iterations=4, num_full_iterations=4,
                  resume=True)
    assert read_rung(str(tmp_path), 0, 1).means == rung1.means
    assert read_rung(str(tmp_path), 0, 2).count == 3  # rebuilt: trials 0, 1, 3 reached 2
    cfg = again.get_next_sample()
    assert cfg["trial_id"] == out["trial_id"] and cfg["attempt"] == out["attempt"] + 1
    assert cfg["params"] == out["params"]
    hpopt.report(cfg, 0.85)  # rung 1 again: its first attempt is already counted there
    assert read_rung(str(tmp_path), 0, 1).count == 5
    assert again.get_best_config() == finished[3][0]["params"]
    with pytest.raises(ValueError, match="reduction_factor changed"):
        _asha(tmp_path, num_trials=12, reduction_factor=3, max_iterations=4, num_full_iterations=4,
              resume=True)


def test_oom_shrinks_batch_size_and_resamples(tmp_path):
    hpo = _asha(tmp_path, batch_size_name="bs", num_trials=20)
    run_loop(hpo, oom=True)
    assert hpo.is_finished()
    assert hpo.search_space["bs"].upper < 96
    status = hpo.get_current_status()
    assert any(t.get("oom_count") for t in status["config_list"])
    assert all(t["config"]["bs"] < 96 for t in status["config_list"] if t["status"] == hpopt.Status.STOP
               and t.get("score") is not None)


# --- samplers and arguments -------------------------------------------------------------------------


def test_bayes_sampler_fits_the_highest_rung_with_enough_results(tmp_path):
    hpo = _asha(tmp_path, sampler="bayes", num_trials=30, num_init_trials=5)
    need = max(5, len(space()) + 1)
    assert hpo.algorithm.searcher.model_rung() is None
    while (cfg := hpo.get_next_sample()) is not None:
        for epoch in range(cfg["iterations"]):
            if hpopt.report(cfg, -((cfg["params"]["x"] - 1.0) ** 2) + 0.01 * epoch) == hpopt.Status.STOP:
                break
    level = hpo.algorithm.searcher.model_rung()
    assert level is not None and len(hpo.algorithm.searcher.scores.current(level)) >= need
    x, y = hpo.algorithm.searcher.observations()
    assert len(y) >= need and x.shape[0] == len(y)
    keys = [json.dumps(t["config"], sort_keys=True) for t in hpo.get_current_status()["config_list"]]
    assert len(keys) == len(set(keys))  # no config issued twice


def test_bayes_sampler_beats_random_on_a_smooth_function(tmp_path):
    def run(sampler: str, seed: int) -> float:
        hpo = _asha(tmp_path / f"{sampler}{seed}", sampler=sampler, num_trials=40, seed=seed,
                    search_space={"x": hpopt.search_space("uniform", [-5, 5]),
                                  "y": hpopt.search_space("uniform", [-5, 5])})
        hpo.measure_overhead = False  # instant "epochs": the GP's suggestion time would eat the budget
        while (cfg := hpo.get_next_sample()) is not None:
            p = cfg["params"]
            for epoch in range(cfg["iterations"]):
                s = -((p["x"] - 1.0) ** 2) - (p["y"] + 2.0) ** 2 + 0.01 * epoch
                if hpopt.report(cfg, s) == hpopt.Status.STOP:
                    break
        return float(hpo.get_best_score())

    bayes = np.median([run("bayes", s) for s in range(3)])
    rand = np.median([run("random", s) for s in range(3)])
    assert bayes > rand


def test_create_arguments_for_asha(tmp_path):
    with pytest.raises(ValueError, match="early_stop='median_stop' does not apply"):
        _asha(tmp_path, early_stop="median_stop")
    with pytest.raises(ValueError, match="did you mean 'bayes'"):
        _asha(tmp_path, sampler="bayse")
    with pytest.raises(ValueError, match="applies to search_alg='asha' only"):
        hpopt.create(full_dataset_size=100, num_full_iterations=3, search_space=space(), save_path=str(tmp_path),
                     search_alg="random", sampler="bayes")
    hpo = hpopt.create(full_dataset_size=10000, num_full_iterations=20, search_space=space(),
                       save_path=str(tmp_path / "auto"), search_alg="asha", expected_time_ratio=4)
    assert hpo.max_iterations == 20 and hpo.min_iterations == 1 and hpo.num_brackets == 5  # every distinct one
    n = hpo.num_trials
    # the forest (ASHA's default sampler) runs more epochs than the rung simulation's random order counts
    assert hpo.epoch_budget == pytest.approx(asha_epochs_curve(1, 20, 2, 1, n)[n] * epoch_excess("forest", n))
    hpo = hpopt.create(full_dataset_size=10000, num_full_iterations=20, search_space=space(), sampler="random",
                       save_path=str(tmp_path / "random"), search_alg="asha", expected_time_ratio=4)
    n = hpo.num_trials
    assert hpo.epoch_budget == pytest.approx(asha_epochs_curve(1, 20, 2, 1, n)[n])


def test_best_config_is_ranked_by_epochs_reached_first_in_multi_fidelity_runs(tmp_path):
    """A score at epoch 1 must not beat a trial trained to the end (issue: misleading low fidelities),
    in the controller, in hpopt status and in the results' best row; without early stopping, score alone."""
    from hpopt.algorithms.scores import rank_key
    from hpopt.trial import Trial
    from hpopt.views.results import read_run
    from hpopt.views.run_status import run_status

    assert rank_key(0.95, 1, "max", True) < rank_key(0.90, 9, "max", True)
    assert rank_key(0.95, 1, "max", False) > rank_key(0.90, 9, "max", False)
    assert rank_key(0.1, 9, "min", True) > rank_key(0.2, 9, "min", True) > rank_key(0.05, 3, "min", True)

    def ledger_best(search_alg: str, **kw: Any) -> int | None:
        hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=9, search_space=space(), save_path=str(
            tmp_path / search_alg), search_alg=search_alg, num_trials=4, max_iterations=9, subset_ratio=1.0,
            storage="memory", **kw)
        for tid, (score, epochs) in enumerate([(0.95, 1), (0.90, 9), (0.97, 3), (0.80, 9)]):
            trial = Trial(trial_id=tid, config={}, iterations=9)
            trial.score, trial.extra["num_iterations_run"] = score, epochs
            hpo.ledger.trials.append(trial)
            hpo.ledger.count_finished(trial)
        return hpo.ledger.best_id

    assert ledger_best("asha", min_iterations=1, reduction_factor=3) == 1
    assert ledger_best("random", early_stop="median_stop") == 1
    assert ledger_best("random") == 2

    # A real ASHA run: hpopt status and the results agree with the controller.
    hpo = _asha(tmp_path / "run", num_trials=12, max_iterations=9, num_full_iterations=9)
    run_loop(hpo)
    controller_best = hpo.get_current_status()["best_config_id"]
    hpo.close()
    assert run_status(str(tmp_path / "run"))["best"]["trial_id"] == controller_best
    assert read_run(tmp_path / "run").best()["trial_id"] == controller_best


@pytest.mark.parametrize("mode", ["max", "min"])
def test_trials_at_the_same_epochs_are_ranked_by_their_last_score(tmp_path, mode):
    """Two trials trained to the end: the one whose last epoch scores better is the best config, not the
    one with the higher peak (a noisy or oscillating curve's peak does not repeat when the config is
    trained again), in the controller, in hpopt status and in the results' best row. The best score stays
    each trial's score."""
    from hpopt.views.results import read_run
    from hpopt.views.run_status import run_status

    sign = 1.0 if mode == "max" else -1.0
    hpo = _asha(tmp_path, 1e9, mode=mode, num_trials=2, reduction_factor=3, max_iterations=3, num_full_iterations=3)
    peaky, _ = _report_curve(hpo, [sign * v for v in (0.5, 0.99, 0.6)])
    steady, _ = _report_curve(hpo, [sign * v for v in (0.5, 0.7, 0.8)])
    assert hpo.get_best_config() == steady["params"]
    status = hpo.get_current_status()
    assert status["best_config_id"] == steady["trial_id"]
    scores = {t["trial_id"]: t["score"] for t in status["config_list"]}
    assert scores[peaky["trial_id"]] == pytest.approx(sign * 0.99)  # its best score, as always
    hpo.close()
    assert run_status(str(tmp_path))["best"]["trial_id"] == steady["trial_id"]
    assert read_run(tmp_path).best()["trial_id"] == steady["trial_id"]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_trial_trained_past_a_cut_last_epoch_is_ranked_by_its_score_at_the_cut(tmp_path, mode):
    """A re-plan cut the last epoch 6 -> 3 after the first trial: the second, trained to 3, leads at epoch 3.
    The first's score at epoch 6 is what three more epochs bought, not a better config: ranked by it, a
    config trained to 12 epochs before a cut to 6 outranked every later trial (test accuracy 0.786 fully
    trained, against 0.972 for the config that led at epoch 6). In the controller, in hpopt status, in the
    results' best row, and after a resume."""
    from hpopt.views.results import read_run
    from hpopt.views.run_status import run_status

    sign = 1.0 if mode == "max" else -1.0
    kw: dict[str, Any] = dict(mode=mode, num_trials=2, reduction_factor=3, max_iterations=6, num_full_iterations=6)
    hpo = _asha(tmp_path, 1e9, **kw)
    early, n = _report_curve(hpo, [sign * v for v in (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)])
    assert n == 6 and early["iterations"] == 6
    hpo.settings.max_iterations = 3  # as a re-plan's last-epoch cut sets it
    later, n = _report_curve(hpo, [sign * v for v in (0.2, 0.4, 0.6)])
    assert n == 3 and later["iterations"] == 3
    status = hpo.get_current_status()
    assert status["best_config_id"] == later["trial_id"]
    assert hpo.get_best_config() == later["params"]
    entry = status["config_list"][early["trial_id"]]
    assert entry["score_at_cap"] == [3, pytest.approx(sign * 0.3)] and entry["last_score"] == pytest.approx(sign * 0.9)
    hpo.close()
    assert run_status(str(tmp_path))["best"]["trial_id"] == later["trial_id"]
    assert read_run(tmp_path).best()["trial_id"] == later["trial_id"]
    resumed = _asha(tmp_path, 1e9, resume=True, **{**kw, "max_iterations": 3})  # the stored one (the cut)
    assert resumed.get_current_status()["best_config_id"] == later["trial_id"]
    resumed.close()


def test_without_early_stopping_the_best_score_decides(tmp_path):
    from hpopt.trial import Trial

    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=3, search_space=space(), save_path=str(tmp_path),
                       search_alg="random", num_trials=2, max_iterations=3, subset_ratio=1.0, storage="memory")
    for tid, (best, last) in enumerate([(0.99, 0.6), (0.8, 0.8)]):
        trial = Trial(trial_id=tid, config={}, iterations=3)
        trial.score, trial.extra["num_iterations_run"], trial.extra["last_score"] = best, 3, last
        hpo.ledger.trials.append(trial)
        hpo.ledger.count_finished(trial)
    assert hpo.ledger.best_id == 0
