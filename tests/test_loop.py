"""The seed's user loop end to end: in one process and with trainers in separate processes."""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import pytest
from workloads import OOM_BATCH, objective, run_loop, space, train

import hpopt


def make(tmp_path, **kw):
    args = dict(full_dataset_size=1000, num_full_iterations=6, search_space=space(), save_path=str(tmp_path / "hpo"),
                search_alg="random", num_trials=12, max_iterations=4, seed=7)
    args.update(kw)
    return hpopt.create(**args)


def test_user_loop_one_process_with_oom(tmp_path):
    hpo = make(tmp_path, batch_size_name="bs")
    run_loop(hpo, oom=True)
    assert hpo.is_finished()
    status = hpo.get_current_status()
    assert status["num_gen_config"] == 12
    assert all(e["status"] == hpopt.Status.STOP for e in status["config_list"])
    # every finished trial ran all its iterations, with a batch size that fits
    for e in status["config_list"]:
        assert e["config"]["bs"] < OOM_BATCH
        doc = hpopt.load_json(hpopt.get_trial_path(hpo.save_path, e["trial_id"]))
        assert len(doc["scores"]) == 4
        assert e["score"] == pytest.approx(max(doc["scores"]))
    # at least one OOM happened and shrank the bound below the size that failed
    assert any(e.get("oom_count") for e in status["config_list"])
    assert hpo.search_space["bs"].upper <= 128 - 8  # shrunk to (failed size - q) at least once
    assert status["original_search_space"]["bs"]["range"] == [8, 128, 8]
    best = hpo.get_best_config()
    expected = max(status["config_list"], key=lambda e: e["score"])["config"]
    assert best == expected
    assert hpopt.get_previous_status(hpo.save_path) == hpopt.Status.COMPLETERESULT
    hpo.print_results()


def test_same_seed_same_configs(tmp_path):
    configs = []
    for name in ("a", "b"):
        hpo = make(tmp_path / name)
        configs.append([hpo.get_next_sample()["params"] for _ in range(5)])
        hpo.close()
    assert configs[0] == configs[1]
    hpo = make(tmp_path / "c", seed=8)
    assert [hpo.get_next_sample()["params"] for _ in range(5)] != configs[0]


def test_min_mode_picks_lowest(tmp_path):
    hpo = make(tmp_path, mode="min", num_trials=6)
    while (cfg := hpo.get_next_sample()) is not None:
        for epoch in range(cfg["iterations"]):
            if hpopt.report(cfg, (cfg["params"]["x"] - 1) ** 2 - 0.01 * epoch) == hpopt.Status.STOP:
                break
    entries = hpo.get_current_status()["config_list"]
    best = min(entries, key=lambda e: e["score"])
    assert hpo.get_best_config() == best["config"]
    assert best["score"] == pytest.approx(min(min(hpopt.load_json(hpopt.get_trial_path(hpo.save_path, e["trial_id"]))
                                                  ["scores"]) for e in entries))


def test_train_config_is_plain_json_with_original_keys(tmp_path):
    hpo = make(tmp_path, image_resize=[32, 24], metric="acc", batch_size_name="bs")
    cfg = hpo.get_next_sample()
    assert json.loads(json.dumps(cfg)) == cfg
    for key in ("params", "iterations", "trial_id", "file_path", "subset_ratio", "mode", "early_stop",
                "batch_size_param_name", "resize_width", "resize_height", "metric"):
        assert key in cfg
    assert (cfg["resize_width"], cfg["resize_height"], cfg["metric"]) == (32, 24, "acc")
    assert cfg["file_path"] == hpopt.get_trial_path(hpo.save_path, 0)
    assert isinstance(cfg["params"]["bs"], int)


def test_nan_score_is_a_failed_result_not_a_best(tmp_path, caplog):
    hpo = make(tmp_path, num_trials=2, max_iterations=2)
    cfg = hpo.get_next_sample()
    assert hpopt.report(cfg, float("nan")) == hpopt.Status.RUNNING
    assert hpopt.report(cfg, float("inf")) == hpopt.Status.STOP
    assert "not finite" in caplog.text
    cfg2 = hpo.get_next_sample()
    hpopt.report(cfg2, -3.0)
    hpopt.report(cfg2, -2.0)
    assert hpo.get_next_sample() is None and hpo.is_finished()
    entries = hpo.get_current_status()["config_list"]
    assert entries[0]["score"] is None and entries[0]["error"]
    assert hpo.get_best_config() == cfg2["params"] and hpo.get_best_score() == -2.0


def test_report_returns_stop_after_iterations_and_finalize(tmp_path):
    hpo = make(tmp_path, num_trials=2, max_iterations=10)
    cfg = hpo.get_next_sample()
    for i in range(6):
        assert hpopt.report(cfg, float(10 - i)) == hpopt.Status.RUNNING
    hpopt.finalize_trial(cfg)  # the trainer ended early by itself
    doc = hpopt.load_json(cfg["file_path"])
    assert doc["status"] == hpopt.Status.STOP and doc["early_stopped"] == 1
    assert hpopt.report(cfg, 100.0) == hpopt.Status.STOP  # nothing more is recorded
    assert hpopt.get_current_status(hpo.save_path, 0) == hpopt.Status.STOP
    assert hpopt.get_best_score(hpo.save_path, 0, "max") == 10.0
    hpo.get_next_sample()
    assert hpo.get_current_status()["config_list"][0]["score"] == 10.0


def test_get_next_samples_and_progress(tmp_path):
    hpo = make(tmp_path, num_trials=5, num_workers=3)
    batch = hpo.get_next_samples()
    assert [c["trial_id"] for c in batch] == [0, 1, 2]
    assert 0 <= hpo.get_progress() < 0.5
    for cfg in batch:
        train(cfg)
    rest = hpo.get_next_samples()
    assert [c["trial_id"] for c in rest] == [3, 4]
    assert hpo.get_next_samples() == [] and not hpo.is_finished()
    for cfg in rest:
        train(cfg)
    assert hpo.is_finished() and hpo.get_progress() == 1.0


def _trainer_process(cfg):
    train(cfg)


def test_trainers_in_separate_processes(tmp_path):
    """The original samples/asha.py pattern: a controller keeps N trainer processes busy."""
    hpo = make(tmp_path, num_trials=10, num_workers=3)
    ctx = mp.get_context("spawn")
    procs: list = []
    while not hpo.is_finished():
        procs = [p for p in procs if p.is_alive() or p.join() or False]
        if len(procs) < 3 and (cfg := hpo.get_next_sample()) is not None:
            p = ctx.Process(target=_trainer_process, args=(cfg,))
            p.start()
            procs.append(p)
        elif procs:
            procs[0].join(timeout=0.05)
    entries = hpo.get_current_status()["config_list"]
    assert len(entries) == 10 and all(e["status"] == hpopt.Status.STOP for e in entries)
    for e in entries:
        assert e["score"] == pytest.approx(objective(e["config"], 3))
    assert hpo.get_best_config() == max(entries, key=lambda e: e["score"])["config"]


def test_reports_from_an_older_attempt_are_ignored(tmp_path):
    hpo = make(tmp_path, num_trials=1, max_iterations=3, batch_size_name="bs")
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 1.0)
    hpopt.reportOOM(cfg)
    new = hpo.get_next_sample()
    assert new["trial_id"] == cfg["trial_id"] and new["attempt"] == cfg["attempt"] + 1
    assert hpopt.report(cfg, 5.0) == hpopt.Status.STOP  # the old trainer is told to stop; nothing recorded
    doc = hpopt.load_json(new["file_path"])
    assert doc["scores"] == [] and doc["previous_attempts"][0]["scores"] == [1.0]


def test_state_files_are_private(tmp_path):
    hpo = make(tmp_path)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 1.0)
    assert os.stat(hpo.save_path).st_mode & 0o777 == 0o700
    for name in ("hpopt_status.json", "hpopt_trial_0.json"):
        assert os.stat(os.path.join(hpo.save_path, name)).st_mode & 0o777 == 0o600


def test_save_path_with_spaces_and_non_ascii(tmp_path):
    hpo = make(tmp_path / "my runs" / "étude ü", num_trials=3)
    run_loop(hpo)
    assert hpo.is_finished() and hpo.get_best_config() is not None


def test_retry_trial_reissues_same_params_as_a_new_attempt(tmp_path):
    hpo = make(tmp_path, num_trials=2)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.5)  # then its trainer "crashes"
    assert hpo.running_trials() == [cfg["trial_id"]]
    hpo.retry_trial(cfg["trial_id"])
    again = hpo.get_next_sample()
    assert (again["trial_id"], again["params"], again["attempt"]) == (cfg["trial_id"], cfg["params"], 1)
    assert hpopt.report(cfg, 0.9) == hpopt.Status.STOP  # the crashed attempt's config is stale
    doc = hpopt.load_json(again["file_path"])
    assert doc["scores"] == [] and doc["previous_attempts"][0]["scores"] == [0.5]
    for _ in range(4):
        hpopt.report(again, 0.7)
    assert hpo.get_best_score() == 0.7
    assert hpo.get_current_status()["config_list"][0]["retries"] == 1


def test_fail_trial_ends_it_without_a_score_and_tells_its_trainer(tmp_path):
    hpo = make(tmp_path, num_trials=2)
    bad, good = hpo.get_next_sample(), hpo.get_next_sample()
    hpopt.report(bad, 99.0)  # a great score, then the trainer crashes for good
    hpo.fail_trial(bad["trial_id"], "exit code 1 after 3 retries")
    assert hpopt.report(bad, 100.0) == hpopt.Status.STOP
    for _ in range(4):
        hpopt.report(good, 0.1)
    assert hpo.is_finished()
    entry = hpo.get_current_status()["config_list"][bad["trial_id"]]
    assert entry["score"] is None and entry["error"] == "exit code 1 after 3 retries"
    assert hpo.get_best_config() == good["params"]  # a failed trial is never the best
    assert hpopt.load_json(bad["file_path"])["scores"] == [99.0]
    with pytest.raises(ValueError, match="no trial 7"):
        hpo.retry_trial(7)
    hpo.fail_trial(good["trial_id"], "late")  # finished before the call: nothing to do
    assert hpo.get_best_score() == 0.1
