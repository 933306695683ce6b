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
from typing import Any

import numpy as np

_WINDOW = 64  # recent trials the forecasts look at: follows drift, ignores an early outlier
_STARTUP_QUANTILE = 0.1


class OverheadLedger:
    """What recent trials spent outside their epochs, to charge finished trials and forecast new ones."""

    def __init__(self) -> None:
        self._epoch_seconds: deque[float] = deque(maxlen=_WINDOW)
        self._overheads: deque[float] = deque(maxlen=_WINDOW)
        self._startups: deque[float] = deque(maxlen=_WINDOW)

    def forecast(self) -> float:
        """Expected overhead of the next trial, in its epochs: the median of recent trials (0 before any)."""
        return statistics.median(self._overheads) if self._overheads else 0.0

    def add(self, overhead_epochs: float) -> None:
        """Count a trial whose overhead is already known (collected on resume)."""
        self._overheads.append(float(overhead_epochs))

    def measure(self, trial_doc: Mapping[str, Any], extra: Mapping[str, Any]) -> float | None:
        """Overhead of a finished trial in its own epochs, or None when its stamps are missing.

        ``trial_doc`` is the trial file (``scores`` and the report stamps ``t``); ``extra`` the controller's
        record (``issued_at``, ``suggest_s``).
        """
        stamps = trial_doc.get("t")
        issued = extra.get("issued_at")
        n = len(trial_doc.get("scores") or [])
        if not _two_numbers(stamps) or not isinstance(issued, (int, float)) or n < 1:
            return None
        first, last = float(stamps[0]), float(stamps[1])
        if n >= 2 and last > first:
            epoch = (last - first) / (n - 1)
            self._epoch_seconds.append(epoch)
        elif self._epoch_seconds:
            epoch = statistics.median(self._epoch_seconds)
        else:
            return None  # one report and nothing to compare with: no way to split start-up from the epoch
        if epoch <= 0:
            return None
        self._startups.append(max(0.0, first - float(issued) - epoch))
        startup = float(np.quantile(np.fromiter(self._startups, float), _STARTUP_QUANTILE, method="lower"))
        overhead = (float(extra.get("suggest_s") or 0.0) + startup) / epoch
        self._overheads.append(overhead)
        return overhead


def _two_numbers(value: Any) -> bool:
    return isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
