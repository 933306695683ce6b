"""ASHA: asynchronous successive halving with brackets (Li et al., MLSys 2020), stopping variant.

Schedule. Bracket s has geometric rungs ``min_iterations * rf**(s + k)`` below ``max_iterations``, then
``max_iterations`` itself (:func:`hpopt.auto_config.asha_rungs`). ``rungs_in_brackets`` and the
``rungs`` key of a train_config list them in the original's order, largest first. Trials are dealt to
brackets in turn (trial id modulo ``num_brackets``), the rule auto config's time model assumes.

Stopping (decided inside ``report()``, by the trainer, with no controller round trip). When a trial's
k-th score arrives and k is a rung below its ``iterations``, its best score so far is added to that
rung's record in its bracket, and the trial goes on only if it is in the top 1/rf of the n results the
rung now holds (its own included): fewer than ``n // rf`` results are strictly better than it (a tie goes
on). While ``n // rf`` is 0 (the rung holds fewer than rf results) there is nothing to be in the top of,
and the trial goes on: the first trials of a run are judged optimistically rather than all stopped. A
trial with no valid score by a rung is stopped there. Each record is a
:class:`~hpopt.rank_summary.RankSummary` in ``save_path/hpopt_asha/``, read
and updated under its own lock taken after the trial's lock: O(1) in the number of trials (exact up to
256 results, then 256 centroids), and no other trial file is read. Rung records can be rebuilt from the
trial files, so they are written without fsync, and ``resume=True`` rebuilds them.

Budget. Auto config's epoch budget is what ends the run: a new trial is issued only while the epochs
already run (with each collected trial's measured start-up overhead, :mod:`hpopt.overhead`), plus the
expected remaining epochs of the running trials, plus the expected epochs of one new trial fit in it
(expectations as in :func:`hpopt.auto_config.expected_epochs_after`), and while fewer than
``num_trials`` exist. ``get_next_sample()`` returning None while ``is_finished()`` is False means
trials are still running: poll again.

Sampling. ``sampler="random"`` draws configs uniformly (as random search). ``sampler="bayes"`` fits
baye_opt's GP (same encoding, kernel, warping, kappa and pending points) to the best-so-far scores at
the highest rung epoch that at least ``max(num_init_trials, dims + 1)`` trials have reached, in the
spirit of BOHB / MOBSTER, and draws randomly until some rung has that many.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .auto_config import asha_rungs, expected_epochs_after
from .base import config_key
from .random_search import draw_untried
from .rank_summary import RankSummary, summary_from_bytes, summary_to_bytes
from .report import best_of, longest_previous_attempt, read_trial_file, register_stop_rule
from .smbo import BayesOpt
from .store import StateFileError, file_lock, make_dir, open_private, trial_path
from .trial import Status, Trial

logger = logging.getLogger("hpopt")

RULE_NAME = "asha"
RUNG_DIR = "hpopt_asha"
SAMPLERS = ("random", "bayes")


def rung_path(save_path: str | os.PathLike[str], bracket: int, rung: int) -> str:
    """The record of one rung (epoch count) of one bracket."""
    return os.path.join(os.fspath(save_path), RUNG_DIR, f"bracket_{int(bracket)}_rung_{int(rung)}.bin")


def goes_on(num_better: float, num_results: int, reduction_factor: int) -> bool:
    """Whether a result with ``num_better`` strictly better results among ``num_results`` (itself
    included) is in the top 1/rf; always True while the rung holds fewer than rf results."""
    top = num_results // reduction_factor
    return top == 0 or num_better < top


def _damaged(path: str, why: str) -> StateFileError:
    return StateFileError(
        f"ASHA rung record {path} is damaged ({why}); delete it, or resume the run (resume=True rebuilds "
        "every rung record from the trial files)"
    )


def read_rung(path: str, run_id: str | None = None) -> RankSummary:
    """The results recorded at a rung (empty when there is no record, or it belongs to another run)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return RankSummary()
    if not data:  # created, then its writer was killed before the first write: it never held a result
        return RankSummary()
    summary, owner = summary_from_bytes(data, lambda why: _damaged(path, why))
    if run_id is not None and owner not in (None, run_id):
        logger.info("ASHA: %s belongs to an earlier run (%s); starting it afresh", path, owner)
        return RankSummary()
    return summary


def _save_rung(path: str, summary: RankSummary, run_id: str | None) -> None:
    """Overwrite the record in place (about 4 KiB at most), under the rung's lock.

    No temp file, rename or fsync: replacing a file costs ~1 ms on some disks, and a record a power cut
    tears is rebuilt from the trial files by resume (a killed process cannot tear one write).
    """
    fd = open_private(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.pwrite(fd, summary_to_bytes(summary, run_id), 0)
    finally:
        os.close(fd)


def asha_stop_rule(config: Mapping[str, Any], doc: dict[str, Any]) -> bool:
    """report()'s stop-rule hook (trial lock held, new score already in ``doc``): True to stop."""
    scores: list[float | None] = doc["scores"]
    k = len(scores)
    rungs = config.get("rungs") or []
    if k not in rungs or k >= int(config["iterations"]):
        return False
    mode = str(config["mode"])
    best = best_of(scores, mode)
    if best is None:
        logger.info("ASHA: trial %s has no valid score at rung %d; stopped", config.get("trial_id"), k)
        return True
    bracket, rf = int(config["bracket"]), int(config["reduction_factor"])
    run_id = config.get("run_id") if isinstance(config.get("run_id"), str) else None
    save_path = os.path.dirname(os.fspath(config["file_path"])) or "."
    path = rung_path(save_path, bracket, k)
    with file_lock(save_path, f"asha_bracket_{bracket}_rung_{k}"):
        summary = read_rung(path, run_id)
        if k > longest_previous_attempt(doc):  # an earlier attempt of this trial is already counted here
            summary.add(best)
            make_dir(os.path.dirname(path))
            _save_rung(path, summary, run_id)
        better = summary.count_better(best, mode)
        go = goes_on(better, summary.count, rf)
    if not go:
        logger.info("ASHA: trial %s stopped at rung %d of bracket %d (%d of %d results better)",
                    config.get("trial_id"), k, bracket, int(better), summary.count)
    return not go


register_stop_rule(RULE_NAME, asha_stop_rule)


class AsyncHyperBand(BayesOpt):
    """ASHA with brackets and an epoch budget; random or GP-based sampling of new trials."""

    algorithm_name = "asha"
    # The sampler suggests once per trial, and ASHA runs many short trials: one kernel fit per suggestion
    # (no restarts) keeps a suggestion near 0.1 s; the rung data it fits are noisy low-fidelity scores anyway.
    gp_restarts = 0

    def __init__(self, *, min_iterations: int, reduction_factor: int, num_brackets: int, epoch_budget: float,
                 sampler: str = "random", **kwargs: Any) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
        self.min_iterations = int(min_iterations)
        self.reduction_factor = int(reduction_factor)
        self.num_brackets = int(num_brackets)
        self.sampler = sampler
        self._tried: set[str] = set()
        self._exhausted = False
        # For the bayes sampler: rung epoch -> trial id -> (attempt, best score within that many epochs).
        self._rung_scores: dict[int, dict[int, tuple[int, float]]] = {}
        kwargs["early_stop"] = RULE_NAME
        super().__init__(epoch_budget=float(epoch_budget), **kwargs)

    # --- schedule ------------------------------------------------------------------------------

    @functools.cached_property
    def _schedule(self) -> tuple[tuple[int, ...], ...]:
        """Rung epochs per bracket, ascending; computed once (every ask and report-collection needs them)."""
        return tuple(tuple(asha_rungs(self.min_iterations, self.max_iterations, self.reduction_factor, b))
                     for b in range(self.num_brackets))

    @functools.cached_property
    def _levels(self) -> list[int]:
        """Every rung epoch of any bracket, ascending: where the bayes sampler records scores."""
        return sorted({r for rungs in self._schedule for r in rungs})

    def _rungs(self, bracket: int) -> tuple[int, ...]:
        return self._schedule[bracket]

    @property
    def rungs_in_brackets(self) -> list[list[int]]:
        """Rung epochs per bracket, bracket 0 first, each list largest first (the original's order)."""
        return [list(rungs[::-1]) for rungs in self._schedule]

    def bracket_of(self, trial_id: int) -> int:
        return trial_id % self.num_brackets

    def _extra_train_config(self, trial: Trial) -> dict[str, Any]:
        b = self.bracket_of(trial.trial_id)
        trial.extra["bracket"] = b  # the original's config_list key
        return {"bracket": b, "rungs": list(self._rungs(b)[::-1]), "reduction_factor": self.reduction_factor,
                "early_stop": RULE_NAME}

    # --- budget --------------------------------------------------------------------------------

    def _expected_epochs(self, trial_id: int, done: int) -> float:
        """A trial surely runs to its next rung; from there each rung lets it on with probability 1/rf."""
        return expected_epochs_after(self._rungs(self.bracket_of(trial_id)), done, self.reduction_factor)

    def _can_start_new(self) -> bool:
        return not self._exhausted and super()._can_start_new()

    def get_progress(self) -> float:
        """Share of the epoch budget used (or of num_trials finished, if larger), in [0, 1]."""
        self._check_owner()
        self._collect()
        if self.is_finished():
            return 1.0
        used = self.epochs_used / self.epoch_budget if self.epoch_budget > 0 else 0.0
        return min(0.99, max(used, self._finished / max(1, self.num_trials)))

    # --- sampling ------------------------------------------------------------------------------

    def _suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        if self.sampler == "bayes" and self._model_rung() is not None:
            return super()._suggest(trial_id, attempt)  # GP on one BLAS thread, see BayesOpt
        params, new = draw_untried(self._space, np.random.default_rng([self.seed, trial_id, attempt]), self._tried)
        if not new and attempt == 0:
            logger.warning("ASHA drew 100 configs already tried in a row; the space looks exhausted, so no new "
                           "trials are issued")
            self._exhausted = True
            return None
        return params

    def _min_model_points(self) -> int:
        return max(self.num_init_trials, len(self._original_space) + 1)

    def _model_rung(self) -> int | None:
        """The highest rung epoch with enough current-attempt results to fit the GP on, if any."""
        need = self._min_model_points()
        for level in sorted(self._rung_scores, reverse=True):
            if sum(1 for tid, (att, _) in self._rung_scores[level].items()
                   if self._trials[tid].attempt == att) >= need:
                return level
        return None

    def _observations(self) -> tuple[np.ndarray, np.ndarray]:
        """Best-so-far scores at the model rung (max mode sign), for BayesOpt's GP."""
        level = self._model_rung()
        xs, ys = [], []
        for tid, (att, value) in sorted(self._rung_scores.get(level, {}).items()) if level is not None else []:
            trial = self._trials[tid]
            if trial.attempt == att:
                xs.append(self._gp_encode(trial.config))
                ys.append(value if self.mode == "max" else -value)
        return np.array(xs).reshape(-1, sum(self._gp_widths)), np.array(ys, dtype=float)

    def _suggest_unlimited(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        rng = np.random.default_rng([self.seed, trial_id, attempt])
        x_obs, y_obs = self._observations()
        params, optimizer = self._gp_suggest(x_obs, y_obs, rng)
        key = config_key(params)
        if key in self._tried:
            params = self._untried(self._tried, rng, optimizer)
            key = config_key(params)
        self._tried.add(key)
        return params

    def _on_trial_scores(self, trial: Trial, scores: list[float | None]) -> None:
        if self.sampler != "bayes":
            return
        for level in self._levels:
            if level > len(scores):
                break
            best = best_of(scores[:level], self.mode)
            if best is not None:
                self._rung_scores.setdefault(level, {})[trial.trial_id] = (trial.attempt, best)

    def _on_trial_finished(self, trial: Trial) -> None:
        self._tried.add(config_key(trial.config))

    # --- state ---------------------------------------------------------------------------------

    def _algorithm_state(self) -> dict[str, Any]:
        return {**super()._algorithm_state(), "min_iterations": self.min_iterations,
                "reduction_factor": self.reduction_factor, "num_brackets": self.num_brackets,
                "rungs_in_brackets": self.rungs_in_brackets, "sampler": self.sampler}

    def _load_algorithm_state(self, stored: Mapping[str, Any]) -> None:
        for key in ("min_iterations", "reduction_factor", "num_brackets", "sampler"):
            if key in stored and stored[key] != getattr(self, key):
                raise ValueError(
                    f"resume=True but {key} changed: the run in {self.save_path} used {stored[key]!r}, now "
                    f"{getattr(self, key)!r}; pass the same value, or resume=False to start over (the old run "
                    "is kept in save_path/archive)"
                )

    def _restore(self, stored: dict[str, Any]) -> None:
        for entry in stored["config_list"]:
            self._tried.add(config_key(entry["config"]))
        super()._restore(stored)
        self._rebuild_rungs()

    def _rebuild_rungs(self) -> None:
        """Rewrite every rung record from the trial files (once per resume, O(trials)).

        A record may lack results whose write a crash cut off, or hold one whose trial file update was
        lost; the trial files are the truth. Each trial counts once per rung, with its longest attempt.
        """
        records: dict[tuple[int, int], RankSummary] = {}
        for trial in self._trials:
            path = trial_path(self.save_path, trial.trial_id)
            if not os.path.exists(path):
                continue
            try:
                doc = read_trial_file(path)
            except StateFileError as exc:
                logger.warning("ASHA: rung records rebuilt without trial %d: %s", trial.trial_id, exc)
                continue
            attempts = [a["scores"] for a in doc.get("previous_attempts") or []
                        if isinstance(a, Mapping) and isinstance(a.get("scores"), list)]
            scores = max([doc["scores"], *attempts], key=len)
            if doc.get("attempt", trial.attempt) == trial.attempt and trial.status != Status.READY:
                self._on_trial_scores(trial, doc["scores"])
            b = self.bracket_of(trial.trial_id)
            for rung in self._rungs(b)[:-1]:
                best = best_of(scores[:rung], self.mode) if len(scores) >= rung else None
                if best is not None:
                    records.setdefault((b, rung), RankSummary()).add(best)
        folder = os.path.join(self.save_path, RUNG_DIR)
        make_dir(folder)
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        for (b, rung), summary in records.items():
            _save_rung(rung_path(self.save_path, b, rung), summary, self.run_id)
