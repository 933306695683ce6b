"""How long the run's searcher takes to suggest a config, measured before the plan is made.

Auto config plans trials in full trainings of epochs, but every trial also waits for its suggestion. A
GP-UCB suggestion (a kernel fit and an acquisition search) took ~0.1 s on a 2-core machine: on the
digits sample at ``expected_time_ratio=2`` that is as long as the trial's two epochs, so a plan that
ignored it promised 50 trials and the run had time for 33. With a deadline in seconds the plan can pay
for it: :func:`suggestion_seconds` times a throwaway searcher of the same kind on synthetic results, and
``create()`` passes the figure to auto config as ``trial_overhead``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import numpy as np

from ..algorithms import Searcher, SuggestRequest
from ..algorithms.random_search import RandomSearcher
from ..search_space import SearchSpace

_TIMED = 2  # suggestions timed after a warm-up one (imports and caches are not a per-trial cost)


def suggestion_seconds(make_searcher: Callable[[], Searcher], space: Mapping[str, SearchSpace],
                       observations: int, seed: int = 0) -> float:
    """Median seconds of one suggestion by a fresh searcher that has seen ``observations`` results.

    The results are random configs with random scores: what is timed is the fit and the acquisition
    search, whose cost depends on how many results there are and on the space, not on their values.
    The run's own searcher is not touched (a throwaway one is fed), so nothing of the run changes.
    """
    searcher = make_searcher()
    draw, rng = RandomSearcher(seed), np.random.default_rng(seed)
    seen = 0
    while seen < observations:
        params = draw.suggest(SuggestRequest(seen, 0, space))
        if params is None:  # a small discrete space holds fewer configs than asked for
            break
        score = float(rng.normal())
        searcher.on_config(seen, 0, params)
        searcher.on_scores(seen, 0, [score])  # one epoch each: what a multi-fidelity searcher models
        searcher.on_result(seen, score)
        seen += 1
    seconds = []
    for k in range(_TIMED + 1):
        start = time.perf_counter()
        searcher.suggest(SuggestRequest(seen + k, 0, space))
        if k:
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)
