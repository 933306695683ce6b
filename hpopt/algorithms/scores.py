"""Score arithmetic every part shares: which score is better in a mode, the best of a list, config identity."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MODES = ("max", "min")


def is_better(a: float, b: float | None, mode: str) -> bool:
    """Whether score ``a`` beats ``b`` in this mode (anything beats None)."""
    return b is None or (a > b if mode == "max" else a < b)


def rank_key(score: float, epochs: int, mode: str, by_fidelity: bool, cap: int | None = None,
             last: float | None = None) -> tuple[int, float]:
    """Sort key of a finished trial as a candidate best config: larger is better.

    In a multi-fidelity run (ASHA, median stop) a trial is ranked first by the epochs it reached and only
    then by its score at the last epoch it reported (``last``, when valid), so a score at epoch 1 never
    beats a trial trained further: early scores are cheap and can mislead (a run whose low fidelities
    mislead is where it matters). The last score, not the trial's best ``score``, because that is what
    training the config for that many epochs gives; the best would favour noisy or oscillating curves,
    whose peak a fresh training does not repeat (measured on the multi-fidelity suite: docs/benchmarks.md,
    2026-12-06). Runs stored before the last score was kept rank by the best. Otherwise by the best score
    alone.
    Epochs count up to ``cap`` (:func:`fidelity_cap`): trials a re-plan gave a smaller last epoch compete
    by score with those trained longer before the cut, once they reach their own last epoch, and at the same
    epoch: the callers pass a longer trial's score at the cap as ``last`` (:func:`score_up_to`). Its score six
    epochs later is what more training bought, not a better config: ranked by it, a config trained to epoch
    12 before a cut to 6 outranked every later one (the digits sample at r = 2, 0.786 test accuracy fully
    trained, against 0.972 for the config that led at epoch 6).
    """
    reached = int(epochs) if cap is None else min(int(epochs), int(cap))
    if not by_fidelity:
        return (0, signed(score, mode))
    return (reached, signed(score if last is None else last, mode))


def last_valid(scores: Sequence[float | None]) -> float | None:
    """The latest finite score of a list (a NaN/inf report is stored as None), or None."""
    return next((s for s in reversed(scores) if s is not None), None)


def score_up_to(scores: Sequence[float | None], cap: int | None) -> float | None:
    """The latest finite score at or before epoch ``cap`` (None: of them all): what a multi-fidelity trial is
    ranked by (:func:`rank_key`'s ``last``)."""
    return last_valid(scores if cap is None else scores[: max(0, int(cap))])


def fidelity_cap(last_epochs: Iterable[int]) -> int | None:
    """The smallest last epoch (a trial's ``iterations``) among finished trials, the most epochs every one of
    them could reach; None when there is none."""
    return min((int(e) for e in last_epochs if int(e) > 0), default=None)


def best_of(scores: Sequence[float | None], mode: str) -> float | None:
    """Best finite score in a list, or None when none is finite."""
    valid = [s for s in scores if s is not None]
    if not valid:
        return None
    return max(valid) if mode == "max" else min(valid)


def config_key(params: Mapping[str, Any]) -> str:
    """A hashable identity of a config, for telling repeats apart (JSON values compare by type and value)."""
    return json.dumps(params, sort_keys=True)


def signed(score: float, mode: str) -> float:
    """The score as a value to maximise (searchers model max-mode values)."""
    return score if mode == "max" else -score
