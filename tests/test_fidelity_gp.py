"""baye_opt after a re-plan changed the fidelity: the GP takes each result's fidelity as an input, and the
best config is the one the GP rates best at a high fidelity (among those that did well at their own), not
the best raw score."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import gp_ucb
from hpopt.algorithms.gp_ucb import GpUcbSearcher
from hpopt.algorithms.searcher import SuggestRequest
from hpopt.search_space import space_from_json
from hpopt.views.results import read_run
from hpopt.views.run_status import run_status

SPACE = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])}


def quality(params) -> float:
    """What a config is worth once fully trained (the optimum is at x = 0.7, y = 0.3)."""
    return 1.0 - (params["x"] - 0.7) ** 2 - (params["y"] - 0.3) ** 2


def observed(params, fidelity: float) -> float:
    """Less training, lower scores: by much more than the configs differ."""
    return quality(params) - 0.4 * (1.0 - fidelity)


def searcher_with(points: list[tuple[dict[str, float], float]]) -> GpUcbSearcher:
    s = GpUcbSearcher(SPACE, mode="max", seed=0, num_init_trials=2)
    for tid, (params, fidelity) in enumerate(points):
        s.on_config(tid, 0, params)
        s.on_result(tid, observed(params, fidelity), fidelity)
    return s


def test_fidelity_input_only_when_results_differ_in_fidelity():
    rng = np.random.default_rng(0)
    same = searcher_with([({"x": float(a), "y": float(b)}, 0.5) for a, b in rng.random((6, 2))])
    assert same.fidelity_input(0.5) is None and same.fidelity_input(None) is None
    assert same.best_trial() is None  # one fidelity: the best score is the best config
    # the new trial gets another fidelity: the input appears, scaled to [0, 1] on a log scale
    lower = same.fidelity_input(0.125)
    assert lower is not None and lower.now == 0.0 and np.all(lower.observed == 1.0)
    mixed = searcher_with([({"x": float(a), "y": float(b)}, f) for (a, b), f in
                           zip(rng.random((6, 2)), [1.0, 1.0, 1.0, 0.25, 0.25, 0.5], strict=True)])
    f = mixed.fidelity_input(0.25)
    assert f is not None and f.now == 0.0
    assert np.allclose(f.observed, [1.0, 1.0, 1.0, 0.0, 0.0, 0.5])


def test_best_trial_compares_configs_across_fidelities():
    rng = np.random.default_rng(1)
    early = [({"x": float(a), "y": float(b)}, 1.0) for a, b in rng.random((8, 2))]
    late = [({"x": float(a), "y": float(b)}, 0.25) for a, b in rng.random((11, 2))]
    late.append(({"x": 0.69, "y": 0.31}, 0.25))  # the best config of all, found after the re-plan
    s = searcher_with(early + late)
    scores = [observed(p, f) for p, f in early + late]
    by_score = int(np.argmax(scores))
    assert by_score < len(early)  # the raw scores would return one of the first trials
    chosen = s.best_trial()
    assert chosen == len(early) + len(late) - 1
    assert s.state().get("kappa") is not None


def test_suggestion_at_the_new_fidelity_goes_where_the_configs_are_good():
    rng = np.random.default_rng(2)
    early = [({"x": float(a), "y": float(b)}, 1.0) for a, b in rng.random((6, 2))]
    late = [({"x": float(a), "y": float(b)}, 0.25) for a, b in rng.random((10, 2))]
    s = searcher_with(early + late)
    suggested = [s.suggest(SuggestRequest(16 + i, 0, SPACE, (), 0.25)) for i in range(1)]
    assert quality(suggested[0]) > np.median([quality(p) for p, _ in early + late])


def test_one_fidelity_suggests_exactly_what_it_did_before():
    rng = np.random.default_rng(3)
    points = [({"x": float(a), "y": float(b)}, 0.5) for a, b in rng.random((9, 2))]
    with_fidelity = searcher_with(points)
    without = GpUcbSearcher(SPACE, mode="max", seed=0, num_init_trials=2)
    for tid, (params, f) in enumerate(points):
        without.on_config(tid, 0, params)
        without.on_result(tid, observed(params, f))
    assert with_fidelity.suggest(SuggestRequest(9, 0, SPACE, (), 0.5)) == without.suggest(
        SuggestRequest(9, 0, SPACE, ()))


@pytest.mark.parametrize("storage", ["file", "memory"])
def test_a_run_whose_fidelity_changes_reports_the_models_best_everywhere(tmp_path, storage):
    hpo = hpopt.create(search_alg="baye_opt", search_space=SPACE, full_dataset_size=1000, num_full_iterations=8,
                       num_trials=16, max_iterations=4, subset_ratio=1.0, save_path=str(tmp_path / "hpo"),
                       seed=0, num_init_trials=4, storage=storage)
    done = 0
    while (cfg := hpo.get_next_sample()) is not None:
        fidelity = cfg["iterations"] / 4 * cfg["subset_ratio"]
        for _ in range(cfg["iterations"]):
            hpopt.report(cfg, observed(cfg["params"], fidelity))
        done += 1
        if done == 6:  # what a re-plan does to the run's settings: later trials get a quarter of the training
            hpo.settings.max_iterations, hpo.settings.subset_ratio = 2, 0.5
    status = hpo.get_current_status()
    assert status["best_rule"] == "model"
    best = hpo.get_best_config()
    chosen = hpo.get_current_status()["best_config_id"]
    assert best == status["config_list"][chosen]["config"]
    if storage == "file":
        assert read_run(str(tmp_path / "hpo")).best()["trial_id"] == chosen
        assert run_status(str(tmp_path / "hpo"))["best"]["trial_id"] == chosen
    hpo.close()


def test_a_run_of_one_fidelity_keeps_the_best_score_rule(tmp_path):
    hpo = hpopt.create(search_alg="baye_opt", search_space=SPACE, full_dataset_size=1000, num_full_iterations=8,
                       num_trials=8, max_iterations=2, subset_ratio=1.0, save_path=str(tmp_path / "hpo"), seed=0,
                       num_init_trials=3)
    while (cfg := hpo.get_next_sample()) is not None:
        for _ in range(cfg["iterations"]):
            hpopt.report(cfg, quality(cfg["params"]))
    status = hpo.get_current_status()
    assert "best_rule" not in status
    scores = [e["score"] for e in status["config_list"]]
    assert status["best_config_id"] == int(np.argmax(scores))
    hpo.close()


def recorded_searcher(path: str) -> tuple[GpUcbSearcher, dict[int, float]]:
    """A searcher fed the trials of a recorded run (tests/fixtures), and each trial's score."""
    with open(os.path.join(os.path.dirname(__file__), "fixtures", path)) as f:
        run = json.load(f)
    s = GpUcbSearcher(space_from_json(run["space"]), mode="max", seed=run["seed"], num_defaults=1)
    for tid, params, score, epochs, subset in run["trials"]:
        s.on_config(tid, 0, params)
        s.on_result(tid, score, epochs * subset)
    return s, {t[0]: t[2] for t in run["trials"]}


def test_a_lone_trial_at_the_highest_fidelity_does_not_choose_the_best(monkeypatch):
    # A recorded run: 60 trials at 2-3 epochs on 11-23 % of the data (scores up to 0.87), then a late re-plan
    # gave the last trial alone 5 epochs on 38 % (0.70), next to the config of trial 9, which had scored 0.10.
    s, scores = recorded_searcher("gp_lone_top_fidelity.json")
    best = s.best_trial()
    assert best is not None and scores[best] >= 0.8
    # the rule before: compared at the lone trial's fidelity, any trial allowed -> that 0.10 config's twin
    monkeypatch.setattr(gp_ucb, "COMPARE_AT_LEAST", 1)
    monkeypatch.setattr(gp_ucb, "BEST_SHARE", 1.0)
    before, _ = recorded_searcher("gp_lone_top_fidelity.json")
    assert scores[before.best_trial()] < 0.75


def test_the_comparison_fidelity_is_one_several_results_reached():
    assert gp_ucb.comparison_fidelity(np.array([0.2, 1.0, 0.5, 0.5, 0.2])) == 0.5  # 1.0 holds one result
    assert gp_ucb.comparison_fidelity(np.array([0.2, 1.0, 1.0, 1.0, 0.5])) == 1.0
    assert gp_ucb.comparison_fidelity(np.array([0.0, 1.0])) == 0.0  # fewer results than asked: the lowest


def test_only_a_trial_among_the_best_at_its_own_fidelity_can_be_returned():
    y = np.array([0.9, 0.1, 0.5, 0.6, 0.2, 0.3, 0.35, 0.4])
    f = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    allowed = gp_ucb.best_candidates(y, f)
    # at fidelity 1 the better of two; at 0 the top quarter of six (0.5 and 0.6): scores, not fidelities
    assert allowed.tolist() == [True, False, True, True, False, False, False, False]
    assert gp_ucb.best_candidates(np.array([0.3]), np.array([0.0])).tolist() == [True]  # a lone result
