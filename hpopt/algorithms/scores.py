"""Score arithmetic every part shares: which score is better in a mode, the best of a list, config identity."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MODES = ("max", "min")


def is_better(a: float, b: float | None, mode: str) -> bool:
    """Whether score ``a`` beats ``b`` in this mode (anything beats None)."""
    return b is None or (a > b if mode == "max" else a < b)


def rank_key(score: float, epochs: int, mode: str, by_fidelity: bool) -> tuple[int, float]:
    """Sort key of a finished trial as a candidate best config: larger is better.

    In a multi-fidelity run (ASHA, median stop) a trial is ranked first by the epochs it reached and only
    then by its score, so a score at epoch 1 never beats a trial trained further: early scores are cheap
    and can mislead (a run whose low fidelities mislead is where it matters). Otherwise by score alone.
    """
    return (int(epochs) if by_fidelity else 0, signed(score, mode))


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
