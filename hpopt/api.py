"""create(): validate the user's arguments, fill what auto config may fill, build the algorithm object."""

from __future__ import annotations

import inspect
import logging
import math
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._validate import (
    check_int,
    check_non_pure_ratio,
    check_real,
    check_subset_ratio,
    check_time_ratio,
    did_you_mean,
)
from .algorithms import EARLY_STOPS, SAMPLERS, SEARCH_ALGS, build_algorithm, sampler_epochs
from .algorithms.bracket_choice import planned_shares
from .algorithms.random_search import RandomSearcher
from .auto_config import (
    MIN_SUBSET_SAMPLES,
    TRIALS_PER_HYPERPARAMETER,
    AutoConfig,
    asha_epochs_curve,
    auto_config,
    auto_config_asha,
    min_subset_ratio,
)
from .auto_replan import COUNT_SUBSET_SHARE, FIDELITY_RESERVE, CostModel
from .run.budget import Budget
from .run.calibrate import suggestion_seconds
from .run.controller import Controller
from .run.replanner import Replanner
from .run.settings import RunSettings
from .search_space import SearchSpace, normalize_space
from .state import StateStore, open_store

logger = logging.getLogger("hpopt")


def create(
    full_dataset_size: int,
    num_full_iterations: int,
    search_space: Mapping[str, SearchSpace],
    save_path: str = "hpo",
    search_alg: str = "bayes_opt",
    early_stop: str | None = None,
    mode: str = "max",
    num_init_trials: int = 5,
    num_trials: int | None = None,
    max_iterations: int | None = None,
    min_iterations: int | None = None,
    reduction_factor: int = 2,
    num_brackets: int | None = None,
    subset_ratio: float | None = None,
    batch_size_name: str | None = None,
    image_resize: Sequence[int] = (0, 0),
    metric: str = "mAP",
    resume: bool = False,
    expected_time_ratio: float = 4,
    non_pure_train_ratio: float = 0.2,
    full_train_seconds: float | None = None,
    replan: bool = True,
    num_workers: int = 1,
    kappa: float = 2.576,
    kappa_decay: float = 1,
    kappa_decay_delay: int = 0,
    default_hyper_parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    storage: str | StateStore = "file",
    **unknown: Any,
) -> Controller:
    """Start (or, with ``resume=True``, continue) a hyperparameter search stored under ``save_path``.

    Values left as None among ``num_trials``, ``max_iterations`` and ``subset_ratio`` are filled by auto
    config so that HPO takes about ``(expected_time_ratio - 1)`` times the final training; values you set
    are kept. ``resume=False`` over an existing run moves that run into ``save_path/archive/`` first.
    ``full_train_seconds``, when you know how long one full training takes, turns the budget into seconds:
    no trial is issued that the measured cost of trials says would end HPO after
    ``(expected_time_ratio - 1) * num_workers * full_train_seconds`` seconds of trial time; and, unless
    ``replan=False``, the values auto config filled are re-planned from the trials' measured cost whenever
    the rest of the plan would miss that time by more than 20 % (fewer epochs or a smaller subset before
    fewer trials; more fidelity, then more trials, when trials are cheaper than planned).
    ASHA (``search_alg="asha"``) also fills ``min_iterations`` and ``num_brackets`` and ends when the
    epoch budget is spent; ``sampler`` ("forest", the default, "random" or "bayes") picks how it draws new
    trials.
    ``storage="memory"`` keeps the run in this process's memory instead of files under save_path (for
    simulations, notebooks and tests: nothing is written, nothing survives the process).
    """
    if unknown:
        valid = [p for p in inspect.signature(create).parameters if p != "unknown"]
        name = sorted(unknown)[0]
        raise TypeError(f"create() got an unexpected keyword argument {name!r}{did_you_mean(name, valid)}")

    if not isinstance(search_alg, str) or search_alg not in SEARCH_ALGS:
        hint = did_you_mean(search_alg, SEARCH_ALGS) if isinstance(search_alg, str) else ""
        raise ValueError(f"search_alg must be one of {list(SEARCH_ALGS)}, got {search_alg!r}{hint}")
    if early_stop not in EARLY_STOPS:
        hint = did_you_mean(early_stop, ["median_stop"]) if isinstance(early_stop, str) else ""
        raise ValueError(f"early_stop must be None or 'median_stop', got {early_stop!r}{hint}")
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if not isinstance(save_path, (str, os.PathLike)):
        raise TypeError(f"save_path must be a folder path (str), got {save_path!r}")
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a str, got {metric!r}")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if not isinstance(replan, bool):
        raise TypeError(f"replan must be True or False, got {replan!r}")

    space = normalize_space(search_space)
    # The checks return plain int / float: numpy scalars (np.int64, np.float32) are taken as the numbers
    # they hold, so nothing later (JSON files, comparisons on resume) meets a numpy type.
    full_dataset_size = check_int("full_dataset_size", full_dataset_size, 0)
    num_full_iterations = check_int("num_full_iterations", num_full_iterations, 1)
    num_init_trials = check_int("num_init_trials", num_init_trials, 1)
    reduction_factor = check_int("reduction_factor", reduction_factor, 2)
    num_workers = check_int("num_workers", num_workers, 1)
    kappa_decay_delay = check_int("kappa_decay_delay", kappa_decay_delay, 0)
    num_trials, max_iterations, min_iterations, num_brackets = (
        None if value is None else check_int(name, value, 1)
        for name, value in (("num_trials", num_trials), ("max_iterations", max_iterations),
                            ("min_iterations", min_iterations), ("num_brackets", num_brackets)))
    if seed is not None:
        seed = check_int("seed", seed, 0)
    if subset_ratio is not None:
        subset_ratio = check_subset_ratio(subset_ratio)
    expected_time_ratio = check_time_ratio(expected_time_ratio)
    non_pure_train_ratio = check_non_pure_ratio(non_pure_train_ratio)
    if full_train_seconds is not None:
        full_train_seconds = check_real("full_train_seconds", full_train_seconds)
        if not full_train_seconds > 0:
            raise ValueError(f"full_train_seconds must be > 0 (seconds one full training takes), got "
                             f"{full_train_seconds!r}")
    kappa = check_real("kappa", kappa)
    if kappa < 0:
        raise ValueError(f"kappa must be >= 0, got {kappa!r}")
    kappa_decay = check_real("kappa_decay", kappa_decay)
    if not 0 < kappa_decay <= 1:
        raise ValueError(f"kappa_decay must be in (0, 1], got {kappa_decay!r}")
    resize = _check_image_resize(image_resize)
    _check_batch_size_name(batch_size_name, space)
    defaults = _check_defaults(default_hyper_parameters, space)

    if search_alg == "asha":
        if early_stop is not None:
            raise ValueError(f"early_stop={early_stop!r} does not apply to search_alg='asha': ASHA stops trials "
                             "at its rungs; leave early_stop as None")
        if sampler is not None and sampler not in SAMPLERS:
            hint = did_you_mean(sampler, SAMPLERS) if isinstance(sampler, str) else ""
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}{hint}")
    elif sampler is not None:
        raise ValueError(f"sampler={sampler!r} applies to search_alg='asha' only (got search_alg={search_alg!r})")

    store = open_store(storage, save_path)
    stored = store.load_status() if resume else None
    cut_top = None  # ASHA: the last epoch a re-plan cut for the trials still to start (None: its schedule's)
    if stored is not None:
        num_trials = num_trials if num_trials is not None else stored.get("num_trials")
        if search_alg == "asha" and max_iterations is None and stored.get("rungs_in_brackets"):
            # the rung schedule is built on its own last epoch; the stored max_iterations may be a re-plan's cut
            max_iterations = int(stored["rungs_in_brackets"][0][0])
            cut_top = stored.get("max_iterations")
        max_iterations = max_iterations if max_iterations is not None else stored.get("max_iterations")
        subset_ratio = subset_ratio if subset_ratio is not None else stored.get("subset_ratio")
        min_iterations = min_iterations if min_iterations is not None else stored.get("min_iterations")
        num_brackets = num_brackets if num_brackets is not None else stored.get("num_brackets")
        if search_alg == "asha" and sampler is None:
            # A resumed run keeps its sampler, whatever today's default (runs stored before samplers drew at random)
            sampler = stored.get("sampler") or "random"
        seed = stored.get("seed", seed)  # the run's searchers must draw what they drew before
    common = dict(full_dataset_size=full_dataset_size, num_full_iterations=num_full_iterations,
                  num_hyperparameters=len(space), expected_time_ratio=expected_time_ratio,
                  non_pure_train_ratio=non_pure_train_ratio, num_workers=num_workers, num_trials=num_trials,
                  max_iterations=max_iterations, subset_ratio=subset_ratio)
    charge_overhead = num_trials is None
    time_budget_s = _time_budget(expected_time_ratio, num_workers, full_train_seconds)
    replans = replan and time_budget_s is not None  # auto config's values follow the trials' measured costs
    if time_budget_s is not None and num_trials is None and stored is None:
        # The count is auto config's and there is a deadline in seconds: the plan pays for the suggestions.
        per_suggestion, spent = _suggestion_overhead(search_alg, space, mode, sampler, num_init_trials)
        common["trial_overhead"] = per_suggestion / full_train_seconds
        time_budget_s = max(0.0, time_budget_s - spent * num_workers)  # measuring it took the run's time too
    epoch_budget = None
    plan: AutoConfig | None = None
    asha: dict[str, Any] = {}
    if search_alg == "asha":
        # Always planned: it fills what is unset and, when it chose num_trials, the epoch budget that ends the run.
        plan = auto_config_asha(**common, min_iterations=min_iterations, reduction_factor=reduction_factor,
                                num_brackets=num_brackets, sampler=sampler)
        _log_plan(plan, _at_subset_floor(plan, full_dataset_size, replans))
        asha = dict(min_iterations=plan.min_iterations, reduction_factor=reduction_factor,
                    num_brackets=plan.num_brackets, sampler=sampler)
        if num_trials is None:
            # The count is auto config's, so the epoch budget ends the run. A num_trials the user set is run
            # in full: trials that happen to pass more rungs than the average must not cut it short.
            epoch_budget = plan.epoch_budget
        num_trials, max_iterations, subset_ratio = plan.num_trials, plan.max_iterations, plan.subset_ratio
    elif num_trials is None or max_iterations is None or subset_ratio is None:
        # A run that re-plans keeps room to cut its fidelity before its count (auto_replan.FIDELITY_RESERVE).
        plan = auto_config(**common, fidelity_reserve=FIDELITY_RESERVE if replans else 1.0)
        _log_plan(plan, _at_subset_floor(plan, full_dataset_size, replans))
        if num_trials is None:
            # The number of trials is auto config's to choose, so the time budget ends the run: trials that
            # cost more than planned (start-up, suggestion time) leave room for fewer of them.
            epoch_budget = plan.epoch_budget
        num_trials, max_iterations, subset_ratio = plan.num_trials, plan.max_iterations, plan.subset_ratio
    seed = int(seed) if seed is not None else secrets.randbits(32)
    algorithm = build_algorithm(search_alg, space=space, mode=mode, seed=seed, early_stop=early_stop,
                                num_init_trials=num_init_trials, num_defaults=len(defaults), kappa=kappa,
                                kappa_decay=kappa_decay, kappa_decay_delay=kappa_decay_delay,
                                max_iterations=max_iterations, **asha)
    settings = RunSettings(
        search_space=space, full_dataset_size=full_dataset_size, num_full_iterations=num_full_iterations,
        num_trials=num_trials, max_iterations=max_iterations, subset_ratio=float(subset_ratio), mode=mode,
        metric=metric, early_stop=algorithm.early_stop if search_alg == "asha" else early_stop,
        batch_size_name=batch_size_name, image_resize=list(resize), num_workers=num_workers, seed=seed,
        extra={"expected_time_ratio": expected_time_ratio, "non_pure_train_ratio": non_pure_train_ratio,
               "full_train_seconds": full_train_seconds})
    budget = Budget(epoch_budget, time_budget_s, charge_overhead,
                    _replanner(settings, plan, full_train_seconds if replan else None, non_pure_train_ratio, asha),
                    num_workers=num_workers)
    if cut_top is not None:
        settings.max_iterations = int(cut_top)
    return Controller(store, algorithm, settings, budget, resume_run=resume, default_configs=defaults)


def _replanner(settings: RunSettings, plan: AutoConfig | None, full_train_seconds: float | None,
               non_pure_train_ratio: float, asha: dict[str, Any]) -> Replanner:
    """Re-plans what auto config filled once trials are measured, when the run has a deadline in seconds."""
    model = None if full_train_seconds is None else CostModel(full_train_seconds, settings.num_full_iterations,
                                                              non_pure_train_ratio)
    rest_epochs, min_top = None, 1
    if asha:
        lo, rf, brackets = asha["min_iterations"], asha["reduction_factor"], asha["num_brackets"]
        sampler = asha["sampler"]
        hi = settings.max_iterations  # the rung schedule's; a re-plan may cut later trials' last epoch (top)

        def rest_epochs(started: int, total: int, top: int) -> float:
            """Mean epochs of trials started+1 .. total of an ASHA run of ``total`` trials ending at ``top``, as
            the plan at the start counts them (with the sampler's excess over the rung simulation)."""
            last = min(top, hi)
            curve = asha_epochs_curve(lo, hi, rf, brackets, total, planned_shares(brackets), last)
            ran = sampler_epochs(sampler, total, curve[total], lo, last)
            return (ran - sampler_epochs(sampler, started, curve[started], lo, last)) / max(1, total - started)

        min_top = min(hi, lo * rf)

    suggestion_s = 0.0 if plan is None or model is None else plan.trial_overhead * model.full_train_seconds
    return Replanner(settings, plan.filled if plan is not None else (), model,
                     min_subset_ratio(settings.full_dataset_size), rest_epochs, suggestion_s=suggestion_s,
                     min_top=min_top)


def _suggestion_overhead(search_alg: str, space: Mapping[str, SearchSpace], mode: str, sampler: str | None,
                         num_init_trials: int) -> tuple[float, float]:
    """Seconds the run's kind of searcher takes per suggestion midway through a run of the size aimed at,
    and the seconds measuring it took.

    Random draws cost microseconds and are not timed; a model-based searcher is timed with about half the
    results a run aiming at 10 trials per hyperparameter has seen on average.
    """
    start = time.perf_counter()
    searcher = build_algorithm(search_alg, space=space, mode=mode, seed=0, num_init_trials=num_init_trials,
                               sampler=sampler).searcher
    if isinstance(searcher, RandomSearcher):
        return 0.0, 0.0
    observations = max(num_init_trials + 2, TRIALS_PER_HYPERPARAMETER * len(space) // 2)
    seconds = suggestion_seconds(lambda: searcher, space, observations)
    logger.info("auto config: a suggestion takes %.3f s (measured after %d results)", seconds, observations)
    return seconds, time.perf_counter() - start


def _time_budget(ratio: float, num_workers: int, full_train_seconds: float | None) -> float | None:
    """Seconds of trial time the run may spend, or None; a ValueError when no float can hold it."""
    if full_train_seconds is None:
        return None
    try:
        budget = (ratio - 1) * num_workers * full_train_seconds
    except OverflowError:
        budget = math.inf
    if not math.isfinite(budget):
        raise ValueError(f"expected_time_ratio={ratio!r}, num_workers={num_workers!r} and full_train_seconds="
                         f"{full_train_seconds!r} give a time budget of more seconds than can be counted; "
                         "ask for a smaller expected_time_ratio")
    return budget


def _at_subset_floor(plan: AutoConfig, full_dataset_size: int, replans: bool) -> bool:
    """Whether a run that re-plans against a deadline starts with auto config's subset at its floor: then only
    the epochs, and a subset below the floor for the count promised, are left to cut before the count when
    trials cost more than the training timed."""
    floor = min_subset_ratio(full_dataset_size)
    return replans and "subset_ratio" in plan.filled and floor < 1.0 and plan.subset_ratio <= floor * (1 + 1e-9)


def _log_plan(plan: AutoConfig, at_subset_floor: bool = False) -> None:
    for warning in plan.warnings:
        logger.warning("auto config: %s", warning)
    waits = (f", each trial also waiting {plan.trial_overhead:.3g} full trainings for its suggestion"
             if plan.trial_overhead > 0 else "")
    room = (f"; each trial at {plan.fidelity_reserve:.3g}x the lowest fidelity's cost, room for a re-plan to cut "
            "before it cuts the count" if plan.fidelity_reserve > 1 else "")
    below = f"a subset cut to {round(COUNT_SUBSET_SHARE * MIN_SUBSET_SAMPLES)} samples, then fewer trials"
    gives = f"fewer epochs, then {below}" if "max_iterations" in plan.filled else below
    floor = (f"; the subset is at its floor of {MIN_SUBSET_SAMPLES} samples, so if trials cost more than the "
             f"training timed, {gives} pay for it" if at_subset_floor else "")
    logger.info("auto config filled %s: num_trials=%d, max_iterations=%d, subset_ratio=%.4g "
                "(estimated time ratio %.3g%s%s%s)", ", ".join(plan.filled) or "nothing", plan.num_trials,
                plan.max_iterations, plan.subset_ratio, plan.estimated_time_ratio, waits, room, floor)


def _check_image_resize(image_resize: Any) -> tuple[int, int]:
    if not isinstance(image_resize, (list, tuple)) or len(image_resize) != 2:
        raise ValueError(f"image_resize must be [width, height], got {image_resize!r}")
    return check_int("image_resize[0]", image_resize[0], 0), check_int("image_resize[1]", image_resize[1], 0)


def _check_batch_size_name(name: Any, space: Mapping[str, SearchSpace]) -> None:
    if name is None:
        return
    if not isinstance(name, str) or name not in space:
        raise ValueError(f"batch_size_name {name!r} is not a parameter of the search space {list(space)}"
                         f"{did_you_mean(name, space) if isinstance(name, str) else ''}")
    if not space[name].is_quantized:
        raise ValueError(f"batch_size_name {name!r} must name a quniform or qloguniform parameter (batch sizes "
                         f"are integers on a grid), but it is {space[name].type!r}")


def _check_defaults(defaults: Any, space: Mapping[str, SearchSpace]) -> list[dict[str, Any]]:
    """default_hyper_parameters: a dict or a list of dicts, each a full point inside the space."""
    if defaults is None:
        return []
    items = [defaults] if isinstance(defaults, Mapping) else defaults
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise TypeError(f"default_hyper_parameters must be a dict or a list of dicts, got {defaults!r}")
    out = []
    for i, item in enumerate(items):
        where = f"default_hyper_parameters[{i}]"
        if not isinstance(item, Mapping):
            raise TypeError(f"{where} must be a dict of parameter values, got {item!r}")
        missing, extra = set(space) - set(item), set(item) - set(space)
        if missing or extra:
            raise ValueError(f"{where} must give exactly the search space's parameters; missing {sorted(missing)}, "
                             f"unknown {sorted(extra)}")
        point = {name: _plain(item[name]) for name in space}
        for name, value in point.items():
            if not space[name].contains(value):
                raise ValueError(f"{where}[{name!r}] = {value!r} is outside the search space {space[name]!r}")
        out.append(point)
    return out


def _plain(value: Any) -> Any:
    """A numpy scalar (np.int64(16), np.float32(0.01)) as the Python value it holds; else the value."""
    np = sys.modules.get("numpy")
    return value.item() if np is not None and isinstance(value, np.generic) else value


class DummyOpt:
    """An optimizer that never proposes anything: lets a loop run unchanged with HPO switched off."""

    num_trials = 0

    def get_next_sample(self) -> None:
        return None

    def get_next_samples(self, num: int | None = None) -> list[dict[str, Any]]:
        return []

    def is_finished(self) -> bool:
        return True

    def get_best_config(self) -> None:
        return None

    def get_progress(self) -> float:
        return 1.0

    def print_results(self) -> None:
        print("hpopt: HPO is switched off (dummy optimizer)")


def createDummyOpt() -> DummyOpt:  # noqa: N802 - original name
    """An optimizer whose ``get_next_sample()`` is always None, so the same loop runs with HPO switched off."""
    return DummyOpt()
