"""What a searcher is: it suggests configs and learns from what the controller tells it.

A searcher never sees files, locks or processes. The controller tells it, as events, everything it may
learn from: which params each trial holds (``on_config``: issued, re-sampled after a CUDA OOM, restored
on resume), intermediate scores (``on_scores``, each time a running trial's record changes, for
multi-fidelity searchers) and each trial's final result (``on_result``). Resume replays the same events
from the stored state, so a searcher needs no persistence of its own: same events and seed, same
suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..search_space import SearchSpace


@dataclass(frozen=True)
class SuggestRequest:
    """What the controller knows when it asks for a config.

    ``space`` is the current space (a CUDA OOM may have shrunk a batch-size bound below the original
    one); ``pending`` holds the params of the trials running now (a searcher may avoid them);
    ``fidelity`` is the training the new trial gets (see :meth:`Searcher.on_result`), None when unknown;
    ``planned`` is the number of trials the run plans now (``num_trials``, after any re-plan), so a searcher
    can tell how much of the run is left; None when unknown.
    """

    trial_id: int
    attempt: int
    space: Mapping[str, SearchSpace]
    pending: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    fidelity: float | None = None
    planned: int | None = None


class Searcher(Protocol):
    """Suggests configs; learns from events. Implementations: random, GP-UCB, ASHA's rung model."""

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        """Params for the trial, or None when the searcher has nothing new to give (a small discrete space
        is exhausted); for a re-sample (attempt > 0) it always returns params inside ``request.space``."""

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        """Trial ``trial_id`` holds ``params`` in ``attempt`` (issued, re-sampled or restored)."""

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        """The scores a running (or just finished) trial has reported so far in ``attempt``."""

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        """A trial ended with this score (None: it failed or reported nothing valid). ``fidelity`` is the
        training it was given, in full-data epochs (its epochs x its subset ratio): auto config's
        re-planning may change it during a run, and scores of different fidelities do not compare."""

    def best_trial(self) -> int | None:
        """The trial whose config the searcher's model rates best, where the best score alone would
        mislead (results of several fidelities); None to leave the choice to the best-score rule."""

    def state(self) -> dict[str, Any]:
        """Keys for the run's status file that describe the searcher (kappa, ...): informative only."""
