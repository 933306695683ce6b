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
    one); ``pending`` holds the params of the trials running now (a searcher may avoid them).
    """

    trial_id: int
    attempt: int
    space: Mapping[str, SearchSpace]
    pending: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


class Searcher(Protocol):
    """Suggests configs; learns from events. Implementations: random, GP-UCB, ASHA's rung model."""

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        """Params for the trial, or None when the searcher has nothing new to give (a small discrete space
        is exhausted); for a re-sample (attempt > 0) it always returns params inside ``request.space``."""

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        """Trial ``trial_id`` holds ``params`` in ``attempt`` (issued, re-sampled or restored)."""

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        """The scores a running (or just finished) trial has reported so far in ``attempt``."""

    def on_result(self, trial_id: int, score: float | None) -> None:
        """A trial ended with this score (None: it failed or reported nothing valid)."""

    def state(self) -> dict[str, Any]:
        """Keys for the run's status file that describe the searcher (kappa, ...): informative only."""
