"""A trial as a reader sees it: its current attempt's document and the status label people read.

Shared by ``hpopt status`` and the results table so both read a live run the same way: a trial file
that is missing, damaged or mid-write (a torn last log line is skipped by the store) reads as "no
scores yet" rather than stopping the view, and the file of an earlier attempt is not taken for the
current one.
"""

from __future__ import annotations

from typing import Any

from ..algorithms.scores import best_of
from ..errors import StateFileError
from ..state import StateStore
from ..trial import Status


def current_doc(store: StateStore, entry: dict[str, Any]) -> dict[str, Any]:
    """The trial document of ``entry``'s current attempt as stored now; ``{"scores": []}`` when there is
    none yet (not laid out, of an earlier attempt, or unreadable)."""
    try:
        record = store.read_trial(int(entry["trial_id"]))
    except (OSError, StateFileError):
        return {"scores": []}
    if record is None:
        return {"scores": []}
    doc = record.doc
    if doc.get("attempt", entry.get("attempt")) != entry.get("attempt"):
        return {"scores": []}  # the file of an earlier attempt; this one has not reported yet
    return doc


def trial_label(entry: dict[str, Any], doc: dict[str, Any], mode: str) -> str:
    """done / stopped (early) / failed / running / queued / oom; a running trial whose file says it
    finished is shown finished (the controller collects it at its next call, or on resume)."""
    status = Status(int(entry["status"]))
    if status == Status.RUNNING and doc.get("status") is not None:
        file_status = Status(int(doc["status"]))
        if file_status == Status.CUDAOOM:
            return "oom"
        if file_status == Status.STOP or len(doc["scores"]) >= int(entry.get("iterations", 0)) > 0:
            if best_of(doc["scores"], mode) is None:
                return "failed"
            return "stopped" if doc.get("early_stopped") else "done"
    if status == Status.STOP:
        if entry.get("score") is None:
            return "failed"
        return "stopped" if entry.get("early_stopped") else "done"
    return {Status.READY: "queued", Status.RUNNING: "running", Status.CUDAOOM: "oom"}.get(status, status.name.lower())
