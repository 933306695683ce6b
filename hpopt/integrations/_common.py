"""What the framework callbacks share: the trial they report for, metric look-up, OOM handling.

Nothing here imports a framework, so ``import hpopt.integrations`` stays cheap and works without any
of them installed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import weakref
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from ..errors import HpoptError
from ..trainer import finalize_trial, report, reportOOM
from ..trainer.oom import is_cuda_oom
from ..trainer.report import check_config
from ..trial import Status

logger = logging.getLogger("hpopt")

_REPORTED = "_hpopt_oom_reported"  # set on an OOM exception once reportOOM() was called for it


def require(module: str, extra: str, integration: str) -> ModuleType:
    """Import a framework module, or explain which pip extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"hpopt.integrations.{integration} needs the {module.split('.')[0]!r} package, which "
                          f"is not installed: pip install 'hpopt[{extra}]'") from exc


class MissingMetricError(HpoptError, KeyError):
    """The metric a callback monitors is not among those the framework logged."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


def _attempt_key(config: Mapping[str, Any]) -> tuple[str, Any, Any]:
    return os.fspath(config["file_path"]), config.get("run_id"), config.get("attempt")


def _mark_reported(exc: BaseException) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _REPORTED, True)


def _report_oom(config: Mapping[str, Any], exc: BaseException) -> None:
    """reportOOM, and a line in the trial's log saying so: the error itself was swallowed."""
    reportOOM(config)
    _mark_reported(exc)
    first_line = (str(exc).splitlines() or [""])[0][:160]  # torch's own message runs to a paragraph
    logger.warning("trial %s: %s: %s; reported to hpopt, which shrinks the batch-size bound and re-samples "
                   "the trial", config.get("trial_id"), type(exc).__name__, first_line)


@contextlib.contextmanager
def oom_guard(config: Mapping[str, Any]) -> Iterator[None]:
    """Around ``fit()``/``train()``: a CUDA out-of-memory error is reported with ``hpopt.reportOOM`` and
    swallowed (the controller shrinks the batch-size bound and re-samples the trial); any other error
    propagates. An OOM a callback already reported is not reported twice, and one that comes after the
    trial's callback ended it (STOP, or finalized) propagates unreported: the trial's result stands."""
    check_config(config, "oom_guard")
    try:
        yield
    except Exception as exc:
        if not is_cuda_oom(exc):
            raise
        reporter = _reporters.get(_attempt_key(config))
        if reporter is not None:
            if not reporter.oom(exc):
                raise
        elif not getattr(exc, _REPORTED, False):
            _report_oom(config, exc)


def metric_value(metrics: Mapping[str, Any], name: str, where: str, hint: str = "") -> float:
    """The monitored metric as a float (tensors and numpy scalars included); a clear error if absent."""
    if name not in metrics:
        raise MissingMetricError(f"{where}: the monitored metric {name!r} is not among the logged metrics "
                                 f"{sorted(map(str, metrics))}{hint}")
    value = metrics[name]
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: metric {name!r} must be a single number, got {value!r}") from exc


class TrialView:
    """What every callback shows of its trial; the work is its ``trial`` (a TrialReporter)'s."""

    trial: TrialReporter

    @property
    def config(self) -> Mapping[str, Any]:
        """The train_config the callback reports for."""
        return self.trial.config

    @property
    def scores(self) -> list[float]:
        """The scores reported so far, in order."""
        return self.trial.scores


class TrialReporter:
    """One trial's side of a callback: its reports, whether hpopt stopped it, and how its attempt ends.

    An attempt ends once, in one of three ways: ``report()`` returned STOP; a CUDA OOM was reported; or
    the framework ended training first, and ``finish()`` calls ``finalize_trial`` so the controller does
    not wait for epochs that never come. Nothing is reported after that.
    """

    def __init__(self, config: Mapping[str, Any], monitor: str, caller: str) -> None:
        self.config = check_config(config, caller)
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"{caller}(monitor=...) must be the name of a logged metric (a non-empty str), "
                            f"got {monitor!r}")
        self.monitor = monitor
        warn_if_direction_looks_wrong(monitor, str(self.config["mode"]), caller)
        self.scores: list[float] = []  # what was reported, in order
        self.stopped = False  # report() said STOP
        self.ended = False  # finished, OOM or finalized: report nothing more
        _reporters[_attempt_key(self.config)] = self  # so oom_guard knows whether the trial still runs

    def report(self, score: float) -> bool:
        """Report one evaluation; True when training must stop."""
        if self.ended:
            return True
        status = report(config=self.config, score=score)
        self.scores.append(score)
        if status == Status.STOP:
            self.stopped = self.ended = True
        return self.stopped

    def finish(self) -> None:
        """Training ended on its own (max epochs, another callback): close the trial with what it has."""
        if not self.ended:
            self.ended = True
            finalize_trial(self.config)

    def oom(self, exc: BaseException) -> bool:
        """Report a CUDA OOM of the running trial, once; whether the trial ended by it."""
        if getattr(exc, _REPORTED, False):
            return True
        if self.ended or not is_cuda_oom(exc):
            return False
        self.ended = True
        _report_oom(self.config, exc)
        return True


# The live callbacks' trials, by attempt; weak, so a finished callback does not linger.
_reporters: weakref.WeakValueDictionary[tuple[str, Any, Any], TrialReporter] = weakref.WeakValueDictionary()


def warn_if_direction_looks_wrong(monitor: str, mode: str, where: str) -> None:
    """A loss maximised is almost always a mistake in create(mode=...); say so once, at the start."""
    if "loss" in monitor.lower() and mode == "max":
        logger.warning("%s: monitoring %r with mode='max' makes hpopt look for the largest loss; pass "
                       "mode='min' to hpopt.create() or monitor an accuracy", where, monitor)
