"""The SageMaker adapter's job definitions: names, hyperparameters, the template check, the job ledger.

A trial attempt is a training job named ``hpopt-{folder}-{run id}-t{id}-a{attempt}`` (at most 63
characters), tagged with its save_path and trial; its train_config travels as one hyperparameter, which
the training script reads back with :func:`load_train_config`. ``save_path/sagemaker_jobs.jsonl``
(:class:`JobBook`) records every job the run started, so a resumed controller adopts the jobs still
running instead of starting them again. The launcher that starts, polls and stops the jobs is
:mod:`hpopt.adapters.sagemaker`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from .artifacts import LOGS

logger = logging.getLogger("hpopt")

TRAIN_CONFIG_HP = "hpopt_train_config"
JOB_MODEL_DIR = "/opt/ml/model"  # SM_MODEL_DIR's usual value: what the job saves there goes to the output path
JOBS_FILE = "sagemaker_jobs.jsonl"
MAX_NAME = 63
MAX_HP_VALUE = 2500  # SageMaker's limit on one hyperparameter value
TEMPLATE_REQUIRED = ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition")
TRANSIENT_ERRORS = ("ThrottlingException", "Throttling", "ServiceUnavailable", "InternalFailure", "SlowDown")


def job_name(save_path: str, run_id: str, trial_id: int, attempt: int) -> str:
    """A SageMaker-valid job name (<= 63 of [a-zA-Z0-9-], no leading, trailing or double hyphen) naming the
    save_path folder, the run and the trial: ``hpopt-{folder}-{run id[:10]}-t{id}-a{attempt}``."""
    tail = f"-{run_id[:10]}-t{int(trial_id)}-a{int(attempt)}"
    folder = re.sub(r"[^a-zA-Z0-9]+", "-", os.path.basename(os.path.abspath(save_path))).strip("-") or "run"
    folder = folder[: MAX_NAME - len("hpopt-") - len(tail)].rstrip("-")
    return f"hpopt-{folder}{tail}"


def tag_value(text: str) -> str:
    """A tag value SageMaker accepts (letters, digits, spaces, _.:/=+-@; <= 256)."""
    return re.sub(r"[^\w\s.:/=+\-@]", "_", text)[-256:]


def hp_value(value: Any) -> str:
    """HyperParameters are strings: a str as is, anything else as JSON (1e-3, true, [1, 2])."""
    return value if isinstance(value, str) else json.dumps(value)


def check_template(job: Any, param_names: list[str]) -> dict[str, Any]:
    """The create_training_job request template, checked; errors name the key, never print values."""
    if not isinstance(job, Mapping):
        raise TypeError(f"job must be a dict of create_training_job arguments, got {type(job).__name__}")
    template = dict(job)
    role = template.get("RoleArn")
    if not isinstance(role, str) or not role.strip():
        raise ValueError("job['RoleArn'] is required: the IAM role SageMaker runs each training job with, e.g. "
                         "'arn:aws:iam::123456789012:role/SageMakerTraining' (it must be able to write to the "
                         "output path); hpopt does not start without one")
    output = template.get("OutputDataConfig")
    path = output.get("S3OutputPath") if isinstance(output, Mapping) else None
    if not isinstance(path, str) or not path.startswith("s3://") or len(path) <= 5:
        raise ValueError("job['OutputDataConfig']['S3OutputPath'] is required: an s3://bucket/prefix where "
                         "SageMaker puts each job's model and hpopt the jobs' scores; hpopt does not start "
                         "without one")
    for key in TEMPLATE_REQUIRED:
        if not isinstance(template.get(key), Mapping):
            raise ValueError(f"job[{key!r}] is required by create_training_job (see docs/sagemaker.md)")
    if not template["StoppingCondition"].get("MaxRuntimeInSeconds"):
        raise ValueError("job['StoppingCondition']['MaxRuntimeInSeconds'] is required: the longest one trial's "
                         "job may run (SageMaker stops it then, and the trial counts as crashed)")
    if "TrainingJobName" in template:
        raise ValueError("job must not set 'TrainingJobName': hpopt names each trial's job (see job_name())")
    hps = template.get("HyperParameters") or {}
    if not isinstance(hps, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hps.items()):
        raise TypeError("job['HyperParameters'] must map str to str")
    clash = sorted(set(hps) & {*param_names, TRAIN_CONFIG_HP})
    if clash:
        raise ValueError(f"job['HyperParameters'] sets {clash}, which hpopt sets for each trial (search-space "
                         f"parameters and {TRAIN_CONFIG_HP!r}); remove them from the template")
    env = template.get("Environment") or {}
    if not isinstance(env, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise TypeError("job['Environment'] must map str to str")
    return template


# --- in the job ----------------------------------------------------------------------------------


def load_train_config() -> dict[str, Any]:
    """Inside a training job: the trial's train_config, from the hyperparameters SageMaker gives the job.

    Read from ``$SM_HPS`` (framework containers) or ``/opt/ml/input/config/hyperparameters.json`` (any
    container); ``artifact_dir`` is the job's model folder (``$SM_MODEL_DIR``), uploaded by SageMaker.
    """
    raw_env = os.environ.get("SM_HPS")
    if raw_env:
        hps = json.loads(raw_env)
    else:
        path = os.path.join(os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"), "hyperparameters.json")
        try:
            with open(path) as f:
                hps = json.load(f)
        except FileNotFoundError:
            raise RuntimeError(f"neither $SM_HPS nor {path} exists: this script is meant to run as a SageMaker "
                               "training job started by hpopt.adapters.sagemaker.run_sagemaker") from None
    value = hps.get(TRAIN_CONFIG_HP) if isinstance(hps, dict) else None
    if value is None:
        raise RuntimeError(f"the job's hyperparameters lack {TRAIN_CONFIG_HP!r}: it was not started by run_sagemaker")
    config = json.loads(value) if isinstance(value, str) else dict(value)
    config["artifact_dir"] = os.environ.get("SM_MODEL_DIR", JOB_MODEL_DIR)
    return config


# --- the record of jobs ----------------------------------------------------------------------------


class JobBook:
    """``save_path/logs/sagemaker_jobs.jsonl``: each job created (before the call) and how it ended."""

    def __init__(self, save_path: str, run_id: str) -> None:
        self.path = os.path.join(save_path, LOGS, JOBS_FILE)
        self.run_id = run_id
        self.created: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, dict[str, Any]] = {}
        self.latest: dict[int, str] = {}  # trial id -> its last job
        try:
            with open(self.path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line: that append never returned
            if isinstance(rec, dict) and rec.get("run_id") == run_id:
                self._note(rec)

    def _note(self, rec: dict[str, Any]) -> None:
        if rec.get("event") == "created":
            self.created[rec["job"]] = rec
            self.latest[int(rec["trial_id"])] = rec["job"]
        elif rec.get("event") == "ended":
            self.ended[rec["job"]] = rec

    def append(self, rec: dict[str, Any]) -> None:
        rec = {"run_id": self.run_id, **rec}
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._note(rec)

    def billable_seconds(self) -> int:
        return sum(int(r.get("billable_seconds") or 0) for r in self.ended.values())


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_transient(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError) or error_code(exc) in TRANSIENT_ERRORS
