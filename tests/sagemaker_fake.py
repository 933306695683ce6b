"""Plays SageMaker's part for the adapter tests, on a moto server running in the test process.

moto (5.x) answers the SageMaker API but does not run jobs: ``create_training_job`` stores a job that is
"Completed" at once, and ``stop_training_job`` is not implemented. :class:`FakeSageMaker` hooks moto's
SageMaker request handler in this process (the adapter's boto3 calls stay real HTTP requests):

- ``CreateTrainingJob``: moto stores the job; the fake sets it InProgress and runs it as SageMaker would:
  it fetches ``sagemaker_submit_directory`` (a sourcedir.tar.gz in S3) and each input channel from S3,
  writes ``/opt/ml``-style folders and runs ``sagemaker_program`` with this Python and the ``SM_*``
  environment (SM_HPS, SM_HP_<NAME>, SM_MODEL_DIR, SM_OUTPUT_DATA_DIR, SM_CHANNEL_<NAME>, SM_TRAINING_ENV...),
  plus the job's Environment and this process's credentials and endpoint (the job's role).
- the job then moves to Completed (exit 0; the model folder goes to S3 as model.tar.gz), Failed (a
  SageMaker-style FailureReason with the end of the job's stderr), or Stopped (``StopTrainingJob``, added
  to moto's handler here, sends SIGTERM; or MaxRuntimeInSeconds passed), with BillableTimeInSeconds.

Every transition is kept in ``events`` so that tests can check concurrency and what was stopped.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.core.utils import utcnow

REPO = str(Path(__file__).resolve().parent.parent)


def split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@dataclass
class FakeJob:
    name: str
    request: dict[str, Any]
    model: Any  # moto's FakeTrainingJob: what describe_training_job returns
    created: float = field(default_factory=time.monotonic)
    ended: float | None = None
    proc: subprocess.Popen | None = None
    stop_called: bool = False
    status: str = "InProgress"
    billable: int = 0

    @property
    def tags(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.request.get("Tags") or []}

    @property
    def trial(self) -> tuple[int, int]:
        tid, attempt = self.tags["hpopt:trial"].split(".")
        return int(tid), int(attempt)


class FakeSageMaker:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.jobs: dict[str, FakeJob] = {}
        self.events: list[tuple[float, str, str]] = []  # (monotonic time, job name, new status)
        self.lock = threading.RLock()
        self.threads: list[threading.Thread] = []

    # --- moto hooks ------------------------------------------------------------------------------

    def install(self, monkeypatch: Any) -> None:
        from moto.core.responses import ActionResult, EmptyResult
        from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
        from moto.sagemaker.responses import SageMakerResponse

        fake = self
        create = SageMakerResponse.create_training_job

        def create_training_job(resp: Any) -> Any:
            name = resp._get_param("TrainingJobName")
            if name in resp.sagemaker_backend.training_jobs:
                raise ResourceInUseException(f"Training job {name} already exists")
            result = create(resp)
            request = {k: resp._get_param(k) for k in ("TrainingJobName", "HyperParameters", "Environment", "Tags",
                                                       "InputDataConfig", "OutputDataConfig", "StoppingCondition",
                                                       "AlgorithmSpecification", "ResourceConfig", "RoleArn")}
            fake.start(name, request, resp.sagemaker_backend.training_jobs[name])
            return result

        def stop_training_job(resp: Any) -> Any:
            name = resp._get_param("TrainingJobName")
            job = fake.jobs.get(name)
            if job is None:
                raise ValidationError(f"Requested resource not found: training job {name}")
            if job.status != "InProgress":
                raise ValidationError(f"The request was rejected because the training job is in status {job.status}.")
            fake.stop(job)
            return ActionResult(EmptyResult())

        monkeypatch.setattr(SageMakerResponse, "create_training_job", create_training_job)
        monkeypatch.setattr(SageMakerResponse, "stop_training_job", stop_training_job, raising=False)

    # --- the job's life --------------------------------------------------------------------------

    def _set(self, job: FakeJob, status: str, secondary: str, **extra: Any) -> None:
        with self.lock:
            job.status = status
            job.model.training_job_status = status
            job.model.secondary_status = secondary
            job.model.last_modified_time = utcnow()
            for key, value in extra.items():
                setattr(job.model, key, value)
            self.events.append((time.monotonic(), job.name, status))

    def start(self, name: str, request: dict[str, Any], model: Any) -> None:
        job = FakeJob(name, request, model)
        self.jobs[name] = job
        model.training_end_time = None
        self._set(job, "InProgress", "Starting")
        thread = threading.Thread(target=self._run, args=(job,), name=f"fake-sagemaker-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def stop(self, job: FakeJob) -> None:
        job.stop_called = True
        self._set(job, "Stopping", "Stopping")
        if job.proc is not None and job.proc.poll() is None:
            os.killpg(job.proc.pid, signal.SIGTERM)

    def _run(self, job: FakeJob) -> None:
        s3 = boto3.client("s3")
        root = self.workdir / job.name
        code_dir, model_dir, output_dir = root / "code", root / "model", root / "output" / "data"
        config_dir, data_dir = root / "input" / "config", root / "input" / "data"
        for d in (code_dir, model_dir, output_dir, config_dir, data_dir):
            d.mkdir(parents=True, exist_ok=True)
        hps = dict(job.request["HyperParameters"] or {})
        bucket, key = split(hps["sagemaker_submit_directory"])
        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
            tar.extractall(code_dir, filter="data")
        channels = {}
        for channel in job.request.get("InputDataConfig") or []:
            name = channel["ChannelName"]
            bucket, prefix = split(channel["DataSource"]["S3DataSource"]["S3Uri"])
            dest = data_dir / name
            dest.mkdir()
            for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                rel = obj["Key"][len(prefix):].lstrip("/") or os.path.basename(obj["Key"])
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            channels[name] = str(dest)
        (config_dir / "hyperparameters.json").write_text(json.dumps(hps))
        decoded = {}
        for k, v in hps.items():
            try:
                decoded[k] = json.loads(v)
            except ValueError:
                decoded[k] = v
        user = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
        args = [a for k, v in user.items() for a in (f"--{k}", v)]
        program = hps["sagemaker_program"]
        training_env = {"job_name": job.name, "hyperparameters": decoded, "channel_input_dirs": channels,
                        "model_dir": str(model_dir), "output_data_dir": str(output_dir), "current_host": "algo-1",
                        "hosts": ["algo-1"], "user_entry_point": program}
        env = {
            **os.environ,
            **(job.request.get("Environment") or {}),
            "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p),
            "TRAINING_JOB_NAME": job.name,
            "SM_HPS": json.dumps(decoded), "SM_USER_ARGS": json.dumps(args), "SM_CHANNELS": json.dumps(list(channels)),
            "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_dir), "SM_INPUT_DIR": str(root / "input"),
            "SM_INPUT_CONFIG_DIR": str(config_dir), "SM_CURRENT_HOST": "algo-1", "SM_HOSTS": '["algo-1"]',
            "SM_NUM_GPUS": "0", "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_USER_ENTRY_POINT": program,
            "SM_TRAINING_ENV": json.dumps(training_env),
            **{f"SM_HP_{k.upper()}": v for k, v in user.items()},
            **{f"SM_CHANNEL_{name.upper()}": path for name, path in channels.items()},
        }
        started = time.monotonic()
        with open(root / "stdout.log", "wb") as out, open(root / "stderr.log", "wb") as err:
            with self.lock:
                if job.stop_called:
                    return self._finish(job, None, started)
                self._set(job, "InProgress", "Training")
                job.proc = subprocess.Popen([sys.executable, program, *args], cwd=code_dir, env=env, stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            limit = int((job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
            try:
                rc = job.proc.wait(limit)
            except subprocess.TimeoutExpired:
                os.killpg(job.proc.pid, signal.SIGTERM)
                rc = job.proc.wait()
                return self._finish(job, rc, started, max_runtime=True)
        self._finish(job, rc, started)

    def _finish(self, job: FakeJob, rc: int | None, started: float, max_runtime: bool = False) -> None:
        root = self.workdir / job.name
        billable = max(1, math.ceil(time.monotonic() - started))
        job.billable = billable
        job.ended = time.monotonic()
        common = {"billable_time_in_seconds": billable, "training_end_time": utcnow()}
        if job.stop_called or max_runtime:
            self._set(job, "Stopped", "MaxRuntimeExceeded" if max_runtime and not job.stop_called else "Stopped",
                      **common)
        elif rc == 0:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                tar.add(root / "model", arcname=".")
            bucket, key = split(job.model.model_artifacts["S3ModelArtifacts"])
            boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
            self._set(job, "Completed", "Completed", **common)
        else:
            tail = (root / "stderr.log").read_text(errors="replace").strip().splitlines()[-3:]
            reason = f"AlgorithmError: ExecuteUserScriptError:\nExitCode {rc}\nErrorMessage \"{' '.join(tail)}\""
            self._set(job, "Failed", "Failed", failure_reason=reason, **common)

    # --- for the tests -----------------------------------------------------------------------------

    def max_running(self) -> int:
        """Most jobs InProgress at once (a job counts from its creation until it ended or was asked to stop)."""
        running, most = set(), 0
        for _, name, status in sorted(self.events):
            if status == "InProgress":
                running.add(name)
            else:
                running.discard(name)
            most = max(most, len(running))
        return most

    def shutdown(self) -> None:
        for job in self.jobs.values():
            if job.proc is not None and job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGKILL)
        for thread in self.threads:
            thread.join(10)
