"""The trial-file schema, in one place, and a trial record that answers report()'s questions in O(1).

A trial document holds one trial's current attempt (the keys of ``hpopt_trial_{id}.json``, kept from the
original hpopt, with keys only added)::

    trial_id, run_id, attempt, params, iterations   who it is (laid out when the attempt is issued)
    status                                          1 RUNNING, 2 STOP, 3 CUDAOOM (0 READY: not issued)
    scores                                          one per report(), null for a NaN/inf score
    median                                          the running mean after each report (the original's key)
    t                                               [first report time, latest report time] (overhead)
    early_stopped, error                            why it stopped, when it did not run to the end
    iterations (lowered)                            a re-plan cut the last epoch of the trial in flight
    previous_attempts                               [{attempt, status, scores}] of earlier attempts

A change to a record is also expressed as a log line (``change``) that the file store appends to the
trial's report log, so a report costs one short append instead of rewriting the whole file:
``{"a": attempt, "n": scores after, "s": score, "t": time, "st": status, "es": 1, "err": "...", "it": iterations}``
(only the keys that changed). ``apply`` replays a line: lines of another attempt and scores already in
the record are skipped, so replaying a log over a checkpoint that already holds some of it is exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..algorithms.scores import is_better
from ..errors import StateFileError
from ..trial import Status

TRIAL_KEYS = ("status", "scores")
TRIAL_STATES = (Status.READY, Status.RUNNING, Status.STOP, Status.CUDAOOM)
TRIAL_REMEDY = ("delete it to run the trial again (its scores are lost; they may also sit in a backup), "
                "or restore it from a backup")
_SCORE_TYPES = frozenset((int, float, type(None)))  # NaN/inf cannot occur: the JSON reader refuses them


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_trial_doc(doc: Any, where: str) -> dict[str, Any]:
    """A trial document, checked: a damaged one raises StateFileError naming ``where``, never gives a
    wrong score (scores that are text, an unknown status, a bad attempt)."""
    problem = None
    if not isinstance(doc, dict):
        problem = f"it holds a {type(doc).__name__}, not a JSON object"
    elif any(k not in doc for k in TRIAL_KEYS):
        problem = f"it lacks the keys {[k for k in TRIAL_KEYS if k not in doc]}"
    elif not _is_int(doc["status"]) or doc["status"] not in TRIAL_STATES:
        problem = f"its status {doc['status']!r} is not one of {[int(s) for s in TRIAL_STATES]}"
    elif not isinstance(doc["scores"], list) or not set(map(type, doc["scores"])) <= _SCORE_TYPES:
        problem = f"its scores {str(doc['scores'])[:80]} are not a list of numbers and nulls"
    elif "attempt" in doc and not (_is_int(doc["attempt"]) and doc["attempt"] >= 0):
        problem = f"its attempt {doc['attempt']!r} is not an int >= 0"
    elif not isinstance(doc.get("previous_attempts", []), list) or not all(
            isinstance(a, Mapping) and isinstance(a.get("scores"), list) for a in doc.get("previous_attempts", [])):
        problem = "its previous_attempts are not a list of {attempt, scores} objects"
    if problem is not None:
        raise StateFileError(f"{where} is not a valid hpopt trial file ({problem}); {TRIAL_REMEDY}")
    return doc


def new_attempt(trial_id: int, attempt: int, run_id: str, params: Mapping[str, Any], iterations: int,
                previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The document of a newly issued attempt; the earlier attempt's scores move to previous_attempts."""
    earlier: list[Any] = []
    if previous is not None:
        earlier = list(previous.get("previous_attempts", []))
        if previous.get("scores"):
            earlier.append({"attempt": previous.get("attempt"), "status": previous.get("status"),
                            "scores": previous["scores"]})
    return {"trial_id": trial_id, "status": int(Status.RUNNING), "scores": [], "median": [],
            "iterations": iterations, "attempt": attempt, "run_id": run_id, "params": dict(params),
            "previous_attempts": earlier}


class TrialRecord:
    """A trial document plus what report() derives from it (best, running mean), kept up to date."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        doc.setdefault("median", [])
        self._sum = 0.0
        self._mean = 0.0
        self._valid = 0
        self._max: float | None = None
        self._min: float | None = None
        for s in doc["scores"]:
            self._count(s)
        self.longest_previous = max((len(a["scores"]) for a in doc.get("previous_attempts") or []), default=0)
        self.pending: list[dict[str, Any]] = []  # changes not yet persisted, as log lines

    @property
    def status(self) -> int:
        return int(self.doc["status"])

    @property
    def attempt(self) -> int | None:
        return self.doc.get("attempt")

    @property
    def scores(self) -> list[float | None]:
        return self.doc["scores"]

    @property
    def mean(self) -> float | None:
        if not self._valid:
            return None
        # sum / n as always; a sum of huge finite scores (1e308) overflows to infinity, and then the mean
        # kept by a weighted update (which cannot overflow) is the answer.
        return self._sum / self._valid if math.isfinite(self._sum) else self._mean

    def best(self, mode: str) -> float | None:
        return self._max if mode == "max" else self._min

    def _count(self, score: float | None) -> None:
        if score is None:
            return
        self._valid += 1
        self._sum += score
        self._mean = self._mean * ((self._valid - 1) / self._valid) + score / self._valid
        if is_better(score, self._max, "max"):
            self._max = score
        if is_better(score, self._min, "min"):
            self._min = score

    # --- changes -------------------------------------------------------------------------------

    def add_score(self, score: float | None, now: float) -> None:
        """One report: the score (None for NaN/inf), the running mean and the report time stamps."""
        self._add(score, now)
        self.pending.append({"a": self.attempt, "n": len(self.scores), "s": score, "t": now})

    def _add(self, score: float | None, now: float) -> None:
        self.scores.append(score)
        self._count(score)
        stamps = self.doc.get("t")
        self.doc["t"] = [stamps[0], now] if isinstance(stamps, list) and len(stamps) == 2 else [now, now]
        # "median" keeps the original's key: the running mean after each report, used by median stop.
        self.doc["median"].append(self.mean)

    def _line(self) -> dict[str, Any]:
        """The pending log line at the current score count: the score just added's, else a new one."""
        n = len(self.scores)
        if not (self.pending and self.pending[-1]["n"] == n):
            self.pending.append({"a": self.attempt, "n": n})
        return self.pending[-1]

    def set_status(self, status: Status, early_stopped: int | None = None, error: str | None = None) -> None:
        self.doc["status"] = int(status)
        line = self._line()
        line["st"] = int(status)
        if early_stopped is not None:
            self.doc["early_stopped"] = line["es"] = int(early_stopped)
        if error is not None:
            self.doc["error"] = line["err"] = str(error)

    def cut(self, iterations: int) -> None:
        """Lower the attempt's last epoch (a re-plan's, for a trial in flight): report() stops it there, and
        it stops now when it already reported that many scores."""
        iterations = int(iterations)
        if iterations < 1 or iterations >= int(self.doc.get("iterations") or iterations + 1):
            return
        self.doc["iterations"] = self._line()["it"] = iterations
        if self.status == Status.RUNNING and len(self.scores) >= iterations:
            self.set_status(Status.STOP)

    def last_epoch(self, planned: int) -> int:
        """The attempt's last epoch: ``planned`` (its config's), or lower where a re-plan cut it while it ran."""
        cut = self.doc.get("iterations")
        return min(planned, cut) if _is_int(cut) and cut >= 1 else planned

    def take_changes(self) -> list[dict[str, Any]]:
        """The unpersisted changes as log lines (and forget them)."""
        changes, self.pending = self.pending, []
        return changes

    def apply(self, line: Mapping[str, Any]) -> None:
        """Replay one log line (see the module doc); lines of another attempt or already held are skipped."""
        if line.get("a") != self.attempt:
            return
        n = line.get("n")
        if "it" in line:
            if not _is_int(line["it"]) or line["it"] < 1:
                raise ValueError(f"iterations {line['it']!r} is not an int >= 1")
            self.doc["iterations"] = line["it"]
        if "s" in line and n == len(self.scores) + 1:
            score = line["s"]
            if score is not None and (type(score) not in (int, float)):
                raise ValueError(f"score {score!r} is not a number")
            self._add(None if score is None else float(score), float(line.get("t") or 0.0))
        if "st" in line and isinstance(n, int) and n <= len(self.scores):
            if not _is_int(line["st"]) or line["st"] not in TRIAL_STATES:
                raise ValueError(f"status {line['st']!r} is unknown")
            self.doc["status"] = line["st"]
            if "es" in line:
                self.doc["early_stopped"] = line["es"]
            if "err" in line:
                self.doc["error"] = line["err"]
