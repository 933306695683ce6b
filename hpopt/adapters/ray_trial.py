"""A trial's reports carried through Ray: from a trainer on any node of the cluster to the controller.

A trainer started by :mod:`hpopt.adapters.ray` may run on a node that cannot see the controller's
``save_path``. Its train_config's ``file_path`` is then ``ray://{actor}/{trial file name}``: ``actor`` is
the run's :class:`TrialReports` actor, which Ray places on the controller's node, so it writes the
trial files where the controller reads them. ``hpopt.report`` (and ``reportOOM`` / ``finalize_trial``)
see the scheme and call this module, which sends the call to that actor and waits for its answer. The
actor applies it with the normal local machinery (``hpopt.report.report`` under ``save_path``: the
trial lock, the ASHA / median stop rules, the "t" stamps, an fsynced atomic write) before it answers
RUNNING or STOP, so no report is acknowledged before it is durable.

Each report carries its index among the attempt's reports, so a call that Ray sends again after the
actor restarted is applied once. A trainer started as a command (a child process of the Ray task, not
a Ray worker itself) reaches the actor through its parent: ``$HPOPT_RAY_RELAY_FD`` names a socket on
which the task relays JSON lines. ``ray`` is imported only in a Ray worker, never by the core.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import threading
from collections.abc import Mapping
from typing import Any

from ..trainer.channels import register_channel
from ..trial import Status

logger = logging.getLogger("hpopt")

SCHEME = "ray://"
NAMESPACE = "hpopt"
RELAY_FD_ENV = "HPOPT_RAY_RELAY_FD"
OPS = ("report", "reportOOM", "finalize_trial")

_lock = threading.Lock()
_sent: dict[tuple[str, Any], int] = {}  # (file_path, attempt) -> reports acknowledged by the controller
_actors: dict[str, Any] = {}
_relay: socket.socket | None = None
_relay_file: Any = None


def file_path(actor_name: str, local_path: str) -> str:
    """The ``file_path`` a Ray trial's train_config carries: the report actor and the trial file's name."""
    return f"{SCHEME}{actor_name}/{os.path.basename(local_path)}"


def actor_name_of(path: str) -> str:
    """The report actor named by a ``ray://{actor}/{file}`` path; a clear error for anything else."""
    if not isinstance(path, str) or not path.startswith(SCHEME) or "/" not in path[len(SCHEME):]:
        raise ValueError(f"a Ray trial's file_path must look like ray://<actor>/<file>, got {path!r}")
    return path[len(SCHEME):].split("/", 1)[0]


# --- the controller's side: the actor ----------------------------------------------------------------


class TrialReports:
    """Applies the trainers' calls to the trial files under ``save_path`` (as a Ray actor on the controller's
    node, one call at a time) and appends the trials' output to their logs."""

    def __init__(self, save_path: str) -> None:
        self.save_path = os.path.abspath(save_path)
        self.logs = os.path.join(self.save_path, "logs")

    def _local(self, config: Mapping[str, Any]) -> dict[str, Any]:
        from ..state.files import trial_path

        return {**config, "file_path": trial_path(self.save_path, int(config["trial_id"]))}

    def report(self, config: Mapping[str, Any], index: int | None, value: float | None) -> int:
        """``hpopt.report`` on the controller's file; a report seen before (same attempt and index) is not
        applied again, and gets the trial's current status."""
        from ..errors import StateFileError
        from ..state import read_trial_doc
        from ..trainer import report as local_report

        cfg = self._local(config)
        if index is not None:
            try:
                doc = read_trial_doc(cfg["file_path"], int(cfg["trial_id"]))
            except (OSError, StateFileError):
                doc = None
            if (doc is not None and doc.get("attempt", cfg.get("attempt")) == cfg.get("attempt")
                    and doc.get("run_id", cfg.get("run_id")) == cfg.get("run_id") and len(doc["scores"]) > index):
                return int(doc["status"]) if int(doc["status"]) != Status.CUDAOOM else int(Status.STOP)
        return int(local_report(cfg, math.nan if value is None else value))

    def reportOOM(self, config: Mapping[str, Any]) -> None:  # noqa: N802 - mirrors hpopt.reportOOM
        from ..trainer import reportOOM

        reportOOM(self._local(config))

    def finalize_trial(self, config: Mapping[str, Any]) -> None:
        from ..trainer import finalize_trial

        finalize_trial(self._local(config))

    def append_log(self, name: str, data: bytes) -> None:
        """Append a trial's output to ``save_path/logs/{name}`` (a plain file name, nothing else)."""
        if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", ".."):
            raise ValueError(f"log name must be a plain file name, got {name!r}")
        fd = os.open(os.path.join(self.logs, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def ping(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


# --- the trainer's side --------------------------------------------------------------------------


def _actor(name: str) -> Any:
    import ray

    if not ray.is_initialized():
        raise RuntimeError("hpopt.report() got a train_config issued by the Ray adapter (file_path ray://...), but "
                           "this process is neither a Ray task started by hpopt.adapters.ray.run_ray nor a command "
                           "started by one; call it from the trainer run_ray started")
    actor = _actors.get(name)
    if actor is None:
        try:
            actor = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError as exc:
            raise RuntimeError(f"the run's report actor {name!r} is gone: its controller ended or was killed; "
                               "this trial attempt is void (resume=True re-issues it)") from exc
        _actors[name] = actor
    return actor


def apply(op: str, config: Mapping[str, Any], index: int | None = None, value: float | None = None) -> int | None:
    """Send one call to the run's report actor and wait for its answer (in a Ray worker)."""
    import ray

    actor = _actor(actor_name_of(str(config["file_path"])))
    if op == "report":
        return int(ray.get(actor.report.remote(dict(config), index, value)))
    if op in ("reportOOM", "finalize_trial"):
        ray.get(getattr(actor, op).remote(dict(config)))
        return None
    raise ValueError(f"op must be one of {OPS}, got {op!r}")


def _through_relay(op: str, config: Mapping[str, Any], index: int | None, value: float | None) -> int | None:
    """A command trainer's call, sent to the Ray task that started it (one JSON line each way)."""
    global _relay, _relay_file
    if _relay is None:
        fd = int(os.environ[RELAY_FD_ENV])
        _relay = socket.socket(fileno=fd)
        _relay_file = _relay.makefile("rwb")
    _relay_file.write(json.dumps({"op": op, "config": dict(config), "index": index, "value": value}).encode() + b"\n")
    _relay_file.flush()
    line = _relay_file.readline()
    if not line:
        raise RuntimeError("the Ray task that started this trial is gone (its relay socket closed); this trial "
                           "attempt is void")
    answer = json.loads(line)
    if "error" in answer:
        raise RuntimeError(f"the controller refused {op}(): {answer['error']}")
    return answer.get("status")


def _call(op: str, config: Mapping[str, Any], value: float | None = None) -> int | None:
    key = (str(config["file_path"]), config.get("attempt"))
    with _lock:
        index = _sent.get(key, 0) if op == "report" else None
        if RELAY_FD_ENV in os.environ:
            status = _through_relay(op, config, index, value)
        else:
            status = apply(op, config, index, value)
        if op == "report":
            _sent[key] = _sent.get(key, 0) + 1
        return status


def report(config: Mapping[str, Any], value: float | None) -> Status:
    """Trainer side of ``hpopt.report``: the controller's answer, once the score is durable there."""
    return Status(int(_call("report", config, value)))  # type: ignore[arg-type]


def reportOOM(config: Mapping[str, Any]) -> None:  # noqa: N802 - mirrors hpopt.reportOOM
    """Trainer side of ``hpopt.reportOOM``: the controller shrinks the batch size and re-samples the trial."""
    _call("reportOOM", config)


def finalize_trial(config: Mapping[str, Any]) -> None:
    """Trainer side of ``hpopt.finalize_trial``: the trial ends with the scores it reported."""
    _call("finalize_trial", config)


def serve_relay(sock: socket.socket) -> None:
    """In the Ray task: answer a command trainer's calls (see :func:`_through_relay`) until it closes."""
    with sock, sock.makefile("rwb") as f:
        for line in f:
            try:
                req = json.loads(line)
                status = apply(str(req["op"]), req["config"], req.get("index"), req.get("value"))
                answer: dict[str, Any] = {"status": status}
            except Exception as exc:  # the trainer raises it on its side
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            try:
                f.write(json.dumps(answer).encode() + b"\n")
                f.flush()
            except OSError:
                return


register_channel("ray", sys.modules[__name__])  # file_path "ray://..." reports through this module
