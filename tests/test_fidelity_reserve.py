"""A run that re-plans starts above the fidelity floor, so a dearer search costs fidelity before trials."""

from __future__ import annotations

import math

import pytest

import hpopt
from hpopt.auto_config import auto_config, trial_cost
from hpopt.auto_replan import FIDELITY_RESERVE, KEEP_SHARE, MIN_FIDELITY_SHARE, CostModel, Plan, replan
from hpopt.time_model import min_subset_ratio

# The digits sample's conv net at r = 2: 12 epochs, a 0.1 s GP suggestion against a 7 s full training.
TIGHT = {"full_dataset_size": 10_341, "num_full_iterations": 12, "num_hyperparameters": 6,
         "expected_time_ratio": 2.0, "non_pure_train_ratio": 0.0, "trial_overhead": 0.0137}
OWNED = frozenset({"num_trials", "max_iterations", "subset_ratio"})


def _fidelity_cost(cfg) -> float:
    return trial_cost(cfg.max_iterations, TIGHT["num_full_iterations"], cfg.subset_ratio,
                      TIGHT["non_pure_train_ratio"])


def _lowest() -> float:
    return trial_cost(2, TIGHT["num_full_iterations"], min_subset_ratio(TIGHT["full_dataset_size"]),
                      TIGHT["non_pure_train_ratio"])


def test_a_reserve_of_one_plans_as_before():
    assert auto_config(**TIGHT, fidelity_reserve=1.0) == auto_config(**TIGHT)


def test_near_the_floor_the_reserve_trades_trials_for_fidelity_within_the_budget():
    plain, kept = auto_config(**TIGHT), auto_config(**TIGHT, fidelity_reserve=2.0)
    assert _fidelity_cost(plain) < 2.0 * _lowest()  # the plain plan sits within 2x of the floor...
    assert _fidelity_cost(kept) >= 2.0 * _lowest() * (1 - 1e-9)  # ...the reserved one at least 2x above it
    assert kept.num_trials < plain.num_trials
    assert kept.estimated_hpo_time <= 1.0 * (1 + 1e-9)  # still inside (r - 1) full trainings
    assert not any("exceed" in w for w in kept.warnings)
    assert plain.fidelity_reserve == 1.0 and kept.fidelity_reserve == pytest.approx(2.0)


@pytest.mark.parametrize("ratio", [4.0, 8.0])
def test_far_from_the_floor_the_reserve_changes_nothing(ratio):
    assert auto_config(**{**TIGHT, "expected_time_ratio": ratio}, fidelity_reserve=2.0) == auto_config(
        **{**TIGHT, "expected_time_ratio": ratio})


def test_the_users_values_win():
    # a count the user set is the count: the reserve does not thin it
    assert auto_config(**TIGHT, num_trials=40, fidelity_reserve=2.0) == auto_config(**TIGHT, num_trials=40)
    # a subset the user set is the floor the reserve counts from; fidelity fixed entirely: nothing to reserve
    kept, plain = auto_config(**TIGHT, subset_ratio=0.2, fidelity_reserve=2.0), auto_config(**TIGHT, subset_ratio=0.2)
    assert kept.subset_ratio == 0.2 and plain.max_iterations == 2 and kept.max_iterations == 3
    both = {"max_iterations": 2, "subset_ratio": 0.06}
    assert auto_config(**TIGHT, **both, fidelity_reserve=3.0) == auto_config(**TIGHT, **both)


def test_the_reserve_never_costs_more_than_the_share_of_the_count_it_protects():
    # 1 000 samples, 2 epochs, r = 3: even the lowest fidelity (1 epoch on half the data) fits only 6 trials
    small = {"full_dataset_size": 1000, "num_full_iterations": 2, "num_hyperparameters": 2, "expected_time_ratio": 3}
    plain, kept = auto_config(**small), auto_config(**small, fidelity_reserve=2.0)
    assert plain.num_trials == 6 and plain.subset_ratio == 0.5
    assert kept.num_trials == math.floor(KEEP_SHARE * plain.num_trials) == 4  # not 3, as twice the floor's cost
    assert kept.fidelity_reserve == pytest.approx(1 / KEEP_SHARE)


def test_a_tiny_budget_is_not_planned_past_the_time_asked():
    tiny = {**TIGHT, "expected_time_ratio": 1.05}
    kept, plain = auto_config(**tiny, fidelity_reserve=10.0), auto_config(**tiny)
    assert kept.num_trials >= 1
    assert kept.estimated_hpo_time <= max(0.05, plain.estimated_hpo_time) * (1 + 1e-9)


@pytest.mark.parametrize("bad", [0.5, 0.0, -2.0, math.nan, math.inf, "2", None])
def test_a_bad_reserve_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="fidelity_reserve"):
        auto_config(**TIGHT, fidelity_reserve=bad)


def test_a_dearer_search_costs_the_reserved_plan_fidelity_and_the_plain_plan_trials():
    """Epochs at twice the plan's cost after two trials: the re-plan of the reserved plan keeps its count."""
    full_s = 7.0
    counts = {}
    for name, reserve in (("plain", 1.0), ("kept", FIDELITY_RESERVE)):
        cfg = auto_config(**TIGHT, fidelity_reserve=reserve)
        model = CostModel(full_s, 12, 0.0, epoch_scale=2.0, overhead_s=TIGHT["trial_overhead"] * full_s)
        ran_s = (cfg.trial_overhead + 2.0 * _fidelity_cost(cfg)) * full_s  # a trial at twice the epoch cost
        left = full_s * 1.0 - 2 * ran_s  # two such trials ran
        plan = Plan(cfg.num_trials, cfg.max_iterations, cfg.subset_ratio)
        floor = MIN_FIDELITY_SHARE * _fidelity_cost(cfg)
        new = replan(plan, 2, left, model, OWNED, min_subset_ratio(TIGHT["full_dataset_size"]),
                     min_per_trial=floor)
        counts[name] = (cfg.num_trials, new.num_trials)
    plain_start, plain_after = counts["plain"]
    kept_start, kept_after = counts["kept"]
    assert kept_after >= kept_start - 1  # the reserve paid for the dearer epochs
    assert plain_after <= plain_start - 3  # the plan near the floor had little but its count to give
    assert kept_after / kept_start > plain_after / plain_start + 0.05


def _create(tmp_path, alg: str, **kw):
    space = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("loguniform", [1e-4, 1e-1])}
    return hpopt.create(search_alg=alg, search_space=space, full_dataset_size=10_000, num_full_iterations=12,
                        save_path=str(tmp_path / f"{alg}_{sorted(kw)}"), expected_time_ratio=1.3,
                        full_train_seconds=5.0, seed=1, non_pure_train_ratio=0.0, **kw)


def test_create_reserves_only_for_a_run_that_re_plans(tmp_path, caplog):
    # r = 1.3 and 20 trials aimed at: 0.015 full trainings each, under twice the floor's 0.0083
    with caplog.at_level("INFO", logger="hpopt"):
        replanned = _create(tmp_path, "random")
    assert "each trial at 2x the lowest fidelity's cost" in caplog.text  # the plan says why it has fewer trials
    static = _create(tmp_path, "random", replan=False)
    assert replanned.num_trials < static.num_trials
    assert trial_cost(replanned.max_iterations, 12, replanned.subset_ratio, 0.0) >= 2 * trial_cost(
        2, 12, 0.05, 0.0) * (1 - 1e-9)
    assert replanned.get_current_status()["auto_plan"]["num_trials"] == replanned.num_trials
    # (random draws: no suggestion is timed, so both plans see the same overhead)
    asha, asha_static = _create(tmp_path, "asha", sampler="random"), _create(tmp_path, "asha", sampler="random",
                                                                             replan=False)
    assert asha.num_trials == asha_static.num_trials  # ASHA's fidelity gives way by its rungs and its cut


def test_the_plan_says_when_it_starts_at_the_subset_floor_of_a_run_that_re_plans(tmp_path, caplog):
    # r = 1.3: ASHA's subset starts at the 500-sample floor (0.05 of 10 000), so the plan line says what gives
    floor_note = "the subset is at its floor of 500 samples"
    with caplog.at_level("INFO", logger="hpopt"):
        asha = _create(tmp_path, "asha", sampler="random")
    assert asha.subset_ratio == pytest.approx(0.05)
    assert floor_note in caplog.text and ("fewer epochs, then a subset cut to 250 samples, then fewer trials pay for "
                                          "it") in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="hpopt"):
        _create(tmp_path, "asha", sampler="random", max_iterations=12)  # the user's epochs: only the count gives
    assert floor_note in caplog.text and "fewer epochs" not in caplog.text
    assert "so if trials cost more than the training timed, a subset cut to 250 samples, then fewer" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="hpopt"):
        _create(tmp_path, "asha", sampler="random", replan=False)  # a static plan cuts nothing
        _create(tmp_path, "asha", sampler="random", subset_ratio=0.05)  # the user's subset is not auto config's
    assert "auto config filled" in caplog.text and floor_note not in caplog.text
