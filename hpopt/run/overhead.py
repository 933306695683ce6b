"""Per-trial overhead, measured in epochs, so that the epoch budget charges what trials really cost.

Auto config's time model counts epochs. A trial also spends time outside its epochs: the suggestion
that produced it (a GP fit for baye_opt), building the model and the data subset, a process or a cloud
job starting. For short trials that is a large share: on the digits sample at ``expected_time_ratio=2``
a trial runs two epochs of 0.1 s after about 0.2 s of such overhead, and a budget that ignores it runs
far over the time asked.

Every ``report()`` stamps the trial file with the wall-clock times of its first and latest report
(``"t": [first, last]``); the controller stamps when it issued the trial and how long the suggestion took.
From those, with n reports:

    epoch     = (last - first) / (n - 1)                    (or, with one report, the recent median)
    start-up  = (first - issued) - epoch                    (seconds before the first epoch began)
    overhead  = suggestion + low quantile of recent start-ups
    charged   = n + overhead / epoch                        (epochs of this trial's own speed)
    cost      = overhead + n * own epoch                    (seconds; what re-planning measures)

A trial with one report has no epoch of its own to split its span with: it is charged with the recent
median epoch, while its own epoch (for its cost in seconds, which re-planning reads) is its span less the
median start-up of the trials that reported twice or more.

The start-up is taken as a low quantile (the 10th percentile) of the recent trials', not the trial's own:
a config that waited before it was trained (several fetched with ``get_next_samples`` and run one after
the other, a queue in front of a cluster) shows a long start-up that is waiting, not cost. Waiting only
adds, so the low quantile is the start-up the trials really pay.

Measuring in the trial's own epochs keeps the budget's unit (epochs on the subset) and needs no
knowledge of how long a full training takes. Clocks: the trainer's ``time.time()`` against the
controller's; on one machine they agree, across machines NTP keeps them within milliseconds.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..time_model import clamp

_WINDOW = 64  # recent trials the forecasts look at: follows drift, ignores an early outlier
_STARTUP_QUANTILE = 0.1


class Cost(NamedTuple):
    """What one collected trial cost: overhead in its own epochs, its epoch time, and its total seconds."""

    overhead_epochs: float
    epoch_seconds: float | None  # None: one report and no other trial to split start-up from the epoch
    seconds: float


class OverheadLedger:
    """What recent trials spent outside their epochs, to charge finished trials and forecast new ones."""

    def __init__(self) -> None:
        self._epoch_seconds: deque[float] = deque(maxlen=_WINDOW)
        self._overheads: deque[float] = deque(maxlen=_WINDOW)
        self._overhead_seconds: deque[float] = deque(maxlen=_WINDOW)
        self._startups: deque[float] = deque(maxlen=_WINDOW)
        self._seconds_per_epoch: deque[float] = deque(maxlen=_WINDOW)  # whole cost / epochs, overhead included

    def forecast(self) -> float:
        """Expected overhead of the next trial, in its epochs: the median of recent trials (0 before any)."""
        return statistics.median(self._overheads) if self._overheads else 0.0

    def forecast_seconds(self, epochs: float, epoch_seconds: float | None = None) -> float | None:
        """Expected seconds of a trial running ``epochs`` more epochs (None before any trial was measured).

        ``epoch_seconds`` is the trial's own epoch time when known (a running trial with two reports);
        otherwise the median of recent trials'. The overhead is the median of recent trials'.
        """
        if not self._epoch_seconds:  # only one-report trials so far: their whole cost per epoch
            return statistics.median(self._seconds_per_epoch) * max(epochs, 1.0) if self._seconds_per_epoch else None
        epoch = epoch_seconds if epoch_seconds is not None else statistics.median(self._epoch_seconds)
        return statistics.median(self._overhead_seconds) + epochs * epoch

    def add(self, overhead_epochs: float, epoch_seconds: float | None = None, seconds: float | None = None,
            epochs: int | None = None) -> None:
        """Count a trial whose cost is already known (collected on resume). As in :meth:`measure`, only a
        trial that reported twice or more (``epochs`` >= 2) adds its epoch to the recent epochs, and a
        one-report trial's overhead, charged in the median epoch, is turned into seconds with that median."""
        self._overheads.append(float(overhead_epochs))
        if epoch_seconds is not None and epoch_seconds > 0:
            if epochs is None or epochs >= 2:
                self._epoch_seconds.append(float(epoch_seconds))
            charged_in = statistics.median(self._epoch_seconds) if self._epoch_seconds else float(epoch_seconds)
            self._overhead_seconds.append(float(overhead_epochs) * charged_in)
        if seconds is not None and epochs:
            self._seconds_per_epoch.append(float(seconds) / int(epochs))

    def measure(self, trial_doc: Mapping[str, Any], extra: Mapping[str, Any]) -> Cost | None:
        """What a finished trial cost, or None when its stamps are missing.

        ``trial_doc`` is the trial file (``scores`` and the report stamps ``t``); ``extra`` the controller's
        record (``issued_at``, ``suggest_s``).
        """
        stamps = trial_doc.get("t")
        issued = extra.get("issued_at")
        n = len(trial_doc.get("scores") or [])
        if not _two_numbers(stamps) or not isinstance(issued, (int, float)) or n < 1:
            return None
        span = max(0.0, float(stamps[0]) - float(issued))  # issued to first report: start-up and one epoch
        suggest = float(extra.get("suggest_s") or 0.0)
        epoch = trial_epoch_seconds(trial_doc)
        if epoch is not None:
            own = epoch
            self._epoch_seconds.append(epoch)
            self._startups.append(max(0.0, span - epoch))
        elif self._epoch_seconds:
            epoch = statistics.median(self._epoch_seconds)
            # after a resume only the trials' overheads are known: they stand in for the start-ups
            typical = statistics.median(self._startups or self._overhead_seconds)
            own = _one_report_epoch(span, typical, epoch)
        else:  # one report and nothing to compare with: the whole span is its cost, the split unknown
            seconds = suggest + span
            self._seconds_per_epoch.append(seconds)
            return Cost(0.0, None, seconds)
        startup = float(np.quantile(np.fromiter(self._startups, float), _STARTUP_QUANTILE, method="lower")) \
            if self._startups else max(0.0, span - epoch)
        overhead_s = suggest + startup
        self._overheads.append(overhead_s / epoch)
        self._overhead_seconds.append(overhead_s)
        self._seconds_per_epoch.append((overhead_s + n * own) / n)
        return Cost(overhead_s / epoch, own, overhead_s + n * own)


def _one_report_epoch(span: float, typical_startup: float, typical_epoch: float) -> float:
    """A one-report trial's own epoch: its span from issue to report less the typical start-up of the
    trials that reported twice or more, kept within [0.1, 8] x their median epoch against clock noise.

    Not the median epoch itself: under ASHA most trials stop after one epoch, and a config whose epochs
    cost four times the others' would then count as typical, hiding the drift a re-plan must see.
    """
    return clamp(span - typical_startup, 0.1 * typical_epoch, 8.0 * typical_epoch)


def trial_epoch_seconds(trial_doc: Mapping[str, Any]) -> float | None:
    """A running trial's own epoch time from its report stamps, once it reported twice."""
    stamps = trial_doc.get("t")
    n = len(trial_doc.get("scores") or [])
    if n >= 2 and _two_numbers(stamps) and stamps[1] > stamps[0]:
        return (float(stamps[1]) - float(stamps[0])) / (n - 1)
    return None


def _two_numbers(value: Any) -> bool:
    return isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
