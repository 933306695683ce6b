"""hpopt.adapters.sagemaker end to end: real boto3 calls to a SageMaker and S3 API on 127.0.0.1 (moto's server,
started here), with the jobs run as local processes by sagemaker_fake.FakeSageMaker."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

from sagemaker_fake import FakeSageMaker  # noqa: E402
from sm_controller import session  # noqa: E402
from workloads import space  # noqa: E402

import hpopt  # noqa: E402
from hpopt.adapters import sagemaker  # noqa: E402
from hpopt.adapters.local import TrialFailedError  # noqa: E402
from hpopt.adapters.s3_trial import S3TrialReader  # noqa: E402

HERE = Path(__file__).resolve().parent
BUCKET = "hpo-bucket"
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TEMPLATE = {
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerTraining",
    "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:cpu",
                               "TrainingInputMode": "File"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/train", "S3DataDistributionType": "FullyReplicated"}}}],
    "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    "HyperParameters": {"sagemaker_program": "sm_trial_script.py",
                        "sagemaker_submit_directory": f"s3://{BUCKET}/code/sourcedir.tar.gz"},
    "Environment": {"EPOCH_S": "0.25"},
}


@pytest.fixture
def aws(tmp_path, monkeypatch):
    """moto's server on 127.0.0.1 with a bucket holding the entry script and the data; the fake runs jobs."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                       "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")
                       }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fake = FakeSageMaker(tmp_path / "sagemaker")
    fake.install(monkeypatch)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(HERE / "sm_trial_script.py", arcname="sm_trial_script.py")
    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=buf.getvalue())
    s3.put_object(Bucket=BUCKET, Key="data/train/data.json", Body=b'{"offset": 10.0}')
    yield fake
    fake.shutdown()
    server.stop()


def make(tmp_path, **kw):
    args = dict(full_dataset_size=1000, num_full_iterations=4, search_space=space(), save_path=str(tmp_path / "hpo"),
                search_alg="random", num_trials=2, max_iterations=2, seed=3)
    args.update(kw)
    return hpopt.create(**args)


def template(**env):
    return {**TEMPLATE, "Environment": {**TEMPLATE["Environment"], **env}}


# --- fast checks -----------------------------------------------------------------------------------


def test_job_names_are_valid_unique_and_traceable():
    run_id = "0123456789abcdef"
    names = {sagemaker.job_name(path, run_id, tid, attempt)
             for path in ("/tmp/hpo", "/data/My Runs (v2)/ASHA_lr.sweep", "/x/" + "long" * 40, "/")
             for tid in (0, 7, 123456) for attempt in (0, 1, 12)}
    assert len(names) == 4 * 3 * 3
    assert all(NAME_RE.match(n) and len(n) <= 63 for n in names), names
    name = sagemaker.job_name("/data/My Runs (v2)/ASHA_lr.sweep", run_id, 7, 1)
    assert name == "hpopt-ASHA-lr-sweep-0123456789-t7-a1"


def test_refuses_to_start_without_role_or_output_path(tmp_path):
    hpo = make(tmp_path)
    no_role = {k: v for k, v in TEMPLATE.items() if k != "RoleArn"}
    with pytest.raises(ValueError, match=r"job\['RoleArn'\] is required"):
        sagemaker.run_sagemaker(hpo, no_role)
    with pytest.raises(ValueError, match=r"S3OutputPath'\] is required"):
        sagemaker.run_sagemaker(hpo, {**TEMPLATE, "OutputDataConfig": {"S3OutputPath": "/local/dir"}})
    with pytest.raises(ValueError, match="MaxRuntimeInSeconds"):
        sagemaker.run_sagemaker(hpo, {**TEMPLATE, "StoppingCondition": {}})
    with pytest.raises(ValueError, match="must not set 'TrainingJobName'"):
        sagemaker.run_sagemaker(hpo, {**TEMPLATE, "TrainingJobName": "mine"})
    with pytest.raises(ValueError, match=r"sets \['lr'\]"):
        sagemaker.run_sagemaker(hpo, {**TEMPLATE, "HyperParameters": {"lr": "0.1"}})
    with pytest.raises(ValueError, match="reports_uri must look like s3://"):
        sagemaker.run_sagemaker(hpo, TEMPLATE, reports_uri="bucket/prefix")
    with pytest.raises(ValueError, match="poll_interval"):
        sagemaker.run_sagemaker(hpo, TEMPLATE, poll_interval=0)
    hpo.close()


def test_the_core_never_imports_boto3(tmp_path):
    code = ("import sys, hpopt\n"
            f"hpo = hpopt.create(1000, 4, {{'x': hpopt.search_space('uniform', [0, 1])}}, save_path={str(tmp_path)!r},"
            " search_alg='random', num_trials=1, max_iterations=1)\n"
            "hpopt.report(hpo.get_next_sample(), 1.0)\n"
            "assert hpo.is_finished() and 'boto3' not in sys.modules and 'botocore' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})


def test_job_side_report_and_conditional_read(aws):
    from hpopt.adapters import s3_trial

    uri = f"s3://{BUCKET}/reports/trial_0_attempt_0.json"
    config = {"trial_id": 0, "file_path": uri, "iterations": 2, "mode": "max", "attempt": 0, "run_id": "r"}
    reader = S3TrialReader(boto3.client("s3"), uri)
    assert reader.read() is None  # nothing written yet
    assert hpopt.report(config, 1.5) == hpopt.Status.RUNNING  # an s3:// file_path: uploaded, not a local file
    assert reader.read()["scores"] == [1.5]
    assert reader.read() is None  # unchanged: answered 304 on the ETag
    s3_trial._docs.clear()  # a restarted script picks up what its attempt uploaded
    assert hpopt.report(config, float("nan")) == hpopt.Status.STOP  # the last iteration
    assert reader.read() == {"trial_id": 0, "attempt": 0, "run_id": "r", "status": 2, "scores": [1.5, None]}
    assert hpopt.report(config, 3.0) == hpopt.Status.STOP and reader.read() is None
    s3_trial._docs.clear()


# --- end to end ------------------------------------------------------------------------------------


def test_a_job_that_ends_without_a_report_fails_with_its_reason(tmp_path, aws):
    hpo = make(tmp_path, num_trials=1)
    with pytest.raises(TrialFailedError, match="completed without reporting a score"):
        sagemaker.run_sagemaker(hpo, template(NO_REPORT="1"), job_retries=1, poll_interval=0.1, progress=False)
    assert [j.status for j in aws.jobs.values()] == ["Completed", "Completed"]  # the retry did the same
    (entry,) = hpo.get_current_status()["config_list"]
    assert entry["retries"] == 1 and entry["score"] is None
    assert "completed without reporting a score" in entry["error"]
    hpo.close()


def test_timeout_stops_the_job_and_counts_as_a_crash(tmp_path, aws):
    hpo = make(tmp_path, num_trials=1, max_iterations=4)
    summary = sagemaker.run_sagemaker(hpo, template(EPOCH_S="5"), timeout=1.0, ignore_fail=True, poll_interval=0.1,
                                      progress=False)
    assert summary.finished and summary.trials_failed == 1
    (job,) = aws.jobs.values()
    assert job.stop_called and job.status == "Stopped"
    (entry,) = hpo.get_current_status()["config_list"]
    assert entry["error"].startswith("timed out after 1 s")
    assert summary.billable_seconds == job.billable >= 1
    hpo.close()


def test_cuda_oom_in_the_failure_reason_shrinks_the_batch_size(tmp_path, aws):
    hpo = make(tmp_path, num_trials=3, max_iterations=1, batch_size_name="bs", seed=5)
    summary = sagemaker.run_sagemaker(hpo, template(OOM_FROM="64", EPOCH_S="0"), n_parallel=3, poll_interval=0.1,
                                      progress=False)
    assert summary.finished and summary.trials_failed == 0 and summary.trials_oom >= 1
    assert all(e["config"]["bs"] < 64 for e in hpo.get_current_status()["config_list"])
    failed = [j for j in aws.jobs.values() if j.status == "Failed"]
    assert failed and all("CUDA out of memory" in j.model.failure_reason for j in failed)
    hpo.close()


def test_eight_trials_three_jobs_retry_asha_stop_and_controller_restart(tmp_path, aws):
    """8 ASHA trials in 3 parallel jobs: trial 1's first job fails and is retried, ASHA stops jobs, and the
    controller is killed (SIGKILL) mid-run: resume=True adopts the jobs still running and loses no score."""
    settings = {
        "create": dict(full_dataset_size=1000, num_full_iterations=8, save_path=str(tmp_path / "hpo"),
                       search_alg="asha", num_trials=8, max_iterations=8, min_iterations=2, reduction_factor=2,
                       num_brackets=1, expected_time_ratio=40, seed=1),
        "run": dict(job=template(CRASH_TRIAL="1"), n_parallel=3, job_retries=1, poll_interval=0.1, progress=False),
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    with open(tmp_path / "controller.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, str(HERE / "sm_controller.py"), str(tmp_path / "settings.json")],
                                stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    [str(HERE.parent), str(HERE)])})
    try:
        deadline = time.monotonic() + 40
        # kill the controller once trial 1 was retried and 6 jobs were created
        while not (len(aws.jobs) >= 6 and sum(j.trial[0] == 1 for j in aws.jobs.values()) == 2):
            assert proc.poll() is None, (tmp_path / "controller.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "controller.log").read_text()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = time.monotonic()
    running_at_kill = {n: j.trial[0] for n, j in aws.jobs.items() if j.status == "InProgress"}
    assert running_at_kill
    # let at least one job finish while no controller watches it
    while not any(aws.jobs[n].ended for n in running_at_kill) and time.monotonic() < killed_at + 10:
        time.sleep(0.05)

    gets: list[tuple[float, str]] = []
    boto_session = boto3.Session()
    boto_session.events.register("provide-client-params.s3.GetObject",
                                 lambda params, **_: gets.append((time.monotonic(), params["Key"])))
    hpo, summary = session(settings, resume=True, boto_session=boto_session)
    entries = hpo.get_current_status()["config_list"]

    # every trial ran to a result; 3 jobs at once at most (and at times 3)
    assert summary.finished and len(entries) == 8
    assert summary.trials_done == 8 and summary.trials_failed == 0
    assert aws.max_running() == 3
    assert all(j.status in ("Completed", "Stopped", "Failed") for j in aws.jobs.values())
    # trial 1's first job failed; its FailureReason is in the attempt's log; the retry gave it a score
    first = min((j for j in aws.jobs.values() if j.trial[0] == 1), key=lambda j: j.created)
    assert first.status == "Failed" and "simulated crash of its first job" in first.model.failure_reason
    log0 = (tmp_path / "hpo" / "logs" / "trial_1_attempt_0.log").read_text()
    assert "FailureReason: AlgorithmError" in log0 and "simulated crash" in log0
    assert entries[1]["retries"] == 1 and entries[1]["score"] is not None and summary.trials_retried >= 1
    # ASHA stopped jobs through stop_training_job: their trials ran fewer than 8 iterations
    stopped = [j for j in aws.jobs.values() if j.stop_called]
    assert stopped and all(j.status == "Stopped" for j in stopped)
    for job in stopped:
        entry = entries[job.trial[0]]
        assert entry.get("early_stopped") == 1 and entry["num_iterations_run"] < 8
    # the jobs running when the controller died were adopted, not started again
    later = [j for j in aws.jobs.values() if j.created > killed_at]
    assert not {j.trial[0] for j in later} & set(running_at_kill.values())
    # nothing lost: each trial's scores are what its last job uploaded (up to where ASHA stopped it)
    s3 = boto3.client("s3")
    for tid, entry in enumerate(entries):
        job = max((j for j in aws.jobs.values() if j.trial[0] == tid), key=lambda j: j.created)
        key = f"output/hpopt-reports/{hpo.run_id}/trial_{tid}_attempt_{job.trial[1]}.json"
        uploaded = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["scores"]
        local = hpopt.load_json(hpopt.get_trial_path(str(tmp_path / "hpo"), tid))["scores"]
        assert local == uploaded[:len(local)] and local, (tid, local, uploaded)
        if not entry.get("early_stopped"):
            assert local == uploaded
        assert entry["score"] == max(local)
    # the restarted controller did not keep reading the scores of jobs that had ended (polled every 0.1 s, a
    # job's object is read at most twice after its end: to judge adopting it and by the adopted handle)
    for name, job in aws.jobs.items():
        key = f"hpopt-reports/{hpo.run_id}/trial_{job.trial[0]}_attempt_{job.trial[1]}.json"
        after_end = [t for t, k in gets if k.endswith(key) and t > max(job.ended, killed_at) + 0.5]
        assert len(after_end) <= 2, (name, len(after_end))
    # billing covers every job of the run, both sessions
    assert summary.jobs == len(aws.jobs) and summary.billable_seconds == sum(j.billable for j in aws.jobs.values())
    # names valid and traceable; the model of the best trial is pointed to from its artifact folder
    for name, job in aws.jobs.items():
        assert NAME_RE.match(name) and len(name) <= 63 and name.startswith("hpopt-hpo-")
        assert job.tags["hpopt:save_path"] == str(tmp_path / "hpo") and job.tags["hpopt:run_id"] == hpo.run_id
    (kept,) = summary.kept_artifacts
    with open(os.path.join(kept, "sagemaker_job.json")) as f:
        pointer = json.load(f)
    assert pointer["model"].startswith(f"s3://{BUCKET}/output/hpopt-hpo-") and pointer["model"].endswith("model.tar.gz")
    hpo.close()
