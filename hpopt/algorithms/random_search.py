"""Random search: the baseline every algorithm must beat, and ASHA's default way to draw new trials."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..search_space import SearchSpace, sample_params
from .scores import config_key
from .searcher import SuggestRequest

logger = logging.getLogger("hpopt")

MAX_DRAWS = 100


def draw_untried(
    space: Mapping[str, SearchSpace], rng: np.random.Generator, tried: set[str]
) -> tuple[dict[str, Any], bool]:
    """A random config not in ``tried`` (added to it) and True; after 100 repeats in a row, the last and False."""
    for _ in range(MAX_DRAWS):
        params = sample_params(space, rng)
        key = config_key(params)
        if key not in tried:
            tried.add(key)
            return params, True
    return params, False


class RandomSearcher:
    """Independent uniform draws from the search space (log-uniform for log types).

    Each trial's draw uses its own generator seeded by (seed, trial_id, attempt), so the same seed gives
    the same configs in the same order, also across a resume, without storing generator state.
    A config already tried is drawn again (up to 100 times); when a small discrete space is exhausted
    ``suggest`` returns None for a new trial, so the run ends early, as the original did.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._tried: set[str] = set()
        self.exhausted = False

    def suggest(self, request: SuggestRequest) -> dict[str, Any] | None:
        rng = np.random.default_rng([self.seed, request.trial_id, request.attempt])
        params, new = draw_untried(request.space, rng, self._tried)
        if new or request.attempt > 0:
            return params  # an OOM re-sample must still give a config inside the new bounds
        logger.warning("drew %d configs already tried in a row; the space looks exhausted, so no new trials "
                       "are issued", MAX_DRAWS)
        self.exhausted = True
        return None

    def on_config(self, trial_id: int, attempt: int, params: Mapping[str, Any]) -> None:
        self._tried.add(config_key(params))

    def on_scores(self, trial_id: int, attempt: int, scores: Sequence[float | None]) -> None:
        pass

    def on_result(self, trial_id: int, score: float | None, fidelity: float | None = None) -> None:
        pass

    def best_trial(self) -> int | None:
        return None

    def state(self) -> dict[str, Any]:
        return {}
