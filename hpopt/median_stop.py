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

The summary is a :class:`~hpopt.rank_summary.RankSummary`: exact (numpy's median) up to 256 values, then
256 centroids, so a step file stays below 16 KiB and an update costs about 50 us whatever the number of
trials; that module gives the measured rank error.

A re-issued trial (controller resume, or CUDA-OOM re-sample) reports steps 1..k again in a new attempt;
a step is added only when k exceeds the longest earlier attempt in ``previous_attempts``, so no trial is
counted twice at a step (its earlier attempt's value stays in, as that of another trial would). Each
summary stores the run's ``run_id``; a summary left by an earlier run in the same save_path is discarded
(restarted) on first use instead of mixing two runs' statistics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from .rank_summary import RankSummary, load_summary
from .report import best_of, longest_previous_attempt, register_stop_rule
from .store import StateFileError, atomic_write_json, file_lock, make_dir

logger = logging.getLogger("hpopt")

RULE_NAME = "median_stop"
MIN_OTHERS = 3  # other trials' running means needed at a step before any trial is stopped there
SUMMARY_DIR = "hpopt_median_stop"


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


def _damaged(path: str, why: str) -> StateFileError:
    return StateFileError(
        f"median-stop summary {path} is damaged ({why}); delete it: median stop then restarts its "
        "statistics for that step (trials are not stopped there until enough new results arrive)"
    )


def _load(path: str) -> tuple[RankSummary, str | None] | None:
    """The summary in ``path`` and its run_id; None when there is no file yet."""
    return load_summary(path, lambda why: _damaged(path, why))


def step_median(save_path: str | os.PathLike[str], k: int, run_id: str | None = None) -> float | None:
    """Median (exact or approximate, see the module doc) of the running means stored for step ``k``.

    None when step k has no values yet, or when ``run_id`` is given and the file belongs to another run.
    Needs no lock: summaries are replaced atomically.
    """
    loaded = _load(step_path(save_path, k))
    if loaded is None or (run_id is not None and loaded[1] not in (None, run_id)):
        return None
    return loaded[0].median()


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
    add = mean is not None and k > longest_previous_attempt(doc)
    run_id = config.get("run_id")
    run_id = run_id if isinstance(run_id, str) else None

    save_path = os.path.dirname(os.fspath(config["file_path"])) or "."
    path = step_path(save_path, k)
    with file_lock(save_path, f"median_step_{k}"):
        loaded = _load(path)
        summary = RankSummary()
        if loaded is not None:
            if run_id is not None and loaded[1] not in (None, run_id):
                logger.info("median stop: %s belongs to an earlier run (%s); restarting step %d", path,
                            loaded[1], k)
            else:
                summary = loaded[0]
        others_median = summary.median() if summary.count >= MIN_OTHERS else None
        if add and mean is not None:
            summary.add(mean)
            make_dir(os.path.dirname(path))
            atomic_write_json(path, summary.to_json(step=k, run_id=run_id), indent=None)
    stop = best is not None and should_stop(best, others_median, mode)
    if stop:
        logger.info("median stop: trial %s stopped at step %d (best %s, others' median %s)",
                    config.get("trial_id"), k, best, others_median)
    return stop


register_stop_rule(RULE_NAME, median_stop_rule)
