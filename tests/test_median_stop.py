"""Median stop: hand-computed stops in both modes, the minimum of others, failed scores, re-issued trials,
the bounded per-step summary and concurrent reporters, all through real files and ``hpopt.report()``."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hpopt
import hpopt.algorithms.rank_summary as rs
from hpopt.algorithms.rank_summary import RankSummary
from hpopt.algorithms.stoppers import MIN_OTHERS, MedianStopper, Progress, should_stop
from hpopt.errors import StateFileError
from hpopt.state import FileStore
from hpopt.state.file_summaries import summary_path
from hpopt.state.files import atomic_write_json, ensure_dir

STOPPER = MedianStopper()


def step_path(save: str, k: int) -> str:
    return summary_path(save, "median_stop", f"step_{k}")


def step_median(save: str, k: int) -> float | None:
    return FileStore(save).read_summary("median_stop", f"step_{k}").median()


def judge_at(save: str, config: dict[str, Any], scores: list[float], longest_previous: int = 0) -> bool:
    """What report() does at the k-th score: the pure rule on the step's summary, kept by the file store."""
    k = len(scores)
    name = STOPPER.summary_at(config, k)
    if name is None:
        return False
    mode = config["mode"]
    best = max(scores) if mode == "max" else min(scores)
    progress = Progress(k, best, sum(scores) / k, longest_previous >= k)
    return FileStore(save).judge_summary("median_stop", name, config["run_id"],
                                         lambda summary: STOPPER.judge(config, progress, summary))


def _run(tmp_path: Path, n: int, mode: str = "max", **kw: Any) -> tuple[Any, str, list[dict[str, Any]]]:
    """A random-search run with ``n`` trials given out at once, each train_config set to median stop."""
    save = str(tmp_path / "hpo")
    space = kw.pop("search_space", {"x": hpopt.search_space("uniform", [0, 1])})
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=10, search_space=space, save_path=save,
                       search_alg="random", num_trials=n, max_iterations=10, mode=mode, seed=0, **kw)
    cfgs = []
    for _ in range(n):
        cfg = hpo.get_next_sample()
        assert cfg is not None
        cfg["early_stop"] = "median_stop"
        cfgs.append(cfg)
    return hpo, save, cfgs


def _stop_step(cfg: dict[str, Any], scores: list[float]) -> int | None:
    """Report ``scores`` in turn; the step at which report() said STOP, or None (iterations is 10)."""
    for k, score in enumerate(scores, 1):
        if hpopt.report(cfg, score) == hpopt.Status.STOP:
            return k
    return None


def _step_values(save: str, k: int) -> list[float]:
    doc = hpopt.load_json(step_path(save, k))
    assert all(c == 1 for c in doc["counts"])  # still exact
    return doc["means"]


def _early_stopped(cfg: dict[str, Any]) -> int:
    return int(hpopt.load_json(cfg["file_path"]).get("early_stopped", 0))


def test_should_stop() -> None:
    assert should_stop(1.0, 2.0, "max") and not should_stop(3.0, 2.0, "max")
    assert should_stop(3.0, 2.0, "min") and not should_stop(1.0, 2.0, "min")
    assert not should_stop(2.0, 2.0, "max") and not should_stop(2.0, 2.0, "min")  # a tie never stops
    assert not should_stop(-1e9, None, "max") and not should_stop(1e9, None, "min")
    with pytest.raises(ValueError, match="mode"):
        should_stop(1.0, 2.0, "maximize")


def test_max_mode_hand_made_curves(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 6, "max")
    with hpo:
        # Running means: T0 5 5.5 6 6.5 | T1 4 4.5 5 5.5 | T2 6 6.5 7 7.5 (T0..T2 have < 3 others: never judged)
        assert _stop_step(cfgs[0], [5, 6, 7, 8]) is None
        assert _stop_step(cfgs[1], [4, 5, 6, 7]) is None
        assert _stop_step(cfgs[2], [6, 7, 8, 9]) is None
        # T3 best 5,6,6,6 against medians 5, 5.5, 6, 6.5: ties at steps 1 and 3 go on, step 4 stops.
        assert _stop_step(cfgs[3], [5, 6, 5, 5]) == 4
        # T4: its mean falls to 3 but its best (9) stays above every median: never stopped.
        assert _stop_step(cfgs[4], [9, 1, 1, 1]) is None
        # T5 at step 1: others 5 4 6 5 9, median 5 > 3.
        assert _stop_step(cfgs[5], [3, 9, 9, 9]) == 1
        assert [_early_stopped(c) for c in cfgs] == [0, 0, 0, 1, 0, 1]
        # The stopping trial's own mean was added after the decision.
        assert sorted(_step_values(save, 1)) == [3, 4, 5, 5, 6, 9]
        assert sorted(_step_values(save, 4)) == [3, 5.25, 5.5, 6.5, 7.5]
        assert step_median(save, 1) == 5.0
        assert step_median(save, 2) == 5.5  # 4.5 5 5.5 5.5 6.5
        assert step_median(save, 4) == 5.5
        assert step_median(save, 5) is None


def test_min_mode_hand_made_curves(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 6, "min")
    with hpo:
        # Running means: T0 4 3.5 3 2.5 | T1 5 4.5 4 3.5 | T2 3 2.5 2 1.5
        assert _stop_step(cfgs[0], [4, 3, 2, 1]) is None
        assert _stop_step(cfgs[1], [5, 4, 3, 2]) is None
        assert _stop_step(cfgs[2], [3, 2, 1, 0]) is None
        # T3 best 3.5 against medians 4, 3.5 (tie), 3: stops at step 3.
        assert _stop_step(cfgs[3], [3.5, 3.5, 3.5, 2.6]) == 3
        # T4: best 1 beats medians 3.75, 3.5, 3.25, 2.5 although its mean climbs to 7.
        assert _stop_step(cfgs[4], [1, 9, 9, 9]) is None
        # T5 at step 1: others 4 5 3 3.5 1, median 3.5 < 4.
        assert _stop_step(cfgs[5], [4, 3.9, 3.8, 3.7]) == 1
        assert [_early_stopped(c) for c in cfgs] == [0, 0, 0, 1, 0, 1]
        assert sorted(_step_values(save, 3)) == [2, 3, 3.5, 4, 19 / 3]
        assert sorted(_step_values(save, 4)) == [1.5, 2.5, 3.5, 7]


def test_fewer_than_minimum_others_never_stops(tmp_path: Path) -> None:
    assert MIN_OTHERS == 3
    hpo, _, cfgs = _run(tmp_path, 4, "max")
    with hpo:
        assert _stop_step(cfgs[0], [10, 10, 10]) is None
        assert _stop_step(cfgs[1], [10, 10, 10]) is None
        assert _stop_step(cfgs[2], [0, 0, 0]) is None  # far worse, but only 2 others
        assert _stop_step(cfgs[3], [0, 0, 0]) == 1  # the same curve with 3 others: median 10


def test_failed_scores_are_skipped(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 6, "max")
    with hpo:
        assert _stop_step(cfgs[0], [5, 5, 5]) is None
        assert _stop_step(cfgs[1], [5, 5, 5]) is None
        assert _stop_step(cfgs[2], [math.nan, 5, 5]) is None  # adds nothing at step 1
        # Step 1 holds only T0 and T1 (2 others): no stop; step 2 holds three 5s: stop.
        assert _stop_step(cfgs[3], [1, 1, 1]) == 2
        # A failed score in the middle: best stays 6 and the step-2 mean skips it (6, not None).
        assert _stop_step(cfgs[4], [6, math.inf, 6]) is None
        # No valid score at all: never judged, never added.
        assert _stop_step(cfgs[5], [math.nan, math.nan, math.nan]) is None
        assert sorted(_step_values(save, 1)) == [1, 5, 5, 6]
        assert sorted(_step_values(save, 2)) == [1, 5, 5, 5, 6]
        assert sorted(_step_values(save, 3)) == [5, 5, 5, 6]


def test_reissued_trial_after_oom_is_not_double_counted(tmp_path: Path) -> None:
    space = {"x": hpopt.search_space("uniform", [0, 1]), "bs": hpopt.search_space("quniform", [8, 128, 8])}
    hpo, save, cfgs = _run(tmp_path, 4, "max", search_space=space, batch_size_name="bs")
    with hpo:
        oom = max(cfgs, key=lambda c: c["params"]["bs"])  # the largest batch size can shrink
        assert oom["params"]["bs"] > 8
        others = [c for c in cfgs if c is not oom]
        for cfg in others:
            assert _stop_step(cfg, [5, 5, 5]) is None
        assert _stop_step(oom, [5, 5]) is None
        hpopt.reportOOM(oom)
        again = hpo.get_next_sample()
        assert again is not None and again["trial_id"] == oom["trial_id"] and again["attempt"] == 1
        again["early_stop"] = "median_stop"
        previous = hpopt.load_json(again["file_path"])["previous_attempts"]
        assert [a["scores"] for a in previous] == [[5, 5]]
        assert _stop_step(again, [5, 5, 5]) is None
        # Steps 1-2 already hold the first attempt's means; only step 3 is new for this trial.
        assert [len(_step_values(save, k)) for k in (1, 2, 3)] == [4, 4, 4]


def test_reissued_attempt_pure_rule(tmp_path: Path) -> None:
    save = str(tmp_path / "hpo")
    ensure_dir(save)
    config = {"file_path": os.path.join(save, "hpopt_trial_0.json"), "mode": "max", "trial_id": 0,
              "early_stop": "median_stop", "run_id": "r1"}
    # Earlier attempts reached steps 2 and 3: only steps 4 and 5 are new for this trial.
    for k in range(1, 6):
        scores = [float(s) for s in range(1, k + 1)]
        assert judge_at(save, config, scores, longest_previous=3) is False
    assert [os.path.exists(step_path(save, k)) for k in range(1, 6)] == [False, False, False, True, True]
    # early_stop None: never judged and nothing written.
    assert judge_at(save, {**config, "early_stop": None}, [0.0]) is False
    assert not os.path.exists(step_path(save, 1))


def test_bounded_summary_2000_values(tmp_path: Path) -> None:
    save = str(tmp_path / "hpo")
    ensure_dir(save)
    values = np.random.default_rng(1234).uniform(0, 1, 2000)

    def through_rule(i: int) -> None:
        config = {"file_path": os.path.join(save, f"hpopt_trial_{i}.json"), "mode": "max", "trial_id": i,
                  "early_stop": "median_stop", "run_id": "r1"}
        judge_at(save, config, [float(values[i])])

    for i in range(400):  # through report()'s hook, past the switch from exact to approximate
        through_rule(i)
        if i + 1 == rs.SUMMARY_SIZE:  # still exact: numpy's median
            assert step_median(save, 1) == pytest.approx(float(np.median(values[: i + 1])), abs=1e-12)
    # The middle values the same way minus the per-value lock and fsync (about 2 ms each), to keep this fast.
    loaded = FileStore(save).read_summary("median_stop", "step_1")
    for v in values[400:1900]:
        loaded.add(float(v))
    atomic_write_json(step_path(save, 1), loaded.to_json(step=1, run_id="r1"))
    for i in range(1900, 2000):
        through_rule(i)
    path = step_path(save, 1)
    assert os.path.getsize(path) < rs.MAX_SUMMARY_BYTES
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    doc = hpopt.load_json(path)
    assert doc["count"] == 2000 and len(doc["means"]) == rs.SUMMARY_SIZE
    est = step_median(save, 1)
    assert est is not None
    below, at_or_below = float(np.mean(values < est)), float(np.mean(values <= est))
    rank_error = 0.0 if below <= 0.5 <= at_or_below else min(abs(below - 0.5), abs(at_or_below - 0.5))
    assert rank_error <= rs.RANK_ERROR
    assert abs(est - float(np.median(values))) <= 2 * rs.RANK_ERROR  # uniform data: value ~ rank


@pytest.mark.parametrize("order", ["shuffled", "ascending", "descending", "bimodal-in-turn"])
def test_summary_error_in_memory(order: str) -> None:
    rng = np.random.default_rng(7)
    if order == "bimodal-in-turn":
        values = np.concatenate([rng.normal(0, 1, 1500), rng.normal(10, 1, 1500)])
    else:
        values = rng.lognormal(0, 2, 3000)
        if order != "shuffled":
            values = np.sort(values) if order == "ascending" else np.sort(values)[::-1]
    summary = RankSummary()
    for v in values:
        summary.add(float(v))
    est = summary.median()
    assert est is not None
    below, at_or_below = float(np.mean(values < est)), float(np.mean(values <= est))
    assert below - rs.RANK_ERROR <= 0.5 <= at_or_below + rs.RANK_ERROR
    assert len(json.dumps(summary.to_json(step=1, run_id="0" * 32), indent=4)) < rs.MAX_SUMMARY_BYTES


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=rs.SUMMARY_SIZE))
def test_summary_is_exact_up_to_its_size(values: list[float]) -> None:
    summary = RankSummary()
    for v in values:
        summary.add(v)
    assert summary.means == sorted(values)
    assert summary.median() == pytest.approx(float(np.median(values)), rel=1e-9, abs=1e-9)


def test_damaged_summary_names_the_file(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 3, "max")
    with hpo:
        assert _stop_step(cfgs[0], [1]) is None
        path = step_path(save, 2)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_text("{not json")
        with pytest.raises(StateFileError, match="step_2.json.*delete it"):
            hpopt.report(cfgs[0], 1)
        Path(path).write_text(json.dumps({"count": 2, "means": [2.0, 1.0], "counts": [1, 1]}))
        with pytest.raises(StateFileError, match="not sorted"):
            step_median(save, 2)
        os.unlink(path)  # the documented way out: the step restarts
        assert hpopt.report(cfgs[1], 1) == hpopt.Status.RUNNING
        assert hpopt.report(cfgs[1], 1) == hpopt.Status.RUNNING
        assert _step_values(save, 2) == [1.0]


def test_summary_of_an_earlier_run_is_restarted(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 1, "max")
    with hpo:
        path = step_path(save, 1)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_text(json.dumps({"run_id": "an-old-run", "count": 3, "means": [9.0, 9.0, 9.0],
                                          "counts": [1, 1, 1]}))
        assert hpopt.report(cfgs[0], 1) == hpopt.Status.RUNNING  # the old 9s would have stopped it
        assert _step_values(save, 1) == [1.0]
        assert hpopt.load_json(path)["run_id"] == cfgs[0]["run_id"]


STEPS = 5


def _score(trial: int, step: int) -> float:
    """Every trial's best is its step-1 score 100, above every running mean: no trial is ever stopped."""
    return 100.0 if step == 1 else trial + step / 10


def _reporter(cfgs: list[dict[str, Any]], barrier: Any) -> None:
    barrier.wait()
    for step in range(1, STEPS + 1):
        for cfg in cfgs:
            if hpopt.report(cfg, _score(cfg["trial_id"], step)) != hpopt.Status.RUNNING:
                raise SystemExit(f"trial {cfg['trial_id']} stopped at step {step}")


def test_concurrent_reporters_lose_nothing(tmp_path: Path) -> None:
    hpo, save, cfgs = _run(tmp_path, 8, "max")
    with hpo:
        ctx = mp.get_context("fork")
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_reporter, args=(cfgs[i::4], barrier)) for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        for step in range(1, STEPS + 1):
            expected = []
            for cfg in cfgs:
                scores = [_score(cfg["trial_id"], s) for s in range(1, step + 1)]
                expected.append(sum(scores) / len(scores))
            assert sorted(_step_values(save, step)) == sorted(expected)
