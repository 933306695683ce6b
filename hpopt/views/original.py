"""Read-only helpers kept from the original API (``hpopt.get_status_path``, ``hpopt.get_best_score``, ...)."""

from __future__ import annotations

import os
import re
from typing import Any

from ..algorithms.scores import best_of
from ..errors import StateFileError
from ..state import FileStore
from ..state.files import STATUS_FILE, read_json, read_json_dict, status_path, trial_path
from ..trial import Status

_TRIAL_FILE = re.compile(r"hpopt_trial_(\d+)\.json")


def get_status_path(save_path: str) -> str:
    """Path of the run's ``hpopt_status.json`` in ``save_path``."""
    return status_path(save_path)


def get_trial_path(save_path: str, trial_id: int) -> str:
    """Path of trial ``trial_id``'s file, ``hpopt_trial_{id}.json``, in ``save_path``."""
    return trial_path(save_path, trial_id)


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON state file (writes are atomic, so no retry loop is needed).

    A trial file ``hpopt_trial_{id}.json`` comes with the reports its ``hpopt_trial_{id}.jsonl`` log holds
    beyond it (while a trial runs, the ``.json`` is rewritten only now and then; once it ends, the ``.json``
    alone holds all of it), so this returns the trial as it is now.
    """
    path = os.fspath(path)
    match = _TRIAL_FILE.fullmatch(os.path.basename(path))
    if match is None or not os.path.exists(path + "l"):
        return read_json(path)
    record = FileStore(os.path.dirname(path) or ".").read_trial(int(match[1]))
    return read_json(path) if record is None else record.doc


def get_current_status(save_path: str, trial_id: int) -> Status:
    """The status in a trial's record; READY when the trial has not written one yet."""
    record = FileStore(save_path).read_trial(trial_id)
    return Status.READY if record is None else Status(record.status)


def get_previous_status(save_path: str) -> Status:
    """NORESULT (no run here), COMPLETERESULT (a best config was chosen) or PARTIALRESULT."""
    path = os.path.join(save_path, STATUS_FILE)
    if not os.path.exists(path):
        return Status.NORESULT
    try:
        status = read_json_dict(path)
    except StateFileError:
        return Status.PARTIALRESULT
    return Status.COMPLETERESULT if status.get("best_config_id") is not None else Status.PARTIALRESULT


def get_best_score(save_path: str, trial_id: int, mode: str = "max") -> float | None:
    """Best finite score recorded for one trial (None when it has none)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    record = FileStore(save_path).read_trial(trial_id)
    return None if record is None else best_of(record.scores, mode)
