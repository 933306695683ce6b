"""Run an hpopt object's trials on a Ray cluster: many machines and GPUs, no shared file system.

    from hpopt.adapters.ray import run_ray
    summary = run_ray(hpo, train, address="auto", num_gpus=1, n_parallel=8)   # train(config) as a Ray task
    summary = run_ray(hpo, ["python", "train.py"], num_cpus=4)                # a script on the node

The run loop and the trial life cycle (retries, ignore_fail, OOM, timeout, Ctrl-C, best artifacts,
summary) are the local adapter's (:func:`hpopt.adapters.run_loop.run_trials`); this module supplies a
launcher whose trial handle is a Ray task:

- **start**: one Ray task per trial attempt, with the per-trial resources (``num_cpus``, ``num_gpus``,
  custom ``resources``, ``runtime_env``); Ray places it and sets ``CUDA_VISIBLE_DEVICES``. Ray's own task
  retries are off (``max_retries=0``): hpopt's ``job_retries`` decides. A callable trainer runs in the
  task's worker process; a command runs as its child (its own process group, killed if the worker dies);
  what runs inside the task is :mod:`hpopt.adapters.ray_task`.
- **reports**: the task's train_config has ``file_path = ray://{actor}/hpopt_trial_{id}.json``, so
  ``hpopt.report`` in the trainer goes to the run's report actor (:mod:`hpopt.adapters.ray_trial`), which
  Ray keeps on the controller's node; it writes the trial file there, durably, and answers RUNNING/STOP.
- **output and artifacts**: the trainer's stdout/stderr go to a file on its node that the task forwards
  to ``save_path/logs/`` through the actor twice a second; ``artifact_dir`` is a folder on the node whose
  contents come back with the task's result and land in ``save_path/artifacts/trial_{id}``.
- **end**: the task returns the trainer's exit code (0 done or ended itself, >0 raised, OOM reported);
  a task whose worker or node died is a crash (retried per ``job_retries``). The controller blocks on the
  tasks' completion (a pipe per task that Ray's completion callback writes), never a busy loop.
- **stop**: a trial whose trial file says STOP (ASHA, median stop, its last iteration, failed) and whose
  task has not ended ``stop_grace_s`` later is cancelled (KeyboardInterrupt in the task), then
  force-cancelled (its worker killed) after another ``stop_grace_s``.

When the controller dies, Ray ends its tasks and its actor with it (they belong to its job). Every report
it acknowledged is in a trial file; ``hpopt.create(..., resume=True)`` and ``run_ray`` again re-issue the
trials that were running (same params, next attempt; earlier scores kept under ``previous_attempts``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import StateFileError
from ..state.files import read_json_dict, trial_path
from ..trial import Status
from . import ray_trial
from .local import check_run_args
from .ray_args import check_ray_args, check_ray_trainer_args
from .ray_task import one_line, trial_task
from .run_loop import RunSummary, run_trials
from .workers import Command, Trainer

__all__ = ["run_ray"]

logger = logging.getLogger("hpopt")

STOP_GRACE_S = 10.0
_WATCH_S = 0.25  # how often the controller looks for trials told STOP whose task still runs


# --- on the controller (what runs inside the Ray task is in ray_task.py) --------------------------------


class _RayTrial:
    """A trial attempt running as a Ray task (a ``TrialHandle``)."""

    poll_interval = 1.0  # unused: ``waitable`` is a pipe that Ray's completion callback writes

    def __init__(self, launcher: _RayLauncher, ref: Any, config: dict[str, Any], log_path: str) -> None:
        self.launcher = launcher
        self.ref = ref
        self.config = config
        self.trial_id, self.attempt = int(config["trial_id"]), int(config["attempt"])
        self.log_path = log_path
        self.label = f"Ray task {ref.task_id().hex()[:16]}"
        self.end_reason: str | None = None
        self.node: str | None = None
        self.stop_seen: float | None = None
        self._cancelled = self._forced = False
        self._code: int | None = None
        self._guard = threading.Lock()
        self._closed = False
        self.waitable, self._wake = os.pipe()
        self._future = ref.future()
        self._future.add_done_callback(self._done)

    def _done(self, _future: Any) -> None:
        with self._guard:
            if not self._closed:
                with contextlib.suppress(OSError):
                    os.write(self._wake, b"!")

    def poll(self) -> int | None:
        if self._code is not None:
            return self._code
        if not self._future.done():
            return None
        import ray.exceptions as rex

        try:
            result = self._future.result()
        except rex.TaskCancelledError:
            self._code = -int(signal.SIGKILL if self._forced else signal.SIGTERM)
            _note(self.log_path, "the task was cancelled" + (" (its worker killed)" if self._forced else ""))
        except Exception as exc:  # the worker or its node died, the trainer could not be unpickled, ...
            self._code = 1
            traceback_text = isinstance(exc, rex.RayTaskError)  # its message ends with the exception raised
            self.end_reason = one_line(f"{type(exc).__name__}: {exc}", last=traceback_text)
            _note(self.log_path, f"the task failed: {exc}")
        else:
            self._code = int(result["code"])
            self.end_reason = result.get("reason")
            self.node = result.get("node")
            if result.get("artifacts"):
                _unpack(result["artifacts"], str(self.config["artifact_dir"]))
        return self._code

    def wait(self, timeout: float | None = None) -> int | None:
        with contextlib.suppress(Exception):
            self._future.result(timeout)
        return self.poll()

    def terminate(self) -> None:
        if self._code is None and not self._cancelled and not self._future.done():
            self._cancelled = True
            self.launcher.cancel(self.ref, force=False)

    def kill(self) -> None:
        if self._code is None and not self._forced and not self._future.done():
            self._cancelled = self._forced = True
            self.launcher.cancel(self.ref, force=True)

    def close(self) -> None:
        with self._guard:
            if not self._closed:
                self._closed = True
                os.close(self.waitable)
                os.close(self._wake)
        self.launcher.forget(self)




def _note(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(f"[hpopt {time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n")


def _unpack(blob: bytes, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python < 3.11.4: refuse what would leave dest
            root = os.path.realpath(dest)
            for member in tar.getmembers():
                target = os.path.realpath(os.path.join(dest, member.name))
                if not (target == root or target.startswith(root + os.sep)) or member.issym() or member.islnk():
                    raise ValueError(f"refusing artifact member {member.name!r}")
            tar.extractall(dest)  # noqa: S202 - checked above


class _RayLauncher:
    """Submits one Ray task per trial attempt; holds the run's report actor; cancels trials told STOP."""

    def __init__(self, hpo: Any, trainer: Trainer | Command, options: dict[str, Any], stop_grace_s: float) -> None:
        import ray

        from ..state.files import ensure_dir

        self.hpo = hpo
        self.save_path = os.path.abspath(hpo.save_path)
        self.is_command = not callable(trainer)
        self.trainer_ref = ray.put(trainer)
        self.options = options
        self.grace = stop_grace_s
        # One trial per worker process (max_calls=1): Ray reuses a worker once its task ends, and a forced
        # cancel of a stopped trial whose end the controller had not seen yet then killed the worker that
        # was already running the next trial (ray-project/ray#54865 describes the same reuse). A fresh worker
        # per trial costs about a second, against trials that run for minutes.
        self.task = ray.remote(max_calls=1)(trial_task)
        ensure_dir(os.path.join(self.save_path, "logs"))
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.actor_name = f"hpopt-{hpo.run_id[:12]}-{uuid.uuid4().hex[:8]}"
        here = ray.get_runtime_context().get_node_id()
        self.actor = ray.remote(ray_trial.TrialReports).options(
            name=self.actor_name, namespace=ray_trial.NAMESPACE, num_cpus=0, max_restarts=3, max_task_retries=3,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
        ).remote(self.save_path)
        node = ray.get(self.actor.ping.remote(), timeout=120)
        if node != here:
            raise RuntimeError(f"the report actor landed on node {node}, not the controller's {here}")
        self.live: set[_RayTrial] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seen: dict[int, tuple[int, int, bool]] = {}
        self._watcher = threading.Thread(target=self._watch, name="hpopt-ray-stop-watcher", daemon=True)
        self._watcher.start()

    def start(self, config: dict[str, Any], log_path: str, env: dict[str, str]) -> _RayTrial:
        task_config = {**config, "file_path": ray_trial.file_path(self.actor_name, str(config["file_path"]))}
        opts = dict(self.options)
        env_vars = {k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"}
        if env_vars:
            runtime_env = dict(opts.get("runtime_env") or {})
            runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **env_vars}
            opts["runtime_env"] = runtime_env
        ref = self.task.options(name=f"hpopt-trial-{config['trial_id']}-attempt-{config['attempt']}", max_retries=0,
                                retry_exceptions=False, **opts).remote(
            self.trainer_ref, self.is_command, task_config, os.path.basename(log_path), self.grace)
        handle = _RayTrial(self, ref, config, log_path)
        with self._lock:
            self.live.add(handle)
        return handle

    def cancel(self, ref: Any, force: bool) -> None:
        import ray

        with contextlib.suppress(Exception):  # it ended meanwhile
            ray.cancel(ref, force=force, recursive=True)

    def forget(self, handle: _RayTrial) -> None:
        with self._lock:
            self.live.discard(handle)

    # Trials told STOP (by the algorithm, their last iteration, or fail_trial) whose task goes on
    def _told_to_stop(self, handle: _RayTrial) -> bool:
        path = trial_path(self.save_path, handle.trial_id)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        seen = self._seen.get(handle.trial_id)
        if seen is not None and seen[:2] == (st.st_mtime_ns, st.st_size):
            return seen[2]
        try:
            doc = read_json_dict(path, ("status",))
        except (OSError, StateFileError):
            return False
        stopped = doc.get("attempt", handle.attempt) != handle.attempt or int(doc["status"]) != Status.RUNNING
        self._seen[handle.trial_id] = (st.st_mtime_ns, st.st_size, stopped)
        return stopped

    def _watch(self) -> None:
        while not self._stop.wait(_WATCH_S):
            with self._lock:
                handles = list(self.live)
            now = time.monotonic()
            for h in handles:
                if h._future.done():
                    continue
                if h.stop_seen is None:
                    if self._told_to_stop(h):
                        h.stop_seen = now
                    continue
                if now - h.stop_seen >= 2 * self.grace:
                    if not h._forced:
                        logger.warning("trial %d (%s) still runs %g s after it was cancelled; killing its worker",
                                       h.trial_id, h.label, self.grace)
                        h.kill()
                elif now - h.stop_seen >= self.grace and not h._cancelled:
                    logger.warning("trial %d (%s) was told to stop %g s ago and still runs; cancelling it",
                                   h.trial_id, h.label, self.grace)
                    _note(h.log_path, f"told to stop {self.grace:g} s ago and still running: cancelled")
                    h.terminate()

    def close(self) -> None:
        import ray

        self._stop.set()
        self._watcher.join()
        with contextlib.suppress(Exception):
            ray.kill(self.actor)


# --- connecting and the entry point --------------------------------------------------------------


def _connect(address: str | None, init_kwargs: Mapping[str, Any]) -> bool:
    """Connect to the cluster (or start a local one); True when this call did it (and should disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, **init_kwargs}
    ray.init(address=address, **kwargs)
    return True


def _slots(num_cpus: float, num_gpus: float, resources: Mapping[str, float]) -> int:
    """How many trials the cluster fits now (at least 1; more queue in Ray)."""
    import ray

    total = ray.cluster_resources()
    fits = [total.get(name, 0.0) / amount for name, amount in
            (("CPU", num_cpus), ("GPU", num_gpus), *resources.items()) if amount > 0]
    if not fits:
        return max(1, int(total.get("CPU", 1)))
    return max(1, int(min(fits) + 1e-9))


def run_ray(
    hpo: Any,
    trainer: Trainer | Command,
    *,
    address: str | None = None,
    n_parallel: int | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    resources: Mapping[str, float] | None = None,
    runtime_env: Mapping[str, Any] | None = None,
    ray_options: Mapping[str, Any] | None = None,
    job_retries: int = 0,
    ignore_fail: bool = False,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    keep_top_k: int | None = 1,
    progress: bool = True,
    stop_grace_s: float = STOP_GRACE_S,
    init_kwargs: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Run every trial of ``hpo`` as a Ray task on a cluster until the run is finished.

    ``trainer``: a callable ``trainer(config)`` (sent to the nodes by Ray; define it at module level in a
    module the nodes can import, or ship it with ``runtime_env``) or a command run on the node (its first
    word ``.py``: run with the node's Python), which reads its train_config with
    ``hpopt.adapters.local.load_train_config()``. Both call ``hpopt.report`` as usual.
    ``address``: None starts a local Ray instance (unless this process is connected already); "auto" the
    cluster this machine belongs to; "host:port" a GCS address. ``num_cpus``, ``num_gpus``, ``resources``
    (custom resources), ``runtime_env`` (Ray's: ``working_dir``, ``pip``, ``env_vars``...) and
    ``ray_options`` (other task options: ``memory``, ``accelerator_type``, ``scheduling_strategy``...) apply
    to each trial. ``n_parallel``: trials at once (default: as many as the cluster's resources fit now).
    ``timeout`` counts from submission, time queued for resources included. ``stop_grace_s``: how long a
    trial told STOP may go on before it is cancelled (and as long again before its worker is killed).
    ``init_kwargs``: extra ``ray.init`` arguments. The others are run_local's.

    Raises as run_local does; the state stays resumable. ``hpo`` stays open; the Ray connection this call
    opened is closed.
    """
    check_run_args(n_parallel, 1, "cpu", job_retries, timeout, keep_top_k, "spawn")
    check_ray_args(address, num_cpus, num_gpus, resources, runtime_env, stop_grace_s, ray_options)
    check_ray_trainer_args(trainer, env, init_kwargs)
    env = dict(env or {})
    try:
        import ray
    except ImportError as exc:
        raise ImportError("run_ray needs Ray: pip install 'hpopt[ray]'") from exc
    owned = _connect(address, init_kwargs or {})
    launcher = None
    try:
        options: dict[str, Any] = {**(ray_options or {}), "num_cpus": num_cpus, "num_gpus": num_gpus}
        if resources:
            options["resources"] = dict(resources)
        if runtime_env:
            options["runtime_env"] = dict(runtime_env)
        slots = n_parallel or _slots(num_cpus, num_gpus, resources or {})
        launcher = _RayLauncher(hpo, trainer, options, float(stop_grace_s))
        logger.info("running trials of %s as Ray tasks, %d at once (%s per trial); reports through actor %s",
                    hpo.save_path, slots, {k: v for k, v in options.items() if k != "runtime_env"},
                    launcher.actor_name)
        return run_trials(hpo, launcher, n_parallel=slots, job_retries=job_retries, ignore_fail=ignore_fail,
                          timeout=timeout, env=env, keep_top_k=keep_top_k, progress=progress)
    finally:
        if launcher is not None:
            launcher.close()
        if owned:
            ray.shutdown()
