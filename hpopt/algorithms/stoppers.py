"""Stop rules that trainers apply inside ``report()``: ASHA's rungs and the median rule.

A stopper decides from a :class:`~.rank_summary.RankSummary` of what other trials recorded at the same
point (an ASHA rung of a bracket, a median-stop step) and the reporting trial's own progress. It never
reads or writes anything itself: ``report()`` asks it which summary it needs (``summary_at``), the state
store loads that summary under its lock, and ``judge`` updates it in memory and decides. So the O(1)
cost per report in the number of trials is the store's business, and the rule is plain arithmetic that
unit tests drive with hand-made summaries.

The train_config carries everything a stopper needs (``mode``, ``iterations``, ASHA's ``bracket``,
``rungs`` and ``reduction_factor``), so a trainer in another process or on another machine applies the
same rule as the controller would.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .rank_summary import RankSummary

logger = logging.getLogger("hpopt")

MIN_OTHERS = 3  # median stop: other trials' running means needed at a step before any trial is stopped there


@dataclass(frozen=True)
class Progress:
    """The reporting trial at its k-th score: its best and running mean so far (None: no valid score),
    and whether an earlier attempt of the same trial already reached step k (its value is counted)."""

    k: int
    best: float | None
    mean: float | None
    counted_before: bool


class Stopper(Protocol):
    """A stop rule; ``kind`` names the family of summaries it keeps (the store's folder for them)."""

    kind: str

    def summary_at(self, config: Mapping[str, Any], k: int) -> str | None:
        """The summary to judge the trial's k-th score against, or None: no decision at step k."""

    def judge(self, config: Mapping[str, Any], progress: Progress, summary: RankSummary) -> bool:
        """True to stop the trial; may add the trial's value to ``summary`` (the caller saves it)."""


def goes_on(num_ahead: float, num_results: int, reduction_factor: int) -> bool:
    """Whether a result with ``num_ahead`` results ranked ahead of it among ``num_results`` (itself
    included) is in the top 1/rf; always True while the rung holds fewer than rf results."""
    top = num_results // reduction_factor
    return top == 0 or num_ahead < top


def should_stop(best: float, others_median: float | None, mode: str) -> bool:
    """Whether a trial whose best score is ``best`` is worse than the others' median (a tie is not)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if others_median is None:
        return False
    return best < others_median if mode == "max" else best > others_median


class AshaStopper:
    """ASHA's rungs (Li et al., MLSys 2020), stopping variant.

    When a trial's k-th score arrives and k is a rung below its ``iterations``, its best score so far is
    added to that rung's summary in its bracket (and rung group, :func:`rung_summary_name`), and the
    trial goes on only if it is in the top 1/rf of the n results the rung now holds (its own included):
    fewer than ``n // rf`` results rank ahead of it. Results strictly better rank ahead, and so do the
    earlier results tied with it: ties keep their order of arrival, so a rung still lets 1/rf of its
    trials on when many tie. Where a tie went on, a rung full of configs stuck at chance level (all at
    exactly 0.1007 on a small subset of digits) let every one of them through to the last epoch: 70 of
    the first 9 trials' epochs of a 6-second run were spent there. While ``n // rf`` is 0 there is
    nothing to be in the top of, and the trial goes on. A trial with no valid score by a rung is
    stopped there. A trial re-issued after a crash or an OOM is counted once per rung (with its longest
    attempt).
    """

    kind = "asha"

    def summary_at(self, config: Mapping[str, Any], k: int) -> str | None:
        if k not in (config.get("rungs") or []) or k >= int(config["iterations"]):
            return None
        return rung_summary_name(int(config["bracket"]), k, int(config.get("rung_group") or 0))

    def judge(self, config: Mapping[str, Any], progress: Progress, summary: RankSummary) -> bool:
        k, best, mode = progress.k, progress.best, str(config["mode"])
        if best is None:
            logger.info("ASHA: trial %s has no valid score at rung %d; stopped", config.get("trial_id"), k)
            return True
        if not progress.counted_before:
            summary.add(best)
        # ahead: the strictly better, and the tied results but its own (which came after them)
        ahead = summary.count_better(best, mode) + max(0, summary.count_equal(best) - 1)
        go = goes_on(ahead, summary.count, int(config["reduction_factor"]))
        if not go:
            logger.info("ASHA: trial %s stopped at rung %d of bracket %s (%d of %d results ahead of it)",
                        config.get("trial_id"), k, config.get("bracket"), int(ahead), summary.count)
        return not go


def rung_summary_name(bracket: int, rung: int, group: int = 0) -> str:
    """The rung's summary. ``group`` > 0: trials trained on a subset a re-plan cut (auto config under a
    deadline in seconds); their scores do not compare with those of the subset before, so they have rungs
    of their own (``rung_group`` in the train_config; group 0 keeps the names of runs stored before)."""
    name = f"bracket_{int(bracket)}_rung_{int(rung)}"
    return name if not group else f"group_{int(group)}_{name}"


class MedianStopper:
    """The median stopping rule (``early_stop="median_stop"``).

    At step k the trial stops when its best score so far is worse than the median of the other trials'
    running means at step k (max mode: best < median; min mode: best > median; a tie never stops).
    Failed (None) scores are skipped: a trial without a valid running mean at step k adds nothing there,
    and one without any valid score is never stopped. Nothing is stopped until at least ``MIN_OTHERS``
    other running means exist at step k. The trial's own running mean is added after the decision (also
    when it stops), unless an earlier attempt of the same trial already counted at that step.
    """

    kind = "median_stop"

    def summary_at(self, config: Mapping[str, Any], k: int) -> str | None:
        return f"step_{int(k)}" if config.get("early_stop") is not None and k > 0 else None

    def judge(self, config: Mapping[str, Any], progress: Progress, summary: RankSummary) -> bool:
        mode = str(config["mode"])
        others_median = summary.median() if summary.count >= MIN_OTHERS else None
        if progress.mean is not None and not progress.counted_before:
            summary.add(progress.mean)
        stop = progress.best is not None and should_stop(progress.best, others_median, mode)
        if stop:
            logger.info("median stop: trial %s stopped at step %d (best %s, others' median %s)",
                        config.get("trial_id"), progress.k, progress.best, others_median)
        return stop


STOPPERS: dict[str, Stopper] = {"asha": AshaStopper(), "median_stop": MedianStopper()}


def stopper_for(config: Mapping[str, Any]) -> Stopper | None:
    """The stopper a train_config asks for (its ``early_stop`` key), or None."""
    name = config.get("early_stop")
    return STOPPERS.get(name) if isinstance(name, str) else None
