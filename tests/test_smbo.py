"""baye_opt: aliases, kappa schedule, initial design, pending points, string choices, OOM and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpopt
from hpopt.smbo import BayesOpt


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
    assert isinstance(hpo, BayesOpt) and hpo.get_current_status()["search_algorithm"] == "smbo"


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
    assert bound <= 128
    hpo.close()
    hpo = make(tmp_path, resume=True, **kw)
    loop(hpo)
    entries = hpo.get_current_status()["config_list"]
    assert all(e["config"]["bs"] <= bound for e in entries if e["status"] == hpopt.Status.STOP)
    assert hpo.is_finished()
    best = hpo.get_best_config()
    assert best["bs"] >= 96  # the GP learned that bigger batches (inside the bound) are better


def test_suggestion_time_is_recorded_small(tmp_path):
    """Not a timing assertion: just that 30 GP suggestions complete and the kernel is fitted per dimension."""
    hpo = make(tmp_path, num_trials=30)
    run(hpo)
    optimizer = hpo._fit_optimizer(*hpo._observations(), seed=0)
    optimizer._gp.fit(optimizer.space.params, optimizer.space.target)
    length_scale = optimizer._gp.kernel_.k1.k2.length_scale
    assert np.shape(length_scale) == (2,)


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
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=2, search_space=space, save_path=str(tmp_path),
                       search_alg="bayes_opt", num_trials=8, max_iterations=1, subset_ratio=1.0, seed=0)
    assert hpo._gp_widths == [1, 3]
    x = hpo._gp_encode({"lr": 1e-3, "act": "tanh"})
    assert list(x) == [0.375, 0.0, 1.0, 0.0]  # rank 1 of the sorted four; one-hot for the strings
    assert hpo._decode(np.array([0.99, 0.0, 0.0, 1.0])) == {"lr": 1e-1, "act": "gelu"}
    assert hpo._decode(np.array([0.0, 1.0, 0.0, 0.0])) == {"lr": 1e-4, "act": "relu"}
    while (cfg := hpo.get_next_sample()) is not None:
        hpopt.report(cfg, -abs(np.log10(cfg["params"]["lr"]) + 2.5))
    assert hpo.get_best_config()["lr"] in (1e-3, 1e-2)


def _fitted_gp(tmp_path, n=14):
    """The GP that baye_opt fits after n trials of a 3-D function (targets far from mean 0, std 1)."""
    space = {"a": hpopt.search_space("uniform", [-5, 10]), "b": hpopt.search_space("uniform", [0, 15]),
             "c": hpopt.search_space("loguniform", [1e-3, 1.0])}
    hpo = make(tmp_path, space=space, num_trials=n, mode="max")
    run(hpo, f=lambda p: 50 + branin(p["a"], p["b"]) * (1 + math.log10(p["c"]) ** 2))
    optimizer = hpo._fit_optimizer(*hpo._observations(), seed=0)
    optimizer._gp.fit(optimizer.space.params, optimizer.space.target)
    return hpo, optimizer


def test_ucb_surface_equals_gp_predict_and_its_gradient_finite_differences(tmp_path):
    from hpopt.gp_ucb import UcbSurface

    _, optimizer = _fitted_gp(tmp_path)
    gp = optimizer._gp
    ucb = UcbSurface(gp, kappa=2.5)
    rng = np.random.default_rng(3)
    points = np.vstack([rng.random((200, 3)), gp.X_train_[:3]])  # training inputs too (std near 0 there)
    mean, std = gp.predict(points, return_std=True)
    got_mean, got_std = ucb.mean_std(points)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-9, atol=1e-9 * np.abs(mean).max())
    np.testing.assert_allclose(got_std, std, rtol=1e-6, atol=1e-9 * std.max())
    np.testing.assert_allclose(ucb(points), mean + 2.5 * std, rtol=1e-9)
    h = 1e-6
    for x in rng.random((10, 3)):
        value, grad = ucb.value_and_grad(x)
        assert value == pytest.approx(float(ucb(x[None])[0]), rel=1e-12)
        mean0, std0, d_mean, d_std = ucb.mean_std_grad(x)
        fd_mean = [(ucb.mean_std(x + h * e)[0][0] - ucb.mean_std(x - h * e)[0][0]) / (2 * h) for e in np.eye(3)]
        fd_std = [(ucb.mean_std(x + h * e)[1][0] - ucb.mean_std(x - h * e)[1][0]) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(d_mean, fd_mean, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd_mean).max()))
        np.testing.assert_allclose(d_std, fd_std, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd_std).max()))
        np.testing.assert_allclose(grad, d_mean + 2.5 * d_std, rtol=1e-12)


def test_ucb_surface_refuses_another_kernel():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF

    from hpopt.gp_ucb import UcbSurface

    gp = GaussianProcessRegressor(kernel=RBF(0.5)).fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="Matern"):
        UcbSurface(gp, kappa=1.0)


def test_lbfgs_refinement_climbs_above_the_batched_search(tmp_path, monkeypatch):
    import hpopt.smbo
    from hpopt.gp_ucb import UcbSurface

    hpo, optimizer = _fitted_gp(tmp_path)
    gp, xs, ys = optimizer._gp, optimizer.space.params, optimizer.space.target
    ucb = UcbSurface(gp, hpo.kappa)
    monkeypatch.setattr(hpopt.smbo, "_REFINE_STARTS", 0)
    batched = hpo._maximize_ucb(gp, xs, ys, np.random.default_rng(0))
    monkeypatch.undo()
    refined = hpo._maximize_ucb(gp, xs, ys, np.random.default_rng(0))
    assert np.all((refined >= 0) & (refined <= hpo._upper_box()))
    assert ucb(refined[None])[0] > ucb(batched[None])[0]
    # a local maximum of the box: the gradient vanishes, or points out of the box where x is on a bound
    _, grad = ucb.value_and_grad(refined)
    free = (refined > 1e-9) & (refined < hpo._upper_box() - 1e-9)
    assert np.all(np.abs(grad[free]) < 1e-3 * (1 + np.abs(grad).max()))
    assert np.all(grad[refined <= 1e-9] <= 1e-6) and np.all(grad[refined >= hpo._upper_box() - 1e-9] >= -1e-6)
