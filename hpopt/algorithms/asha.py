"""ASHA's parts: the rung schedule of its brackets, and the rung-model searcher (its "bayes" sampler).

ASHA itself is a composition (:mod:`.algorithm`): this schedule, the :class:`~.stoppers.AshaStopper`
that trainers apply at the rungs, and any searcher to draw new trials (the forest by default).

Schedule. Bracket s has geometric rungs ``min_iterations * rf**(s + k)`` below ``max_iterations``, then
``max_iterations`` itself (:func:`.rung_math.asha_rungs`). ``rungs_in_brackets`` and the
``rungs`` key of a train_config list them in the original's order, largest first. Trials are dealt to
a bracket when issued, by the :class:`~.bracket_choice.BracketChooser` (or in turn, trial id modulo
``num_brackets``, for runs stored before it), and the choice is kept in the trial's entry.

Rung-model searcher. It fits baye_opt's GP (same encoding, kernel, warping, kappa and pending points) to
the best-so-far scores at the highest rung epoch that at least ``max(num_init_trials, dims + 1)`` trials
have reached, in the spirit of BOHB / MOBSTER, and draws randomly until some rung has that many.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .gp_ucb import GpUcbSearcher
from .level_scores import LevelScores
from .random_search import RandomSearcher
from .rank_summary import RankSummary
from .rung_math import asha_rungs, cut_rungs, expected_epochs_after
from .scores import best_of, signed
from .searcher import SuggestRequest
from .stoppers import rung_summary_name


class RungSchedule:
    """Rung epochs per bracket, and how many epochs a trial is expected to run."""

    def __init__(self, min_iterations: int, max_iterations: int, reduction_factor: int, num_brackets: int) -> None:
        self.min_iterations = int(min_iterations)
        self.max_iterations = int(max_iterations)
        self.reduction_factor = int(reduction_factor)
        self.num_brackets = int(num_brackets)
        self.brackets = tuple(tuple(asha_rungs(self.min_iterations, self.max_iterations, self.reduction_factor, b))
                              for b in range(self.num_brackets))
        self._assigned: dict[int, int] = {}

    @functools.cached_property
    def levels(self) -> list[int]:
        """Every rung epoch of any bracket, ascending."""
        return sorted({r for rungs in self.brackets for r in rungs})

    @property
    def rungs_in_brackets(self) -> list[list[int]]:
        """Rung epochs per bracket, bracket 0 first, each list largest first (the original's order)."""
        return [list(rungs[::-1]) for rungs in self.brackets]

    def assign(self, trial_id: int, bracket: int) -> None:
        """Trial ``trial_id`` runs in ``bracket`` (chosen at issue, or restored from its entry on resume)."""
        if not 0 <= int(bracket) < self.num_brackets:
            raise ValueError(f"trial {trial_id}: bracket {bracket!r} is not one of the run's "
                             f"{self.num_brackets} bracket(s)")
        self._assigned[int(trial_id)] = int(bracket)

    def bracket_of(self, trial_id: int) -> int:
        """The trial's assigned bracket; a trial never assigned one (a run stored before brackets were
        chosen) takes its place in turn, as all trials then did."""
        return self._assigned.get(trial_id, trial_id % self.num_brackets)

    def rungs_of(self, trial_id: int, iterations: int | None = None) -> list[int]:
        """The trial's rungs, ascending: its bracket's, ending at its ``iterations`` when a re-plan cut
        the last epoch before it was issued (:func:`.rung_math.cut_rungs`)."""
        return cut_rungs(self.brackets[self.bracket_of(trial_id)], iterations)

    def train_config(self, trial_id: int, iterations: int | None = None) -> dict[str, Any]:
        """The keys a trainer's stopper needs."""
        return {"bracket": self.bracket_of(trial_id), "rungs": self.rungs_of(trial_id, iterations)[::-1],
                "reduction_factor": self.reduction_factor}

    def expected_epochs(self, trial_id: int, done: int, iterations: int | None = None) -> float:
        """A trial surely runs to its next rung; from there each rung lets it on with probability 1/rf."""
        return expected_epochs_after(self.rungs_of(trial_id, iterations), done, self.reduction_factor)

    def state(self) -> dict[str, Any]:
        return {"min_iterations": self.min_iterations, "reduction_factor": self.reduction_factor,
                "num_brackets": self.num_brackets, "rungs_in_brackets": self.rungs_in_brackets}

    def rung_summaries(self, trials: Iterable[tuple[int, Sequence[float | None]]], mode: str,
                       groups: Mapping[int, int] | None = None,
                       tops: Mapping[int, int] | None = None) -> dict[str, RankSummary]:
        """Every rung's summary rebuilt from (trial id, scores of its longest attempt): what resume writes.

        A rung record may lack results whose write a crash cut off, or hold one whose trial update was
        lost; the trials' records are the truth. Each trial counts once per rung below its last epoch
        (``tops``: trial id -> iterations, where a re-plan cut it), in its rung group (``groups``: trial
        id -> group, for trials on a subset a re-plan cut; 0 when absent).
        """
        out: dict[str, RankSummary] = {}
        for tid, scores in trials:
            b = self.bracket_of(tid)
            group = (groups or {}).get(tid, 0)
            for rung in self.rungs_of(tid, (tops or {}).get(tid))[:-1]:
                best = best_of(scores[:rung], mode) if len(scores) >= rung else None
                if best is not None:
                    out.setdefault(rung_summary_name(b, rung, group), RankSummary()).add(best)
        return out


class RungModelSearcher:
    """ASHA's "bayes" sampler: a GP on the best-so-far scores at the highest well-filled rung.

    Random draws (as ``sampler="random"``) until some rung epoch holds ``max(num_init_trials, dims + 1)``
    current-attempt results; then GP-UCB on that rung's results.
    """

    def __init__(self, gp: GpUcbSearcher, random: RandomSearcher, levels: Sequence[int], mode: str) -> None:
        self.gp = gp
        self.random = random
        self.mode = mode
        self.scores = LevelScores(levels, mode)

    @property
    def exhausted(self) -> bool:
        return self.random.exhausted

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        self.scores.on_config(trial_id, attempt)
        self.gp.on_config(trial_id, attempt, params)
        self.random.on_config(trial_id, attempt, params)

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        self.scores.on_scores(trial_id, attempt, scores)

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        self.gp.on_result(trial_id, score)

    def best_trial(self) -> int | None:
        return None

    def state(self) -> dict[str, Any]:
        return self.gp.state()

    def min_points(self) -> int:
        return max(self.gp.num_init_trials, len(self.gp.box.space) + 1)

    def model_rung(self) -> int | None:
        """The highest rung epoch with enough current-attempt results to fit the GP on, if any."""
        need = self.min_points()
        return next((level for level in self.scores.reached() if len(self.scores.current(level)) >= need), None)

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """Best-so-far scores at the model rung (max-mode sign) and their configs in the GP box."""
        level = self.model_rung()
        at = self.scores.current(level) if level is not None else {}
        xs = [self.gp.box.encode(self.gp.params_of(tid)) for tid in sorted(at)]
        ys = [signed(at[tid], self.mode) for tid in sorted(at)]
        return np.array(xs).reshape(-1, self.gp.box.dims), np.array(ys, dtype=float)

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        if self.model_rung() is None:
            return self.random.suggest(request)
        params = self.gp.propose(request, *self.observations())
        self.random.on_config(request.trial_id, request.attempt, params)
        return params
