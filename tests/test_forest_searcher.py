"""ASHA's "forest" sampler: a model over (config, epoch) that proposes by the predicted last-epoch score."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import SuggestRequest
from hpopt.algorithms.forest_searcher import FidelityForestSearcher
from hpopt.algorithms.random_search import RandomSearcher
from hpopt.search_space import normalize_space

SPACE = normalize_space({"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])})


def _early(x: float) -> float:  # epoch-1 score: best at x = 1
    return 0.3 + 0.3 * x


def _final(x: float, y: float) -> float:  # last-epoch score: best at x = 0.2, y = 0.5
    return 0.95 - 0.3 * abs(x - 0.2) - 0.1 * abs(y - 0.5)


def _curve(x: float, y: float, epochs: int) -> list[float]:
    """Rising learning curves from the early to the final score: the first epochs rank configs the wrong
    way (every final score is above every early one, so the best-so-far is the latest)."""
    return [_final(x, y) + (_early(x) - _final(x, y)) * np.exp(-e / 2.0) for e in range(epochs)]


def _feed(searcher, rng: np.random.Generator) -> None:
    """40 trials stopped at epoch 1, and 8 that ran all 9 epochs (what ASHA leaves behind)."""
    for tid in range(48):
        params = {"x": float(rng.random()), "y": float(rng.random())}
        searcher.on_config(tid, 0, params)
        scores = _curve(params["x"], params["y"], 9 if tid % 6 == 0 else 1)
        searcher.on_scores(tid, 0, scores)
        searcher.on_result(tid, max(scores))


def _forest(seed: int, **kw) -> FidelityForestSearcher:
    return FidelityForestSearcher(SPACE, RandomSearcher(seed), 9, "max", seed, random_fraction=0.0, **kw)


def test_draws_at_random_until_enough_trials_reported():
    forest, plain = _forest(1, min_trials=5), RandomSearcher(1)
    for tid in range(5):
        req = SuggestRequest(tid, 0, SPACE)
        params = forest.suggest(req)
        assert params == plain.suggest(req)  # the same draws as sampler="random"
        forest.on_config(tid, 0, params)
        forest.on_scores(tid, 0, [0.5])
    xs, ys, longest = forest.observations(np.random.default_rng(0))
    assert xs.shape == (5, 3) and len(ys) == 5 and len(longest) == 5  # 2 coordinates + the fidelity


def test_learns_that_early_epochs_mislead():
    """Epoch 1 says x = 1 is best, the last epoch says x = 0.2: the forest asks about the last epoch."""
    forest_x = []
    for seed in range(5):
        forest = _forest(seed)
        _feed(forest, np.random.default_rng(seed))
        forest_x.append(forest.suggest(SuggestRequest(100, 0, SPACE))["x"])
    assert np.median(np.abs(np.array(forest_x) - 0.2)) < 0.25  # not the epoch-1 optimum, x = 1


def test_with_measured_epoch_costs_the_cheapest_of_the_tied_configs_is_proposed():
    """y does not change the score, only the epoch's cost (7x dearer at y = 0 than at y = 1, as a small batch
    costs more than a large one): with costs measured (a run with a deadline in seconds) the forest proposes
    configs as good in x, but cheap ones; without them, y is a coin toss."""
    def feed(searcher, rng, costs: bool) -> None:
        for tid in range(48):
            params = {"x": float(rng.random()), "y": float(rng.random())}
            searcher.on_config(tid, 0, params)
            scores = _curve(params["x"], 0.5, 9 if tid % 6 == 0 else 1)
            searcher.on_scores(tid, 0, scores)
            searcher.on_result(tid, max(scores))
            if costs:
                searcher.on_cost(tid, float(np.exp(2.0 * (1.0 - params["y"]))))

    picks = {}
    for costs in (False, True):
        picks[costs] = []
        for seed in range(12):
            forest = _forest(seed)
            feed(forest, np.random.default_rng(seed), costs)
            picks[costs].append(forest.suggest(SuggestRequest(100, 0, SPACE)))
    plain_y, cheap_y = (np.mean([p["y"] for p in picks[c]]) for c in (False, True))
    assert cheap_y > 0.8 and cheap_y > plain_y + 0.15
    assert np.median([abs(p["x"] - 0.2) for p in picks[True]]) < 0.25  # still the last epoch's optimum in x


def test_observations_keep_every_trials_longest_epoch_and_a_seeded_sample_beyond_the_cap(monkeypatch):
    import hpopt.algorithms.forest_searcher as fs

    monkeypatch.setattr(fs, "MAX_POINTS", 60)
    forest = _forest(0)
    _feed(forest, np.random.default_rng(0))  # 48 trials, 8 of 9 epochs: 40 + 72 rows
    xs, ys, longest = forest.observations(np.random.default_rng(3))
    assert len(xs) == 60 and len(longest) == 48
    assert sorted(longest[:, -1].tolist()).count(1.0) == 8  # the full trials' last epoch: fidelity 1
    again, _, _ = forest.observations(np.random.default_rng(3))
    assert np.array_equal(xs, again)


def test_a_stale_attempt_is_not_modelled():
    forest = _forest(0)
    forest.on_config(0, 0, {"x": 0.1, "y": 0.1})
    forest.on_scores(0, 0, [0.4, 0.5])
    forest.on_config(0, 1, {"x": 0.9, "y": 0.9})  # re-sampled after an OOM: the old scores are not its own
    assert len(forest.observations(np.random.default_rng(0))[0]) == 0


def test_epochs_on_a_cut_subset_count_as_less_training():
    forest = _forest(0)
    for tid in (0, 1):
        forest.on_config(tid, 0, {"x": 0.5, "y": 0.5})
        forest.on_scores(tid, 0, [0.4, 0.5, 0.6])
    forest.on_subset(1, 1 / 3)  # trial 1 trains on a third of trial 0's subset (a re-plan cut it)
    fidelity = sorted(forest.observations(np.random.default_rng(0))[0][:, -1])
    third = np.log(3) / np.log(9)
    # trial 0: epochs 1, 2, 3; trial 1: its epoch e counts as e / 3 (its epoch 3 is one of trial 0's)
    assert fidelity == pytest.approx(sorted([0.0, np.log(2) / np.log(9), third,
                                             -third, np.log(2 / 3) / np.log(9), 0.0]))


def test_stays_inside_a_shrunk_space_and_off_tried_and_pending_configs():
    space = normalize_space({"bs": hpopt.search_space("qloguniform", [16, 128, 16]),
                             "lr": hpopt.search_space("choice", [0.1, 0.01, 0.001])})
    forest = FidelityForestSearcher(space, RandomSearcher(0), 9, "max", 0, random_fraction=0.0, min_trials=3)
    rng = np.random.default_rng(0)
    for tid in range(12):
        params = {"bs": int(rng.choice([16, 32, 48, 64, 96, 128])), "lr": [0.1, 0.01, 0.001][tid % 3]}
        forest.on_config(tid, 0, params)
        forest.on_scores(tid, 0, [params["bs"] / 128.0 + params["lr"]] * (1 + tid % 3))
    shrunk = dict(space, bs=hpopt.search_space("qloguniform", [16, 48, 16]))
    tried = {json.dumps(forest._params[t][1], sort_keys=True) for t in range(12)}
    pending = {"bs": 48, "lr": 0.1}
    params = forest.suggest(SuggestRequest(12, 0, shrunk, pending=[pending]))
    assert params["bs"] <= 48
    assert json.dumps(params, sort_keys=True) not in tried and params != pending


@pytest.mark.parametrize("mode", ["max", "min"])
def test_asha_with_the_forest_sampler_runs_and_resumes_exactly(tmp_path, mode):
    def run(save, sampler="forest", resume=False, stop_after=None):
        hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=9, search_space=dict(SPACE), save_path=save,
                           search_alg="asha", sampler=sampler, num_trials=60, max_iterations=9, min_iterations=1,
                           reduction_factor=3, subset_ratio=1.0, seed=4, mode=mode, resume=resume)
        hpo.measure_overhead = False
        issued = []
        while (cfg := hpo.get_next_sample()) is not None:
            issued.append(cfg["params"])
            p = cfg["params"]
            for score in _curve(p["x"], p["y"], cfg["iterations"]):
                if hpopt.report(cfg, score if mode == "max" else -score) == hpopt.Status.STOP:
                    break
            if stop_after is not None and len(issued) == stop_after:
                hpo.close()
                return hpo, issued
        return hpo, issued

    whole, issued = run(str(tmp_path / "whole"))
    assert whole.is_finished() and len(issued) == 60
    assert len({json.dumps(p, sort_keys=True) for p in issued}) == 60  # no config issued twice
    _, drawn = run(str(tmp_path / "random"), sampler="random")
    assert issued[:4] == drawn[:4] and issued[10:] != drawn[10:]  # random first, then the model's choices
    _, first = run(str(tmp_path / "split"), stop_after=30)
    _, rest = run(str(tmp_path / "split"), resume=True)
    assert first + rest == issued  # a resumed run suggests exactly what the uninterrupted one did


def test_a_resumed_run_keeps_its_sampler_when_none_is_given(tmp_path):
    args = dict(full_dataset_size=1000, num_full_iterations=9, search_space=dict(SPACE), save_path=str(tmp_path),
                search_alg="asha", num_trials=8, max_iterations=9, subset_ratio=1.0, seed=1)
    hpo = hpopt.create(**args, sampler="forest")
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.5)
    hpo.close()
    again = hpopt.create(**args, resume=True)
    assert isinstance(again.algorithm.searcher, FidelityForestSearcher)
    assert again.get_current_status()["sampler"] == "forest"
