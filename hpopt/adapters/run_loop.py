"""The run loop shared by every adapter (local processes, Ray, SageMaker): one trial life cycle.

The controller keeps up to ``n_parallel`` trials running. When ``get_next_sample()`` has nothing to
issue but the run is not finished, it waits for a child to end (on the children's exit descriptors,
never a busy loop). When a child ends, its trial is judged:

- its trial file says it finished (or ran out of GPU memory and was re-sampled): nothing to do;
- it exited 0 before its last iteration: the trainer ended it itself, so it is finalized
  (``finalize_trial``) with the scores it reported;
- it exited non-zero and its output says "CUDA out of memory": ``reportOOM`` (the batch-size bound
  shrinks and the trial is re-sampled, not counted as a crash);
- otherwise it crashed (or passed its ``timeout``): it is retried with the same params up to
  ``job_retries`` times, then marked failed; with ``ignore_fail=False`` a failure stops the run.

Ctrl-C or SIGTERM stops every child (SIGTERM to its process group, SIGKILL after a grace period) and
raises :class:`RunInterrupted`; the state stays resumable: ``hpopt.create(..., resume=True)`` and
``run_local`` again continue the run.

Where a trial runs is pluggable, so that every adapter shares this loop and trial life cycle (issue,
retry, fail, OOM, timeout, stop, progress, summary) instead of writing its own. :func:`run_trials` is the
loop; it takes a :class:`~.launcher.Launcher` (how a trial attempt starts; see :mod:`.launcher` for the
handle it returns), a :class:`~.clock.Clock` (the wall clock, or the simulator's simulated clock) and a
:class:`~.artifacts.Workspace` (the run's log and artifact folders; None for a run that keeps no files).

Scores reach the trial record through ``hpopt.report`` (called by the trainer, or by the handle's
``poll()`` for a trainer that reports elsewhere), and the algorithm's decisions reach the trainer through
that record (``report`` returns STOP; a remote handle acts on it, e.g. stops its job). A handle whose
trial was collected or re-issued meanwhile is only waited for; its end changes nothing.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..algorithms.scores import best_of
from ..errors import HpoptError
from ..trainer import finalize_trial, reportOOM
from ..trial import Status
from .artifacts import Workspace
from .clock import Clock, WallClock
from .gpus import GpuAllocator
from .launcher import Launcher, RunInterrupted, TrialFailedError, TrialHandle
from .progress import ProgressLine
from .run_summary import RunSummary, summarize
from .stop_signals import StopSignals
from .workers import log_mentions_oom

__all__ = ["KILL_GRACE_S", "Launcher", "RunInterrupted", "RunSummary", "TrialFailedError", "TrialHandle",
           "run_trials"]

logger = logging.getLogger("hpopt")

KILL_GRACE_S = 10.0  # how long a child may take to exit after SIGTERM before it gets SIGKILL
_TICK_S = 1.0  # progress refresh while waiting


@dataclass
class _Attempt:
    """A trial attempt started by the launcher."""

    worker: TrialHandle
    config: dict[str, Any]
    log_path: str | None
    gpus: list[int]
    deadline: float | None
    kill_at: float | None = None
    timed_out: bool = False

    @property
    def trial_id(self) -> int:
        return int(self.config["trial_id"])

    @property
    def attempt(self) -> int:
        return int(self.config["attempt"])


class _LocalRun:
    """The controller loop of one run_trials call."""

    def __init__(self, hpo: Any, launcher: Launcher, *, n_parallel: int, allocator: GpuAllocator | None,
                 gpus_per_trial: int, cpu_only: bool, job_retries: int, ignore_fail: bool, timeout: float | None,
                 env: Mapping[str, str], progress: bool, clock: Clock, workspace: Workspace | None) -> None:
        self.hpo = hpo
        self.launcher = launcher
        self.clock = clock
        self.workspace = workspace
        self.n_parallel = n_parallel
        self.allocator = allocator
        self.gpus_per_trial = gpus_per_trial
        self.cpu_only = cpu_only
        self.job_retries = job_retries
        self.ignore_fail = ignore_fail
        self.timeout = timeout
        self.env = dict(env)
        self.progress = ProgressLine(progress)
        self.running: dict[TrialHandle, _Attempt] = {}
        self.latest: dict[int, int] = {}  # trial id -> attempt last started here
        self.retries: dict[int, int] = {}
        self.done = self.failed = 0
        self.started = clock.now()
        self.progress0 = 0.0

    # --- launching -------------------------------------------------------------------------------

    def launch(self, config: dict[str, Any]) -> None:
        tid, attempt = int(config["trial_id"]), int(config["attempt"])
        log = None
        if self.workspace is not None:
            folder, log = self.workspace.attempt_files(tid, attempt)
            config = {**config, "artifact_dir": folder}
        gpus = self.allocator.acquire(self.gpus_per_trial) if self.allocator is not None else []
        env = dict(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.allocator is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
        elif self.cpu_only:
            env["CUDA_VISIBLE_DEVICES"] = ""  # resources="cpu": trials must not grab a GPU
        try:
            worker = self.launcher.start(config, log, env)
        except BaseException:
            if self.allocator is not None:
                self.allocator.release(gpus)
            raise
        deadline = None if self.timeout is None else self.clock.now() + self.timeout
        self.running[worker] = _Attempt(worker, config, log, gpus, deadline)
        self.latest[tid] = attempt
        if log is not None:
            logger.info("trial %d attempt %d started (%s%s), log %s", tid, attempt, worker.label,
                        f", GPUs {env['CUDA_VISIBLE_DEVICES']}" if gpus else "", log)

    # --- a child ended ---------------------------------------------------------------------------

    def reap(self, run: _Attempt, code: int) -> None:
        del self.running[run.worker]
        run.worker.close()
        if self.allocator is not None:
            self.allocator.release(run.gpus)
        tid = run.trial_id
        if self.latest.get(tid) != run.attempt:
            return  # superseded: the trial was re-sampled (OOM) and runs again elsewhere
        if tid not in self.hpo.running_trials():
            self._count_collected(run)
            return
        if run.timed_out:
            self.crashed(run, f"timed out after {self.timeout:g} s")
        elif code == 0:
            doc = self._trial_doc(run)
            reported = len(doc.get("scores", [])) if doc else 0
            logger.warning("trial %d ended by itself after %d of %d iterations; it is finalized with those scores",
                           tid, reported, run.config["iterations"])
            finalize_trial(run.config)
            self._count_collected(run)
        elif run.log_path is not None and log_mentions_oom(run.log_path):
            logger.warning("trial %d ran out of GPU memory (see %s); it is re-sampled", tid, run.log_path)
            reportOOM(run.config)
        else:
            self.crashed(run, run.worker.end_reason
                         or (f"exit code {code}" if code > 0 else f"killed by {_signal_name(-code)}"))

    def _trial_doc(self, run: _Attempt) -> dict[str, Any] | None:
        try:
            record = self.hpo.store.read_trial(run.trial_id)
        except (OSError, HpoptError):
            return None
        doc = None if record is None else record.doc
        return doc if doc is not None and doc.get("attempt", run.attempt) == run.attempt else None

    def _count_collected(self, run: _Attempt) -> None:
        """Count a trial the controller collected: done with a score, failed without, or re-sampled (OOM)."""
        doc = self._trial_doc(run)
        if doc is None:
            return
        if int(doc["status"]) == Status.CUDAOOM:
            if self.hpo.batch_size_name is None:
                self.failed += 1  # the controller cannot shrink anything: the trial ended failed
            return
        if best_of(doc["scores"], str(run.config["mode"])) is None:
            self.failed += 1
        else:
            self.done += 1

    def crashed(self, run: _Attempt, error: str) -> None:
        tid = run.trial_id
        used = self.retries.get(tid, 0)
        if used < self.job_retries:
            self.retries[tid] = used + 1
            logger.warning("trial %d attempt %d crashed (%s, log %s); retry %d of %d", tid, run.attempt, error,
                           run.log_path, used + 1, self.job_retries)
            self.hpo.retry_trial(tid)
            return
        if self.job_retries:
            error = f"{error} (after {self.job_retries} {'retry' if self.job_retries == 1 else 'retries'})"
        logger.warning("trial %d failed: %s; log %s", tid, error, run.log_path)
        self.hpo.fail_trial(tid, f"{error}; log: {run.log_path}")
        self.failed += 1
        if not self.ignore_fail:
            raise TrialFailedError(tid, error, run.log_path)

    # --- stopping --------------------------------------------------------------------------------

    def check_timeouts(self, now: float) -> None:
        for run in self.running.values():
            if run.deadline is not None and not run.timed_out and now >= run.deadline:
                logger.warning("trial %d passed its timeout of %g s; stopping it", run.trial_id, self.timeout)
                run.timed_out = True
                run.worker.terminate()
                run.kill_at = now + KILL_GRACE_S
            elif run.kill_at is not None and now >= run.kill_at:
                run.worker.kill()
                run.kill_at = None

    def stop_all(self) -> None:
        """SIGTERM every child's process group, wait up to the grace period, SIGKILL what is left."""
        runs = list(self.running.values())
        for run in runs:
            run.worker.terminate()
        end = self.clock.now() + KILL_GRACE_S
        for run in runs:
            run.worker.wait(max(0.0, end - self.clock.now()))
        for run in runs:
            if run.worker.poll() is None:
                logger.warning("trial %d (%s) did not stop within %g s of being asked to; killing it", run.trial_id,
                               run.worker.label, KILL_GRACE_S)
                run.worker.kill()
                run.worker.wait(KILL_GRACE_S)
            else:
                run.worker.kill()  # whatever it started and left behind in its process group
            run.worker.close()
            if self.allocator is not None:
                self.allocator.release(run.gpus)
        self.running.clear()

    # --- the loop --------------------------------------------------------------------------------

    def show(self) -> None:
        if not self.progress.enabled:
            return
        elapsed = self.clock.now() - self.started
        gained = self.hpo.get_progress() - self.progress0
        left = elapsed * (1.0 - self.progress0 - gained) / gained if gained > 0 else None
        budget = self.hpo.time_budget_s
        self.progress.update(done=self.done, running=len(self.running), failed=self.failed,
                             best=self.hpo.get_best_score(), elapsed=elapsed, left=left, planned=self.hpo.num_trials,
                             asked=None if budget is None else budget / max(1, self.hpo.num_workers))

    def wait_timeout(self, now: float) -> float | None:
        moments = [r.deadline for r in self.running.values() if r.deadline is not None and not r.timed_out]
        moments += [r.kill_at for r in self.running.values() if r.kill_at is not None]
        timeout = min(moments) - now if moments else None
        if self.progress.enabled or not self.running or getattr(self.hpo, "time_budget_s", None) is not None:
            # a run with a deadline in seconds also re-plans from its trials in flight (look())
            timeout = _TICK_S if timeout is None else min(timeout, _TICK_S)
        polled = [r.worker.poll_interval for r in self.running.values() if r.worker.waitable is None]
        if polled:
            timeout = min(polled) if timeout is None else min(timeout, *polled)
        return None if timeout is None else max(0.0, timeout)

    def run(self, stop: StopSignals) -> None:
        for entry in self.hpo.get_current_status()["config_list"]:
            if entry["status"] == Status.STOP:
                if entry.get("score") is None:
                    self.failed += 1
                else:
                    self.done += 1
        self.progress0 = self.hpo.get_progress()
        waiting_logged = False
        while True:
            if stop.signum is not None:
                raise RunInterrupted(stop.signum)
            while len(self.running) < self.n_parallel and (config := self.hpo.get_next_sample()) is not None:
                self.launch(config)
            if not self.running:
                if self.hpo.is_finished():
                    break
                if not waiting_logged:
                    logger.warning("trials %s were given out before this run started and run elsewhere; waiting "
                                   "for them to finish", self.hpo.running_trials())
                    waiting_logged = True
            self.show()
            waitables = [r.worker.waitable for r in self.running.values() if r.worker.waitable is not None]
            self.clock.wait([*waitables, stop.fd], self.wait_timeout(self.clock.now()))
            if self.clock.over:
                break  # a simulated run reached its horizon: its trials are stopped where they are
            if stop.signum is not None:
                stop.drain()  # a signal's wake-up; the loop's next turn stops the run
            self.check_timeouts(self.clock.now())
            for run in list(self.running.values()):
                code = run.worker.poll()
                if code is not None:
                    self.reap(run, code)
            self.look()
        self.show()

    def look(self) -> None:
        """Let the controller see what the trials in flight reported while every slot is busy: a run with a
        deadline in seconds re-plans from their first epochs, and may cut their last epoch."""
        if self.running and getattr(self.hpo, "time_budget_s", None) is not None:
            self.hpo.running_trials()



def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"



def run_trials(hpo: Any, launcher: Launcher, *, n_parallel: int, job_retries: int = 0, ignore_fail: bool = False,
               timeout: float | None = None, env: Mapping[str, str] | None = None, keep_top_k: int | None = 1,
               progress: bool = True, allocator: GpuAllocator | None = None, gpus_per_trial: int = 1,
               cpu_only: bool = False, clock: Clock | None = None, keep_files: bool = True) -> RunSummary:
    """The run loop shared by the adapters: run every trial of ``hpo`` through ``launcher`` until finished.

    Arguments as for :func:`run_local` (checked there, or by the adapter calling this); ``allocator``
    hands out GPUs (None: none); ``clock`` is the wall clock unless given (the simulator passes its
    simulated one; ``timeout`` is then in simulated seconds). With ``keep_files`` (the default) the run
    claims ``save_path``'s logs/, artifacts/ and configs/; without, it creates no file at all.
    """
    clock = WallClock() if clock is None else clock
    workspace = Workspace(hpo.save_path) if keep_files else None
    if workspace is not None:
        workspace.claim(hpo.run_id)
    loop = _LocalRun(hpo, launcher, n_parallel=n_parallel, allocator=allocator, gpus_per_trial=gpus_per_trial,
                     cpu_only=cpu_only, job_retries=job_retries, ignore_fail=ignore_fail, timeout=timeout,
                     env=env or {}, progress=progress, clock=clock, workspace=workspace)
    stop = StopSignals()
    stop.install()
    try:
        loop.run(stop)
    finally:
        try:
            loop.stop_all()
        finally:
            stop.restore()
            loop.progress.close()
    keep = None if workspace is None else (lambda entries: workspace.keep_best(entries, hpo.mode, keep_top_k))
    return summarize(hpo, clock.now() - loop.started, keep)
