"""The UCB's gradient and the L-BFGS-B step that ends baye_opt's acquisition search."""

from __future__ import annotations

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import gp_ucb, input_warp, ucb_polish
from hpopt.algorithms.searcher import SuggestRequest

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SPACE = {**{f"x{i}": hpopt.search_space("uniform", [0, 1]) for i in range(4)},
         "n": hpopt.search_space("quniform", [1, 10, 1])}


def _fitted(seed: int = 0, warp: bool = False, monkeypatch=None):
    if warp:
        monkeypatch.setattr(gp_ucb, "INPUT_WARPING", True)
        monkeypatch.setattr(input_warp, "BIC_FACTOR", 0.0)  # keep whatever warp the fit finds
    searcher = gp_ucb.GpUcbSearcher(SPACE, mode="min", seed=seed)
    rng = np.random.default_rng(seed)
    for tid in range(20):
        params = {k: v.decode(rng.random()) for k, v in SPACE.items()}
        searcher.on_config(tid, 0, params)
        searcher.on_result(tid, sum((params[f"x{i}"] - 0.3) ** 2 for i in range(4)) + 0.01 * params["n"])
    x_obs, y_obs = searcher.observations()
    return searcher, searcher.fit(x_obs, y_obs, SuggestRequest(20, 0, SPACE), seed=1)


@pytest.mark.parametrize("warp", [False, True])
def test_the_gradient_matches_the_ucb_and_its_finite_differences(warp, monkeypatch):
    _, model = _fitted(warp=warp, monkeypatch=monkeypatch)
    assert model.inputs.is_identity is not warp  # the warped case checks the chain rule through the warp
    point = np.array([0.2, 0.6, 0.35, 0.8, 0.45])
    value, grad = model.ucb_gradient(point)
    assert value == pytest.approx(model.ucb(point[None, :])[0], rel=1e-9)
    numeric = np.array([(model.ucb_gradient(point + e)[0] - model.ucb_gradient(point - e)[0]) / 2e-6
                        for e in np.eye(5) * 1e-6])
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_polish_climbs_the_ucb_and_moves_only_free_coordinates_within_bounds():
    searcher, model = _fitted()
    free = searcher.box.unsnapped
    assert free.tolist() == [True, True, True, True, False]  # the integer is snapped, so it stays
    lo, hi = np.full(5, 0.1), np.full(5, 0.9)
    starts = np.random.default_rng(3).uniform(0.1, 0.9, (4, 5))
    climbed = ucb_polish.polish(model.ucb_gradient, starts, lo, hi, free)
    assert np.all(model.ucb(climbed) >= model.ucb(starts) - 1e-9)
    assert np.all(model.ucb(climbed) > model.ucb(starts) + 1e-6)  # every start found a better point
    assert np.array_equal(climbed[:, 4], starts[:, 4])
    assert np.all((climbed >= lo) & (climbed <= hi))


def test_the_polished_search_finds_a_ucb_at_least_as_high(monkeypatch):
    searcher, model = _fitted(seed=4)
    x_obs, y_obs = searcher.observations()

    def best_ucb(polish: bool) -> float:
        monkeypatch.setattr(gp_ucb, "POLISH", polish)
        point = searcher._maximize(model, SPACE, np.random.default_rng(7), x_obs, y_obs)
        return float(model.ucb(point[None, :])[0])

    assert best_ucb(True) >= best_ucb(False)
