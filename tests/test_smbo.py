"""baye_opt: aliases, kappa schedule, initial design, pending points, string choices, OOM and resume.

The GP box and the searcher are pure objects: the tests of their internals drive them directly, with no
save_path; the rest goes through hpopt.create().
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import SuggestRequest
from hpopt.algorithms.gp_box import GpBox
from hpopt.algorithms.gp_ucb import GpUcbSearcher
from hpopt.search_space import normalize_space


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN = {"x1": hpopt.search_space("uniform", [-5, 10]), "x2": hpopt.search_space("uniform", [0, 15])}


def make(path, space=None, **kw):
    args = dict(full_dataset_size=100, num_full_iterations=1, search_space=space or BRANIN, save_path=str(path),
                search_alg="bayes_opt", num_trials=12, max_iterations=1, subset_ratio=1.0, mode="min", seed=0)
    args.update(kw)
    return hpopt.create(**args)


def run(hpo, f=lambda p: branin(**p), n=None):
    configs = []
    while (n is None or len(configs) < n) and (cfg := hpo.get_next_sample()) is not None:
        configs.append(cfg["params"])
        hpopt.report(cfg, f(cfg["params"]))
    return configs


@pytest.mark.parametrize("alias", ["bayes_opt", "baye_opt", "smbo"])
def test_aliases(tmp_path, alias):
    hpo = make(tmp_path, search_alg=alias)
    assert isinstance(hpo.algorithm.searcher, GpUcbSearcher) and hpo.get_current_status()["search_algorithm"] == "smbo"


def test_kappa_decays_once_per_finished_trial_after_delay_and_across_resume(tmp_path):
    kw = dict(kappa=3.0, kappa_decay=0.9, kappa_decay_delay=2, num_trials=8)
    hpo = make(tmp_path, **kw)
    for n in range(1, 6):
        run(hpo, n=1)
        hpo.get_next_samples(0)  # collect
        assert hpo.kappa == pytest.approx(3.0 * 0.9 ** max(0, n - 2))
    hpo.close()
    hpo = make(tmp_path, resume=True, **kw)
    assert hpo.kappa == pytest.approx(3.0 * 0.9**3)
    run(hpo, n=1)
    hpo.get_next_samples(0)
    assert hpo.kappa == pytest.approx(3.0 * 0.9**4)


def test_initial_design_is_latin_hypercube_after_defaults(tmp_path):
    default = {"x1": 0.0, "x2": 5.0}
    hpo = make(tmp_path, num_init_trials=6, num_trials=6, default_hyper_parameters=default)
    configs = run(hpo)
    assert configs[0] == default
    # trials 1..5 come from a 6-point Latin hypercube: each lies in its own sixth of every axis
    for name, (lo, hi) in (("x1", (-5, 10)), ("x2", (0, 15))):
        bins = {int((c[name] - lo) / (hi - lo) * 6) for c in configs[1:]}
        assert len(bins) == 5


def test_finds_branin_minimum_better_than_random(tmp_path):
    bo = run(make(tmp_path / "bo", num_trials=30, seed=1))
    rnd = run(make(tmp_path / "rnd", num_trials=30, search_alg="random", seed=1))
    best_bo = min(branin(**p) for p in bo) - 0.397887
    best_rnd = min(branin(**p) for p in rnd) - 0.397887
    assert best_bo < 0.1 and best_bo < best_rnd / 5  # 30 trials, seeds 0-3: regret 0.0006-0.021


def test_string_choices_and_integers_through_the_gp(tmp_path):
    space = {"lr": hpopt.search_space("loguniform", [1e-5, 1e-1]),
             "bs": hpopt.search_space("quniform", [8, 256, 8]),
             "opt": hpopt.search_space("choice", ["sgd", "adam", "rmsprop"])}

    def f(p):
        return (math.log10(p["lr"]) + 3) ** 2 + ((p["bs"] - 64) / 64) ** 2 + {"sgd": 1, "adam": 0, "rmsprop": 0.5}[
            p["opt"]]

    configs = run(make(tmp_path, space=space, num_trials=20), f=f)
    assert all(isinstance(c["bs"], int) and c["bs"] % 8 == 0 and c["opt"] in ("sgd", "adam", "rmsprop")
               for c in configs)
    assert len({tuple(sorted(c.items())) for c in configs}) == 20  # never a repeat
    assert min(f(c) for c in configs) < 0.5


def test_get_next_samples_gives_distinct_configs_with_pending_points(tmp_path):
    hpo = make(tmp_path, num_trials=16, num_workers=4, num_init_trials=4)
    first = hpo.get_next_samples(4)
    assert len({tuple(sorted(c["params"].items())) for c in first}) == 4
    for cfg in first:
        hpopt.report(cfg, branin(**cfg["params"]))
    second = hpo.get_next_samples(4)  # GP phase: three of them are pending while the next is suggested
    keys = {tuple(sorted(c["params"].items())) for c in first + second}
    assert len(second) == 4 and len(keys) == 8


def test_resume_equals_uninterrupted_run(tmp_path):
    whole = run(make(tmp_path / "a", num_trials=10))
    hpo = make(tmp_path / "b", num_trials=10)
    part = run(hpo, n=6)
    hpo.close()
    part += run(make(tmp_path / "b", num_trials=10, resume=True))
    assert part == whole


def test_min_mode_sign_on_resume(tmp_path):
    """The original re-registered scores unnegated on resume; the GP must keep minimising."""
    hpo = make(tmp_path, num_trials=20)
    run(hpo, n=8)
    hpo.close()
    hpo = make(tmp_path, num_trials=20, resume=True)
    configs = run(hpo)
    assert min(branin(**p) for p in configs) < 2.0  # a maximiser would drift to values near 300


def test_oom_shrinks_gp_bounds_and_survives_resume(tmp_path):
    space = {"x": hpopt.search_space("uniform", [0, 1]), "bs": hpopt.search_space("quniform", [8, 256, 8])}
    kw = dict(space=space, num_trials=14, batch_size_name="bs", mode="max", num_init_trials=4)

    def loop(hpo, n=None):
        done = 0
        while (n is None or done < n) and (cfg := hpo.get_next_sample()) is not None:
            if cfg["params"]["bs"] > 128:
                hpopt.reportOOM(cfg)
                continue
            hpopt.report(cfg, cfg["params"]["bs"] / 128 - (cfg["params"]["x"] - 0.5) ** 2)  # wants big batches
            done += 1

    hpo = make(tmp_path, **kw)
    loop(hpo, n=6)
    bound = hpo.search_space["bs"].upper
    assert 128 <= bound < 256  # an OOM shrank it, never below a batch size that trained
    hpo.close()
    hpo = make(tmp_path, resume=True, **kw)
    assert hpo.search_space["bs"].upper == bound  # the shrunk bound survives the resume
    loop(hpo)
    entries = hpo.get_current_status()["config_list"]
    assert all(e["config"]["bs"] <= bound for e in entries if e["status"] == hpopt.Status.STOP)
    assert hpo.search_space["bs"].upper <= bound
    assert hpo.is_finished()
    best = hpo.get_best_config()
    assert best["bs"] >= 96  # the GP learned that bigger batches (inside the bound) are better


def drive(searcher, space, f, n):
    """Ask/tell a searcher directly (no controller, no files): n trials, one at a time."""
    configs = []
    for tid in range(n):
        params = searcher.suggest(SuggestRequest(tid, 0, space))
        searcher.on_config(tid, 0, params)
        searcher.on_result(tid, f(params))
        configs.append(params)
    return configs


def test_the_gp_is_fitted_with_one_length_scale_per_dimension():
    searcher = GpUcbSearcher(BRANIN, mode="min", seed=0)
    drive(searcher, BRANIN, lambda p: branin(**p), 30)
    model = searcher.fit(*searcher.observations(), SuggestRequest(30, 0, BRANIN), seed=0)
    assert np.shape(model.gp.kernel_.k1.k2.length_scale) == (2,)
    assert len(model.xs) == 30


def test_median_stop_ends_poor_trials_early_and_registers_their_best(tmp_path):
    hpo = make(tmp_path, num_trials=14, max_iterations=6, early_stop="median_stop", num_init_trials=4, mode="max")
    stopped = 0
    while (cfg := hpo.get_next_sample()) is not None:
        if cfg["trial_id"] < 4:
            assert cfg["early_stop"] is None  # the initial trials run to the end, as reference curves
        quality = -branin(**cfg["params"])
        for epoch in range(cfg["iterations"]):
            if hpopt.report(cfg, quality * (1 + 1 / (epoch + 1))) == hpopt.Status.STOP:
                stopped += epoch + 1 < cfg["iterations"]
                break
    entries = hpo.get_current_status()["config_list"]
    early = [e for e in entries if e.get("early_stopped")]
    assert stopped == len(early) > 0
    for e in early:
        doc = hpopt.load_json(hpopt.get_trial_path(hpo.save_path, e["trial_id"]))
        assert len(doc["scores"]) < 6 and e["score"] == max(doc["scores"])


def test_numeric_choices_are_one_ordered_coordinate(tmp_path):
    space = {"lr": hpopt.search_space("choice", [1e-2, 1e-4, 1e-3, 1e-1]),
             "act": hpopt.search_space("choice", ["relu", "tanh", "gelu"])}
    space = {name: sp.named(name) for name, sp in space.items()}
    box = GpBox(space)
    assert box.widths == [1, 3]
    x = box.encode({"lr": 1e-3, "act": "tanh"})
    assert list(x) == [0.375, 0.0, 1.0, 0.0]  # rank 1 of the sorted four; one-hot for the strings
    assert box.decode(np.array([0.99, 0.0, 0.0, 1.0]), space) == {"lr": 1e-1, "act": "gelu"}
    assert box.decode(np.array([0.0, 1.0, 0.0, 0.0]), space) == {"lr": 1e-4, "act": "relu"}
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=2, search_space=space, save_path=str(tmp_path),
                       search_alg="bayes_opt", num_trials=8, max_iterations=1, subset_ratio=1.0, seed=0)
    while (cfg := hpo.get_next_sample()) is not None:
        hpopt.report(cfg, -abs(np.log10(cfg["params"]["lr"]) + 2.5))
    assert hpo.get_best_config()["lr"] in (1e-3, 1e-2)


MIXED = {"lr": hpopt.search_space("loguniform", [1e-5, 1e-1]),
         "bs": hpopt.search_space("quniform", [8, 256, 8]),
         "wd": hpopt.search_space("qloguniform", [1, 1000, 7]),
         "layers": hpopt.search_space("choice", [1, 2, 3, 4]),
         "opt": hpopt.search_space("choice", ["sgd", "adam", "rmsprop"])}


def test_snap_moves_points_to_the_encoding_of_their_config():
    box = GpBox(MIXED)
    points = np.random.default_rng(0).random((500, box.dims))
    snapped = box.snap(points)
    for u, s in zip(points, snapped, strict=True):
        assert s == pytest.approx(box.encode(box.decode(u, MIXED)), abs=1e-12)
    assert snapped[:, 0] == pytest.approx(points[:, 0])  # the continuous coordinate is left alone
    assert box.snap(snapped) == pytest.approx(snapped)


def test_acquisition_scores_only_configs_the_search_can_issue():
    """The UCB's argmax is a snapped point: on a grid the GP never picks a spot between grid points."""
    def f(p):
        return (math.log10(p["lr"]) + 3) ** 2 + ((p["bs"] - 100) / 64) ** 2 + (p["opt"] != "adam")

    searcher = GpUcbSearcher(MIXED, mode="min", seed=0)
    chosen = []
    original = searcher._maximize

    def spy(*args, **kwargs):
        u = original(*args, **kwargs)
        chosen.append(u)
        return u

    searcher._maximize = spy
    configs = drive(searcher, MIXED, f, 40)
    assert len(chosen) >= 30
    for u in chosen:
        assert searcher.box.snap(u[None, :])[0] == pytest.approx(u)
    assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)
    best = min(configs, key=f)
    assert best["opt"] == "adam" and best["bs"] in (96, 104) and f(best) < 0.05


def test_snap_respects_an_oom_shrunk_batch_size_bound():
    box = GpBox(MIXED)
    shrunk = {**MIXED, "bs": MIXED["bs"].with_upper(64)}
    ub = box.upper(shrunk)
    points = box.snap(np.clip(np.random.default_rng(1).random((200, len(ub))), 0.0, ub))
    assert all(box.decode(u, shrunk)["bs"] <= 64 for u in points)


def test_with_measured_epoch_costs_the_gp_proposes_the_cheapest_of_the_tied_points():
    """y does not change the score, only the epoch's cost (7x dearer at y = 0 than at y = 1, as a small batch
    costs more than a large one): with costs measured (a run with a deadline in seconds) the GP proposes
    points as good in x, but cheaper ones, inside the same trust region; without them, y is where the
    GP is least sure."""
    space = normalize_space({"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])})

    def suggestion(seed: int, costs: bool) -> dict:
        searcher = GpUcbSearcher(space, mode="max", seed=seed, num_init_trials=0)
        rng = np.random.default_rng(seed)
        for tid in range(20):
            params = {"x": float(rng.random()), "y": float(rng.random())}
            searcher.on_config(tid, 0, params)
            searcher.on_result(tid, 1.0 - (params["x"] - 0.3) ** 2 + 0.02 * rng.normal())  # a noisy score
            if costs:
                searcher.on_cost(tid, float(np.exp(2.0 * (1.0 - params["y"]))))
        return searcher.suggest(SuggestRequest(20, 0, space))

    picks = {costs: [suggestion(seed, costs) for seed in range(20)] for costs in (False, True)}
    plain_y, cheap_y = (np.mean([p["y"] for p in picks[c]]) for c in (False, True))
    assert cheap_y > 0.75 and cheap_y > plain_y + 0.15
    assert np.median([abs(p["x"] - 0.3) for p in picks[True]]) < 0.1  # still the optimum in x
