"""The GP's MAP fit: the prior's gradient, the fit's optimum, and what the prior changes on few points."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor

from hpopt.algorithms.gp_model import LENGTH_SCALE_BOUNDS, log_prior, make_kernel, map_optimizer


@pytest.mark.parametrize("d", [1, 2, 6])
def test_log_prior_gradient_matches_finite_differences(d):
    rng = np.random.default_rng(d)
    for _ in range(5):
        theta = rng.uniform(-4, 3, d + 2)
        _, grad = log_prior(theta)
        eps = 1e-6
        numeric = [(log_prior(theta + eps * e)[0] - log_prior(theta - eps * e)[0]) / (2 * eps)
                   for e in np.eye(d + 2)]
        assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_log_prior_peaks_at_longer_length_scales_in_more_dimensions():
    def mode(d):
        grid = np.linspace(-4, 4, 801)
        values = [log_prior(np.r_[0.0, np.full(d, t), -5.0])[0] / d for t in grid]
        return np.exp(grid[int(np.argmax(values))])

    assert mode(1) < mode(6) < mode(20)


def test_log_prior_rejects_a_theta_without_length_scales():
    with pytest.raises(ValueError, match="length scales"):
        log_prior(np.zeros(2))


def _fit(x, y, optimizer):
    gp = GaussianProcessRegressor(make_kernel(x.shape[1]), alpha=1e-8, normalize_y=True, optimizer=optimizer,
                                  n_restarts_optimizer=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(x, y)
    return gp


def _hartmann_like(x):
    return np.exp(-np.sum(((x - 0.3) / 0.4) ** 2, axis=1)) + 0.3 * np.sin(5 * x[:, 0])


def test_map_fit_minimizes_the_negative_log_posterior():
    rng = np.random.default_rng(0)
    x = rng.random((15, 4))
    gp = _fit(x, _hartmann_like(x), map_optimizer)

    def neg_post(theta):
        return -gp.log_marginal_likelihood(theta) - log_prior(theta)[0]

    best = neg_post(gp.kernel_.theta)
    bounds = gp.kernel_.bounds
    others = [neg_post(rng.uniform(bounds[:, 0], bounds[:, 1])) for _ in range(50)]
    assert best <= min(others)
    assert gp.log_marginal_likelihood_value_ == pytest.approx(-best, rel=1e-6)  # the hook's value is kept


def test_map_fit_keeps_every_dimension_where_maximum_likelihood_switches_some_off():
    """On 10 points in 6-D the likelihood's optimum puts length scales at a bound; the prior's never does."""
    lo, hi = LENGTH_SCALE_BOUNDS
    ml_at_bound = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x = rng.random((10, 6))
        y = _hartmann_like(x)
        ml = _fit(x, y, "fmin_l_bfgs_b").kernel_.k1.k2.length_scale
        mp = _fit(x, y, map_optimizer).kernel_.k1.k2.length_scale
        ml_at_bound += bool(np.any((ml <= 1.01 * lo) | (ml >= 0.99 * hi)))
        assert np.all((mp > 5 * lo) & (mp < hi / 5)), mp
    assert ml_at_bound >= 3


# --- warps of the targets, chosen by marginal likelihood -----------------------------------------------------


@pytest.mark.parametrize("name", ["identity", "yeo-johnson", "log-gap", "log-gap-fine"])
def test_warps_are_monotone_and_their_likelihoods_comparable(name):
    from hpopt.algorithms.gp_ucb import warp_with_jacobian

    rng = np.random.default_rng(0)
    y = -np.exp(rng.normal(0, 2, 12))  # scores spanning orders of magnitude
    out, log_jacobian = warp_with_jacobian(y, name)
    order = np.argsort(y)
    assert np.all(np.diff(out[order]) > 0)  # monotone: the argmax is the same
    # The Jacobian makes the likelihood one of the scores themselves: scores in other units (x 1000) have a
    # density 1000**-n times as large, whatever the warp.
    scaled, log_jacobian_scaled = warp_with_jacobian(1000 * y, name)
    assert log_jacobian_scaled - log_jacobian == pytest.approx(-len(y) * np.log(1000))
    assert np.allclose((scaled - scaled.mean()) / scaled.std(), (out - out.mean()) / out.std())


@pytest.mark.parametrize("rival_steps", [None, 10], ids=["full-fits", "warm-rivals"])
def test_the_warp_with_the_largest_likelihood_is_chosen(monkeypatch, rival_steps):
    from hpopt.algorithms import gp_ucb
    from hpopt.algorithms.gp_ucb import GpUcbSearcher
    from hpopt.search_space import search_space

    monkeypatch.setattr(gp_ucb, "WARP_RIVAL_STEPS", rival_steps)

    rng = np.random.default_rng(1)
    searcher = GpUcbSearcher({"a": search_space("uniform", [0, 1]), "b": search_space("uniform", [0, 1])},
                             mode="max", seed=0)
    x = rng.random((30, 2))
    smooth = np.sin(3 * x[:, 0]) + np.cos(2 * x[:, 1])
    assert searcher.choose_warp(x, smooth, seed=0)[0] in ("identity", "yeo-johnson")
    spread = -np.exp(8 * ((x[:, 0] - 0.3) ** 2 + 4 * (x[:, 1] - 0.6) ** 2))  # values over orders of magnitude
    assert searcher.choose_warp(x, spread, seed=0)[0] != "identity"
    valley = -(((x[:, 0] - 0.3) ** 2 + 100 * (x[:, 1] - 0.6) ** 2) ** 2)  # ill-conditioned, flat at the bottom
    assert searcher.choose_warp(x, valley, seed=0)[0] in ("log-gap", "log-gap-fine")


def test_the_fine_log_gap_resolves_the_good_points_next_to_outliers():
    from hpopt.algorithms.gp_ucb import warp

    # five good scores 1 apart, and one outlier 1e5 below: with an offset of 1 % of the range (1 000) the
    # good ones are squeezed together, with 1 % of the median gap they stay apart
    y = np.array([0.0, -1.0, -2.0, -3.0, -4.0, -1e5])
    coarse, fine = warp(y, "log-gap"), warp(y, "log-gap-fine")
    spread = lambda z: (z[0] - z[4]) / (z[0] - z[5])  # noqa: E731 - good points' spread over the whole spread
    assert spread(fine) > 10 * spread(coarse)


def test_an_unknown_warp_is_refused():
    from hpopt.algorithms.gp_ucb import warp_with_jacobian

    with pytest.raises(ValueError, match="unknown warp"):
        warp_with_jacobian(np.arange(5.0), "log")


def test_warm_rival_fits_cost_fewer_likelihood_evaluations(monkeypatch):
    from hpopt.algorithms import gp_ucb
    from hpopt.search_space import search_space

    rng = np.random.default_rng(2)
    space = {f"x{i}": search_space("uniform", [0, 1]) for i in range(6)}
    x = rng.random((40, 6))
    y = -np.sum((x - 0.4) ** 2 * np.arange(1, 7), axis=1)
    calls = {"n": 0}
    real = gp_ucb.map_optimizer

    def counting(obj_func, initial_theta, bounds, max_steps=None):
        def counted(theta, eval_gradient=True):
            calls["n"] += 1
            return obj_func(theta, eval_gradient=eval_gradient)
        return real(counted, initial_theta, bounds, max_steps)

    monkeypatch.setattr(gp_ucb, "map_optimizer", counting)
    evaluations = {}
    for steps in (None, 10):
        monkeypatch.setattr(gp_ucb, "WARP_RIVAL_STEPS", steps)
        calls["n"] = 0
        gp_ucb.GpUcbSearcher(space, mode="max", seed=0).choose_warp(x, y, seed=0)
        evaluations[steps] = calls["n"]
    assert evaluations[10] < 0.7 * evaluations[None]

