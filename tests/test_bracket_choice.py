"""ASHA's bracket chooser: new trials go to the brackets whose first rung has ranked trials like the last."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hpopt
from hpopt.algorithms.bracket_choice import PRIOR, BracketChooser, cascade, prior_shares, trust_of
from hpopt.algorithms.rung_math import asha_rungs
from hpopt.search_space import normalize_space

BRACKETS = [asha_rungs(1, 27, 3, b) for b in range(3)]  # first rungs 1, 3, 9


def _curve(quality: float, early: float, epochs: int, tau: float = 4.0) -> list[float]:
    """A curve from ``early`` at epoch 1 towards ``quality``, at pace ``tau`` (epochs)."""
    return [quality + (early - quality) * np.exp(-e / tau) for e in range(epochs)]


def _feed(chooser: BracketChooser, early_sign: float, n: int = 30, seed: int = 0) -> None:
    """n trials run 27 epochs; their epoch-1 score ranks them like the end (sign +1), the reverse (-1), or
    at random (0: it is drawn independently of the end)."""
    rng = np.random.default_rng(seed)
    for tid in range(n):
        q, noise = float(rng.random()), float(rng.random())
        chooser.on_config(tid, 0)
        early = 0.3 + (early_sign * 0.1 * q if early_sign else 0.1 * noise)
        chooser.on_scores(tid, 0, _curve(0.5 + 0.4 * q, early, 27, tau=1.5))


def test_cascade_gives_each_bracket_its_trust_of_what_is_left():
    assert cascade([1.0, 0.3, 0.9]) == [1.0, 0.0, 0.0]
    assert cascade([0.0, 0.0, 0.2]) == [0.0, 0.0, 1.0]  # the last bracket takes the rest
    assert cascade([0.5, 0.5, 0.5]) == pytest.approx([0.5, 0.25, 0.25])
    assert prior_shares(3) == [1.0, 0.0, 0.0]  # no evidence yet: one aggressive bracket, as auto config plans
    assert cascade([0.8]) == [1.0]
    assert sum(cascade([0.3, 0.7, 0.1, 0.4])) == pytest.approx(1.0)


def test_a_correlation_over_few_trials_buys_less_trust_than_over_many():
    """Five long trials that agree with their epoch-1 ranks by chance must not send every trial to bracket 0."""
    assert trust_of(0.4, 5) < 0.6 < 0.9 < trust_of(0.4, 50)
    assert trust_of(0.9, 30) == 1.0  # a faithful rung still earns full trust
    assert trust_of(0.0, 30) < 0.3  # one that tells nothing keeps little
    assert trust_of(0.0, 0) == PRIOR  # no pairs: the prior alone


def test_without_evidence_the_prior_decides():
    chooser = BracketChooser(BRACKETS, "max", seed=0)
    assert chooser.trust() == [PRIOR] * 3
    assert chooser.shares() == pytest.approx(prior_shares(3))


def test_faithful_early_epochs_send_new_trials_to_the_most_aggressive_bracket():
    chooser = BracketChooser(BRACKETS, "max", seed=0)
    _feed(chooser, +1.0)
    shares = chooser.shares()
    assert shares[0] > 0.8


@pytest.mark.parametrize("mode", ["max", "min"])
def test_misleading_early_epochs_move_new_trials_to_brackets_that_judge_later(mode):
    chooser = BracketChooser(BRACKETS, mode, seed=0)
    rng = np.random.default_rng(1)
    for tid in range(30):
        q = float(rng.random())
        scores = _curve(0.5 + 0.4 * q, 0.5 - 0.5 * q, 27)  # ranks reversed at epochs 1 and 3, kept at 9
        chooser.on_config(tid, 0)
        chooser.on_scores(tid, 0, scores if mode == "max" else [-s for s in scores])
    trust = chooser.trust()
    assert trust[0] < 0.2 and trust[1] < 0.2 and trust[2] > 0.8
    shares = chooser.shares()
    assert shares[0] + shares[1] < 0.35 and shares[2] > 0.65


def test_an_earlier_attempts_scores_are_forgotten():
    chooser = BracketChooser(BRACKETS, "max", seed=0)
    _feed(chooser, -1.0)
    misled = chooser.trust()[0]
    for tid in range(30):  # every trial re-issued (e.g. after a crash): nothing of the new attempts yet
        chooser.on_config(tid, 1)
    assert misled < 0.3 and chooser.trust() == [PRIOR] * 3


def test_choices_follow_the_shares_and_depend_only_on_seed_and_trial_id():
    chooser = BracketChooser(BRACKETS, "max", seed=3)
    _feed(chooser, 0.0)  # epoch 1 tells nothing
    shares = chooser.shares()
    assert 0.05 < shares[0] < 0.5 < shares[1]  # mostly bracket 1: epoch 3 ranks like the end, epoch 1 does not
    picks = [chooser.choose(tid) for tid in range(100, 2100)]
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert freq == pytest.approx(shares, abs=0.04)
    again = BracketChooser(BRACKETS, "max", seed=3)
    _feed(again, 0.0)
    assert [again.choose(tid) for tid in range(100, 2100)] == picks
    other = BracketChooser(BRACKETS, "max", seed=4)
    _feed(other, 0.0)
    assert [other.choose(tid) for tid in range(100, 2100)] != picks
    assert BracketChooser(BRACKETS[:1], "max", seed=3).choose(7) == 0


SPACE = normalize_space({"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1])})


def _train(cfg: dict, misleading: bool) -> None:
    x, y = cfg["params"]["x"], cfg["params"]["y"]
    quality = 1.0 - abs(x - 0.3) - 0.5 * abs(y - 0.6)
    early = 0.5 - 0.3 * quality if misleading else 0.2 + 0.3 * quality
    for score in _curve(0.5 + 0.4 * quality, early, cfg["iterations"]):
        if hpopt.report(cfg, score) == hpopt.Status.STOP:
            break


def _run(save: str, misleading: bool, resume: bool = False, stop_after: int | None = None):
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=27, search_space=dict(SPACE), save_path=save,
                       search_alg="asha", num_trials=120, max_iterations=27, min_iterations=1, reduction_factor=3,
                       num_brackets=3, subset_ratio=1.0, seed=5, resume=resume, sampler="random")
    hpo.measure_overhead = False
    issued = []
    while (cfg := hpo.get_next_sample()) is not None:
        issued.append((cfg["trial_id"], cfg["bracket"], json.dumps(cfg["params"], sort_keys=True)))
        _train(cfg, misleading)
        if stop_after is not None and len(issued) == stop_after:
            break
    entries = hpo.get_current_status()["config_list"]
    hpo.close()
    return entries, issued


def test_an_asha_run_moves_its_trials_to_the_brackets_that_rank_well(tmp_path):
    _, faithful = _run(str(tmp_path / "faithful"), misleading=False)
    _, misleading = _run(str(tmp_path / "misleading"), misleading=True)
    late_f = [b for _, b, _ in faithful[60:]]
    late_m = [b for _, b, _ in misleading[60:]]
    assert late_f.count(0) > 0.7 * len(late_f)
    assert late_m.count(0) < 0.2 * len(late_m) and late_m.count(2) > 0.5 * len(late_m)


def test_a_resumed_run_keeps_each_trials_bracket_and_chooses_the_rest_as_the_whole_run_did(tmp_path):
    _, whole = _run(str(tmp_path / "whole"), misleading=True)
    _, first = _run(str(tmp_path / "split"), misleading=True, stop_after=50)
    entries, rest = _run(str(tmp_path / "split"), misleading=True, resume=True)
    assert first + rest == whole
    assert [e["bracket"] for e in entries] == [b for _, b, _ in whole]
