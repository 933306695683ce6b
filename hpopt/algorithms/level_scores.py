"""Each trial's best-so-far score at chosen epochs (ASHA's rung levels), current attempts only.

Several parts of ASHA learn from how trials scored at its rungs: the rung-model sampler fits a GP to one
rung, and the bracket chooser measures how well one rung ranks trials like a later one. Both are fed the
controller's events (a trial's attempt, the scores it has reported) and must forget what an earlier
attempt of a re-issued trial reported; this keeps that bookkeeping in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from .scores import best_of


class LevelScores:
    """Best-so-far score of every trial at each level (epoch count) it has reached, per current attempt."""

    def __init__(self, levels: Sequence[int], mode: str) -> None:
        self.levels = sorted({int(level) for level in levels})
        self.mode = mode
        self._attempts: dict[int, int] = {}
        self._at: dict[int, dict[int, tuple[int, float]]] = {}  # level -> trial id -> (attempt, best so far)

    def on_config(self, trial_id: int, attempt: int) -> None:
        """Trial ``trial_id`` now runs ``attempt``: what its earlier attempts reported no longer counts."""
        self._attempts[trial_id] = attempt

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        for level in self.levels:
            if level > len(scores):
                break
            best = best_of(scores[:level], self.mode)
            if best is not None:
                self._at.setdefault(level, {})[trial_id] = (attempt, best)

    def current(self, level: int) -> dict[int, float]:
        """Trial id -> best score within ``level`` epochs, for trials whose current attempt got that far."""
        return {tid: value for tid, (att, value) in self._at.get(level, {}).items()
                if self._attempts.get(tid) == att}

    def reached(self) -> list[int]:
        """Levels some trial has a score at, highest first."""
        return sorted(self._at, reverse=True)
