"""Pure algorithms: they decide from data and never touch files, locks, processes or save_path.

- searchers suggest configs and learn from events (:mod:`.searcher`): random, GP-UCB, ASHA's rung model;
- stoppers decide inside ``report()`` from a rank summary (:mod:`.stoppers`): ASHA's rungs, median stop;
- an :class:`~.algorithm.Algorithm` composes a searcher, a rung schedule and a stop rule.
"""

from .algorithm import (
    EARLY_STOPS,
    SAMPLERS,
    SEARCH_ALGS,
    SMBO_NAMES,
    Algorithm,
    build_algorithm,
    epoch_excess,
    sampler_epochs,
)
from .searcher import Searcher, SuggestRequest
from .stoppers import STOPPERS, Progress, Stopper, stopper_for

__all__ = ["EARLY_STOPS", "SAMPLERS", "SEARCH_ALGS", "SMBO_NAMES", "STOPPERS", "Algorithm", "Progress", "Searcher",
           "Stopper", "SuggestRequest", "build_algorithm", "epoch_excess", "sampler_epochs",
           "stopper_for"]
