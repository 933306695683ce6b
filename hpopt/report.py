"""Trainer-side calls: report(), reportOOM(), finalize_trial(), and read-only helpers on the state files.

They need nothing but the ``train_config`` dict that ``get_next_sample()`` returned (plain JSON), so a
trainer in another process, or on another machine sharing the folder, can call them. Each call is a
locked read-modify-write of that trial's file only: its cost does not depend on how many trials exist.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .store import (
    STATUS_FILE,
    StateFileError,
    atomic_write_json,
    read_json,
    read_json_dict,
    status_path,
    trial_lock,
    trial_path,
)
from .trial import Status

logger = logging.getLogger("hpopt")

TRIAL_KEYS = ("status", "scores")
_CONFIG_KEYS = ("trial_id", "file_path", "iterations", "mode")

# Algorithms that stop trials from the trainer's side (median stop, ASHA rungs) register a rule here:
# rule(train_config, trial_doc) -> True to stop. The rule is picked by train_config["early_stop"].
StopRule = Callable[[Mapping[str, Any], dict[str, Any]], bool]
_STOP_RULES: dict[str, StopRule] = {}


def register_stop_rule(name: str, rule: StopRule) -> None:
    _STOP_RULES[name] = rule


def write_trial_file(path: str, doc: Mapping[str, Any], durable: bool = True) -> None:
    """A trial file, atomically; compact JSON (the C encoder) because report() writes it every epoch."""
    atomic_write_json(path, doc, durable=durable, indent=None)


_TRIAL_STATES = (Status.READY, Status.RUNNING, Status.STOP, Status.CUDAOOM)
_TRIAL_REMEDY = ("delete it to run the trial again (its scores are lost; they may also sit in a backup), "
                 "or restore it from a backup")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCORE_TYPES = frozenset((int, float, type(None)))  # NaN/inf cannot occur: read_json refuses them


def _are_scores(scores: Any) -> bool:
    """A list of numbers and nulls; type() checks run in C, report() reads a file per call."""
    return isinstance(scores, list) and set(map(type, scores)) <= _SCORE_TYPES


def read_trial_file(path: str) -> dict[str, Any]:
    """A trial file, checked: a damaged one raises StateFileError naming it, never gives a wrong score.

    Every reader goes through here (report(), the controller, resume, ASHA's rebuild), so a file that
    parses but is not a trial file (scores that are text, an unknown status) is refused at once rather
    than ranked as a score.
    """
    doc = read_json_dict(path, TRIAL_KEYS, remedy=_TRIAL_REMEDY)
    problem = None
    if not _is_int(doc["status"]) or doc["status"] not in _TRIAL_STATES:
        problem = f"its status {doc['status']!r} is not one of {[int(s) for s in _TRIAL_STATES]}"
    elif not _are_scores(doc["scores"]):
        problem = f"its scores {str(doc['scores'])[:80]} are not a list of numbers and nulls"
    elif "attempt" in doc and not (_is_int(doc["attempt"]) and doc["attempt"] >= 0):
        problem = f"its attempt {doc['attempt']!r} is not an int >= 0"
    elif not isinstance(doc.get("previous_attempts", []), list) or not all(
            isinstance(a, Mapping) and isinstance(a.get("scores"), list) for a in doc.get("previous_attempts", [])):
        problem = "its previous_attempts are not a list of {attempt, scores} objects"
    if problem is not None:
        raise StateFileError(f"{path} is not a valid hpopt trial file ({problem}); {_TRIAL_REMEDY}")
    return doc


class TrialFileMissingError(FileNotFoundError, ValueError):
    """report() got a config whose trial file does not exist: an OSError for the missing file, and a
    ValueError because the config is usually the wrong one (another save_path, a cleared folder)."""


def _check_config(config: Any, caller: str) -> Mapping[str, Any]:
    if not isinstance(config, Mapping):
        raise TypeError(
            f"{caller}(config=...) needs the train_config dict returned by get_next_sample(), "
            f"not {type(config).__name__}: {str(config)[:80]!r}"
        )
    missing = [k for k in _CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(
            f"{caller}(config=...) lacks the keys {missing}; pass the train_config dict returned by "
            "get_next_sample() unchanged"
        )
    tid, path, iterations = config["trial_id"], config["file_path"], config["iterations"]
    if not _is_int(tid) or tid < 0:
        raise TypeError(f"{caller}(config=...): config['trial_id'] must be an int >= 0, got {tid!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{caller}(config=...): config['file_path'] must be a path, got {path!r}")
    # A trial file an adapter keeps elsewhere (s3://, ray://) is named by that adapter.
    if _remote_scheme(path) is None and os.path.basename(os.fspath(path)) != f"hpopt_trial_{tid}.json":
        raise ValueError(
            f"{caller}(config=...): config['file_path'] {os.fspath(path)!r} is not the file of trial {tid} "
            "(config['trial_id']); pass the train_config dict returned by get_next_sample() unchanged"
        )
    if not _is_int(iterations) or iterations < 1:
        raise TypeError(f"{caller}(config=...): config['iterations'] must be an int >= 1, got {iterations!r}")
    if config["mode"] not in ("max", "min"):
        raise ValueError(f"{caller}(config=...): config['mode'] must be 'max' or 'min', got {config['mode']!r}")
    return config


def _check_score(score: Any) -> float | None:
    """A real number, or None for NaN/inf (recorded as a failed result, never as a best score)."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise TypeError(f"report(score=...) must be a real number, got {score!r} ({type(score).__name__})")
    value = float(score)
    if not math.isfinite(value):
        logger.warning("report(): score %r is not finite; recorded as a failed result (null)", value)
        return None
    return value


def is_better(a: float, b: float | None, mode: str) -> bool:
    """Whether score ``a`` beats ``b`` in this mode (anything beats None)."""
    return b is None or (a > b if mode == "max" else a < b)


def best_of(scores: list[float | None], mode: str) -> float | None:
    """Best finite score in a list, or None when none is finite."""
    valid = [s for s in scores if s is not None]
    if not valid:
        return None
    return max(valid) if mode == "max" else min(valid)


def longest_previous_attempt(doc: Mapping[str, Any]) -> int:
    """Most scores any earlier attempt of this trial reported: steps whose statistics already hold it."""
    longest = 0
    for attempt in doc.get("previous_attempts") or []:
        if isinstance(attempt, Mapping) and isinstance(attempt.get("scores"), list):
            longest = max(longest, len(attempt["scores"]))
    return longest


def _open_trial(config: Mapping[str, Any], caller: str) -> dict[str, Any] | None:
    """Load the trial's file; None (with a warning) when the config belongs to an older attempt or run."""
    path = os.fspath(config["file_path"])
    try:
        doc = read_trial_file(path)
    except FileNotFoundError:
        raise _missing(config, caller) from None
    if doc.get("trial_id", config["trial_id"]) != config["trial_id"]:
        raise ValueError(f"{caller}(config=...): {path} holds trial {doc.get('trial_id')!r}, not "
                         f"config['trial_id'] = {config['trial_id']!r}; the config does not belong to this file")
    run_id, attempt = config.get("run_id"), config.get("attempt")
    if (run_id is not None and doc.get("run_id") not in (None, run_id)) or (
        attempt is not None and doc.get("attempt", attempt) != attempt
    ):
        logger.warning(
            "%s(): trial %s was re-issued (attempt %s, run %s) since this config was given out; "
            "the call is ignored and the trainer should stop",
            caller, config["trial_id"], doc.get("attempt"), doc.get("run_id"),
        )
        return None
    return doc


# Trial files a trainer cannot write directly: the scheme of ``file_path`` ("s3://...", "ray://...") names
# the module that carries report(), reportOOM() and finalize_trial() there. Imported only when such a
# config is used, so the core never loads boto3 or ray otherwise.
REMOTE_SCHEMES = {"s3": "hpopt.adapters.s3_trial", "ray": "hpopt.adapters.ray_trial"}


def _remote_scheme(path: Any) -> str | None:
    """The registered scheme of a trial file kept by an adapter (``s3://…``, ``ray://…``), else None."""
    scheme, sep, _ = str(os.fspath(path)).partition("://")
    return scheme if sep and scheme in REMOTE_SCHEMES else None


def _remote(config: Mapping[str, Any]) -> Any | None:
    """The module that carries this trial's reports when its file is remote (see REMOTE_SCHEMES), else None."""
    scheme = _remote_scheme(config["file_path"])
    return None if scheme is None else importlib.import_module(REMOTE_SCHEMES[scheme])


def _save_path_of(config: Mapping[str, Any]) -> str:
    return os.path.dirname(os.fspath(config["file_path"])) or "."


def _missing(config: Mapping[str, Any], caller: str) -> TrialFileMissingError:
    path = os.fspath(config["file_path"])
    return TrialFileMissingError(
        errno.ENOENT,
        f"{caller}(config=...): config['file_path'] {path!r} does not exist: the config was not issued by "
        "get_next_sample() for this save_path, or the folder was moved or cleared (a controller that finds "
        "a running trial's file gone runs the trial again)",
    )


@contextlib.contextmanager
def _locked_trial(config: Mapping[str, Any], caller: str) -> Iterator[None]:
    """The trial's lock; a save_path that does not exist is named as the config's fault, not as a lock file."""
    lock = trial_lock(_save_path_of(config), int(config["trial_id"]))
    try:
        lock.__enter__()
    except FileNotFoundError:
        raise _missing(config, caller) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def report(config: Mapping[str, Any], score: float) -> Status:
    """Record one iteration's score; returns Status.STOP when the trainer should stop, else RUNNING.

    STOP comes when the trial reached its ``iterations``, when the algorithm stopped it early, or when
    the controller re-issued or stopped the trial meanwhile.
    """
    config = _check_config(config, "report")
    value = _check_score(score)
    if (remote := _remote(config)) is not None:
        return remote.report(config, value)
    with _locked_trial(config, "report"):
        doc = _open_trial(config, "report")
        if doc is None or doc["status"] != Status.RUNNING:
            return Status.STOP
        scores: list[float | None] = doc["scores"]
        scores.append(value)
        now = round(time.time(), 4)  # first and latest report: the controller measures overhead from them
        stamps = doc.get("t")
        doc["t"] = [stamps[0], now] if isinstance(stamps, list) and len(stamps) == 2 else [now, now]
        valid = [s for s in scores if s is not None]
        # "median" keeps the original's key: the running mean after each report, used by median stop.
        doc.setdefault("median", []).append(sum(valid) / len(valid) if valid else None)
        if len(scores) >= int(config["iterations"]):
            doc["status"] = int(Status.STOP)
        else:
            rule = _STOP_RULES.get(str(config.get("early_stop")))
            if rule is not None and rule(config, doc):
                doc["status"] = int(Status.STOP)
                doc["early_stopped"] = 1
        write_trial_file(config["file_path"], doc)
        return Status(doc["status"])


def reportOOM(config: Mapping[str, Any]) -> None:  # noqa: N802 - name kept from the original API
    """Tell hpopt the trial ran out of GPU memory; the controller shrinks the batch size and re-samples it."""
    config = _check_config(config, "reportOOM")
    if (remote := _remote(config)) is not None:
        return remote.reportOOM(config)
    with _locked_trial(config, "reportOOM"):
        doc = _open_trial(config, "reportOOM")
        if doc is None:
            return
        doc["status"] = int(Status.CUDAOOM)
        write_trial_file(config["file_path"], doc)


def finalize_trial(config: Mapping[str, Any]) -> None:
    """Mark a trial finished although it ran fewer iterations than asked (the trainer ended it itself).

    ``early_stopped`` is 1 when the last 5 scores did not improve on the best before them (original rule).
    """
    config = _check_config(config, "finalize_trial")
    if (remote := _remote(config)) is not None:
        return remote.finalize_trial(config)
    with _locked_trial(config, "finalize_trial"):
        doc = _open_trial(config, "finalize_trial")
        if doc is None or doc["status"] == Status.STOP:
            return
        if doc["status"] == Status.RUNNING:
            doc["status"] = int(Status.STOP)
        scores, mode = doc["scores"], str(config["mode"])
        before, last = best_of(scores[:-5], mode), best_of(scores[-5:], mode)
        improved = before is None or (last is not None and is_better(last, before, mode))
        doc["early_stopped"] = int(len(scores) > 5 and not improved)
        write_trial_file(config["file_path"], doc)


# --- read-only helpers kept from the original API -------------------------------------------------


def get_status_path(save_path: str) -> str:
    """Path of the run's ``hpopt_status.json`` in ``save_path``."""
    return status_path(save_path)


def get_trial_path(save_path: str, trial_id: int) -> str:
    """Path of trial ``trial_id``'s file, ``hpopt_trial_{id}.json``, in ``save_path``."""
    return trial_path(save_path, trial_id)


def load_json(path: str) -> Any:
    """Read a JSON state file (writes are atomic, so no retry loop is needed)."""
    return read_json(path)


def get_current_status(save_path: str, trial_id: int) -> Status:
    """The status in a trial's file; READY when the trial has not written one yet."""
    path = trial_path(save_path, trial_id)
    if not os.path.exists(path):
        return Status.READY
    return Status(read_trial_file(path)["status"])


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
    """Best finite score recorded in one trial's file (None when it has none)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    path = trial_path(save_path, trial_id)
    if not os.path.exists(path):
        return None
    return best_of(read_trial_file(path)["scores"], mode)
