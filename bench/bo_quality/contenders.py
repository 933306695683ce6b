"""The optimizers under comparison, each behind the same small ask/tell adapter.

An adapter is built for one (problem, seed, budget) and used strictly sequentially::

    opt = CONTENDERS[name](problem, seed=seed, budget=budget)
    for _ in range(budget):
        params = opt.ask()          # native values: floats, ints on the grid, strings
        opt.tell(problem(params))   # the value of the last ask, to be minimized
    opt.close()

Libraries are imported inside the adapters, so a missing peer only makes that contender unavailable
(:class:`Unavailable`), and the harness's parent process never imports torch. An optimizer that is not
implemented yet raises ``NotImplementedError``; the harness reports both as "not available".
"""

from __future__ import annotations

import math
import os
import random
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from functions import Param, Problem


class Unavailable(Exception):
    """The contender cannot run here (its package is missing or does not import)."""


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install failing at import time
        raise Unavailable(f"cannot import {module} (pip package {package}): {type(exc).__name__}: {exc}") from exc


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so parameters are JSON-able and objectives see plain types."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class Contender(ABC):
    name: str = ""
    summary: str = ""
    # Modules imported before a run's clock starts, so that no run or first suggestion pays for imports.
    preload: tuple[str, ...] = ()

    @classmethod
    def load(cls) -> None:
        """Import the contender's libraries; raises Unavailable if one cannot be imported."""
        for module in cls.preload:
            _require(module, module.split(".")[0])

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        self.problem = problem
        self.seed = seed
        self.budget = budget

    @abstractmethod
    def ask(self) -> dict[str, Any]:
        """The next point to evaluate, as native parameter values."""

    @abstractmethod
    def tell(self, value: float) -> None:
        """The objective value at the point returned by the last ask()."""

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing to release
        """Release files or other resources."""

    def notes(self) -> dict[str, Any]:
        """Anything worth keeping with the run's results (e.g. counts of oddities)."""
        return {}


# --- hpopt ------------------------------------------------------------------------------------------

def _set_gp_variant(spec: str) -> None:
    """Ablations: HPOPT_GP_VARIANT="WARP_SELECTION=0,WARP_SUBSET=32" sets those switches and
    settings of hpopt's GP searcher (a setting ``trust_region.X`` sets X of that module)."""
    from hpopt.algorithms import gp_ucb, trust_region

    for item in filter(None, spec.split(",")):
        name, value = item.split("=")
        module = gp_ucb
        if name.startswith("trust_region."):
            module, name = trust_region, name.split(".", 1)[1]
        if not hasattr(module, name):
            raise ValueError(f"HPOPT_GP_VARIANT: {module.__name__} has no setting {name!r}")
        current = getattr(module, name)
        kind = bool if isinstance(current, bool) else int if current is None else type(current)  # None: a count
        setattr(module, name, None if value == "None" else bool(int(value)) if kind is bool else kind(value))


class _Hpopt(Contender):
    search_alg = ""
    preload = ("hpopt", "hpopt.algorithms.gp_ucb")

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        super().__init__(problem, seed, budget)
        hpopt = _require("hpopt", "hpopt")
        self._hpopt = hpopt
        _set_gp_variant(os.environ.get("HPOPT_GP_VARIANT", ""))
        space = {p.name: self._space(hpopt, p) for p in problem.params}
        self._dir = tempfile.mkdtemp(prefix="bo_quality_hpopt_")
        self._cfg: dict[str, Any] | None = None
        try:
            self._hpo = hpopt.create(
                full_dataset_size=1000, num_full_iterations=1, search_space=space, save_path=self._dir,
                search_alg=self.search_alg, num_trials=budget, max_iterations=1, subset_ratio=1.0,
                mode="min", seed=seed,
            )
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    @staticmethod
    def _space(hpopt: Any, p: Param) -> Any:
        if p.kind == "float":
            return hpopt.search_space("uniform", [p.lo, p.hi])
        if p.kind == "logfloat":
            return hpopt.search_space("loguniform", [p.lo, p.hi])
        if p.kind == "qint":
            return hpopt.search_space("quniform", [int(p.lo), int(p.hi), int(p.q)])
        return hpopt.search_space("choice", list(p.choices))

    def ask(self) -> dict[str, Any]:
        cfg = self._hpo.get_next_sample()
        if cfg is None:
            raise RuntimeError(f"hpopt ({self.search_alg}) gave no config before the budget of {self.budget} "
                               f"evaluations was spent")
        self._cfg = cfg
        return {k: _plain(v) for k, v in cfg["params"].items()}

    def tell(self, value: float) -> None:
        assert self._cfg is not None, "tell() without ask()"
        self._hpopt.report(config=self._cfg, score=value)
        self._cfg = None

    def close(self) -> None:
        try:
            self._hpo.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


class HpoptBO(_Hpopt):
    name = "hpopt-bo"
    summary = 'hpopt, search_alg="bayes_opt" (its own defaults), real get_next_sample()/report() loop'
    search_alg = "bayes_opt"


class HpoptRandom(_Hpopt):
    name = "hpopt-random"
    summary = 'hpopt, search_alg="random": the baseline'
    search_alg = "random"


# --- bayesian-optimization, used directly -----------------------------------------------------------

class BayesOptRaw(Contender):
    """bayes_opt's BayesianOptimization with its defaults (GP-UCB, kappa 2.576, no initial design).

    It only knows real boxes here: a log float is searched as log10(value), an integer on [lo, hi] and
    snapped to its grid, a choice as a float index on [-0.5, n - 0.5] rounded to the nearest choice. The
    raw (unrounded) suggestion is what gets registered. bayes_opt refuses to register a point it already
    holds (NotUniqueError, default ``allow_duplicate_points=False``); such an evaluation still counts
    against the budget, is not registered, and is counted in the run's notes as ``duplicates``.
    ``verbose=0`` only silences its progress printing.
    """

    name = "bayes_opt-raw"
    preload = ("bayes_opt", "sklearn.gaussian_process")
    summary = "bayesian-optimization's BayesianOptimization with defaults, suggest()/register()"

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        super().__init__(problem, seed, budget)
        bayes_opt = _require("bayes_opt", "bayesian-optimization")
        self._not_unique = _require("bayes_opt.exception", "bayesian-optimization").NotUniqueError
        pbounds = {}
        for p in problem.params:
            if p.kind == "float":
                pbounds[p.name] = (float(p.lo), float(p.hi))
            elif p.kind == "logfloat":
                pbounds[p.name] = (math.log10(p.lo), math.log10(p.hi))
            elif p.kind == "qint":
                pbounds[p.name] = (float(p.lo), float(p.hi))
            else:
                pbounds[p.name] = (-0.5, len(p.choices) - 0.5)
        self._opt = bayes_opt.BayesianOptimization(f=None, pbounds=pbounds, random_state=seed, verbose=0)
        self._raw: dict[str, float] | None = None
        self.duplicates = 0

    def _decode(self, raw: dict[str, float]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.problem.params:
            x = float(raw[p.name])
            if p.kind == "logfloat":
                out[p.name] = p.snap(10.0**x)
            elif p.kind == "choice":
                out[p.name] = p.choices[min(max(round(x), 0), len(p.choices) - 1)]
            else:
                out[p.name] = p.snap(x)
        return out

    def ask(self) -> dict[str, Any]:
        self._raw = {k: float(v) for k, v in self._opt.suggest().items()}
        return self._decode(self._raw)

    def tell(self, value: float) -> None:
        assert self._raw is not None, "tell() without ask()"
        try:
            self._opt.register(params=self._raw, target=-value)  # bayes_opt maximizes
        except self._not_unique:
            self.duplicates += 1
        self._raw = None

    def notes(self) -> dict[str, Any]:
        return {"duplicates": self.duplicates}


# --- Optuna -----------------------------------------------------------------------------------------

class _Optuna(Contender):
    preload = ("optuna",)

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        super().__init__(problem, seed, budget)
        optuna = _require("optuna", "optuna")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        self._study = optuna.create_study(direction="minimize", sampler=self._sampler(optuna, seed))
        self._trial: Any = None

    def _sampler(self, optuna: Any, seed: int) -> Any:
        raise NotImplementedError

    def ask(self) -> dict[str, Any]:
        trial = self._study.ask()
        out: dict[str, Any] = {}
        for p in self.problem.params:
            if p.kind == "float":
                out[p.name] = trial.suggest_float(p.name, p.lo, p.hi)
            elif p.kind == "logfloat":
                out[p.name] = trial.suggest_float(p.name, p.lo, p.hi, log=True)
            elif p.kind == "qint":
                out[p.name] = trial.suggest_int(p.name, int(p.lo), int(p.hi), step=int(p.q))
            else:
                out[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        self._trial = trial
        return out

    def tell(self, value: float) -> None:
        assert self._trial is not None, "tell() without ask()"
        self._study.tell(self._trial, value)
        self._trial = None


class OptunaTPE(_Optuna):
    name = "optuna-tpe"
    summary = "Optuna TPESampler(seed=seed), defaults (10 random start trials), study.ask()/tell()"

    def _sampler(self, optuna: Any, seed: int) -> Any:
        return optuna.samplers.TPESampler(seed=seed)


class OptunaGP(_Optuna):
    name = "optuna-gp"
    # GPSampler imports torch and its GP modules lazily, on the first model-based suggestion.
    preload = ("optuna", "torch", "optuna._gp.gp", "optuna._gp.acqf", "optuna._gp.optim_mixed",
               "optuna._gp.search_space", "optuna._gp.prior")
    summary = "Optuna GPSampler(seed=seed), defaults (needs torch), study.ask()/tell()"

    def _sampler(self, optuna: Any, seed: int) -> Any:
        _require("torch", "torch")
        return optuna.samplers.GPSampler(seed=seed)


# --- HEBO -------------------------------------------------------------------------------------------

class Hebo(Contender):
    """HEBO (Huawei) with its defaults: GP with input/output warping, MACE acquisition, NSGA-II search.

    HEBO draws its random start from a scrambled Sobol sequence (``scramble_seed``) and uses numpy's and
    torch's global generators elsewhere, so those are seeded too (each run has a worker process to itself
    while it runs), and pymoo's NSGA-II runs get seeds from numpy's generator (see
    ``_seed_pymoo_from_numpy``).
    """

    name = "hebo"
    preload = ("torch", "pandas", "hebo.optimizers.hebo")
    summary = "HEBO(DesignSpace().parse(...)), defaults, suggest(n_suggestions=1)/observe()"

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        super().__init__(problem, seed, budget)
        torch = _require("torch", "torch")
        _require("hebo", "hebo")
        ds_mod = _require("hebo.design_space.design_space", "hebo")
        hebo_mod = _require("hebo.optimizers.hebo", "hebo")
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        spec = []
        for p in problem.params:
            if p.kind == "float":
                spec.append({"name": p.name, "type": "num", "lb": p.lo, "ub": p.hi})
            elif p.kind == "logfloat":
                spec.append({"name": p.name, "type": "pow", "lb": p.lo, "ub": p.hi, "base": 10})
            elif p.kind == "qint":
                spec.append({"name": p.name, "type": "step_int", "lb": int(p.lo), "ub": int(p.hi),
                             "step": int(p.q)})
            else:
                spec.append({"name": p.name, "type": "cat", "categories": list(p.choices)})
        _seed_pymoo_from_numpy(_require("hebo.acq_optimizers.evolution_optimizer", "hebo"))
        space = ds_mod.DesignSpace().parse(spec)
        self._opt = hebo_mod.HEBO(space, scramble_seed=seed)
        self._rec: Any = None

    def ask(self) -> dict[str, Any]:
        rec = self._opt.suggest(n_suggestions=1)
        self._rec = rec
        row = rec.iloc[0]
        return {p.name: _plain(row[p.name]) for p in self.problem.params}

    def tell(self, value: float) -> None:
        assert self._rec is not None, "tell() without ask()"
        self._opt.observe(self._rec, np.array([[value]], dtype=float))
        self._rec = None


def _seed_pymoo_from_numpy(module: Any) -> None:
    """Make HEBO's NSGA-II calls reproducible under pymoo >= 0.6.1.

    pymoo 0.6.0 (HEBO's pin) drew from numpy's global generator, which the adapter seeds; later pymoo
    releases give each unseeded run fresh entropy (``np.random.default_rng(None)``), so the same seed
    would give a different HEBO run each time. This passes each run a seed drawn from numpy's global
    generator instead, which restores the 0.6.0 behaviour: same seed, same run. Patched once per process,
    only in HEBO's module.
    """
    original = module.minimize
    if getattr(original, "seeded_from_numpy", False):
        return

    def minimize(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("seed", int(np.random.randint(0, 2**31 - 1)))
        return original(*args, **kwargs)

    minimize.seeded_from_numpy = True  # type: ignore[attr-defined]
    module.minimize = minimize


# --- BoTorch through Ax -----------------------------------------------------------------------------

class Ax(Contender):
    """BoTorch through Ax's ``Client`` with its default generation strategy (Sobol start, then BoTorch's
    modular GP with its default acquisition), seeded by ``Client(random_seed=seed)``.

    The run is kept in memory (no storage config). Ax's INFO logging is silenced; warnings are not shown.
    """

    name = "ax"
    preload = ("torch", "ax.api.client", "botorch")
    summary = "Ax Client(random_seed=seed), default generation strategy (BoTorch), get_next_trials/complete_trial"

    def __init__(self, problem: Problem, seed: int, budget: int) -> None:
        super().__init__(problem, seed, budget)
        import logging

        client_mod = _require("ax.api.client", "ax-platform")
        configs = _require("ax.api.configs", "ax-platform")
        # Ax gives each of its modules a logger with its own INFO level: quiet them all.
        for name in list(logging.root.manager.loggerDict):
            if name.split(".")[0] in ("ax", "botorch"):
                logging.getLogger(name).setLevel(logging.WARNING)
        params = []
        for p in problem.params:
            if p.kind == "float":
                params.append(configs.RangeParameterConfig(name=p.name, bounds=(p.lo, p.hi), parameter_type="float"))
            elif p.kind == "logfloat":
                params.append(configs.RangeParameterConfig(name=p.name, bounds=(p.lo, p.hi), parameter_type="float",
                                                           scaling="log"))
            elif p.kind == "qint":
                params.append(configs.RangeParameterConfig(name=p.name, bounds=(int(p.lo), int(p.hi)),
                                                           parameter_type="int", step_size=int(p.q)))
            else:
                params.append(configs.ChoiceParameterConfig(name=p.name, values=list(p.choices),
                                                            parameter_type=_choice_type(p.choices),
                                                            is_ordered=False))
        self._client = client_mod.Client(random_seed=seed)
        self._client.configure_experiment(parameters=params, name=f"{problem.name}_{seed}")
        self._client.configure_optimization(objective="-f")
        self._index: int | None = None

    def ask(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trials = self._client.get_next_trials(max_trials=1)
        (index, params), = trials.items()
        self._index = index
        return {p.name: _plain(params[p.name]) for p in self.problem.params}

    def tell(self, value: float) -> None:
        assert self._index is not None, "tell() without ask()"
        self._client.complete_trial(trial_index=self._index, raw_data={"f": float(value)})
        self._index = None


def _choice_type(values: Any) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) for v in values):
        return "float"
    return "str"


CONTENDERS: dict[str, type[Contender]] = {
    cls.name: cls for cls in (HpoptBO, HpoptRandom, BayesOptRaw, OptunaTPE, OptunaGP, Hebo, Ax)
}
