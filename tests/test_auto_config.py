"""Tests for hpopt.auto_config: worked examples from docs/auto_config.md, user values, budget, validation."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpopt.algorithms import epoch_excess, sampler_epochs
from hpopt.auto_config import (
    AutoConfig,
    asha_bracket_epochs,
    asha_epochs_curve,
    asha_expected_epochs,
    asha_rungs,
    auto_config,
    auto_config_asha,
    hpo_budget,
    max_brackets,
    min_subset_ratio,
    round_robin_shares,
    trial_cost,
)

EXAMPLE = {"full_dataset_size": 10000, "num_full_iterations": 20, "num_hyperparameters": 2}
TIGHT = 1e-12


def _cost(cfg: AutoConfig, full: int, p: float) -> float:
    return trial_cost(cfg.expected_epochs_per_trial, full, cfg.subset_ratio, p)


def _exceeds(cfg: AutoConfig) -> bool:
    return any("exceed the time asked for" in w for w in cfg.warnings)


# --------------------------------------------------------------------------- worked examples (docs)


def test_example_a_sequential_defaults() -> None:
    cfg = auto_config(**EXAMPLE, expected_time_ratio=4.0, non_pure_train_ratio=0.2, num_workers=1)
    # B = 3, n_base = 20, f* = 0.15, u = (-0.2 + sqrt(0.52)) / 1.6 = 0.32569...
    assert hpo_budget(4.0, 1) == 3.0
    assert (-0.2 + math.sqrt(0.52)) / 1.6 == pytest.approx(0.325694, abs=1e-6)
    assert cfg.max_iterations == 7  # round(6.514)
    assert cfg.subset_ratio == pytest.approx(2 / 7, rel=TIGHT)  # (0.15*20/7 - 0.2) / 0.8
    assert cfg.num_trials == 20
    assert _cost(cfg, 20, 0.2) == pytest.approx(0.15, rel=TIGHT)
    assert cfg.estimated_hpo_time == pytest.approx(3.0, rel=TIGHT)
    assert cfg.estimated_time_ratio == pytest.approx(4.0, rel=TIGHT)
    assert cfg.expected_epochs_per_trial == 7.0
    assert cfg.epoch_budget == 140.0
    assert cfg.min_iterations is None and cfg.num_brackets is None and cfg.rungs == ()
    assert cfg.filled == ("num_trials", "max_iterations", "subset_ratio")
    assert cfg.warnings == ()


def test_example_b_user_num_trials() -> None:
    cfg = auto_config(**EXAMPLE, num_trials=10)
    # f* = 0.3, u = (-0.2 + sqrt(1.0)) / 1.6 = 0.5 -> 10 iterations, s = (0.3*20/10 - 0.2)/0.8 = 0.5
    assert cfg.num_trials == 10
    assert cfg.max_iterations == 10
    assert cfg.subset_ratio == pytest.approx(0.5, rel=TIGHT)
    assert _cost(cfg, 20, 0.2) == pytest.approx(0.3, rel=TIGHT)
    assert cfg.estimated_hpo_time == pytest.approx(3.0, rel=TIGHT)
    assert cfg.estimated_time_ratio == pytest.approx(4.0, rel=TIGHT)
    assert cfg.epoch_budget == 100.0
    assert cfg.filled == ("max_iterations", "subset_ratio")
    assert cfg.warnings == ()


def test_example_c_asha_costed_as_its_first_bracket() -> None:
    cfg = auto_config_asha(**EXAMPLE, reduction_factor=2, sampler="random")
    # Every distinct bracket; trials are costed as bracket 0's (the chooser's start)
    assert cfg.rungs == ((1, 2, 4, 8, 16, 20), (2, 4, 8, 16, 20), (4, 8, 16, 20), (8, 16, 20), (16, 20))
    # In the long run 0.5*1 + 0.25*2 + 0.125*4 + 0.0625*8 + 0.03125*16 + 0.03125*20 = 3.125 epochs a trial;
    # a run of 20 trials spends about twice that (asha_epochs_curve)
    assert asha_expected_epochs(1, 20, 2, 1) == pytest.approx(3.125, rel=TIGHT)
    epochs = asha_epochs_curve(1, 20, 2, 1, 20)[20] / 20
    assert 5.0 < epochs < 7.5 and cfg.expected_epochs_per_trial == pytest.approx(epochs, rel=TIGHT)
    # s = (3*20 / (20*epochs) - 0.2) / 0.8
    assert cfg.subset_ratio == pytest.approx((3 * 20 / (20 * epochs) - 0.2) / 0.8, rel=TIGHT)
    assert _cost(cfg, 20, 0.2) == pytest.approx(0.15, rel=TIGHT)
    assert cfg.num_trials == 20
    assert cfg.epoch_budget == pytest.approx(20 * epochs, rel=TIGHT)
    assert cfg.estimated_hpo_time == pytest.approx(3.0, rel=TIGHT)
    assert cfg.estimated_time_ratio == pytest.approx(4.0, rel=TIGHT)
    assert (cfg.max_iterations, cfg.min_iterations, cfg.num_brackets) == (20, 1, 5)
    assert cfg.filled == ("num_trials", "max_iterations", "min_iterations", "num_brackets", "subset_ratio")
    assert cfg.warnings == ()


def test_example_c_with_the_forest_plans_the_epochs_its_trials_run() -> None:
    # create()'s default sampler: 20 trials of the forest run 1.19x the epochs of the rung simulation's random
    # order (EPOCH_EXCESS, between 15 -> 1.10 and 30 -> 1.37), so each gets a smaller subset for the same count
    random = auto_config_asha(**EXAMPLE, reduction_factor=2, sampler="random")
    cfg = auto_config_asha(**EXAMPLE, reduction_factor=2)
    assert cfg == auto_config_asha(**EXAMPLE, reduction_factor=2, sampler="forest")
    assert epoch_excess("forest", 20) == pytest.approx(1.10 + 0.27 / 3, rel=TIGHT)
    epochs = asha_epochs_curve(1, 20, 2, 1, 20)[20] / 20 * epoch_excess("forest", 20)
    assert cfg.expected_epochs_per_trial == pytest.approx(epochs, rel=TIGHT)
    assert cfg.expected_epochs_per_trial > 1.15 * random.expected_epochs_per_trial
    assert cfg.num_trials == 20 and cfg.epoch_budget == pytest.approx(20 * epochs, rel=TIGHT)
    assert cfg.subset_ratio == pytest.approx((3 * 20 / (20 * epochs) - 0.2) / 0.8, rel=TIGHT)
    assert cfg.subset_ratio < random.subset_ratio and _cost(cfg, 20, 0.2) == pytest.approx(0.15, rel=TIGHT)
    assert (round(cfg.expected_epochs_per_trial, 2), round(cfg.subset_ratio, 3)) == (7.41, 0.256)  # the docs' figures
    with pytest.raises(ValueError, match="sampler must be one of"):
        auto_config_asha(**EXAMPLE, sampler="gp")


def test_epoch_excess_is_linear_between_its_points_flat_outside_and_capped_at_the_last_epoch() -> None:
    assert epoch_excess("forest", 1) == epoch_excess("forest", 5) == 0.86
    assert epoch_excess("forest", 10) == pytest.approx(0.93 + 0.17 * 2 / 7, rel=TIGHT)
    assert epoch_excess("forest", 30) == pytest.approx(1.37, rel=TIGHT)
    assert epoch_excess("forest", 500) == epoch_excess("forest", 50) == pytest.approx(1.44, rel=TIGHT)
    assert epoch_excess(None, 40) == epoch_excess("forest", 40)  # None: ASHA's default sampler
    assert epoch_excess("random", 40) == epoch_excess("bayes", 40) == 1.0
    assert sampler_epochs("forest", 30, 100.0, 1, 12) == pytest.approx(137.0, rel=TIGHT)
    assert sampler_epochs("forest", 30, 300.0, 1, 12) == 360.0  # no trial runs past its last epoch
    assert sampler_epochs("forest", 4, 10.0, 3, 12) == 12.0  # nor stops before its first rung
    # one rung: every trial runs its one epoch, whatever the sampler
    one = auto_config_asha(full_dataset_size=10000, num_full_iterations=1, num_hyperparameters=2)
    assert one.expected_epochs_per_trial == 1.0


def test_asha_epochs_curve_matches_the_controller() -> None:
    """The curve's epochs against a real sequential ASHA run of random-quality trials (same rule)."""
    import random

    import hpopt

    measured = []
    for seed in range(6):
        rnd = random.Random(seed)
        hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=30, save_path="unused", storage="memory",
                           search_alg="asha", num_trials=60, max_iterations=30, min_iterations=1, reduction_factor=2,
                           subset_ratio=1.0, seed=seed, search_space={"a": hpopt.search_space("uniform", [0, 1])})
        epochs = 0
        while (cfg := hpo.get_next_sample()) is not None:
            quality = rnd.random()
            for e in range(cfg["iterations"]):
                epochs += 1
                if hpopt.report(cfg, quality + 0.001 * e) == hpopt.Status.STOP:
                    break
        measured.append(epochs / 60)
    curve = asha_epochs_curve(1, 30, 2, 1, 60)
    assert sum(measured) / len(measured) == pytest.approx(curve[60] / 60, rel=0.25)
    assert curve[60] / 60 > 1.5 * asha_expected_epochs(1, 30, 2, 1)  # far above the long-run rate
    assert curve == asha_epochs_curve(1, 30, 2, 1, 60)  # deterministic
    assert all(b >= a for a, b in zip(curve, curve[1:], strict=False))


# --------------------------------------------------------------------------- user values win

SEQ_USER = {"num_trials": 7, "max_iterations": 3, "subset_ratio": 0.4}
SEQ_SUBSETS = [c for k in (1, 2, 3) for c in itertools.combinations(SEQ_USER, k)]


@pytest.mark.parametrize("names", SEQ_SUBSETS, ids=lambda c: "+".join(c))
@pytest.mark.parametrize("ratio", [1.5, 4.0, 100.0])
def test_sequential_never_overwrites_user_values(names: tuple[str, ...], ratio: float) -> None:
    given_values = {name: SEQ_USER[name] for name in names}
    cfg = auto_config(**EXAMPLE, expected_time_ratio=ratio, **given_values)
    for name, value in given_values.items():
        assert getattr(cfg, name) == value
    assert cfg.filled == tuple(n for n in SEQ_USER if n not in names)


ASHA_USER = {
    "num_trials": 9,
    "max_iterations": 12,
    "min_iterations": 3,
    "num_brackets": 2,
    "subset_ratio": 0.3,
}
ASHA_SUBSETS = [c for k in range(1, 6) for c in itertools.combinations(ASHA_USER, k)]


@pytest.mark.parametrize("names", ASHA_SUBSETS, ids=lambda c: "+".join(c))
def test_asha_never_overwrites_user_values(names: tuple[str, ...]) -> None:
    given_values = {name: ASHA_USER[name] for name in names}
    cfg = auto_config_asha(**EXAMPLE, **given_values)
    for name, value in given_values.items():
        assert getattr(cfg, name) == value
    assert cfg.filled == tuple(n for n in ASHA_USER if n not in names)


def test_only_iterations_unset_solves_for_iterations() -> None:
    # f* = 0.15, s = 0.5 -> u = 0.15 / (0.8*0.5 + 0.2) = 0.25 -> 5 iterations, cost 0.15 -> 20 trials
    cfg = auto_config(**EXAMPLE, subset_ratio=0.5)
    assert (cfg.max_iterations, cfg.num_trials) == (5, 20)


def test_only_subset_unset_solves_for_subset() -> None:
    # f* = 0.15, 10 iterations -> s = (0.15*20/10 - 0.2)/0.8 = 0.125
    cfg = auto_config(**EXAMPLE, max_iterations=10)
    assert cfg.subset_ratio == pytest.approx(0.125, rel=TIGHT)
    assert cfg.num_trials == 20


def test_large_budget_gives_full_fidelity() -> None:
    cfg = auto_config(**EXAMPLE, expected_time_ratio=100.0)  # f* = 99/20 >= 1
    assert (cfg.max_iterations, cfg.subset_ratio, cfg.num_trials) == (20, 1.0, 99)
    assert cfg.estimated_time_ratio == pytest.approx(100.0)


def test_user_max_iterations_above_full_is_honoured_with_warning() -> None:
    cfg = auto_config(**EXAMPLE, max_iterations=30)
    assert cfg.max_iterations == 30
    assert any("max_iterations=30 exceeds" in w for w in cfg.warnings)
    cfg = auto_config_asha(**EXAMPLE, max_iterations=30)
    assert cfg.max_iterations == 30 and cfg.rungs[0][-1] == 30
    assert any("max_iterations=30 exceeds" in w for w in cfg.warnings)


# --------------------------------------------------------------------------- budget


def test_budget_overrun_is_warned_and_quantified() -> None:
    cfg = auto_config(
        full_dataset_size=100_000, num_full_iterations=1, num_hyperparameters=5, expected_time_ratio=1.01
    )
    assert cfg.num_trials == 1
    assert cfg.estimated_hpo_time > 0.01
    assert _exceeds(cfg)
    assert "1.204" in cfg.warnings[-1]  # the estimated ratio is named


def test_user_settings_that_overrun_are_warned() -> None:
    cfg = auto_config(**EXAMPLE, num_trials=50, max_iterations=20, subset_ratio=1.0)
    assert cfg.estimated_hpo_time == pytest.approx(50.0)
    assert _exceeds(cfg)
    cfg = auto_config_asha(**EXAMPLE, num_trials=500, subset_ratio=1.0)
    assert _exceeds(cfg)


def test_workers_multiply_the_trial_budget_not_the_wall_time() -> None:
    cfg = auto_config(**EXAMPLE, num_workers=4)
    assert hpo_budget(4.0, 4) == 12.0
    assert cfg.num_trials * _cost(cfg, 20, 0.2) <= 12.0 * (1 + 1e-9)
    assert cfg.estimated_hpo_time <= 3.0 * (1 + 1e-9)
    assert cfg.estimated_time_ratio == pytest.approx(4.0, rel=1e-6)


def test_too_few_trials_is_warned() -> None:
    cfg = auto_config(
        full_dataset_size=100_000,
        num_full_iterations=10,
        num_hyperparameters=5,
        non_pure_train_ratio=0.999999,
    )
    assert cfg.num_trials < 50 and not _exceeds(cfg)
    assert any("fits only" in w for w in cfg.warnings)


# --------------------------------------------------------------------------- the 500-sample rule


@pytest.mark.parametrize(
    ("size", "expected"), [(0, 1.0), (1, 1.0), (500, 1.0), (501, 500 / 501), (10000, 0.05), (10**7, 5e-5)]
)
def test_min_subset_ratio(size: int, expected: float) -> None:
    assert min_subset_ratio(size) == pytest.approx(expected, rel=TIGHT)


def test_filled_subset_never_below_500_samples() -> None:
    cfg = auto_config(
        full_dataset_size=2000, num_full_iterations=20, num_hyperparameters=10, expected_time_ratio=1.2
    )
    assert cfg.subset_ratio == pytest.approx(0.25)
    cfg = auto_config_asha(
        full_dataset_size=2000, num_full_iterations=20, num_hyperparameters=10, expected_time_ratio=1.2
    )
    assert cfg.subset_ratio == pytest.approx(0.25)


def test_small_or_unknown_dataset_never_subsets() -> None:
    for size in (0, 300, 500):
        cfg = auto_config(full_dataset_size=size, num_full_iterations=20, num_hyperparameters=3)
        assert cfg.subset_ratio == 1.0


def test_user_subset_below_minimum_is_honoured_with_warning() -> None:
    cfg = auto_config(**EXAMPLE, subset_ratio=0.01)  # 100 samples
    assert cfg.subset_ratio == 0.01
    assert any("fewer than the 500" in w for w in cfg.warnings)
    cfg = auto_config_asha(**EXAMPLE, subset_ratio=0.01)
    assert cfg.subset_ratio == 0.01
    assert any("fewer than the 500" in w for w in cfg.warnings)


# --------------------------------------------------------------------------- edge parameters


def test_p_zero_balances_exactly() -> None:
    # p = 0: u = sqrt(f*) = sqrt(0.06) = 0.245 -> 2 of 10 iterations, s = 0.06*10/2 = 0.3
    cfg = auto_config(
        full_dataset_size=100_000, num_full_iterations=10, num_hyperparameters=5, non_pure_train_ratio=0
    )
    assert (cfg.max_iterations, cfg.num_trials) == (2, 50)
    assert cfg.subset_ratio == pytest.approx(0.3, rel=TIGHT)


@pytest.mark.parametrize("p", [0.9, 0.999, 1 - 1e-12])
def test_p_close_to_one_stays_finite_and_in_bounds(p: float) -> None:
    for fn in (auto_config, auto_config_asha):
        cfg = fn(**EXAMPLE, non_pure_train_ratio=p)
        assert 1 <= cfg.max_iterations <= 20
        assert 0.05 <= cfg.subset_ratio <= 1.0
        assert math.isfinite(cfg.estimated_hpo_time)
        assert cfg.num_trials * _cost(cfg, 20, p) <= 3.0 * (1 + 1e-9) or _exceeds(cfg)


def test_single_full_iteration() -> None:
    # E = 1: iterations fixed at 1, the subset carries the whole shortfall: s = (0.15 - 0.2)/0.8 < s_min
    cfg = auto_config(full_dataset_size=10000, num_full_iterations=1, num_hyperparameters=2)
    assert cfg.max_iterations == 1
    assert cfg.subset_ratio == pytest.approx(0.05)
    assert cfg.num_trials == math.floor(3.0 / (0.8 * 0.05 + 0.2) + 1e-9) == 12
    cfg = auto_config_asha(full_dataset_size=10000, num_full_iterations=1, num_hyperparameters=2)
    assert cfg.rungs == ((1,),) and cfg.expected_epochs_per_trial == 1.0


# --------------------------------------------------------------------------- validation

BASE = dict(EXAMPLE)
BAD_INPUTS = [
    ({"expected_time_ratio": 1.0}, ValueError, "expected_time_ratio"),
    ({"expected_time_ratio": 0.5}, ValueError, "r = 2 means"),
    ({"expected_time_ratio": math.inf}, ValueError, "expected_time_ratio"),
    ({"expected_time_ratio": math.nan}, ValueError, "expected_time_ratio"),
    ({"expected_time_ratio": "4"}, TypeError, "expected_time_ratio"),
    ({"expected_time_ratio": True}, TypeError, "expected_time_ratio"),
    ({"num_full_iterations": 0}, ValueError, "num_full_iterations"),
    ({"num_full_iterations": 20.0}, TypeError, "num_full_iterations"),
    ({"full_dataset_size": -1}, ValueError, "full_dataset_size"),
    ({"full_dataset_size": None}, TypeError, "full_dataset_size"),
    ({"non_pure_train_ratio": 1.0}, ValueError, "non_pure_train_ratio"),
    ({"non_pure_train_ratio": -0.1}, ValueError, "non_pure_train_ratio"),
    ({"num_workers": 0}, ValueError, "num_workers"),
    ({"num_workers": True}, TypeError, "num_workers"),
    ({"num_hyperparameters": 0}, ValueError, "num_hyperparameters"),
    ({"num_trials": 0}, ValueError, "num_trials"),
    ({"num_trials": True}, TypeError, "num_trials"),
    ({"num_trials": 2.5}, TypeError, "num_trials"),
    ({"max_iterations": 0}, ValueError, "max_iterations"),
    ({"max_iterations": False}, TypeError, "max_iterations"),
    ({"subset_ratio": 0.0}, ValueError, "subset_ratio"),
    ({"subset_ratio": 1.5}, ValueError, "subset_ratio"),
    ({"subset_ratio": True}, TypeError, "subset_ratio"),
]


@pytest.mark.parametrize(("override", "exc", "needle"), BAD_INPUTS, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("fn", [auto_config, auto_config_asha])
def test_validation_errors_name_the_argument(fn, override: dict, exc: type, needle: str) -> None:
    with pytest.raises(exc, match=needle) as info:
        fn(**{**BASE, **override})
    value = next(iter(override.values()))
    assert repr(value) in str(info.value)


ASHA_BAD = [
    ({"min_iterations": 0}, ValueError, "min_iterations"),
    ({"min_iterations": 21}, ValueError, "min_iterations must be <= max_iterations=20"),
    ({"min_iterations": 5, "max_iterations": 4}, ValueError, "min_iterations"),
    ({"reduction_factor": 1}, ValueError, "reduction_factor"),
    ({"reduction_factor": 2.0}, TypeError, "reduction_factor"),
    ({"num_brackets": 0}, ValueError, "num_brackets"),
    ({"num_brackets": 6}, ValueError, "num_brackets must be <= 5"),
    ({"num_brackets": True}, TypeError, "num_brackets"),
]


@pytest.mark.parametrize(("override", "exc", "needle"), ASHA_BAD, ids=lambda v: repr(v)[:40])
def test_asha_validation_errors(override: dict, exc: type, needle: str) -> None:
    with pytest.raises(exc, match=needle):
        auto_config_asha(**{**BASE, **override})


def test_helper_validation() -> None:
    with pytest.raises(ValueError, match="expected_time_ratio"):
        hpo_budget(1.0)
    with pytest.raises(ValueError, match="num_workers"):
        hpo_budget(2.0, 0)
    with pytest.raises(ValueError, match="epochs"):
        trial_cost(-1, 10, 0.5, 0.2)
    with pytest.raises(ValueError, match="subset_ratio"):
        trial_cost(1, 10, 0.0, 0.2)
    with pytest.raises(TypeError, match="full_dataset_size"):
        min_subset_ratio(True)
    with pytest.raises(ValueError, match="shares"):
        asha_expected_epochs(1, 8, 2, 2, shares=[0.7, 0.7])


def test_trial_cost_and_budget() -> None:
    assert trial_cost(20, 20, 1.0, 0.2) == 1.0
    assert trial_cost(10, 20, 0.5, 0.2) == pytest.approx(0.3)
    assert trial_cost(10, 20, 0.5, 0.0) == pytest.approx(0.25)
    assert hpo_budget(2.0) == 1.0
    assert hpo_budget(3.5, 2) == 5.0


def test_result_is_frozen() -> None:
    cfg = auto_config(**EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_trials = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- ASHA schedule


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((1, 20, 2, 0), [1, 2, 4, 8, 16, 20]),
        ((1, 20, 2, 1), [2, 4, 8, 16, 20]),
        ((1, 20, 2, 4), [16, 20]),
        ((1, 16, 2, 0), [1, 2, 4, 8, 16]),
        ((1, 16, 2, 3), [8, 16]),
        ((1, 27, 3, 0), [1, 3, 9, 27]),
        ((1, 27, 3, 2), [9, 27]),
        ((2, 100, 3, 0), [2, 6, 18, 54, 100]),
        ((2, 100, 3, 1), [6, 18, 54, 100]),
        ((3, 10, 4, 0), [3, 10]),
        ((5, 5, 2, 0), [5]),
        ((1, 1, 2, 0), [1]),
    ],
)
def test_asha_rungs(args: tuple[int, int, int, int], expected: list[int]) -> None:
    assert asha_rungs(*args) == expected


@pytest.mark.parametrize("args", [(1, 20, 2, 5), (1, 16, 2, 4), (1, 27, 3, 3), (5, 5, 2, 1), (3, 10, 4, 1)])
def test_asha_rungs_bracket_without_rung_below_max(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="bracket"):
        asha_rungs(*args)


@pytest.mark.parametrize(
    ("args", "expected"), [((1, 20, 2), 5), ((1, 16, 2), 4), ((1, 27, 3), 3), ((5, 5, 2), 1), ((3, 10, 4), 1)]
)
def test_max_brackets(args: tuple[int, int, int], expected: int) -> None:
    assert max_brackets(*args) == expected


def test_asha_expected_epochs_by_hand() -> None:
    # rungs 1, 2, 4 with rf 2: stop at 1 w.p. 1/2, at 2 w.p. 1/4, reach 4 w.p. 1/4 -> 0.5 + 0.5 + 1 = 2
    assert asha_bracket_epochs(1, 4, 2, 0) == pytest.approx(2.0)
    # bracket 1: rungs 2, 4 -> 0.5*2 + 0.5*4 = 3; two brackets round robin -> mean 2.5
    assert asha_bracket_epochs(1, 4, 2, 1) == pytest.approx(3.0)
    assert asha_expected_epochs(1, 4, 2, 1) == pytest.approx(2.0)
    assert asha_expected_epochs(1, 4, 2, 2) == pytest.approx(2.5)
    # rf 3, rungs 1, 3, 9: 2/3*1 + (1/3)(2/3)*3 + (1/9)*9 = 7/3
    assert asha_expected_epochs(1, 9, 3, 1) == pytest.approx(7 / 3)
    # a single rung is plain training
    assert asha_expected_epochs(5, 5, 2, 1) == 5.0
    # custom spreading rule
    assert asha_expected_epochs(1, 4, 2, 2, shares=[0.25, 0.75]) == pytest.approx(0.25 * 2 + 0.75 * 3)
    assert round_robin_shares(4) == [0.25] * 4


def test_asha_more_brackets_plan_as_one_until_early_rungs_mislead() -> None:
    """The bracket chooser sends every trial to bracket 0 until early rungs are caught misleading, so the
    plan costs trials as bracket 0 alone; later brackets, when the evidence calls for them, spend the same
    epoch budget on fewer trials."""
    one = auto_config_asha(**EXAMPLE, subset_ratio=0.5, num_brackets=1)
    three = auto_config_asha(**EXAMPLE, subset_ratio=0.5, num_brackets=3)
    assert len(three.rungs) == 3 and three.rungs[2] == (4, 8, 16, 20)
    assert three.expected_epochs_per_trial == one.expected_epochs_per_trial
    assert three.num_trials == one.num_trials
    assert three.epoch_budget == pytest.approx(three.num_trials * three.expected_epochs_per_trial)


# --------------------------------------------------------------------------- property test

optional = st.one_of(st.none(), st.integers(1, 300))
common = {
    "full_dataset_size": st.integers(0, 10**7),
    "num_full_iterations": st.integers(1, 300),
    "num_hyperparameters": st.integers(1, 40),
    "expected_time_ratio": st.floats(1.0001, 50.0),
    "non_pure_train_ratio": st.floats(0.0, 0.9999),
    "num_workers": st.integers(1, 64),
    "num_trials": st.one_of(st.none(), st.integers(1, 500)),
    "subset_ratio": st.one_of(st.none(), st.floats(1e-4, 1.0)),
}


def _check_result(cfg: AutoConfig, kw: dict) -> None:
    full, p = kw["num_full_iterations"], kw["non_pure_train_ratio"]
    budget = hpo_budget(kw["expected_time_ratio"], kw["num_workers"])
    total = cfg.num_trials * _cost(cfg, full, p)
    if not _exceeds(cfg):
        assert total <= budget * (1 + 1e-9)
        assert cfg.estimated_hpo_time <= budget / kw["num_workers"] * (1 + 1e-9)
    else:
        assert total > budget
    assert cfg.estimated_time_ratio == pytest.approx(1 + total / kw["num_workers"])
    assert cfg.epoch_budget == pytest.approx(cfg.num_trials * cfg.expected_epochs_per_trial)
    for name in ("num_trials", "max_iterations", "subset_ratio"):
        if kw.get(name) is not None:
            assert getattr(cfg, name) == kw[name]
    if "num_trials" in cfg.filled:
        assert cfg.num_trials >= 1 and isinstance(cfg.num_trials, int)
    if "max_iterations" in cfg.filled:
        assert 1 <= cfg.max_iterations <= full and isinstance(cfg.max_iterations, int)
    if "subset_ratio" in cfg.filled:
        assert min_subset_ratio(kw["full_dataset_size"]) <= cfg.subset_ratio <= 1.0


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({**common, "max_iterations": optional}))
def test_property_sequential_within_budget_and_bounds(kw: dict) -> None:
    _check_result(auto_config(**kw), kw)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            **common,
            "max_iterations": optional,
            "reduction_factor": st.integers(2, 5),
            "bracket_pick": st.integers(0, 9),
        }
    ),
    st.booleans(),
    st.booleans(),
)
def test_property_asha_within_budget_and_bounds(kw: dict, set_min: bool, set_brackets: bool) -> None:
    kw = dict(kw)
    pick = kw.pop("bracket_pick")
    top = kw["max_iterations"] if kw["max_iterations"] is not None else kw["num_full_iterations"]
    asha_kw = dict(kw)
    lo = 1 + pick % top if set_min else 1
    if set_min:
        asha_kw["min_iterations"] = lo
    if set_brackets:
        asha_kw["num_brackets"] = 1 + pick % max_brackets(lo, top, kw["reduction_factor"])
    cfg = auto_config_asha(**asha_kw)
    _check_result(cfg, kw)
    assert 1 <= cfg.min_iterations <= cfg.max_iterations
    assert cfg.rungs[0][-1] == cfg.max_iterations and len(cfg.rungs) == cfg.num_brackets
    assert min(cfg.rungs[0]) <= cfg.expected_epochs_per_trial <= cfg.max_iterations


def test_asha_epochs_curve_deals_trials_by_the_bracket_choosers_shares() -> None:
    """With shares, trials are drawn to brackets: all to bracket 0 costs what one bracket does, a later
    bracket costs more (it judges later), and a mix lies between."""
    one = asha_epochs_curve(1, 30, 2, 1, 200)[200]
    all_first = asha_epochs_curve(1, 30, 2, 3, 200, (1.0, 0.0, 0.0))[200]
    all_last = asha_epochs_curve(1, 30, 2, 3, 200, (0.0, 0.0, 1.0))[200]
    planned = asha_epochs_curve(1, 30, 2, 3, 200, (0.5, 0.25, 0.25))[200]
    assert all_first == one  # the same simulated run
    assert all_first < planned < all_last
    with pytest.raises(ValueError, match="shares must be 3"):
        asha_epochs_curve(1, 30, 2, 3, 20, (0.5, 0.5))


def test_asha_epochs_curve_of_a_huge_run_is_a_line_beyond_the_simulation() -> None:
    """A long budget of cheap trials plans millions of trials: the curve must not hold a number per trial
    (it once did, and a property-test example took 23 GB)."""
    n = 10**9
    curve = asha_epochs_curve(1, 30, 2, 1, n)
    assert len(curve) == n + 1 and len(curve.head) <= 2001
    step = curve[2000] - curve[1999]
    assert curve[n] == pytest.approx(curve[2000] + curve.rate * (n - 2000)) and curve.rate > 0
    assert curve[-1] == curve[n] and curve[1:4] == [curve[1], curve[2], curve[3]]
    assert 0 < step < 30
    small = asha_epochs_curve(1, 30, 2, 1, 60)
    assert len(small) == 61 and small.rate == 0.0 and small[60] == small.head[60]
    with pytest.raises(IndexError):
        small[61]
