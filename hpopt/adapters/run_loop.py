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
loop; it takes a :class:`Launcher`, whose ``start(config, log_path, env)`` starts one trial attempt and
returns a :class:`TrialHandle`:

- ``poll()`` -> None while it runs, then its exit code: 0 ended by itself, > 0 crashed, < 0 killed by
  that signal (a remote launcher maps its job's end onto these); ``wait(timeout)`` blocks up to timeout;
- ``terminate()`` asks it to stop (SIGTERM, or stop the remote job), ``kill()`` insists (SIGKILL);
  ``close()`` frees what was held for waiting;
- ``waitable``: an object ``multiprocessing.connection.wait`` can block on until it ends, or None: then
  the loop polls it every ``poll_interval`` seconds (a remote handle rate-limits its own API calls);
- ``label`` names it in logs ("pid 1234", "job hpopt-…"); ``end_reason``, once it ended, may say why it
  failed better than an exit code (it becomes the trial's error).

The launcher's ``start`` appends the attempt's output to ``log_path`` (created empty by the loop); a
handle whose output holds "CUDA out of memory" after a non-zero exit is treated as an OOM. Scores reach
the trial file through ``hpopt.report`` (called by the trainer, or by the handle's ``poll()`` for a
trainer that reports elsewhere), and the algorithm's decisions reach the trainer through that file
(``report`` returns STOP; a remote handle acts on it, e.g. stops its job). A handle whose trial was
collected or re-issued meanwhile is only waited for; its end changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from types import FrameType
from typing import Any, Protocol

from ..algorithms.scores import best_of
from ..errors import HpoptError, StateFileError
from ..state import read_trial_doc
from ..trainer import finalize_trial, reportOOM
from ..trial import Status
from . import artifacts
from .gpus import GpuAllocator
from .progress import ProgressLine
from .workers import log_mentions_oom

logger = logging.getLogger("hpopt")

KILL_GRACE_S = 10.0  # how long a child may take to exit after SIGTERM before it gets SIGKILL
_TICK_S = 1.0  # progress refresh while waiting


class TrialFailedError(HpoptError, RuntimeError):
    """A trial failed for good (after its retries) and ``ignore_fail`` is False: the run was stopped."""

    def __init__(self, trial_id: int, error: str, log_path: str) -> None:
        super().__init__(f"trial {trial_id} failed: {error}; its output is in {log_path}. The run was stopped "
                         "(pass ignore_fail=True to go on without it); resume=True continues the other trials")
        self.trial_id, self.error, self.log_path = trial_id, error, log_path



class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM reached the controller: every child was stopped and the state is resumable."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum



@dataclass
class RunSummary:
    """What a run came to (counts cover the whole run, earlier sessions of a resumed one included)."""

    save_path: str
    finished: bool
    trials_done: int
    trials_failed: int
    trials_retried: int
    trials_oom: int
    best_trial_id: int | None
    best_config: dict[str, Any] | None
    best_score: float | None
    elapsed_s: float
    kept_artifacts: list[str] = field(default_factory=list)



class TrialHandle(Protocol):
    """One running trial attempt, wherever it runs (see the module docstring)."""

    label: str
    waitable: Any
    poll_interval: float
    end_reason: str | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int | None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...



class Launcher(Protocol):
    """Starts trial attempts for :func:`run_trials`."""

    def start(self, config: dict[str, Any], log_path: str, env: dict[str, str]) -> TrialHandle: ...



@dataclass
class _Attempt:
    """A trial attempt started by the launcher."""

    worker: TrialHandle
    config: dict[str, Any]
    log_path: str
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



class _StopSignals:
    """While installed, SIGINT and SIGTERM only note the signal and wake the controller's wait."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._old: dict[int, Any] = {}

    @property
    def fd(self) -> int:
        return self._read

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        with contextlib.suppress(OSError):  # a full pipe: a wake-up is pending anyway
            os.write(self._write, b"!")

    def drain(self) -> None:
        """Empty the wake-up pipe, so that a later wait blocks again (``signum`` keeps what arrived)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set there; the caller's own handling applies
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handler)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        os.close(self._read)
        os.close(self._write)



class _LocalRun:
    """The controller loop of one run_trials call."""

    def __init__(self, hpo: Any, launcher: Launcher, *, n_parallel: int, allocator: GpuAllocator | None,
                 gpus_per_trial: int, cpu_only: bool, job_retries: int, ignore_fail: bool, timeout: float | None,
                 env: Mapping[str, str], progress: bool) -> None:
        self.hpo = hpo
        self.save_path: str = hpo.save_path
        self.launcher = launcher
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
        self.started = time.monotonic()
        self.progress0 = 0.0

    # --- launching -------------------------------------------------------------------------------

    def launch(self, config: dict[str, Any]) -> None:
        tid, attempt = int(config["trial_id"]), int(config["attempt"])
        config = {**config, "artifact_dir": artifacts.fresh_artifact_dir(self.save_path, tid)}
        log = artifacts.log_path(self.save_path, tid, attempt)
        with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w"):
            pass  # a fresh, private log; the child appends to it
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
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self.running[worker] = _Attempt(worker, config, log, gpus, deadline)
        self.latest[tid] = attempt
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
        elif log_mentions_oom(run.log_path):
            logger.warning("trial %d ran out of GPU memory (see %s); it is re-sampled", tid, run.log_path)
            reportOOM(run.config)
        else:
            self.crashed(run, run.worker.end_reason
                         or (f"exit code {code}" if code > 0 else f"killed by {_signal_name(-code)}"))

    def _trial_doc(self, run: _Attempt) -> dict[str, Any] | None:
        try:
            doc = read_trial_doc(run.config["file_path"], run.trial_id)
        except (OSError, StateFileError):
            return None
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
        end = time.monotonic() + KILL_GRACE_S
        for run in runs:
            run.worker.wait(max(0.0, end - time.monotonic()))
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
        elapsed = time.monotonic() - self.started
        gained = self.hpo.get_progress() - self.progress0
        left = elapsed * (1.0 - self.progress0 - gained) / gained if gained > 0 else None
        self.progress.update(done=self.done, running=len(self.running), failed=self.failed,
                             best=self.hpo.get_best_score(), elapsed=elapsed, left=left)

    def wait_timeout(self, now: float) -> float | None:
        moments = [r.deadline for r in self.running.values() if r.deadline is not None and not r.timed_out]
        moments += [r.kill_at for r in self.running.values() if r.kill_at is not None]
        timeout = min(moments) - now if moments else None
        if self.progress.enabled or not self.running:
            timeout = _TICK_S if timeout is None else min(timeout, _TICK_S)
        polled = [r.worker.poll_interval for r in self.running.values() if r.worker.waitable is None]
        if polled:
            timeout = min(polled) if timeout is None else min(timeout, *polled)
        return None if timeout is None else max(0.0, timeout)

    def run(self, stop: _StopSignals) -> None:
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
            wait_for([*waitables, stop.fd], self.wait_timeout(time.monotonic()))
            stop.drain()
            self.check_timeouts(time.monotonic())
            for run in list(self.running.values()):
                code = run.worker.poll()
                if code is not None:
                    self.reap(run, code)
        self.show()



def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"



def run_trials(hpo: Any, launcher: Launcher, *, n_parallel: int, job_retries: int = 0, ignore_fail: bool = False,
               timeout: float | None = None, env: Mapping[str, str] | None = None, keep_top_k: int | None = 1,
               progress: bool = True, allocator: GpuAllocator | None = None, gpus_per_trial: int = 1,
               cpu_only: bool = False) -> RunSummary:
    """The run loop shared by the adapters: run every trial of ``hpo`` through ``launcher`` until finished.

    Arguments as for :func:`run_local` (checked there, or by the adapter calling this); ``allocator``
    hands out GPUs (None: none). Claims ``save_path``'s logs/, artifacts/ and configs/ for this run.
    """
    artifacts.claim_folders(hpo.save_path, hpo.run_id)
    loop = _LocalRun(hpo, launcher, n_parallel=n_parallel, allocator=allocator, gpus_per_trial=gpus_per_trial,
                     cpu_only=cpu_only, job_retries=job_retries, ignore_fail=ignore_fail, timeout=timeout,
                     env=env or {}, progress=progress)
    stop = _StopSignals()
    stop.install()
    try:
        loop.run(stop)
    finally:
        try:
            loop.stop_all()
        finally:
            stop.restore()
            loop.progress.close()
    return _summary(hpo, time.monotonic() - loop.started, keep_top_k)



def _summary(hpo: Any, elapsed: float, keep_top_k: int | None) -> RunSummary:
    best_config = hpo.get_best_config()  # also writes a checkpoint
    status = hpo.get_current_status()
    entries = status["config_list"]
    finished = hpo.is_finished()
    kept = artifacts.keep_best(hpo.save_path, entries, hpo.mode, keep_top_k) if finished else []
    stopped = [e for e in entries if e["status"] == Status.STOP]
    return RunSummary(
        save_path=hpo.save_path,
        finished=finished,
        trials_done=sum(1 for e in stopped if e.get("score") is not None),
        trials_failed=sum(1 for e in stopped if e.get("score") is None),
        trials_retried=sum(int(e.get("retries", 0)) for e in entries),
        trials_oom=sum(int(e.get("oom_count", 0)) for e in entries),
        best_trial_id=status.get("best_config_id"),
        best_config=best_config,
        best_score=hpo.get_best_score(),
        elapsed_s=elapsed,
        kept_artifacts=kept,
    )
