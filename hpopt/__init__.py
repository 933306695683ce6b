"""hpopt: ask/tell hyperparameter optimization that keeps your training loop.

    hpo = hpopt.create(full_dataset_size=..., num_full_iterations=..., search_space={...}, search_alg="random")
    while (cfg := hpo.get_next_sample()) is not None:
        train(cfg)   # calls hpopt.report(config=cfg, score=s) each epoch; stops on hpopt.Status.STOP
    hpo.get_best_config(); hpo.print_results()
    hpopt.load_results(save_path)   # one row per trial (pandas DataFrame, or as_records=True)
"""

from .api import create, createDummyOpt
from .datasets import createHpoDataset
from .errors import HpoptError, StateFileError
from .search_space import SearchSpace, search_space
from .trainer import finalize_trial, report, reportOOM
from .trial import Status
from .views.original import (
    get_best_score,
    get_current_status,
    get_previous_status,
    get_status_path,
    get_trial_path,
    load_json,
)
from .views.results import load_results

__version__ = "0.4.0"

__all__ = [
    "HpoptError",
    "SearchSpace",
    "StateFileError",
    "Status",
    "create",
    "createDummyOpt",
    "createHpoDataset",
    "finalize_trial",
    "get_best_score",
    "get_current_status",
    "get_previous_status",
    "get_status_path",
    "get_trial_path",
    "load_json",
    "load_results",
    "report",
    "reportOOM",
    "search_space",
]
