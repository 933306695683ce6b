"""The experiment file of ``hpopt run``: one JSON object that says what to tune and how to run it.

Every key is checked before anything runs, and an error names the key and the form it expects, so a
typo fails in a second rather than after an hour of trials. Relative paths (``save_path``,
``workdir``) are taken from the experiment file's folder, so the run does not depend on where the
command was typed.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._validate import did_you_mean, env_problem
from .errors import HpoptError
from .search_space import SearchSpace, search_space

KEYS = {
    "script": 'the trial command: "train.py --epochs 10" or ["python", "train.py"] (required)',
    "search_space": '{"name": {"type": "uniform", "range": [0, 1]}, ...} (required)',
    "search_alg": '"bayes_opt" (default), "asha" or "random"',
    "algorithm": '{"num_full_iterations": 20, "num_trials": 30, ...}: arguments of hpopt.create()',
    "n_parallel": "how many trials run at once: an int >= 1 (default: one per GPU, else one per CPU core)",
    "gpus_per_trial": "GPUs per trial: an int >= 1 (default 1)",
    "target": '"max" (default) or "min": whether a higher score is better',
    "job_retries": "how often a crashed trial is run again: an int >= 0 (default 0)",
    "ignore_fail": "true to go on when a trial fails for good (default false: the run stops)",
    "resources": '"auto" (default), "gpu" or "cpu" (local processes), or "ray" (tasks on a Ray cluster)',
    "ray": '{"address": "auto", "num_cpus": 1, "num_gpus": 1, "resources": {...}, "runtime_env": {...}}: '
           'with "resources": "ray", where and with what each trial runs',
    "save_path": 'the folder for the run\'s state, logs and artifacts (default "hpo")',
    "workdir": "the folder trials run in (default: the experiment file's folder)",
    "timeout": "seconds a trial attempt may run before it is killed: a number > 0 (default: no limit)",
    "env": '{"NAME": "value"}: environment variables for the trials',
    "keep_top_k": "how many best trials keep their artifact folders: an int >= 0, or null for all (default 1)",
    "description": "free text, ignored",
}
REQUIRED = ("script", "search_space")
# Keys of "ray": run_ray's arguments for the cluster and each trial's resources.
RAY_KEYS = {
    "address": 'the cluster: "auto" (the one this machine belongs to), "host:port", or null for a local one',
    "num_cpus": "CPUs per trial (default 1)",
    "num_gpus": "GPUs per trial (default 0); Ray sets CUDA_VISIBLE_DEVICES",
    "resources": 'custom resources per trial, e.g. {"gpu_node": 1}',
    "runtime_env": "Ray's runtime_env for the trials (working_dir, pip, env_vars, ...)",
    "ray_options": "other Ray task options (memory, accelerator_type, scheduling_strategy, ...)",
    "stop_grace_s": "seconds a trial told to stop may go on before it is cancelled (default 10)",
}
# create() arguments that have a key of their own in the experiment file (or that hpopt run sets).
_SET_ELSEWHERE = {"search_space": "search_space", "save_path": "save_path", "search_alg": "search_alg",
                  "mode": "target", "resume": "the --resume option"}


class ExperimentError(HpoptError, ValueError):
    """The experiment file is missing, unreadable or has a bad key; the message says which and how to fix it."""


@dataclass
class Experiment:
    """A checked experiment file, ready for hpopt.create() and run_local()."""

    path: str
    script: str | list[str]
    search_space: dict[str, SearchSpace]
    search_alg: str = "bayes_opt"
    algorithm: dict[str, Any] = field(default_factory=dict)
    n_parallel: int | None = None
    gpus_per_trial: int = 1
    target: str = "max"
    job_retries: int = 0
    ignore_fail: bool = False
    resources: str = "auto"
    save_path: str = "hpo"
    workdir: str = "."
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    keep_top_k: int | None = 1
    ray: dict[str, Any] = field(default_factory=dict)

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for hpopt.create() (without ``resume``)."""
        kwargs: dict[str, Any] = {"full_dataset_size": 0, **self.algorithm}
        if self.n_parallel is not None:
            kwargs.setdefault("num_workers", self.n_parallel)
        kwargs.update(search_space=self.search_space, search_alg=self.search_alg, mode=self.target,
                      save_path=self.save_path)
        return kwargs


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def _fail(path: str, key: str, expected: str, value: Any) -> ExperimentError:
    return ExperimentError(f"{path}: {key!r} must be {expected}; got {json.dumps(value)}")


def _create_args() -> list[str]:
    from .api import create

    return [p for p in inspect.signature(create).parameters if p != "unknown"]


def _space(path: str, raw: Any) -> dict[str, SearchSpace]:
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(path, "search_space", 'a non-empty object {"name": {"type": ..., "range": [...]}}', raw)
    space = {}
    for name, spec in raw.items():
        where = f"search_space.{name}"
        if not isinstance(spec, Mapping):
            raise _fail(path, where, '{"type": "uniform", "range": [low, high]}', spec)
        unknown = [k for k in spec if k not in ("type", "range")]
        if unknown:
            raise ExperimentError(f"{path}: {where} has an unknown key {unknown[0]!r}"
                                  f"{did_you_mean(unknown[0], ['type', 'range'])}; it takes 'type' and 'range'")
        if "type" not in spec or "range" not in spec:
            raise ExperimentError(f"{path}: {where} needs both 'type' and 'range', e.g. "
                                  '{"type": "loguniform", "range": [0.0001, 0.1]}')
        try:
            space[name] = search_space(spec["type"], spec["range"])
        except (TypeError, ValueError) as exc:
            raise ExperimentError(f"{path}: {where}: {exc}") from exc
    return space


def _script(path: str, raw: Any, workdir: str) -> str | list[str]:
    if isinstance(raw, str) and raw.strip():
        import shlex

        try:
            argv = shlex.split(raw)
        except ValueError as exc:  # an unbalanced quote
            raise ExperimentError(f"{path}: 'script' cannot be split into words as a shell would ({exc}); got "
                                  f"{json.dumps(raw)}") from None
    elif isinstance(raw, list) and raw and all(isinstance(a, str) for a in raw):
        argv = list(raw)
    else:
        raise _fail(path, "script", 'a command: "train.py --lr-from-config" or ["python", "train.py"]', raw)
    if not argv or any("\0" in a for a in argv):
        raise ExperimentError(f"{path}: 'script' must be a command without NUL bytes (no process can take them); "
                              f"got {json.dumps(raw)}")
    first = argv[0]
    if os.sep in first or first.endswith(".py"):
        if not os.path.exists(os.path.join(workdir, first)):
            raise ExperimentError(f"{path}: 'script' names {first!r}, which does not exist in the working "
                                  f"directory {workdir!r} (set 'workdir', or give the script's path)")
    elif shutil.which(first) is None:
        raise ExperimentError(f"{path}: 'script' starts with {first!r}, which is neither a file in {workdir!r} nor "
                              "a program on PATH")
    return raw


def _algorithm(path: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(path, "algorithm", 'an object of hpopt.create() arguments, e.g. {"num_full_iterations": 20}',
                    raw)
    valid = _create_args()
    for key in raw:
        if key in _SET_ELSEWHERE:
            raise ExperimentError(f"{path}: 'algorithm.{key}' is set by {_SET_ELSEWHERE[key]!r} in the experiment "
                                  "file, not inside 'algorithm'")
        if key not in valid:
            options = [v for v in valid if v not in _SET_ELSEWHERE]
            raise ExperimentError(f"{path}: 'algorithm' has an unknown key {key!r}{did_you_mean(key, options)}; "
                                  f"it takes the arguments of hpopt.create(): {', '.join(options)}")
    if "num_full_iterations" not in raw:
        raise ExperimentError(f"{path}: 'algorithm.num_full_iterations' is required: the number of epochs a full "
                              'training runs, e.g. "algorithm": {"num_full_iterations": 20}')
    return dict(raw)


def _check(path: str, doc: Mapping[str, Any], base: str) -> Experiment:
    for key in doc:
        if key not in KEYS:
            raise ExperimentError(f"{path}: unknown key {key!r}{did_you_mean(key, KEYS)}; the keys are "
                                  f"{', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in doc:
            raise ExperimentError(f"{path}: {key!r} is required: {KEYS[key]}")
    exp: dict[str, Any] = {}
    for key in ("save_path", "workdir"):
        value = doc.get(key, "hpo" if key == "save_path" else ".")
        if not isinstance(value, str) or not value:
            raise _fail(path, key, "a folder path (a string)", value)
        exp[key] = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
    if not os.path.isdir(exp["workdir"]):
        raise ExperimentError(f"{path}: 'workdir' {exp['workdir']!r} is not a folder")
    exp["script"] = _script(path, doc["script"], exp["workdir"])
    exp["search_space"] = _space(path, doc["search_space"])
    exp["algorithm"] = _algorithm(path, doc.get("algorithm", {}))
    if "search_alg" in doc:
        if not isinstance(doc["search_alg"], str):
            raise _fail(path, "search_alg", KEYS["search_alg"], doc["search_alg"])
        exp["search_alg"] = doc["search_alg"]
    if doc.get("n_parallel") is not None:
        if not _is_int(doc["n_parallel"], 1):
            raise _fail(path, "n_parallel", "an int >= 1 (or null for one per GPU / CPU core)", doc["n_parallel"])
        exp["n_parallel"] = int(doc["n_parallel"])
    for key, minimum in (("gpus_per_trial", 1), ("job_retries", 0)):
        if key in doc:
            if not _is_int(doc[key], minimum):
                raise _fail(path, key, f"an int >= {minimum}", doc[key])
            exp[key] = int(doc[key])
    for key, choices in (("target", ("max", "min")), ("resources", ("auto", "gpu", "cpu", "ray"))):
        if key in doc:
            if doc[key] not in choices:
                hint = did_you_mean(doc[key], choices) if isinstance(doc[key], str) else ""
                raise ExperimentError(f"{path}: {key!r} must be one of {list(choices)}; got "
                                      f"{json.dumps(doc[key])}{hint}")
            exp[key] = doc[key]
    if "ignore_fail" in doc:
        if not isinstance(doc["ignore_fail"], bool):
            raise _fail(path, "ignore_fail", "true or false", doc["ignore_fail"])
        exp["ignore_fail"] = doc["ignore_fail"]
    if doc.get("timeout") is not None:
        t = doc["timeout"]
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise _fail(path, "timeout", "a number of seconds > 0 (or null for no limit)", t)
        exp["timeout"] = float(t)
    if "env" in doc:
        env = doc["env"]
        if not isinstance(env, Mapping) or not all(isinstance(v, str) for v in env.values()):
            raise _fail(path, "env", 'an object of strings, e.g. {"OMP_NUM_THREADS": "1"}', env)
        for name, value in env.items():
            problem = env_problem(name, value)
            if problem is not None:
                raise ExperimentError(f"{path}: 'env' {problem}")
        exp["env"] = dict(env)
    if "keep_top_k" in doc:
        k = doc["keep_top_k"]
        if k is not None and not _is_int(k, 0):
            raise _fail(path, "keep_top_k", "an int >= 0, or null to keep every trial's artifacts", k)
        exp["keep_top_k"] = k
    if "ray" in doc or exp.get("resources") == "ray":
        exp["ray"] = _ray(path, doc)
    return Experiment(path=path, **exp)


def _ray(path: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The "ray" object (its values are checked by run_ray, before anything runs)."""
    if doc.get("resources") != "ray":
        raise ExperimentError(f'{path}: \'ray\' is used only with "resources": "ray"; add that, or remove \'ray\'')
    if "gpus_per_trial" in doc:
        raise ExperimentError(f'{path}: with "resources": "ray", GPUs per trial are ray.num_gpus, not '
                              "'gpus_per_trial'")
    raw = doc.get("ray", {})
    if not isinstance(raw, Mapping):
        raise _fail(path, "ray", KEYS["ray"], raw)
    for key in raw:
        if key not in RAY_KEYS:
            raise ExperimentError(f"{path}: 'ray' has an unknown key {key!r}{did_you_mean(key, RAY_KEYS)}; the keys "
                                  f"are {', '.join(RAY_KEYS)}")
    return dict(raw)


def load_experiment(path: str) -> Experiment:
    """Read and check an experiment file; raises ExperimentError naming the bad key."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError as exc:
        raise ExperimentError(f"experiment file {path!r} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise ExperimentError(f"{path} is not valid JSON: {exc}") from exc
    except OSError as exc:
        raise ExperimentError(f"cannot read experiment file {path!r}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ExperimentError(f"{path} must hold a JSON object of settings, not a {type(doc).__name__}")
    return _check(path, doc, os.path.dirname(os.path.abspath(path)))
