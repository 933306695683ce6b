"""Median stopping rule (``early_stop="median_stop"``) with O(1) work per ``report()``.

Rule: at step k (the k-th score a trial reports) the trial stops when its best score so far is worse than
the median of the other trials' running means at step k (max mode: best < median; min mode: best > median;
a tie never stops). Failed (None) scores are skipped: a trial whose running mean at step k is None adds
nothing at step k, and one without any valid score is never stopped. Nothing is stopped until at least
``MIN_OTHERS`` (3) other running means exist at step k: the median of one or two curves says too little
to end a trial on.

Why files per step: the original parsed every trial file on every report, O(number of trials). Here each
step k has one summary ``save_path/hpopt_median_stop/step_{k}.json``, read and updated under
``file_lock(save_path, "median_step_{k}")`` while report() holds the trial's own lock (always trial lock
first, step lock second, so two reporters cannot deadlock). The rule reads step k's median (its own
value is not in it yet), decides, then adds its running mean at step k, also when it stops.

The summary is bounded. It is a sorted list of at most ``SUMMARY_SIZE`` (256) centroids ``[mean, count]``:

* up to 256 values every centroid holds one value, so the summary *is* the sorted list of values and
  the median is exact (numpy's definition: the middle value, or the mean of the two middle values);
* past that, each new value is inserted as its own centroid and then the two adjacent centroids with the
  smallest combined count (ties: the smallest gap between their means) are merged into their weighted
  mean. Adjacent pairs' counts sum to at most 2n, so no centroid ever holds more than 2n/256 of the n
  values: the resolution is uniform over ranks, which is what a median needs. The median is interpolated
  linearly between centroid centres (a centroid of count w spans ranks C .. C+w-1, centre C+(w-1)/2).

The file (indented JSON) stays below ``MAX_SUMMARY_BYTES`` (16 KiB: 256 means and counts at their longest
JSON spelling) and an update costs O(256), about 50 us, whatever the number of trials. Error: a fixed-size
summary cannot carry a deterministic rank guarantee (that needs memory growing like log n), so the bound
is measured, not proven. Where centroids do not overlap in value (sorted arrival, well-mixed data) the
estimate's rank is within about n/256 of the true median's. Measured as the distance from 0.5 of the share
of values below (or at) the estimate, over seeded uniform, normal, log-normal, Pareto, bimodal, shifting,
spiky, sorted, reverse-sorted and inward/outward-ordered inputs of 257 to 100 000 values: worst 0.001,
mean 0.0001. ``RANK_ERROR`` (0.005) is the documented bound that the tests hold it to.

A re-issued trial (controller resume, or CUDA-OOM re-sample) reports steps 1..k again in a new attempt;
a step is added only when k exceeds the longest earlier attempt in ``previous_attempts``, so no trial is
counted twice at a step (its earlier attempt's value stays in, as that of another trial would). Each
summary stores the run's ``run_id``; a summary left by an earlier run in the same save_path is discarded
(restarted) on first use instead of mixing two runs' statistics.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .report import best_of, register_stop_rule
from .store import DIR_MODE, StateFileError, atomic_write_json, file_lock, read_json_dict

logger = logging.getLogger("hpopt")

RULE_NAME = "median_stop"
MIN_OTHERS = 3  # other trials' running means needed at a step before any trial is stopped there
SUMMARY_SIZE = 256  # values kept exactly per step; past that, the number of centroids kept
MAX_SUMMARY_BYTES = 16 * 1024  # upper bound on one step file's size, whatever the number of trials
RANK_ERROR = 0.005  # documented bound on |share of values below the estimated median - 0.5| past SUMMARY_SIZE
SUMMARY_DIR = "hpopt_median_stop"
_FORMAT = 1


def should_stop(best: float, others_median: float | None, mode: str) -> bool:
    """Whether a trial whose best score is ``best`` is worse than the others' median (a tie is not)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if others_median is None:
        return False
    return best < others_median if mode == "max" else best > others_median


def step_path(save_path: str | os.PathLike[str], k: int) -> str:
    """The summary file of step ``k`` (1-based)."""
    return os.path.join(os.fspath(save_path), SUMMARY_DIR, f"step_{int(k)}.json")


@dataclass
class _Summary:
    """Sorted centroids ``means[i]`` holding ``counts[i]`` values each; exact while all counts are 1."""

    means: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, value: float) -> None:
        """Insert one value, merging the lightest adjacent pair so at most SUMMARY_SIZE centroids remain."""
        i = bisect.bisect_right(self.means, value)
        self.means.insert(i, value)
        self.counts.insert(i, 1)
        if len(self.means) <= SUMMARY_SIZE:
            return
        j = min(
            range(len(self.means) - 1),
            key=lambda p: (self.counts[p] + self.counts[p + 1], self.means[p + 1] - self.means[p]),
        )
        w1, w2 = self.counts[j], self.counts[j + 1]
        merged = (self.means[j] * w1 + self.means[j + 1] * w2) / (w1 + w2)
        # Keep the order even where rounding would put the weighted mean just outside its pair.
        self.means[j] = min(max(merged, self.means[j]), self.means[j + 1])
        self.counts[j] = w1 + w2
        del self.means[j + 1], self.counts[j + 1]

    def median(self) -> float | None:
        """numpy's median when exact; past that, interpolated between centroid centres."""
        n = self.count
        if n == 0:
            return None
        target = (n - 1) / 2
        start = 0
        prev_centre, prev_mean = 0.0, self.means[0]
        for i, (mean, w) in enumerate(zip(self.means, self.counts, strict=True)):
            centre = start + (w - 1) / 2
            if centre >= target:
                if i == 0 or centre == target:
                    return mean
                frac = (target - prev_centre) / (centre - prev_centre)
                return prev_mean + frac * (mean - prev_mean)
            prev_centre, prev_mean = centre, mean
            start += w
        return self.means[-1]

    def to_json(self, step: int, run_id: str | None) -> dict[str, Any]:
        return {"format": _FORMAT, "step": step, "run_id": run_id, "count": self.count,
                "means": self.means, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str) -> _Summary:
        """Check a loaded summary thoroughly: a silently wrong median would stop good trials."""
        means, counts = data.get("means"), data.get("counts")

        def bad(why: str) -> StateFileError:
            return _damaged(path, why)

        if not isinstance(means, list) or not isinstance(counts, list) or len(means) != len(counts):
            raise bad("'means' and 'counts' must be lists of the same length")
        if len(means) > SUMMARY_SIZE:
            raise bad(f"it holds {len(means)} centroids, more than {SUMMARY_SIZE}")
        for m in means:  # exact type checks: JSON gives int or float, and bool is an int
            if type(m) not in (float, int) or not math.isfinite(m):
                raise bad(f"mean {m!r} is not a finite number")
        for c in counts:
            if type(c) is not int or c < 1:
                raise bad(f"count {c!r} is not a positive integer")
        if any(a > b for a, b in zip(means, means[1:], strict=False)):
            raise bad("its means are not sorted")
        if data.get("count") != sum(counts):
            raise bad(f"'count' {data.get('count')!r} differs from the sum of its counts {sum(counts)}")
        return cls([float(m) for m in means], list(counts))


def _damaged(path: str, why: str) -> StateFileError:
    return StateFileError(
        f"median-stop summary {path} is damaged ({why}); delete it: median stop then restarts its "
        "statistics for that step (trials are not stopped there until enough new results arrive)"
    )


def _load(path: str) -> tuple[_Summary, str | None] | None:
    """The summary in ``path`` and its run_id; None when there is no file yet."""
    if not os.path.exists(path):
        return None
    try:
        data = read_json_dict(path, ("means", "counts"))
    except StateFileError as exc:
        raise _damaged(path, str(exc)) from exc
    run_id = data.get("run_id")
    return _Summary.from_json(data, path), (run_id if isinstance(run_id, str) else None)


def step_median(save_path: str | os.PathLike[str], k: int, run_id: str | None = None) -> float | None:
    """Median (exact or approximate, see the module doc) of the running means stored for step ``k``.

    None when step k has no values yet, or when ``run_id`` is given and the file belongs to another run.
    Needs no lock: summaries are replaced atomically.
    """
    loaded = _load(step_path(save_path, k))
    if loaded is None or (run_id is not None and loaded[1] not in (None, run_id)):
        return None
    return loaded[0].median()


def _longest_previous_attempt(doc: Mapping[str, Any]) -> int:
    """Steps already added to the summaries by earlier attempts of this trial."""
    longest = 0
    for attempt in doc.get("previous_attempts") or []:
        if isinstance(attempt, Mapping) and isinstance(attempt.get("scores"), list):
            longest = max(longest, len(attempt["scores"]))
    return longest


def _running_mean(doc: Mapping[str, Any], scores: list[float | None]) -> float | None:
    """report()'s running mean at this step (``doc["median"][-1]``), recomputed if that list is out of step."""
    means = doc.get("median")
    if isinstance(means, list) and len(means) == len(scores):
        last = means[-1]
        return None if last is None else float(last)
    valid = [s for s in scores if s is not None]
    return sum(valid) / len(valid) if valid else None


def median_stop_rule(config: Mapping[str, Any], doc: dict[str, Any]) -> bool:
    """report()'s stop-rule hook: judge the trial at its current step, then add its running mean there.

    Called with the trial's lock held and its new score already in ``doc``; returns True to stop it.
    """
    if config.get("early_stop") is None:
        return False
    scores: list[float | None] = doc["scores"]
    k = len(scores)
    if k == 0:
        return False
    mode = str(config["mode"])
    best = best_of(scores, mode)
    mean = _running_mean(doc, scores)
    add = mean is not None and k > _longest_previous_attempt(doc)
    run_id = config.get("run_id")
    run_id = run_id if isinstance(run_id, str) else None

    save_path = os.path.dirname(os.fspath(config["file_path"])) or "."
    path = step_path(save_path, k)
    with file_lock(save_path, f"median_step_{k}"):
        loaded = _load(path)
        summary = _Summary()
        if loaded is not None:
            if run_id is not None and loaded[1] not in (None, run_id):
                logger.info("median stop: %s belongs to an earlier run (%s); restarting step %d", path,
                            loaded[1], k)
            else:
                summary = loaded[0]
        others_median = summary.median() if summary.count >= MIN_OTHERS else None
        if add and mean is not None:
            summary.add(mean)
            os.makedirs(os.path.dirname(path), mode=DIR_MODE, exist_ok=True)
            atomic_write_json(path, summary.to_json(k, run_id))
    stop = best is not None and should_stop(best, others_median, mode)
    if stop:
        logger.info("median stop: trial %s stopped at step %d (best %s, others' median %s)",
                    config.get("trial_id"), k, best, others_median)
    return stop


register_stop_rule(RULE_NAME, median_stop_rule)
