"""A trial's scores carried through S3: written inside a remote job, read by the controller.

A trainer running where the controller's ``save_path`` cannot be reached (a SageMaker training job) gets
a train_config whose ``file_path`` is an S3 URI, one object per trial attempt. ``hpopt.report`` (and
``reportOOM`` / ``finalize_trial``) see that URI and call this module instead of writing a local file:
the job keeps the trial's scores in memory and puts the whole (small) document after each report.

The controller reads the object with ``If-None-Match`` on the ETag it last saw, so an unchanged object
costs one request answered 304 with no body, and it reads only the objects of attempts still running:
the cost of a poll does not grow with the number of finished trials. It then applies the new scores to
its own trial file through ``hpopt.report``, where the algorithm's stop rules run (see ``sagemaker``).

The job-side ``report`` returns STOP only once the trial's ``iterations`` are reached: stopping early is
the controller's decision, which it carries out by stopping the job. boto3 is imported here only, and
this module only when a train_config names an S3 file, so the core never loads boto3 otherwise.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

from ..trainer.channels import register_channel
from ..trial import Status

logger = logging.getLogger("hpopt")

_lock = threading.Lock()
_docs: dict[str, dict[str, Any]] = {}  # S3 URI -> the trial document this process writes there
_client: Any = None


def split_s3_uri(uri: str, what: str = "S3 URI") -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); a clear error for anything else."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:] or uri[5:].startswith("/"):
        raise ValueError(f"{what} must look like s3://bucket/prefix, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _s3() -> Any:
    """The job's S3 client (boto3's normal credential chain: in SageMaker, the job's role)."""
    global _client
    if _client is None:
        try:
            import boto3
        except ImportError as exc:
            raise ImportError("hpopt.report() got a train_config whose file is in S3, which needs boto3: install "
                              "hpopt[sagemaker] in the training container") from exc
        _client = boto3.client("s3")
    return _client


def _load(config: Mapping[str, Any]) -> dict[str, Any]:
    """This attempt's document: from memory, else from S3 (a restarted script goes on), else a new one."""
    uri = str(config["file_path"])
    doc = _docs.get(uri)
    if doc is not None:
        return doc
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(uri)
    try:
        body = _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        stored = json.loads(body)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        stored = None
    if isinstance(stored, dict) and stored.get("attempt") == config.get("attempt") and isinstance(
            stored.get("scores"), list):
        doc = stored
    else:
        doc = {"trial_id": config["trial_id"], "attempt": config.get("attempt"), "run_id": config.get("run_id"),
               "status": int(Status.RUNNING), "scores": []}
    _docs[uri] = doc
    return doc


def _put(config: Mapping[str, Any], doc: Mapping[str, Any]) -> None:
    """Upload the document. Errors that retrying cannot fix (no permission, no bucket) are raised, so a
    misconfigured job fails at its first report; a transient one is logged, and the next report (which
    carries every score) makes up for it."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(str(config["file_path"]))
    body = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    try:
        _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if 400 <= status < 500 and status != 429:
            raise
        logger.warning("hpopt: could not upload trial %s's scores to %s (%s); the next report retries",
                       config["trial_id"], config["file_path"], exc)
    except BotoCoreError as exc:
        logger.warning("hpopt: could not upload trial %s's scores to %s (%s); the next report retries",
                       config["trial_id"], config["file_path"], exc)


def report(config: Mapping[str, Any], value: float | None) -> Status:
    """Job side of ``hpopt.report``: append the (checked) score and upload; STOP once iterations are done."""
    with _lock:
        doc = _load(config)
        if doc["status"] != Status.RUNNING:
            return Status.STOP
        doc["scores"].append(value)
        if len(doc["scores"]) >= int(config["iterations"]):
            doc["status"] = int(Status.STOP)
        _put(config, doc)
        return Status(doc["status"])


def reportOOM(config: Mapping[str, Any]) -> None:  # noqa: N802 - mirrors hpopt.reportOOM
    """Job side of ``hpopt.reportOOM``: the controller shrinks the batch size and re-samples the trial."""
    with _lock:
        doc = _load(config)
        doc["status"] = int(Status.CUDAOOM)
        _put(config, doc)


def finalize_trial(config: Mapping[str, Any]) -> None:
    """Job side of ``hpopt.finalize_trial``: the trainer ended early; the controller finalizes the trial
    when the job ends (as it does for a local trainer that exits early)."""
    with _lock:
        doc = _load(config)
        if doc["status"] == Status.RUNNING:
            doc["status"] = int(Status.STOP)
            _put(config, doc)


class S3TrialReader:
    """The controller's view of one attempt's object: ``read()`` returns it only when it changed."""

    def __init__(self, s3: Any, uri: str) -> None:
        self.s3 = s3
        self.uri = uri
        self.bucket, self.key = split_s3_uri(uri)
        self.etag: str | None = None

    def read(self) -> dict[str, Any] | None:
        """The document if it changed since the last read; None if unchanged or not written yet."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if self.etag is not None:
            kwargs["IfNoneMatch"] = self.etag
        try:
            response = self.s3.get_object(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("304", "NotModified", "NoSuchKey", "404"):
                return None
            raise
        body = response["Body"].read()
        try:
            doc = json.loads(body)
        except ValueError:
            logger.warning("%s is not JSON; it is read again when it changes", self.uri)
            doc = None
        self.etag = response.get("ETag")
        return doc if isinstance(doc, dict) and isinstance(doc.get("scores"), list) else None


register_channel("s3", sys.modules[__name__])  # file_path "s3://..." reports through this module
