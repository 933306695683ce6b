"""Run an hpopt object's trials in parallel local processes, one GPU (or CPU slot) each.

    from hpopt.adapters.local import run_local
    hpo = hpopt.create(...)
    summary = run_local(hpo, train, n_parallel=4)          # train(config) in a child process
    summary = run_local(hpo, ["python", "train.py"])       # a script; it reads $HPOPT_TRAIN_CONFIG

The controller keeps up to ``n_parallel`` trials running; the loop that does it, and the trial life
cycle every adapter shares (retry, fail, OOM, timeout, stop, progress, summary), is
:mod:`hpopt.adapters.run_loop`. This module supplies the launcher that starts a trial attempt as a local
child process (a callable in a ``multiprocessing`` child, or a command), and the choice of GPU or CPU
slots. Ctrl-C or SIGTERM stops every child and raises :class:`RunInterrupted`; the state stays
resumable: ``hpopt.create(..., resume=True)`` and ``run_local`` again continue the run.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import numbers
import os
from collections.abc import Mapping
from typing import Any

from .._validate import env_problem
from ..state.files import atomic_write_json
from . import artifacts
from .gpus import GpuAllocator, query_gpus
from .run_loop import Launcher, RunInterrupted, RunSummary, TrialFailedError, TrialHandle, run_trials
from .workers import (
    TRAIN_CONFIG_ENV,
    CallableWorker,
    Command,
    CommandWorker,
    Trainer,
    Worker,
    command_argv,
    load_train_config,
)

__all__ = ["Launcher", "RunInterrupted", "RunSummary", "TrialFailedError", "TrialHandle", "load_train_config",
           "run_local", "run_trials"]

logger = logging.getLogger("hpopt")

RESOURCES = ("auto", "cpu", "gpu")


class _ProcessLauncher:
    """run_local's launcher: a callable in a ``multiprocessing`` child, or a command in a subprocess."""

    def __init__(self, trainer: Trainer | Command, save_path: str, workdir: str | None, start_method: str) -> None:
        self.callable = callable(trainer)
        self.trainer = trainer
        self.argv = None if callable(trainer) else command_argv(trainer)  # type: ignore[arg-type]
        self.save_path = save_path
        self.workdir = workdir
        self.start_method = start_method

    def start(self, config: dict[str, Any], log_path: str, env: dict[str, str]) -> Worker:
        if self.callable:
            return CallableWorker(self.trainer, config, log_path, env, self.workdir,  # type: ignore[arg-type]
                                  self.start_method)
        path = artifacts.config_path(self.save_path, int(config["trial_id"]), int(config["attempt"]))
        atomic_write_json(path, config, durable=False)
        return CommandWorker(self.argv or [], log_path, {**env, TRAIN_CONFIG_ENV: os.path.abspath(path)},
                             self.workdir)


def check_run_args(n_parallel: Any, gpus_per_trial: Any, resources: Any, job_retries: Any, timeout: Any,
                keep_top_k: Any, start_method: Any) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if n_parallel is not None and not (is_int(n_parallel) and n_parallel >= 1):
        raise ValueError(f"n_parallel must be an int >= 1 (or None: one per GPU, else one per CPU core), "
                         f"got {n_parallel!r}")
    if not (is_int(gpus_per_trial) and gpus_per_trial >= 1):
        raise ValueError(f"gpus_per_trial must be an int >= 1, got {gpus_per_trial!r}")
    if resources not in RESOURCES:
        raise ValueError(f"resources must be one of {list(RESOURCES)}, got {resources!r}")
    if not (is_int(job_retries) and job_retries >= 0):
        raise ValueError(f"job_retries must be an int >= 0, got {job_retries!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ValueError(f"timeout must be a number of seconds > 0 (or None for no limit), got {timeout!r}")
    if keep_top_k is not None and not (is_int(keep_top_k) and keep_top_k >= 0):
        raise ValueError(f"keep_top_k must be an int >= 0 (or None to keep every trial's artifacts), "
                         f"got {keep_top_k!r}")
    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"start_method must be one of {multiprocessing.get_all_start_methods()}, "
                         f"got {start_method!r}")


def _slots(resources: str, n_parallel: int | None, gpus_per_trial: int) -> tuple[int, GpuAllocator | None]:
    """How many trials run at once, and the GPU allocator (None: CPU slots)."""
    gpus = query_gpus() if resources in ("auto", "gpu") else None
    if resources == "gpu" and not gpus:
        raise RuntimeError("resources='gpu' but nvidia-smi lists no GPU here (it is missing, failed or found "
                           "none); use resources='cpu', or check the driver with `nvidia-smi`")
    if not gpus:
        return (n_parallel or os.cpu_count() or 1), None
    if gpus_per_trial > len(gpus):
        raise ValueError(f"gpus_per_trial={gpus_per_trial} but this machine has {len(gpus)} GPUs "
                         f"({[g.index for g in gpus]})")
    allocator = GpuAllocator(gpus)
    return (n_parallel or max(1, len(gpus) // gpus_per_trial)), allocator


def run_local(
    hpo: Any,
    trainer: Trainer | Command,
    *,
    n_parallel: int | None = None,
    gpus_per_trial: int = 1,
    resources: str = "auto",
    job_retries: int = 0,
    ignore_fail: bool = False,
    timeout: float | None = None,
    workdir: str | None = None,
    env: Mapping[str, str] | None = None,
    keep_top_k: int | None = 1,
    progress: bool = True,
    start_method: str = "spawn",
) -> RunSummary:
    """Run every trial of ``hpo`` in local child processes until the run is finished.

    ``trainer``: a callable ``trainer(config)`` (run in a ``start_method`` child; "spawn" is safe with
    CUDA, "fork" starts faster) or a command (a list of str, or a str split like a shell would; a first
    word ending in ``.py`` runs with this Python) that reads its train_config with
    ``hpopt.adapters.local.load_train_config()`` and calls ``hpopt.report``. Each config has an
    ``artifact_dir`` to save models in; the ``keep_top_k`` best trials' folders are kept at the end.
    ``resources``: "gpu" (each trial gets ``gpus_per_trial`` GPUs through ``CUDA_VISIBLE_DEVICES``,
    least busy first), "cpu" (``n_parallel`` slots, default one per core; GPUs hidden) or "auto" (GPUs
    when nvidia-smi finds some). ``timeout``: seconds per trial attempt; a trial past it is killed and
    counts as a crash. ``env`` adds environment variables for the trials; ``workdir`` is their working
    directory. Output goes to ``save_path/logs/trial_{id}_attempt_{a}.log``.

    Raises ``TrialFailedError`` when a trial fails for good and ``ignore_fail`` is False, and
    ``RunInterrupted`` on Ctrl-C / SIGTERM; in both cases every child was stopped first and the run
    can be resumed. ``hpo`` stays open (the caller closes it).
    """
    check_run_args(n_parallel, gpus_per_trial, resources, job_retries, timeout, keep_top_k, start_method)
    if not callable(trainer) and not isinstance(trainer, (str, list, tuple)):
        raise TypeError(f"trainer must be a callable trainer(config) or a command (str or list of str), "
                        f"got {trainer!r}")
    if workdir is not None and not os.path.isdir(workdir):
        raise ValueError(f"workdir {workdir!r} is not a directory")
    env = dict(env or {})
    for name, value in env.items():
        problem = env_problem(name, value)
        if problem is not None:
            error = TypeError if not (isinstance(name, str) and isinstance(value, str)) else ValueError
            raise error(f"env {problem}")
    slots, allocator = _slots(resources, n_parallel, gpus_per_trial)
    launcher = _ProcessLauncher(trainer, hpo.save_path, workdir, start_method)
    logger.info("running trials of %s in %d parallel %s", hpo.save_path, slots,
                f"slots on GPUs {allocator.indices}" if allocator else "CPU slots")
    return run_trials(hpo, launcher, n_parallel=slots, allocator=allocator, gpus_per_trial=gpus_per_trial,
                      cpu_only=resources == "cpu", job_retries=job_retries, ignore_fail=ignore_fail, timeout=timeout,
                      env=env, keep_top_k=keep_top_k, progress=progress)
