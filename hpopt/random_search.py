"""Random search: the first real algorithm and the baseline that the others must beat."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import HpoBase, config_key
from .search_space import SearchSpace, sample_params
from .trial import Trial

logger = logging.getLogger("hpopt")

_MAX_DRAWS = 100


def draw_untried(
    space: Mapping[str, SearchSpace], rng: np.random.Generator, tried: set[str]
) -> tuple[dict[str, Any], bool]:
    """A random config not in ``tried`` (added to it) and True; after 100 repeats in a row, the last and False."""
    for _ in range(_MAX_DRAWS):
        params = sample_params(space, rng)
        key = config_key(params)
        if key not in tried:
            tried.add(key)
            return params, True
    return params, False


class RandomSearch(HpoBase):
    """Independent uniform draws from the search space (log-uniform for log types).

    Each trial's draw uses its own generator seeded by (seed, trial_id, attempt), so the same seed gives
    the same configs in the same order, also across a resume, without storing generator state.
    A config already tried is drawn again (up to 100 times); if a small discrete space is exhausted the
    run ends early, as the original did after repeated duplicates.
    """

    algorithm_name = "random"

    def __init__(self, **kwargs: Any) -> None:
        self._tried: set[str] = set()
        self._exhausted = False
        super().__init__(**kwargs)

    def _suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        params, new = draw_untried(self._space, np.random.default_rng([self.seed, trial_id, attempt]), self._tried)
        if new:
            return params
        if attempt == 0:
            logger.warning("random search drew %d configs already tried in a row; the space looks exhausted, "
                           "so no new trials are issued", _MAX_DRAWS)
            self._exhausted = True
            return None
        return params  # an OOM re-sample must still give a config inside the new bounds

    def _can_start_new(self) -> bool:
        return not self._exhausted and super()._can_start_new()

    def _on_trial_finished(self, trial: Trial) -> None:
        self._tried.add(config_key(trial.config))

    def _restore(self, stored: dict[str, Any]) -> None:
        for entry in stored["config_list"]:
            self._tried.add(config_key(entry["config"]))
        super()._restore(stored)
