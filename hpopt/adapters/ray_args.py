"""The checks ``run_ray`` makes on its arguments before it connects to a cluster, so that a mistake is
reported here, with the argument's name, rather than by Ray on a node minutes later."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from .workers import Command, Trainer, command_argv


def is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def check_ray_args(address: Any, num_cpus: Any, num_gpus: Any, resources: Any, runtime_env: Any,
                    stop_grace_s: Any, ray_options: Any) -> None:
    """Cluster and per-trial resource arguments."""
    if address is not None and (not isinstance(address, str) or not address):
        raise ValueError(f"address must be None (a local Ray instance), 'auto' or 'host:port', got {address!r}")
    if isinstance(address, str) and address.startswith("ray://"):
        raise ValueError(f"address {address!r} is a Ray Client address; run_ray needs the controller on a node of "
                         "the cluster (the report actor writes save_path on the controller's node): run it there "
                         "(e.g. as a KubeRay RayJob or in the head pod) with address='auto'")
    for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
        if not is_real(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0 (per trial), got {value!r}")
    if resources is not None:
        if not isinstance(resources, Mapping) or not all(
                isinstance(k, str) and is_real(v) and v >= 0 for k, v in resources.items()):
            raise ValueError(f"resources must map custom resource names to amounts >= 0, got {resources!r}")
        clash = sorted(set(resources) & {"CPU", "GPU", "memory", "object_store_memory"})
        if clash:
            raise ValueError(f"resources must not set {clash}: use num_cpus / num_gpus (or ray_options) instead")
    if runtime_env is not None and not isinstance(runtime_env, Mapping):
        raise TypeError(f"runtime_env must be a dict (Ray's runtime_env), got {type(runtime_env).__name__}")
    if not is_real(stop_grace_s) or stop_grace_s <= 0:
        raise ValueError(f"stop_grace_s must be a number of seconds > 0, got {stop_grace_s!r}")
    if ray_options is not None and not isinstance(ray_options, Mapping):
        raise TypeError(f"ray_options must be a dict of Ray task options, got {type(ray_options).__name__}")
    taken = sorted(set(ray_options or {}) & {"num_cpus", "num_gpus", "resources", "runtime_env", "max_retries",
                                             "retry_exceptions", "name"})
    if taken:
        raise ValueError(f"ray_options must not set {taken}: they are run_ray arguments, or hpopt's to set")


def check_ray_trainer_args(trainer: Trainer | Command, env: Any, init_kwargs: Any) -> None:
    """What runs on the nodes, the environment it gets, and the extra ``ray.init`` arguments."""
    if not callable(trainer) and not isinstance(trainer, (str, list, tuple)):
        raise TypeError(f"trainer must be a callable trainer(config) or a command (str or list of str), "
                        f"got {trainer!r}")
    if not callable(trainer):
        command_argv(trainer)  # an empty command fails here, not on a node
    bad = [k for k, v in dict(env or {}).items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"env must map str to str; bad entries: {bad}")
    if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
        raise TypeError(f"init_kwargs must be a dict of ray.init arguments, got {type(init_kwargs).__name__}")
