"""Score arithmetic every part shares: which score is better in a mode, the best of a list, config identity."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MODES = ("max", "min")


def is_better(a: float, b: float | None, mode: str) -> bool:
    """Whether score ``a`` beats ``b`` in this mode (anything beats None)."""
    return b is None or (a > b if mode == "max" else a < b)


def rank_key(score: float, epochs: int, mode: str, by_fidelity: bool, cap: float | None = None, share: float = 1.0,
             scores: Sequence[float | None] | None = None) -> tuple[float, float]:
    """Sort key of a finished trial as a candidate best config: larger is better.

    In a multi-fidelity run (ASHA, median stop) a trial is ranked first by the training it reached and only
    then by its score, so a score at epoch 1 never beats a trial trained further: early scores are cheap
    and can mislead (a run whose low fidelities mislead is where it matters). Otherwise by score alone.

    ``cap`` (:func:`fidelity_cap`) is the most training every finished trial could reach, in epochs of the
    run's first subset; ``share`` is this trial's subset over that one (a re-plan may have cut it). A trial
    is compared at the most epochs within the cap (:func:`cap_epochs`): by the share of them it reached, then
    by its best score up to them (from ``scores``, its score per epoch; ``score`` when it ran no further).
    Trials trained longer before a re-plan cut the last epoch or the subset are thus judged on the training
    everyone could get: on the digits sample the first trials of a run, which climb to the top while the
    rungs are empty, otherwise won with scores from six times the training of the searched configs, and
    their config reached 0.786 test accuracy against 0.95-0.975 without the re-plan.
    """
    if not by_fidelity:
        return (0.0, signed(score, mode))
    if cap is None:
        return (float(epochs), signed(score, mode))
    limit = cap_epochs(cap, share)
    if epochs > limit and scores is not None:
        capped = best_of(list(scores[:limit]), mode)
        score = score if capped is None else capped
    return (min(int(epochs), limit) / limit, signed(score, mode))


def cap_epochs(cap: float, share: float) -> int:
    """The most epochs of a trial whose subset is ``share`` of the run's first that fit in ``cap`` (at least 1)."""
    return max(1, math.floor(cap / max(share, 1e-12) + 1e-9))


def fidelity_cap(trials: Iterable[tuple[int, float]]) -> float | None:
    """The most training every finished trial could reach, from each one's (last epoch, subset share): the
    smallest last epoch x share, in epochs of the run's first subset; None when there is none."""
    return min((int(e) * float(s) for e, s in trials if int(e) > 0), default=None)


def subset_share(subset_ratio: Any, first_subset: Any) -> float:
    """A trial's subset over the run's first (1.0 when either is unknown): how much of an epoch each of its
    epochs is."""
    try:
        share = float(subset_ratio) / float(first_subset)
    except (TypeError, ValueError, ZeroDivisionError):
        return 1.0
    return share if math.isfinite(share) and share > 0 else 1.0


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
