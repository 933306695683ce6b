"""The trust region of baye_opt's acquisition search: replayed side length, region corners, and the
searcher keeping its UCB search inside it."""

from __future__ import annotations

import numpy as np
import pytest

import hpopt
from hpopt.algorithms import gp_ucb, trust_region
from hpopt.algorithms.searcher import SuggestRequest
from hpopt.algorithms.trust_region import (
    CONTINUOUS_INITIAL_LENGTH,
    INITIAL_LENGTH,
    MAX_LENGTH,
    MIN_FAILURES,
    SUCCESSES,
    initial_length,
    side_length,
)


def test_length_starts_at_the_initial_side_and_ignores_the_start_design():
    assert side_length([], dims=3, num_initial=5) == INITIAL_LENGTH
    assert side_length([1.0, 5.0, 2.0, 9.0, 3.0], dims=3, num_initial=5) == INITIAL_LENGTH


def test_successes_in_a_row_double_the_side_up_to_the_maximum():
    start = [0.0] * 5
    rising = [float(i) for i in range(1, 3 * SUCCESSES + 1)]
    assert side_length(start + rising[:SUCCESSES - 1], 2, 5) == INITIAL_LENGTH
    assert side_length(start + rising[:SUCCESSES], 2, 5) == 2 * INITIAL_LENGTH
    assert side_length(start + rising, 2, 5) == MAX_LENGTH


def test_failures_in_a_row_halve_the_side_and_a_success_resets_the_count():
    d = 6  # tolerance max(MIN_FAILURES, d) = 6
    assert max(MIN_FAILURES, d) == 6
    flat = [1.0] * 5
    assert side_length(flat + [0.5] * 5, d, 5) == INITIAL_LENGTH
    assert side_length(flat + [0.5] * 6, d, 5) == INITIAL_LENGTH / 2
    assert side_length(flat + [0.5] * 5 + [2.0] + [0.5] * 5, d, 5) == INITIAL_LENGTH
    assert side_length(flat + [0.5] * 12, d, 5) == INITIAL_LENGTH / 4


def test_a_tiny_improvement_is_a_failure():
    best = 100.0
    assert side_length([best] * 5 + [best * (1 + 1e-5)] * MIN_FAILURES, 2, 5) == INITIAL_LENGTH / 2


def test_a_collapsed_region_starts_over():
    flat = [1.0] * 5
    # 7 halvings take 0.8 below 0.5 ** 7; the side then restarts at the initial length
    lengths = {side_length(flat + [0.0] * (MIN_FAILURES * k), 2, 5) for k in range(10)}
    assert min(lengths) >= trust_region.MIN_LENGTH
    assert side_length(flat + [0.0] * (MIN_FAILURES * 7), 2, 5) == INITIAL_LENGTH


def test_length_rejects_no_dimensions():
    with pytest.raises(ValueError):
        side_length([1.0], dims=0, num_initial=1)


def test_region_is_stretched_by_length_scales_and_clipped_to_the_box():
    lo, hi = trust_region.region(np.array([0.5, 0.5]), np.array([4.0, 1.0]), 0.4, np.ones(2))
    # weights 2 and 0.5 (geometric mean 1): half-widths 0.4 and 0.1
    np.testing.assert_allclose(lo, [0.1, 0.4])
    np.testing.assert_allclose(hi, [0.9, 0.6])
    lo, hi = trust_region.region(np.array([0.95, 0.02]), np.ones(2), 0.2, np.array([0.9, 1.0]))
    np.testing.assert_allclose(lo, [0.85, 0.0])
    np.testing.assert_allclose(hi, [0.9, 0.12])


def test_free_coordinates_keep_their_full_range():
    lo, hi = trust_region.region(np.array([1.0, 0.0, 0.3]), np.ones(3), 0.1, np.ones(3),
                                 free=np.array([True, True, False]))
    np.testing.assert_allclose(lo, [0.0, 0.0, 0.25])
    np.testing.assert_allclose(hi, [1.0, 1.0, 0.35])


def _searcher(n: int, use_trust_region: bool = True) -> gp_ucb.GpUcbSearcher:
    space = {"a": hpopt.search_space("uniform", [-5, 5]), "b": hpopt.search_space("uniform", [-5, 5]),
             "c": hpopt.search_space("uniform", [-5, 5])}
    searcher = gp_ucb.GpUcbSearcher(space, mode="min", seed=3, use_trust_region=use_trust_region)
    rng = np.random.default_rng(0)
    for i in range(n):
        params = {k: float(v) for k, v in zip("abc", rng.uniform(-5, 5, 3), strict=True)}
        if i >= 5:  # later trials are near (1, 1, 1) but do not improve much: the region shrinks
            params = {k: 1.0 + 0.5 * float(rng.normal()) for k in "abc"}
        searcher.on_config(i, 0, params)
        searcher.on_result(i, sum((v - 1.0) ** 2 for v in params.values()))
    return searcher


def _fitted(searcher: gp_ucb.GpUcbSearcher) -> tuple[np.ndarray, np.ndarray, gp_ucb.Model]:
    """The searcher's observations and its GP fitted on them, as asked for trial 40."""
    x, y = searcher.observations()
    request = SuggestRequest(trial_id=40, attempt=0, space=searcher.box.space, pending=[])
    return x, y, searcher.fit(x, y, request, seed=1)


def test_the_searcher_maximizes_the_ucb_inside_the_region():
    searcher = _searcher(40)
    x, y, model = _fitted(searcher)
    lo, hi = searcher.search_region(model, x, y, np.ones(3))
    assert np.all(hi - lo < 1.0) and np.all(hi > lo)  # a real region, smaller than the box
    for attempt in range(3):
        params = searcher.propose(SuggestRequest(trial_id=40, attempt=attempt, space=searcher.box.space,
                                                 pending=[]), x, y)
        u = searcher.box.encode(params)
        assert np.all(u >= lo - 1e-9) and np.all(u <= hi + 1e-9)


def test_without_the_region_the_whole_box_is_searched():
    searcher = _searcher(40, use_trust_region=False)
    x, y, model = _fitted(searcher)
    lo, hi = searcher.search_region(model, x, y, np.ones(3))
    np.testing.assert_array_equal(lo, np.zeros(3))
    np.testing.assert_array_equal(hi, np.ones(3))


def test_perturbations_fold_into_a_narrow_region_without_piling_on_its_faces():
    from hpopt.algorithms.gp_ucb import _into_box

    lo, hi = np.array([0.0, 0.2]), np.array([1.0, 0.25])
    rng = np.random.default_rng(0)
    points = _into_box(np.array([0.5, 0.22]) + rng.normal(0.0, 0.1, (20000, 2)), lo, hi)
    assert np.all(points >= lo) and np.all(points <= hi)
    on_face = np.isclose(points[:, 1], 0.2, atol=1e-9) | np.isclose(points[:, 1], 0.25, atol=1e-9)
    assert on_face.mean() < 0.001  # one reflection and a clip put ~1/3 of them on a face
    counts = np.histogram(points[:, 1], bins=5, range=(0.2, 0.25))[0]
    assert counts.min() > 0.8 * counts.max()  # about even across the region
    # a single overshoot is the plain mirror image, as in the whole box
    np.testing.assert_allclose(_into_box(np.array([[-0.3, 0.26], [1.2, 0.19]]), lo, hi), [[0.3, 0.24], [0.8, 0.21]])


def test_continuous_spaces_start_smaller_and_start_over_there():
    assert initial_length(True) == CONTINUOUS_INITIAL_LENGTH < initial_length(False) == INITIAL_LENGTH
    flat = [1.0] * 5
    assert side_length(flat, 2, 5, CONTINUOUS_INITIAL_LENGTH) == CONTINUOUS_INITIAL_LENGTH
    assert side_length(flat + [0.0] * MIN_FAILURES, 2, 5, CONTINUOUS_INITIAL_LENGTH) == CONTINUOUS_INITIAL_LENGTH / 2
    collapsed = [side_length(flat + [0.0] * (MIN_FAILURES * k), 2, 5, CONTINUOUS_INITIAL_LENGTH) for k in range(9)]
    # six halvings take 0.4 below MIN_LENGTH: the side starts over at the continuous start, not at 0.8
    assert min(collapsed) >= trust_region.MIN_LENGTH and collapsed[5] == CONTINUOUS_INITIAL_LENGTH / 32
    assert collapsed[6] == CONTINUOUS_INITIAL_LENGTH


def test_the_searcher_starts_small_only_when_every_parameter_is_continuous():
    uniform = hpopt.search_space("uniform", [0, 1])
    assert gp_ucb.GpUcbSearcher({"a": uniform, "b": hpopt.search_space("loguniform", [1e-3, 1])},
                                mode="max", seed=0).continuous
    for other in (hpopt.search_space("quniform", [0, 10, 1]), hpopt.search_space("choice", ["x", "y"])):
        assert not gp_ucb.GpUcbSearcher({"a": uniform, "b": other}, mode="max", seed=0).continuous
    searcher = _searcher(40)  # three uniform parameters: the region is replayed from the smaller start
    x, y = searcher.observations()
    request = SuggestRequest(trial_id=40, attempt=0, space=searcher.box.space, pending=[])
    model = searcher.fit(x, y, request, seed=1)
    lo, hi = searcher.search_region(model, x, y, np.ones(3))
    small, large = (side_length(y, 3, searcher.num_init_trials, first) for first in (CONTINUOUS_INITIAL_LENGTH,
                                                                                       INITIAL_LENGTH))
    assert small < large
    center = x[int(np.argmax(model.mean(x)))]
    scales = gp_ucb._length_scales(model.gp, 3)
    np.testing.assert_allclose(np.stack([lo, hi]), np.stack(trust_region.region(center, scales, small, np.ones(3))))
    assert not np.allclose(np.stack([lo, hi]), np.stack(trust_region.region(center, scales, large, np.ones(3))))


# --- closing in as the run's planned trials run out ---------------------------------------------


def test_share_left_counts_the_trial_being_suggested():
    assert trust_region.share_left(0, 30) == 1.0
    assert trust_region.share_left(29, 30) == pytest.approx(1 / 30)
    assert trust_region.share_left(15, 30) == pytest.approx(0.5)
    assert trust_region.share_left(40, 30) == 0.0  # a re-plan cut the count below the trials started
    assert trust_region.share_left(3, None) is None and trust_region.share_left(3, 0) is None


def test_the_closing_cap_scales_the_start_by_the_share_left_and_has_a_floor():
    assert trust_region.closing_length(0.4, 1.0) == pytest.approx(0.4)
    assert trust_region.closing_length(0.4, 0.5) == pytest.approx(0.4 * 0.5**trust_region.CLOSING_POWER)
    assert trust_region.closing_length(0.4, 0.0) == 2 * trust_region.MIN_LENGTH
    with pytest.raises(ValueError, match="left"):
        trust_region.closing_length(0.4, 1.5)


def test_the_cap_bounds_the_side_without_changing_the_evidence_rule():
    flat = [1.0] * 5
    rising = flat + [2.0, 3.0, 4.0]  # three successes: the side doubles to 1.6
    assert side_length(rising, 2, 5) == 2 * INITIAL_LENGTH
    assert side_length(rising, 2, 5, left=1.0) == INITIAL_LENGTH  # never above the start's side
    assert side_length(rising, 2, 5, left=0.25) == pytest.approx(trust_region.closing_length(INITIAL_LENGTH, 0.25))
    # a side already below the cap is left alone: the cap only bounds, it never grows the region
    shrunk = flat + [0.0] * MIN_FAILURES * 2
    assert side_length(shrunk, 2, 5, left=0.9) == side_length(shrunk, 2, 5) == INITIAL_LENGTH / 4
    assert side_length([], 2, 5, left=0.5) == pytest.approx(trust_region.closing_length(INITIAL_LENGTH, 0.5))


def test_the_searcher_closes_in_on_the_last_planned_trials():
    searcher = _searcher(40)
    x, y, model = _fitted(searcher)
    open_lo, open_hi = searcher.search_region(model, x, y, np.ones(3))
    last_lo, last_hi = searcher.search_region(model, x, y, np.ones(3), trust_region.share_left(40, 42))
    assert np.all(last_hi - last_lo < 0.2 * (open_hi - open_lo))  # 2 of 42 left: a small box
    centre = (last_lo + last_hi) / 2
    assert np.all(centre >= open_lo) and np.all(centre <= open_hi)  # around the same best point
    # the request's plan reaches the search: the last trial's config lies in the small box
    params = searcher.propose(SuggestRequest(trial_id=41, attempt=0, space=searcher.box.space, pending=[],
                                             planned=42), x, y)
    u = searcher.box.encode(params)
    lo, hi = searcher.search_region(model, x, y, np.ones(3), trust_region.share_left(41, 42))
    assert np.all(hi - lo < 0.2 * (open_hi - open_lo))
    assert np.all(u >= lo - 1e-9) and np.all(u <= hi + 1e-9)


def test_the_controller_tells_the_searcher_the_planned_trial_count(tmp_path):
    space = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])}
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=1, search_space=space, save_path=str(tmp_path),
                       search_alg="bayes_opt", num_trials=8, max_iterations=1, subset_ratio=1.0, seed=0)
    searcher = hpo.algorithm.searcher
    seen = []
    original = searcher.suggest

    def spy(request: SuggestRequest):
        seen.append((request.trial_id, request.planned))
        return original(request)

    searcher.suggest = spy
    while (cfg := hpo.get_next_sample()) is not None:
        hpopt.report(config=cfg, score=-(cfg["params"]["x"] - 0.3) ** 2 - (cfg["params"]["y"] - 0.6) ** 2)
    assert [planned for _, planned in seen] == [8] * len(seen) and len(seen) >= 7
