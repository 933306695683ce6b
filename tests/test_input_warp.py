"""The Kumaraswamy input warp of baye_opt's GP: its arithmetic, its fit, and the searcher using it."""

from __future__ import annotations

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import gp_ucb, input_warp
from hpopt.algorithms.gp_model import make_kernel
from hpopt.algorithms.searcher import SuggestRequest

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fitted_gp(x, y):
    from sklearn.gaussian_process import GaussianProcessRegressor

    return GaussianProcessRegressor(make_kernel(x.shape[1]), alpha=1e-8, normalize_y=True).fit(x, y)


def test_kumaraswamy_is_a_monotone_map_of_the_unit_interval_and_identity_at_one():
    u = np.linspace(0, 1, 101)[:, None]
    assert np.allclose(input_warp.kumaraswamy(u, np.ones(1), np.ones(1)), np.clip(u, 1e-6, 1 - 1e-6))
    w = input_warp.kumaraswamy(u, np.array([0.4]), np.array([3.0]))
    assert np.all(np.diff(w[:, 0]) > 0) and w[0, 0] >= 0 and w[-1, 0] <= 1
    assert w[10, 0] > 0.5  # a < 1, b > 1: the first tenth of the range is stretched over half the axis


def test_the_likelihood_gradient_in_the_inputs_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, y, scales = rng.random((15, 3)), rng.normal(size=15), np.array([0.3, 0.5, 0.8])
    lml, grad = input_warp._matern_lml_and_input_grad(x, y, 1.3, scales, 1e-3)
    numeric = np.zeros_like(x)
    for i in range(len(x)):
        for k in range(3):
            step = np.zeros_like(x)
            step[i, k] = 1e-6
            up = input_warp._matern_lml_and_input_grad(x + step, y, 1.3, scales, 1e-3)[0]
            down = input_warp._matern_lml_and_input_grad(x - step, y, 1.3, scales, 1e-3)[0]
            numeric[i, k] = (up - down) / 2e-6
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-5)


def test_the_likelihood_agrees_with_scikit_learn():
    rng = np.random.default_rng(1)
    x = rng.random((25, 2))
    y = np.exp(-8 * x[:, 0]) + (x[:, 1] - 0.5) ** 2
    gp = _fitted_gp(x, y)
    signal, scales, noise = input_warp.kernel_parts(gp.kernel_)
    z = (y - y.mean()) / y.std()
    assert input_warp._matern_lml_and_input_grad(x, z, signal, scales, noise)[0] == pytest.approx(
        gp.log_marginal_likelihood_value_, rel=1e-6)


def test_the_warp_stretches_the_steep_end_and_leaves_a_stationary_coordinate_alone():
    rng = np.random.default_rng(2)
    x = rng.random((40, 2))
    y = 3 * np.exp(-10 * x[:, 0]) + np.sin(6 * x[:, 1])  # steep near x0 = 0, stationary in x1
    gp = _fitted_gp(x, y)
    warp = input_warp.fit(x, y, gp.kernel_, np.array([True, True]))
    bent = warp(np.array([[0.1, 0.5]]))[0]
    assert bent[0] > 0.25  # the steep first tenth of x0 now spans a good part of the axis
    assert abs(bent[1] - 0.5) < 0.1  # x1 barely moves
    refit = _fitted_gp(warp(x), y)
    assert refit.log_marginal_likelihood_value_ > gp.log_marginal_likelihood_value_


def test_a_warp_that_does_not_pay_its_parameters_is_dropped():
    x = np.random.default_rng(4).random((40, 4))
    y = np.sum((x - 0.3) ** 2, axis=1)  # a stationary bowl: nothing to bend
    assert input_warp.fit(x, y, _fitted_gp(x, y).kernel_, np.ones(4, bool)).is_identity


def test_coordinates_outside_the_mask_are_never_warped():
    x = np.random.default_rng(3).random((12, 3))
    warp = input_warp.InputWarp(np.array([False, True, False]), np.array([0.3]), np.array([4.0]))
    out = warp(x)
    assert np.array_equal(out[:, [0, 2]], x[:, [0, 2]]) and not np.allclose(out[:, 1], x[:, 1])
    assert input_warp.fit(x, x[:, 0], _fitted_gp(x, x[:, 0]).kernel_, np.zeros(3, bool)).is_identity


def test_choices_are_not_warped_only_numeric_ranges():
    space = {"lr": hpopt.search_space("loguniform", [1e-4, 1e-1]), "layers": hpopt.search_space("choice", [1, 2, 3]),
             "act": hpopt.search_space("choice", ["relu", "tanh", "gelu"]),
             "units": hpopt.search_space("quniform", [16, 256, 16])}
    searcher = gp_ucb.GpUcbSearcher(space, mode="max", seed=0)
    assert searcher.box.numeric.tolist() == [True, False, False, False, False, True]


def test_the_searcher_fits_a_warp_and_suggests_reproducibly(monkeypatch):
    monkeypatch.setattr(gp_ucb, "INPUT_WARPING", True)
    monkeypatch.setattr(input_warp, "BIC_FACTOR", 0.0)  # keep whatever warp the fit finds
    space = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])}

    def run() -> tuple[list[dict], list[bool]]:
        searcher = gp_ucb.GpUcbSearcher(space, mode="max", seed=5, num_init_trials=5)
        configs, warped = [], []
        for tid in range(14):
            params = searcher.suggest(SuggestRequest(tid, 0, space))
            searcher.on_config(tid, 0, params)
            searcher.on_result(tid, -3 * np.exp(-10 * params["x"]) - (params["y"] - 0.3) ** 2)
            configs.append(params)
        x_obs, y_obs = searcher.observations()
        model = searcher.fit(x_obs, y_obs, SuggestRequest(14, 0, space), seed=1)
        warped.append(not np.allclose(model.inputs(x_obs), x_obs))
        return configs, warped

    first, warped = run()
    assert warped == [True]  # past MIN_FOR_INPUT_WARP observations the GP sees warped inputs
    assert run()[0] == first  # same observations and seed, same suggestions
