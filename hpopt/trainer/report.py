"""``report()``, ``reportOOM()`` and ``finalize_trial()``: check the train_config, then hand it to its channel."""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

from ..trial import Status
from .channels import channel_for, scheme_of

logger = logging.getLogger("hpopt")

_CONFIG_KEYS = ("trial_id", "file_path", "iterations", "mode")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_config(config: Any, caller: str) -> Mapping[str, Any]:
    """The train_config as get_next_sample() returned it; a TypeError/ValueError naming the key if not."""
    if not isinstance(config, Mapping):
        raise TypeError(f"{caller}(config=...) needs the train_config dict returned by get_next_sample(), "
                        f"not {type(config).__name__}: {str(config)[:80]!r}")
    missing = [k for k in _CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"{caller}(config=...) lacks the keys {missing}; pass the train_config dict returned by "
                         "get_next_sample() unchanged")
    tid, path, iterations = config["trial_id"], config["file_path"], config["iterations"]
    if not _is_int(tid) or tid < 0:
        raise TypeError(f"{caller}(config=...): config['trial_id'] must be an int >= 0, got {tid!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{caller}(config=...): config['file_path'] must be a path, got {path!r}")
    if os.path.basename(os.fspath(path)) != f"hpopt_trial_{tid}.json" and scheme_of(path) in (None, "memory"):
        raise ValueError(f"{caller}(config=...): config['file_path'] {os.fspath(path)!r} is not the file of trial "
                         f"{tid} (config['trial_id']); pass the train_config dict returned by get_next_sample() "
                         "unchanged")
    if not _is_int(iterations) or iterations < 1:
        raise TypeError(f"{caller}(config=...): config['iterations'] must be an int >= 1, got {iterations!r}")
    if config["mode"] not in ("max", "min"):
        raise ValueError(f"{caller}(config=...): config['mode'] must be 'max' or 'min', got {config['mode']!r}")
    attempt, run_id = config.get("attempt"), config.get("run_id")
    if attempt is not None and not (_is_int(attempt) and attempt >= 0):
        raise TypeError(f"{caller}(config=...): config['attempt'] must be an int >= 0, got {attempt!r}")
    if run_id is not None and not isinstance(run_id, str):
        raise TypeError(f"{caller}(config=...): config['run_id'] must be a str, got {run_id!r}")
    return config


def check_score(score: Any) -> float | None:
    """A real number, or None for NaN/inf and for an int too large for a float (10**400): recorded as a
    failed result, never as a best score."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise TypeError(f"report(score=...) must be a real number, got {score!r} ({type(score).__name__})")
    try:
        value = float(score)
    except OverflowError:
        logger.warning("report(): score %s is too large for a float; recorded as a failed result (null)",
                       _abbreviated(score))
        return None
    if not math.isfinite(value):
        logger.warning("report(): score %r is not finite; recorded as a failed result (null)", value)
        return None
    return value


def _abbreviated(value: Any) -> str:
    try:
        return f"{repr(value)[:12]}..."
    except ValueError:  # an int past Python's digit limit for str()
        return "(a number too long to print)"


def report(config: Mapping[str, Any], score: float) -> Status:
    """Record one iteration's score; returns Status.STOP when the trainer should stop, else RUNNING.

    STOP comes when the trial reached its ``iterations``, when the algorithm stopped it early, or when
    the controller re-issued or stopped the trial meanwhile.
    """
    config = check_config(config, "report")
    value = check_score(score)
    return channel_for(config).report(config, value)


def reportOOM(config: Mapping[str, Any]) -> None:  # noqa: N802 - name kept from the original API
    """Tell hpopt the trial ran out of GPU memory; the controller shrinks the batch size and re-samples it."""
    config = check_config(config, "reportOOM")
    channel_for(config).reportOOM(config)


def finalize_trial(config: Mapping[str, Any]) -> None:
    """Mark a trial finished although it ran fewer iterations than asked (the trainer ended it itself)."""
    config = check_config(config, "finalize_trial")
    channel_for(config).finalize_trial(config)
