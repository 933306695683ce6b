"""Run an hpopt object's trials as SageMaker training jobs, up to ``n_parallel`` at once.

    from hpopt.adapters.sagemaker import run_sagemaker
    summary = run_sagemaker(hpo, job_template, n_parallel=3)    # on the controller
    config = hpopt.adapters.sagemaker.load_train_config()      # in the job's entry script

The run loop and the trial life cycle (retries, ignore_fail, timeout, OOM, Ctrl-C, summary) are the
local adapter's (:func:`hpopt.adapters.run_loop.run_trials`); this module supplies a launcher whose trial
handle is a training job:

- **start**: ``create_training_job`` with the user's template (image, role, instances, channels, output
  path, max runtime), the trial's params as HyperParameters and its train_config as the hyperparameter
  ``hpopt_train_config``. That train_config's ``file_path`` is an S3 object for this attempt, so
  ``hpopt.report`` inside the job uploads its scores there (:mod:`hpopt.adapters.s3_trial`).
- **poll** (every ``poll_interval`` s per running job): ``describe_training_job``, and a conditional GET
  of the job's scores object (304 when unchanged). New scores are applied to the controller's trial file
  through ``hpopt.report``, where the algorithm decides; when it says STOP before the last iteration the
  job is stopped with ``stop_training_job``. Finished jobs are no longer polled.
- **end**: Completed (with a report) -> the trial ended by itself; Completed without any report, Failed,
  or stopped by anyone but hpopt -> a crash, retried per ``job_retries``, with the FailureReason in the
  trial's log and error. "CUDA out of memory" in the FailureReason counts as an OOM.

Every job created is recorded in ``save_path/logs/sagemaker_jobs.jsonl`` (fsynced before the create
call) with how it ended and its billable seconds. After a controller crash, ``resume=True`` re-issues
the trials that were running; the launcher then adopts each one's job if it is still running, or has
completed with scores, instead of paying for a new one: nothing the jobs reported is lost.

Credentials come from boto3's normal chain (or ``boto_session``); nothing secret is logged: the logs
name jobs, statuses and S3 URIs, never the template's Environment or credentials.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..trainer import report as apply_report
from ..trainer import reportOOM
from ..trial import Status
from .artifacts import LOGS, artifact_dir
from .local import check_run_args
from .run_loop import RunSummary, run_trials
from .s3_trial import S3TrialReader, split_s3_uri
from .sagemaker_jobs import (
    JOB_MODEL_DIR,
    MAX_HP_VALUE,
    TRAIN_CONFIG_HP,
    JobBook,
    check_template,
    error_code,
    hp_value,
    is_transient,
    job_name,
    load_train_config,
    tag_value,
)

__all__ = ["SageMakerRunSummary", "job_name", "load_train_config", "run_sagemaker"]

logger = logging.getLogger("hpopt")



@dataclass
class SageMakerRunSummary(RunSummary):
    """A RunSummary plus what the jobs cost (every job of the run, earlier sessions included)."""

    billable_seconds: int = 0
    jobs: int = 0




# --- launcher and handle ---------------------------------------------------------------------------


class _SageMakerLauncher:
    """Creates (or, after a controller restart, adopts) one training job per trial attempt."""

    def __init__(self, hpo: Any, template: dict[str, Any], sm: Any, s3: Any, reports_uri: str,
                 poll_interval: float) -> None:
        self.hpo = hpo
        self.template = template
        self.sm, self.s3 = sm, s3
        self.reports_uri = reports_uri.rstrip("/")
        self.poll_interval = poll_interval
        self.book = JobBook(hpo.save_path, hpo.run_id)
        self.live: set[str] = set()

    def describe(self, name: str) -> dict[str, Any]:
        return self.sm.describe_training_job(TrainingJobName=name)

    def start(self, config: dict[str, Any], log_path: str, env: dict[str, str]) -> _TrainingJob:
        adopted = self._adoptable(config)
        if adopted is not None:
            rec = self.book.created[adopted]
            _log(log_path, f"adopted SageMaker training job {adopted} (started for attempt {rec['attempt']} "
                           f"before the controller restarted); scores from {rec['report']}")
            return _TrainingJob(self, adopted, rec["report"], config, log_path)
        tid, attempt = int(config["trial_id"]), int(config["attempt"])
        name = job_name(self.hpo.save_path, self.hpo.run_id, tid, attempt)
        report_uri = f"{self.reports_uri}/{self.hpo.run_id}/trial_{tid}_attempt_{attempt}.json"
        job_config = {**config, "file_path": report_uri, "artifact_dir": JOB_MODEL_DIR}
        encoded = json.dumps(job_config, separators=(",", ":"))
        if len(encoded) > MAX_HP_VALUE:
            raise ValueError(f"trial {tid}'s train_config takes {len(encoded)} characters, over SageMaker's "
                             f"{MAX_HP_VALUE} per hyperparameter; shorten save_path or reports_uri")
        params = {k: hp_value(v) for k, v in config["params"].items()}
        long = [k for k, v in params.items() if len(v) > MAX_HP_VALUE]
        if long:
            raise ValueError(f"trial {tid}: the values of {long} are longer than SageMaker's {MAX_HP_VALUE} "
                             "characters per hyperparameter")
        request = {
            **self.template,
            "TrainingJobName": name,
            "HyperParameters": {**(self.template.get("HyperParameters") or {}), **params, TRAIN_CONFIG_HP: encoded},
            "Environment": {**(self.template.get("Environment") or {}), **env},
            "Tags": [*(self.template.get("Tags") or []),
                     {"Key": "hpopt:save_path", "Value": tag_value(os.path.abspath(self.hpo.save_path))},
                     {"Key": "hpopt:run_id", "Value": self.hpo.run_id},
                     {"Key": "hpopt:trial", "Value": f"{tid}.{attempt}"}],
        }
        # Recorded before the call: a crash right after it must not leave a job nobody knows about.
        self.book.append({"event": "created", "job": name, "trial_id": tid, "attempt": attempt,
                          "params": config["params"], "report": report_uri, "time": time.time()})
        self.sm.create_training_job(**request)
        resources = self.template["ResourceConfig"]
        _log(log_path, f"created SageMaker training job {name} ({resources.get('InstanceCount', 1)} x "
                       f"{resources.get('InstanceType', '?')}); scores from {report_uri}")
        return _TrainingJob(self, name, report_uri, config, log_path)

    def _adoptable(self, config: Mapping[str, Any]) -> str | None:
        """The trial's job from before a controller restart, if it still runs or completed with scores."""
        name = self.book.latest.get(int(config["trial_id"]))
        if name is None or name in self.book.ended or name in self.live:
            return None
        rec = self.book.created[name]
        if rec["params"] != config["params"] or int(rec["attempt"]) >= int(config["attempt"]):
            return None
        try:
            desc = self.describe(name)
        except Exception as exc:
            if error_code(exc) == "ValidationException":  # never created (the controller died first)
                self.book.append({"event": "ended", "job": name, "status": "NotCreated", "billable_seconds": 0})
                return None
            raise
        status = desc["TrainingJobStatus"]
        doc = S3TrialReader(self.s3, rec["report"]).read()
        oom = doc is not None and doc.get("status") == Status.CUDAOOM
        if status == "InProgress" and not oom:
            return name
        if status == "Completed" and doc is not None and doc["scores"] and not oom:
            return name
        if status != "InProgress":
            self.record_end(name, desc)
        return None

    def record_end(self, name: str, desc: Mapping[str, Any]) -> None:
        if name not in self.book.ended:
            self.book.append({"event": "ended", "job": name, "status": desc.get("TrainingJobStatus"),
                              "billable_seconds": int(desc.get("BillableTimeInSeconds") or 0)})

    def settle(self, run_over: bool) -> None:
        """Deal with the jobs of this run that no handle watches (left by an earlier session): record how
        they ended, and stop those still running whose trial is done (all of them once ``run_over``), as
        nobody will read them. Jobs of trials still to run are left for adoption."""
        finished = {int(e["trial_id"]) for e in self.hpo.get_current_status()["config_list"]
                    if e["status"] == Status.STOP}
        for name, rec in list(self.book.created.items()):
            if name in self.book.ended or name in self.live:
                continue
            if not run_over and int(rec["trial_id"]) not in finished:
                continue
            try:
                desc = self.describe(name)
            except Exception as exc:
                if error_code(exc) == "ValidationException":
                    self.book.append({"event": "ended", "job": name, "status": "NotCreated", "billable_seconds": 0})
                    continue
                logger.warning("could not describe SageMaker job %s: %s", name, exc)
                continue
            if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                self.record_end(name, desc)
                if self.book.latest.get(int(rec["trial_id"])) == name:  # it ended after its trial was collected
                    _point_to_model(artifact_dir(self.hpo.save_path, int(rec["trial_id"])), name, desc)
            elif desc["TrainingJobStatus"] == "InProgress":
                logger.warning("stopping SageMaker job %s: its trial %s was settled without it", name,
                               rec["trial_id"])
                self.sm.stop_training_job(TrainingJobName=name)


class _TrainingJob:
    """A trial attempt running as a SageMaker training job (a ``TrialHandle``)."""

    waitable = None

    def __init__(self, launcher: _SageMakerLauncher, name: str, report_uri: str, config: dict[str, Any],
                 log_path: str) -> None:
        self.launcher = launcher
        self.name = name
        self.label = f"job {name}"
        self.config = config
        self.log_path = log_path
        self.poll_interval = launcher.poll_interval
        self.end_reason: str | None = None
        self._reader = S3TrialReader(launcher.s3, report_uri)
        self._applied = 0
        self._oom = False
        self._code: int | None = None
        self._next_poll = 0.0
        self._stop_requested = False
        self._given_up = False
        self._secondary: str | None = None
        launcher.live.add(name)

    # The scores the job uploaded, applied to the controller's trial file
    def _pull(self, running: bool) -> None:
        doc = self._reader.read()
        if doc is None or self._oom:
            return
        if doc.get("status") == Status.CUDAOOM:
            self._oom = True
            _log(self.log_path, "the job reported CUDA out of memory")
            reportOOM(self.config)
            return
        status = Status.RUNNING
        for value in doc["scores"][self._applied:]:
            status = apply_report(self.config, math.nan if value is None else value)
            self._applied += 1
            if status == Status.STOP:
                break
        if status == Status.STOP and running and self._applied < int(self.config["iterations"]):
            logger.info("trial %s: stopped by the algorithm after %d iterations; stopping job %s",
                        self.config["trial_id"], self._applied, self.name)
            _log(self.log_path, f"stopped by the algorithm after {self._applied} iterations")
            self.terminate()

    def poll(self) -> int | None:
        if self._code is not None:
            return self._code
        now = time.monotonic()
        if now < self._next_poll:
            return None
        self._next_poll = now + self.poll_interval
        try:
            desc = self.launcher.describe(self.name)
            status = desc["TrainingJobStatus"]
            self._pull(running=status == "InProgress")
        except Exception as exc:
            if not is_transient(exc):
                raise
            logger.warning("SageMaker job %s: %s; trying again in %g s", self.name, exc, self.poll_interval)
            return None
        secondary = desc.get("SecondaryStatus")
        if secondary != self._secondary:
            self._secondary = secondary
            _log(self.log_path, f"{status} / {secondary}")
        if status in ("InProgress", "Stopping"):
            return None
        self._code = self._end(status, desc)
        return self._code

    def _end(self, status: str, desc: Mapping[str, Any]) -> int:
        self.launcher.record_end(self.name, desc)
        billable = int(desc.get("BillableTimeInSeconds") or 0)
        reason = desc.get("FailureReason")
        _log(self.log_path, f"job {self.name} ended {status} after {self._applied} reports; billable {billable} s"
             + (f"\nFailureReason: {reason}" if reason else ""))
        _point_to_model(self.config.get("artifact_dir"), self.name, desc)
        if status == "Completed":
            if self._applied or self._oom:
                return 0
            self.end_reason = f"SageMaker job {self.name} completed without reporting a score"
            return 1
        if status == "Failed":
            self.end_reason = f"SageMaker job {self.name} failed: {reason or 'no FailureReason given'}"
            return 1
        if self._stop_requested:
            return -signal.SIGTERM
        self.end_reason = (f"SageMaker job {self.name} was stopped outside hpopt ({desc.get('SecondaryStatus')}"
                           f"{': ' + reason if reason else ''})")
        return 1

    def wait(self, timeout: float | None = None) -> int | None:
        if self._given_up:
            return self.poll()
        end = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            now = time.monotonic()
            if end is not None and now >= end:
                return None
            pause = max(0.0, self._next_poll - now)
            time.sleep(pause if end is None else min(pause, end - now))
        return code

    def terminate(self) -> None:
        if self._code is not None or self._stop_requested:
            return
        self._stop_requested = True
        try:
            self.launcher.sm.stop_training_job(TrainingJobName=self.name)
        except Exception as exc:
            if error_code(exc) != "ValidationException" and not is_transient(exc):  # already ended: fine
                raise
            logger.warning("stop_training_job(%s): %s", self.name, exc)
        _log(self.log_path, "stop_training_job sent")
        self._next_poll = 0.0

    def kill(self) -> None:
        """SageMaker has no harder stop than stop_training_job (it escalates inside the job itself), so
        waiting longer for the job is pointless: later ``wait`` calls return at once."""
        self.terminate()
        self._given_up = True

    def close(self) -> None:
        self.launcher.live.discard(self.name)


def _point_to_model(artifact_dir: str | None, name: str, desc: Mapping[str, Any]) -> None:
    """Leave the job's S3 model location in the trial's artifact folder (kept for the keep_top_k best)."""
    model = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model and artifact_dir and os.path.isdir(artifact_dir):
        with open(os.path.join(artifact_dir, "sagemaker_job.json"), "w") as f:
            json.dump({"job": name, "status": desc.get("TrainingJobStatus"), "model": model,
                       "billable_seconds": int(desc.get("BillableTimeInSeconds") or 0)}, f)


def _log(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(f"[hpopt {time.strftime('%Y-%m-%d %H:%M:%S')}] {line}\n")


# --- the entry point -------------------------------------------------------------------------------


def run_sagemaker(
    hpo: Any,
    job: Mapping[str, Any],
    *,
    n_parallel: int = 1,
    job_retries: int = 0,
    ignore_fail: bool = False,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    keep_top_k: int | None = 1,
    progress: bool = True,
    reports_uri: str | None = None,
    poll_interval: float = 10.0,
    boto_session: Any = None,
) -> SageMakerRunSummary:
    """Run every trial of ``hpo`` as a SageMaker training job until the run is finished.

    ``job``: the create_training_job arguments every trial shares (``RoleArn``,
    ``OutputDataConfig.S3OutputPath``, ``AlgorithmSpecification``, ``ResourceConfig``,
    ``StoppingCondition`` required; ``InputDataConfig``, ``HyperParameters``, ``Environment``, ``Tags``...
    optional); hpopt adds the name, the trial's hyperparameters, ``env`` and tags. ``reports_uri``: where
    the jobs upload their scores (default ``{S3OutputPath}/hpopt-reports``). ``poll_interval``: seconds
    between two looks at one running job (one describe and one conditional GET). ``boto_session``: a
    ``boto3.Session`` (default: boto3's normal credential chain). The other arguments are run_local's.

    Raises as run_local does; the state stays resumable, and a restarted controller adopts the jobs
    still running. ``hpo`` stays open.
    """
    check_run_args(n_parallel, 1, "cpu", job_retries, timeout, keep_top_k, "spawn")
    if n_parallel is None:
        raise ValueError("n_parallel must be an int >= 1 (jobs at once), got None")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")
    template = check_template(job, list(hpo.search_space))
    if reports_uri is None:
        reports_uri = template["OutputDataConfig"]["S3OutputPath"].rstrip("/") + "/hpopt-reports"
    split_s3_uri(reports_uri, "reports_uri")
    env = dict(env or {})
    bad = [k for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise TypeError(f"env must map str to str; bad entries: {bad}")
    try:
        import boto3
    except ImportError as exc:
        raise ImportError("run_sagemaker needs boto3: pip install 'hpopt[sagemaker]'") from exc
    session = boto_session if boto_session is not None else boto3.Session()
    os.makedirs(os.path.join(hpo.save_path, LOGS), mode=0o700, exist_ok=True)
    launcher = _SageMakerLauncher(hpo, template, session.client("sagemaker"), session.client("s3"), reports_uri,
                                  float(poll_interval))
    logger.info("running trials of %s as SageMaker training jobs, %d at once; scores through %s", hpo.save_path,
                n_parallel, reports_uri)
    launcher.settle(run_over=False)
    summary = run_trials(hpo, launcher, n_parallel=n_parallel, job_retries=job_retries, ignore_fail=ignore_fail,
                         timeout=timeout, env=env, keep_top_k=keep_top_k, progress=progress)
    launcher.settle(run_over=summary.finished)
    return SageMakerRunSummary(**{f.name: getattr(summary, f.name) for f in fields(summary)},
                               billable_seconds=launcher.book.billable_seconds(), jobs=len(launcher.book.created))
