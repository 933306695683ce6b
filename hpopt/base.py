"""The ask/tell loop shared by every algorithm: issue trials, collect results, OOM, resume, best config.

An algorithm subclasses :class:`HpoBase` and supplies ``_suggest`` (params for a new trial) and, if it
learns from results, ``_on_trial_finished``. Everything about files, locks, recovery and the
``train_config`` contract lives here once.

Cost per call: the controller keeps the trials in memory and polls only the files of trials it has
given out and not yet collected (at most as many as run at once), so ``get_next_sample()`` does not
grow with the number of trials. State changes go to the journal (see ``store``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

from .overhead import OverheadLedger, trial_epoch_seconds
from .report import best_of, is_better, read_trial_file, write_trial_file
from .search_space import SearchSpace, space_from_json, space_to_json
from .store import (
    JOURNAL_REMEDY,
    STATUS_FILE,
    ControllerLock,
    Journal,
    StateFileError,
    atomic_write_json,
    ensure_dir,
    make_dir,
    read_json_dict,
    remove_stale_temp_files,
    status_path,
    trial_lock,
    trial_path,
)
from .trial import Status, Trial

logger = logging.getLogger("hpopt")

FORMAT_VERSION = 1
_MIN_JOURNAL_BEFORE_CHECKPOINT = 64

# Keys of hpopt_status.json that must match on resume: name -> what the user changed.
RESUME_CHECKED = {
    "search_algorithm": "search_alg",
    "original_search_space": "search_space",
    "metric": "metric",
    "mode": "mode",
    "full_dataset_size": "full_dataset_size",
    "num_full_iterations": "num_full_iterations",
    "max_iterations": "max_iterations",
    "subset_ratio": "subset_ratio",
    "image_resize": "image_resize",
    "batch_size_name": "batch_size_name",
    "early_stop": "early_stop",
}


_STATUS_REMEDY = ("restore it from a backup, or start over with resume=False (the damaged run is then moved to "
                  "save_path/archive, nothing is deleted)")


def load_status(save_path: str) -> dict[str, Any] | None:
    """The stored run state (checkpoint plus journal), or None when save_path holds no run.

    Safe while a controller runs: the journal is read BEFORE the checkpoint. The controller writes a new
    checkpoint before it empties the journal, so a journal read first holds only records that the
    checkpoint read after it either contains (skipped by ``journal_seq``) or directly precedes.
    A damaged checkpoint or journal raises StateFileError naming the file and the way out.
    """
    path = status_path(save_path)
    if not os.path.exists(path):
        return None
    journal = Journal(save_path)
    records = journal.records()
    status = read_json_dict(path, ("search_algorithm", "search_space", "config_list"), remedy=_STATUS_REMEDY)
    config_list = status["config_list"]
    if not isinstance(config_list, list):
        raise StateFileError(f"{path}: config_list is not a list; the file is damaged; {_STATUS_REMEDY}")
    for i, entry in enumerate(config_list):
        _check_entry(entry, i, f"{path}: config_list[{i}]", _STATUS_REMEDY)
    _check_settings(path, status)
    done = int(status.get("journal_seq", 0))
    for rec in records:
        if rec["seq"] <= done:
            continue
        where = f"{journal.path}: record seq {rec['seq']}"
        if "trial" in rec:
            entry = rec["trial"]
            tid = entry.get("trial_id") if isinstance(entry, dict) else None
            if isinstance(tid, int) and tid < len(config_list):
                config_list[tid] = entry
            elif tid == len(config_list):
                config_list.append(entry)
            else:
                raise StateFileError(f"{where} names trial {tid!r} but only {len(config_list)} exist; "
                                     f"{JOURNAL_REMEDY}")
            _check_entry(entry, tid, where, JOURNAL_REMEDY)
        status.update(rec.get("fields", {}))
        status["journal_seq"] = rec["seq"]
    _check_settings(path, status)
    return status


def _check_entry(entry: Any, index: int, where: str, remedy: str) -> None:
    """One config_list entry, as Trial.from_entry needs it; a damaged one is named, not half-loaded."""
    problem = None
    if not isinstance(entry, dict):
        problem = f"is a {type(entry).__name__}, not an object"
    elif entry.get("trial_id") != index or isinstance(entry.get("trial_id"), bool):
        problem = f"has trial_id {entry.get('trial_id')!r} at position {index}"
    elif not isinstance(entry.get("config"), dict):
        problem = f"has no config object (got {entry.get('config')!r})"
    elif not _is_int(entry.get("status")) or entry["status"] not in {int(s) for s in Status}:
        problem = f"has the unknown status {entry.get('status')!r}"
    elif entry.get("score") is not None and not _is_real(entry["score"]):
        problem = f"has the score {entry['score']!r}, not a number or null"
    elif not all(_is_int(entry.get(k, 0)) for k in ("attempt", "iterations")):
        problem = f"has attempt {entry.get('attempt')!r} and iterations {entry.get('iterations')!r}, not ints"
    if problem is not None:
        raise StateFileError(f"{where} {problem}; {remedy}")


def _check_settings(path: str, status: dict[str, Any]) -> None:
    """The run-wide keys that resume reads; a damaged one is named rather than failing deep in resume."""
    for key in ("num_trials", "max_iterations", "journal_seq", "seed", "full_dataset_size", "num_full_iterations"):
        if key in status and status[key] is not None and not _is_int(status[key]):
            raise StateFileError(f"{path}: {key} is {status[key]!r}, not an int; {_STATUS_REMEDY}")
    for key in ("search_space", "original_search_space"):
        if key in status:
            try:
                space_from_json(status[key])
            except (TypeError, ValueError) as exc:
                raise StateFileError(f"{path}: {key} is damaged ({exc}); {_STATUS_REMEDY}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class HpoBase:
    """State, files and the trial life cycle; algorithms subclass it."""

    algorithm_name = "base"
    # Charge trials their measured start-up and suggestion time against the epoch budget (hpopt/overhead.py).
    # The simulator turns it off: its epochs last simulated seconds, while suggestions take real ones.
    measure_overhead = True

    def __init__(
        self,
        *,
        save_path: str,
        search_space: Mapping[str, SearchSpace],
        full_dataset_size: int,
        num_full_iterations: int,
        num_trials: int,
        max_iterations: int,
        subset_ratio: float,
        mode: str = "max",
        metric: str = "mAP",
        early_stop: str | None = None,
        batch_size_name: str | None = None,
        image_resize: tuple[int, int] = (0, 0),
        num_workers: int = 1,
        seed: int | None = None,
        resume: bool = False,
        default_configs: list[dict[str, Any]] | None = None,
        settings: Mapping[str, Any] | None = None,
        epoch_budget: float | None = None,
        time_budget_s: float | None = None,
        charge_overhead: bool = True,
    ) -> None:
        self.save_path = os.fspath(save_path)
        self._original_space = dict(search_space)
        self._space = dict(search_space)
        self.full_dataset_size = full_dataset_size
        self.num_full_iterations = num_full_iterations
        self.num_trials = num_trials
        self.max_iterations = max_iterations
        self.subset_ratio = subset_ratio
        self.mode = mode
        self.metric = metric
        self.early_stop = early_stop
        self.batch_size_name = batch_size_name
        self.image_resize = [int(image_resize[0]), int(image_resize[1])]
        self.num_workers = num_workers
        self.settings = dict(settings or {})
        self._default_configs = list(default_configs or [])
        self.seed = int(seed) if seed is not None else secrets.randbits(32)
        self.run_id = uuid.uuid4().hex

        self._trials: list[Trial] = []
        self._running: set[int] = set()
        self._ready: deque[int] = deque()
        self._best_id: int | None = None
        self._finished = 0
        self._seq = 0
        self._journal_len = 0
        self._seen_files: dict[int, tuple[int, int]] = {}
        self._partial: dict[int, int] = {}
        # The epoch budget (None: num_trials alone ends the run): epochs plus measured overhead of the
        # collected trials are charged against it (see hpopt/overhead.py).
        self.epoch_budget = None if epoch_budget is None else float(epoch_budget)
        # A budget in trial-seconds, when the user told how long a full training takes: the surest end.
        self.time_budget_s = None if time_budget_s is None else float(time_budget_s)
        # Overhead counts against the epoch budget only when the number of trials was auto config's to
        # choose: a num_trials the user set is run in full (ASHA's budget then covers exactly those trials).
        self.charge_overhead = bool(charge_overhead)
        self._epochs_charged = 0.0
        self._seconds_charged = 0.0
        self._overhead = OverheadLedger()
        self._partial_epoch_s: dict[int, float | None] = {}

        ensure_dir(self.save_path)
        self._lock = ControllerLock(self.save_path)
        self._lock.acquire(self)
        try:
            self._remove_stale_temp_files()
            self._journal = Journal(self.save_path)
            stored = load_status(self.save_path) if resume else None
            if stored is not None:
                self._restore(stored)
            else:
                if resume:
                    self._check_nothing_left()
                    logger.info("resume=True but %s holds no run; starting a new one", self.save_path)
                self._archive_previous_run()
                self._checkpoint()
        except BaseException:
            self._lock.release(self)
            raise

    # --- what an algorithm supplies ------------------------------------------------------------

    def _suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        """Params for a new trial (or a re-sample after OOM); None when the algorithm has nothing to give."""
        raise NotImplementedError

    def _on_trial_finished(self, trial: Trial) -> None:
        """Called once per trial when its result is collected (also for results found on resume)."""

    def _on_trial_scores(self, trial: Trial, scores: list[float | None]) -> None:
        """Called with a running trial's scores each time the controller sees its file change."""

    def _can_start_new(self) -> bool:
        return len(self._trials) < self.num_trials and self._budget_allows_new()

    def _expected_epochs(self, trial_id: int, done: int) -> float:
        """Expected total epochs of a trial that has reported ``done``; ASHA's rungs stop trials earlier."""
        return float(max(done, self._trials[trial_id].iterations if trial_id < len(self._trials)
                         else self.max_iterations))

    @property
    def epochs_used(self) -> float:
        """Epochs (plus measured overhead) of collected trials, and epochs seen so far from running ones."""
        return self._epochs_charged + sum(self._partial.get(tid, 0) for tid in self._running)

    def _budget_allows_new(self) -> bool:
        """Whether the running trials' expected rest and one more trial fit in the epoch and time budgets."""
        return self._epochs_allow_new() and self._seconds_allow_new()

    def _seconds_allow_new(self) -> bool:
        if self.time_budget_s is None:
            return True
        new = self._overhead.forecast_seconds(self._expected_epochs(len(self._trials), 0))
        if new is None:
            return True  # nothing measured yet: the first trials tell what a trial costs
        pending = 0.0
        for tid in self._running:
            total = self._overhead.forecast_seconds(self._expected_epochs(tid, self._partial.get(tid, 0)),
                                                    self._partial_epoch_s.get(tid))
            pending += total or 0.0
        return self._seconds_charged + pending + new <= self.time_budget_s * (1 + 1e-9)

    def _epochs_allow_new(self) -> bool:
        if self.epoch_budget is None or self.time_budget_s is not None:
            return True  # seconds, when known, are the budget: an epoch of one config may cost 3x another's
        overhead = self._overhead.forecast() if self.charge_overhead else 0.0
        pending = sum(self._expected_epochs(tid, self._partial.get(tid, 0)) - self._partial.get(tid, 0) + overhead
                      for tid in self._running)
        new = self._expected_epochs(len(self._trials), 0) + overhead
        return self.epochs_used + pending + new <= self.epoch_budget * (1 + 1e-9)

    def _algorithm_state(self) -> dict[str, Any]:
        """Extra keys for hpopt_status.json."""
        return {}

    def _extra_train_config(self, trial: Trial) -> dict[str, Any]:
        return {}

    # --- the public loop -----------------------------------------------------------------------

    def get_next_sample(self) -> dict[str, Any] | None:
        """The next train_config to run, or None when there is nothing to issue now.

        None with ``is_finished()`` False means trials are still running elsewhere: poll again later.
        """
        self._check_owner()
        self._collect()
        if self._ready:
            trial = self._trials[self._ready.popleft()]
            new = False
        elif self._can_start_new():
            tid = len(self._trials)
            started = time.perf_counter()
            params = self._default_configs[tid] if tid < len(self._default_configs) else self._suggest(tid, 0)
            if params is None:
                return None
            trial = Trial(trial_id=tid, config=params, iterations=self.max_iterations)
            trial.extra["suggest_s"] = round(time.perf_counter() - started, 4)
            self._trials.append(trial)
            new = True
        else:
            return None
        try:
            return self._issue(trial)
        except BaseException:
            # Not issued (e.g. the disk is full): the next call tries the same trial again.
            trial.status = Status.READY
            self._running.discard(trial.trial_id)
            if new:
                self._trials.pop()
            else:
                self._ready.appendleft(trial.trial_id)
            raise

    def get_next_samples(self, num: int | None = None) -> list[dict[str, Any]]:
        """Several train_configs at once: by default enough to keep ``num_workers`` trainers busy."""
        self._check_owner()
        self._collect()
        if num is None:
            num = max(1, self.num_workers - len(self._running))
        out: list[dict[str, Any]] = []
        while len(out) < num and (cfg := self.get_next_sample()) is not None:
            out.append(cfg)
        return out

    def is_finished(self) -> bool:
        """True once every trial is collected and no new one can be issued."""
        self._check_owner()
        self._collect()
        return not self._running and not self._ready and not self._can_start_new()

    def get_best_config(self) -> dict[str, Any] | None:
        """Params of the best finished trial (None, with a warning, when no trial has a valid score)."""
        self._check_owner()
        self._collect()
        self._checkpoint()
        if self._best_id is None:
            logger.warning("no trial in %s has a valid score yet; there is no best config", self.save_path)
            return None
        return dict(self._trials[self._best_id].config)

    def get_best_score(self) -> float | None:
        """Score of the best finished trial (None when no trial has a valid score)."""
        self._check_owner()
        self._collect()
        return None if self._best_id is None else self._trials[self._best_id].score

    def get_progress(self) -> float:
        """Share of the planned work done, in [0, 1]."""
        self._check_owner()
        self._collect()
        if self.is_finished():
            return 1.0
        done = self._finished + sum(
            min(1.0, n / max(1, self._trials[tid].iterations)) for tid, n in self._partial.items()
        )
        return min(0.99, done / max(1, self.num_trials))

    def print_results(self) -> None:
        """Print a table of the trials and the best one (the only printing the library does)."""
        self._check_owner()
        self._collect()
        names = list(self._original_space)
        print(f"hpopt results ({self.algorithm_name}, mode={self.mode}, metric={self.metric}) in {self.save_path}")
        print("  id  status   iters  score         " + "  ".join(names))
        for t in self._trials:
            score = "-" if t.score is None else f"{t.score:.6g}"
            params = "  ".join(_short(t.config.get(n)) for n in names)
            mark = " *" if t.trial_id == self._best_id else ""
            iters = int(t.extra.get("num_iterations_run", t.iterations))
            print(f"{t.trial_id:4d}  {t.status.name:<8} {iters:5d}  {score:<12}  {params}{mark}")
        if self._best_id is not None:
            best = self._trials[self._best_id]
            print(f"best: trial {best.trial_id}, score {best.score:.6g}, params {best.config}")
        else:
            print("best: none (no trial has a valid score)")

    def get_current_status(self) -> dict[str, Any]:
        """The run's state as it would be written to hpopt_status.json."""
        self._check_owner()
        self._collect()
        return self._status_dict()

    @property
    def hpo_status(self) -> dict[str, Any]:
        """The original's attribute: the status dict."""
        return self.get_current_status()

    @property
    def search_space(self) -> dict[str, SearchSpace]:
        """The current space (batch-size bounds may have been shrunk by CUDA OOM)."""
        return dict(self._space)

    # --- for execution adapters: a trial whose trainer died ----------------------------------

    def running_trials(self) -> list[int]:
        """Ids of the trials given out and not yet collected (after collecting what finished)."""
        self._check_owner()
        self._collect()
        return sorted(self._running)

    def retry_trial(self, trial_id: int) -> None:
        """Run a trial again from scratch (its trainer crashed): the next get_next_sample() re-issues it
        with the same params and ``attempt + 1``; the crashed attempt's scores move to ``previous_attempts``.

        A trial that finished meanwhile (its file says so) is collected instead, and nothing is retried.
        """
        trial = self._running_trial(trial_id, "retry_trial")
        if trial is None:
            return
        trial.extra["retries"] = int(trial.extra.get("retries", 0)) + 1
        self._requeue(trial)

    def _requeue(self, trial: Trial) -> None:
        """Issue a running trial again next, as attempt + 1 (reports of the old attempt are then ignored)."""
        self._running.discard(trial.trial_id)
        self._partial.pop(trial.trial_id, None)
        trial.attempt += 1
        trial.status = Status.READY
        self._ready.appendleft(trial.trial_id)
        self._record(trial)

    def fail_trial(self, trial_id: int, error: str) -> None:
        """Give up on a trial (its trainer crashed too often, or timed out): it ends with no score, so it
        can never be the best config, and ``error`` is kept in its entry. Its trial file is set to STOP,
        so a trainer still running it is told to stop; the scores it reported stay in the file.
        """
        trial = self._running_trial(trial_id, "fail_trial")
        if trial is None:
            return
        path = trial_path(self.save_path, trial_id)
        with trial_lock(self.save_path, trial_id):
            doc = read_trial_file(path) if os.path.exists(path) else {"scores": []}
            if os.path.exists(path) and doc.get("attempt", trial.attempt) == trial.attempt:
                doc["status"] = int(Status.STOP)
                doc["error"] = str(error)
                write_trial_file(path, doc)
        self._running.discard(trial_id)
        self._partial.pop(trial_id, None)
        trial.status, trial.score, trial.error = Status.STOP, None, str(error)
        trial.extra["num_iterations_run"] = len(doc.get("scores", []))
        self._mark_finished(trial)

    def _running_trial(self, trial_id: int, caller: str) -> Trial | None:
        self._check_owner()
        self._collect()
        if not isinstance(trial_id, int) or not 0 <= trial_id < len(self._trials):
            raise ValueError(f"{caller}(): no trial {trial_id!r} in {self.save_path}")
        if trial_id not in self._running:
            if self._trials[trial_id].status == Status.STOP:
                return None  # it finished (or was collected) before the call: nothing to do
            raise ValueError(f"{caller}(): trial {trial_id} is not running (status "
                             f"{self._trials[trial_id].status.name})")
        return self._trials[trial_id]

    def close(self) -> None:
        """Write a final checkpoint and free save_path for another controller."""
        if self._lock.owned_by(self):
            self._checkpoint()
            self._journal.close()
            self._lock.release(self)

    def __enter__(self) -> HpoBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- trial life cycle ----------------------------------------------------------------------

    def _check_owner(self) -> None:
        if not self._lock.owned_by(self):
            raise RuntimeError(
                f"this hpopt object no longer drives {self.save_path!r}: it was closed, or a newer "
                "hpopt.create() on the same save_path replaced it; use that one"
            )

    def _train_config(self, trial: Trial) -> dict[str, Any]:
        cfg = {
            "params": dict(trial.config),
            "iterations": trial.iterations,
            "trial_id": trial.trial_id,
            "file_path": trial_path(self.save_path, trial.trial_id),
            "subset_ratio": self.subset_ratio,
            "mode": self.mode,
            "early_stop": self.early_stop,
            "batch_size_param_name": self.batch_size_name,
            "resize_width": self.image_resize[0],
            "resize_height": self.image_resize[1],
            "metric": self.metric,
            "dataset_size": self.full_dataset_size,
            "attempt": trial.attempt,
            "run_id": self.run_id,
        }
        cfg.update(self._extra_train_config(trial))
        return cfg

    def _issue(self, trial: Trial) -> dict[str, Any]:
        """Mark the trial RUNNING (journal first: it is the truth on resume), then lay out its file."""
        trial.status = Status.RUNNING
        trial.extra["issued_at"] = round(time.time(), 4)
        self._record(trial, {"num_gen_config": len(self._trials)}, sync=True)
        path = trial_path(self.save_path, trial.trial_id)
        with trial_lock(self.save_path, trial.trial_id):
            previous: list[Any] = []
            if os.path.exists(path):
                try:
                    old = read_trial_file(path)
                    previous = list(old.get("previous_attempts", []))
                    if old.get("scores"):
                        previous.append({"attempt": old.get("attempt"), "status": old.get("status"),
                                         "scores": old["scores"]})
                except StateFileError as exc:  # kept aside, not overwritten: it may be restored by hand
                    os.replace(path, path + ".damaged")
                    logger.warning("trial %d runs again; its damaged file was moved to %s.damaged: %s",
                                   trial.trial_id, path, exc)
            # Not fsynced: the journal record above is the truth; after a power cut a missing or stale file
            # only makes resume re-issue the trial.
            write_trial_file(path, {
                "trial_id": trial.trial_id,
                "status": int(Status.RUNNING),
                "scores": [],
                "median": [],
                "iterations": trial.iterations,
                "attempt": trial.attempt,
                "run_id": self.run_id,
                "params": trial.config,
                "previous_attempts": previous,
            }, durable=False)
        self._running.add(trial.trial_id)
        self._seen_files.pop(trial.trial_id, None)
        self._partial.pop(trial.trial_id, None)
        return self._train_config(trial)

    def _read_trial_file(self, tid: int) -> dict[str, Any] | None:
        """The trial's file if it changed since the last look (mtime and size), else None.

        Raises FileNotFoundError when there is no file (a running trial's was laid out when it was issued).
        """
        path = trial_path(self.save_path, tid)
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        if self._seen_files.get(tid) == stamp:
            return None
        doc = read_trial_file(path)
        self._seen_files[tid] = stamp
        return doc

    def _collect(self) -> None:
        """Pick up finished and OOM trials among those given out; O(number running)."""
        for tid in sorted(self._running):
            try:
                doc = self._read_trial_file(tid)
            except FileNotFoundError:
                # Someone deleted it (it is laid out before the trial is given out, and only ever replaced):
                # its trainer's next report fails, so waiting for it would wait forever. Run it again.
                logger.warning("the file of running trial %d disappeared from %s; the trial runs again", tid,
                               self.save_path)
                self._requeue(self._trials[tid])
                continue
            if doc is None:
                continue
            trial = self._trials[tid]
            if doc.get("attempt", trial.attempt) != trial.attempt or doc.get("run_id", self.run_id) != self.run_id:
                continue  # a stale file from an earlier attempt; ours is not written yet
            status = Status(int(doc["status"]))
            if status == Status.CUDAOOM:
                self._handle_oom(trial)
                continue
            self._on_trial_scores(trial, doc["scores"])
            if status == Status.STOP or len(doc["scores"]) >= trial.iterations:
                self._finish(trial, doc)
            else:
                self._partial[tid] = len(doc["scores"])
                self._partial_epoch_s[tid] = trial_epoch_seconds(doc)

    def _finish(self, trial: Trial, doc: Mapping[str, Any]) -> None:
        scores = doc["scores"]
        trial.score = best_of(scores, self.mode)
        trial.status = Status.STOP
        trial.error = None if trial.score is not None else "no valid score reported"
        trial.extra["num_iterations_run"] = len(scores)
        cost = self._overhead.measure(doc, trial.extra) if self.measure_overhead else None
        if cost is not None:
            trial.extra.update(overhead_epochs=round(cost.overhead_epochs, 4), cost_s=round(cost.seconds, 4))
            if cost.epoch_seconds is not None:
                trial.extra["epoch_s"] = round(cost.epoch_seconds, 5)
        if doc.get("early_stopped"):
            trial.extra["early_stopped"] = 1
        self._running.discard(trial.trial_id)
        self._partial.pop(trial.trial_id, None)
        self._mark_finished(trial)

    def _mark_finished(self, trial: Trial, record: bool = True) -> None:
        """Count a collected trial, update the best, journal it and tell the algorithm."""
        self._finished += 1
        self._epochs_charged += float(trial.extra.get("num_iterations_run", 0))
        if self.charge_overhead:
            self._epochs_charged += float(trial.extra.get("overhead_epochs", 0.0))
        self._seconds_charged += float(trial.extra.get("cost_s", 0.0))
        best = None if self._best_id is None else self._trials[self._best_id].score
        if trial.score is not None and is_better(trial.score, best, self.mode):
            self._best_id = trial.trial_id
        if record:
            self._record(trial)
        self._on_trial_finished(trial)

    def _handle_oom(self, trial: Trial) -> None:
        """Shrink the batch-size upper bound below the size that failed, then re-sample the same trial id."""
        self._running.discard(trial.trial_id)
        self._partial.pop(trial.trial_id, None)
        name = self.batch_size_name
        if name is None:
            logger.warning("trial %d ran out of GPU memory and batch_size_name is not set, so hpopt cannot "
                           "shrink the batch size; the trial is marked failed", trial.trial_id)
            trial.status, trial.score, trial.error = Status.STOP, None, "CUDA out of memory"
            self._mark_finished(trial)
            return
        failed = trial.config[name]
        current = self._space[name]
        fields: dict[str, Any] = {}
        if failed <= current.upper:
            try:
                self._space[name] = current.with_upper(failed - current.q)
            except ValueError as exc:
                raise RuntimeError(
                    f"trial {trial.trial_id} ran out of GPU memory at {name}={failed}, and the batch size cannot "
                    f"shrink further (its lower bound is {current.lower}): the model does not fit in GPU memory "
                    f"at any batch size in the search space; lower the range's lower bound or use a bigger GPU "
                    f"({exc})"
                ) from exc
            fields["search_space"] = space_to_json(self._space)
            logger.warning("trial %d: CUDA OOM at %s=%s; %s upper bound is now %s", trial.trial_id, name, failed,
                           name, self._space[name].upper)
        trial.attempt += 1
        params = self._suggest(trial.trial_id, trial.attempt)
        if params is not None:
            trial.config = params
        trial.status = Status.READY
        trial.extra["oom_count"] = int(trial.extra.get("oom_count", 0)) + 1
        self._ready.appendleft(trial.trial_id)
        self._record(trial, fields)

    # --- persistence ---------------------------------------------------------------------------

    def _status_dict(self) -> dict[str, Any]:
        status = {
            "format_version": FORMAT_VERSION,
            "search_algorithm": self.algorithm_name,
            "search_space": space_to_json(self._space),
            "original_search_space": space_to_json(self._original_space),
            "metric": self.metric,
            "mode": self.mode,
            "subset_ratio": self.subset_ratio,
            "image_resize": self.image_resize,
            "full_dataset_size": self.full_dataset_size,
            "num_full_iterations": self.num_full_iterations,
            "max_iterations": self.max_iterations,
            "num_trials": self.num_trials,
            "early_stop": self.early_stop,
            "batch_size_name": self.batch_size_name,
            "num_workers": self.num_workers,
            "seed": self.seed,
            "run_id": self.run_id,
            "settings": self.settings,
            "config_list": [t.to_entry() for t in self._trials],
            "num_gen_config": len(self._trials),
            "best_config_id": self._best_id,
            "journal_seq": self._seq,
            "epoch_budget": self.epoch_budget,
            "time_budget_s": self.time_budget_s,
            "charge_overhead": self.charge_overhead,
        }
        status.update(self._algorithm_state())
        return status

    def _checkpoint(self) -> None:
        atomic_write_json(status_path(self.save_path), self._status_dict())
        self._journal.reset()
        self._journal_len = 0

    def _record(self, trial: Trial | None = None, fields: Mapping[str, Any] | None = None, sync: bool = False
                ) -> None:
        """Journal one change; rewrite the checkpoint when the journal is as long as the trial list.

        Only issuing a trial must be durable before the call returns (a trainer may report for it at
        once); every other change is derived from durable trial files and made durable by the next sync.
        """
        self._seq += 1
        rec: dict[str, Any] = {"seq": self._seq}
        if trial is not None:
            rec["trial"] = trial.to_entry()
        merged = {"best_config_id": self._best_id, **(fields or {})}
        rec["fields"] = merged
        self._journal.append(rec, sync=sync)
        self._journal_len += 1
        if self._journal_len >= max(_MIN_JOURNAL_BEFORE_CHECKPOINT, len(self._trials)):
            self._checkpoint()

    def _remove_stale_temp_files(self) -> None:
        """A writer killed between linking its temp file and renaming it leaves the temp file behind."""
        folders = [self.save_path] + [e.path for e in os.scandir(self.save_path)
                                      if e.is_dir(follow_symlinks=False) and e.name != "archive"]
        for folder in folders:
            for name in remove_stale_temp_files(folder):
                logger.info("removed %s, a temp file left by a killed writer", os.path.join(folder, name))

    def _run_files(self) -> list[str]:
        """The names in save_path that belong to a run, the status file first."""
        names = [n for n in os.listdir(self.save_path) if n == STATUS_FILE or n.startswith("hpopt_trial_")
                 or n in ("hpopt_journal.jsonl", "hpopt_median_stop", "hpopt_asha")]
        return sorted(names, key=lambda n: n != STATUS_FILE)

    def _check_nothing_left(self) -> None:
        """resume=True without a status file: trial files there mean the run's state was lost, not absent."""
        left = self._run_files()
        if left:
            raise StateFileError(
                f"resume=True but {status_path(self.save_path)} is missing, while {self.save_path} holds "
                f"{len(left)} files of a run ({', '.join(left[:3])}{', ...' if len(left) > 3 else ''}); restore "
                "hpopt_status.json from a backup, or start over with resume=False (those files are then moved "
                "to save_path/archive)"
            )

    def _archive_previous_run(self) -> None:
        """resume=False over an existing run: move its files aside (never delete a user's results).

        The status file goes first: a kill part-way leaves no status file next to the rest, which
        resume=True refuses (see _check_nothing_left) and resume=False archives in turn.
        """
        names = self._run_files()
        if not names:
            return
        dest = os.path.join(self.save_path, "archive", time.strftime("run-%Y%m%d-%H%M%S") + f"-{os.getpid()}")
        make_dir(dest)
        for n in names:
            os.replace(os.path.join(self.save_path, n), os.path.join(dest, n))
        logger.warning("resume=False: the previous run in %s was moved to %s", self.save_path, dest)

    def _restore(self, stored: dict[str, Any]) -> None:
        """Continue a stored run: check nothing essential changed, collect what finished, re-issue the rest."""
        mine = self._status_dict()
        for key, arg in RESUME_CHECKED.items():
            if key in stored and _canon(stored[key]) != _canon(mine[key]):
                raise ValueError(
                    f"resume=True but {arg} changed: the run in {self.save_path} used {stored[key]!r}, now "
                    f"{mine[key]!r}; pass the same value, or resume=False to start over (the old run is kept "
                    "in save_path/archive)"
                )
        self.seed = int(stored.get("seed", self.seed))
        self.run_id = str(stored.get("run_id", self.run_id))
        self.num_trials = max(self.num_trials, int(stored.get("num_trials", self.num_trials)))
        if stored.get("epoch_budget") is not None:
            self.epoch_budget = float(stored["epoch_budget"])
        if stored.get("time_budget_s") is not None:
            self.time_budget_s = float(stored["time_budget_s"])
        self.charge_overhead = bool(stored.get("charge_overhead", self.charge_overhead))
        if "search_space" in stored:
            self._space = space_from_json(stored["search_space"])
        self._seq = int(stored.get("journal_seq", 0))
        self._load_algorithm_state(stored)
        self._trials = [Trial.from_entry(e) for e in stored["config_list"]]
        self._checkpoint()
        collected = requeued = 0
        for trial in self._trials:
            if trial.status == Status.STOP:
                if "overhead_epochs" in trial.extra:
                    self._overhead.add(float(trial.extra["overhead_epochs"]), trial.extra.get("epoch_s"),
                                       trial.extra.get("cost_s"), trial.extra.get("num_iterations_run"))
                self._mark_finished(trial, record=False)
            elif trial.status == Status.READY:
                self._ready.append(trial.trial_id)
        for trial in self._trials:
            if trial.status != Status.RUNNING:
                continue
            self._running.add(trial.trial_id)
            try:
                doc = self._read_trial_file(trial.trial_id)
            except FileNotFoundError:  # e.g. its unsynced issue-time file after a power cut
                doc = None
            except StateFileError as exc:
                logger.warning("trial %d was running and its file is unreadable (%s); it is run again",
                               trial.trial_id, exc)
                doc = None
            ours = doc is not None and doc.get("attempt", trial.attempt) == trial.attempt
            if ours and Status(int(doc["status"])) == Status.CUDAOOM:
                self._handle_oom(trial)
            elif ours and (Status(int(doc["status"])) == Status.STOP or len(doc["scores"]) >= trial.iterations):
                self._on_trial_scores(trial, doc["scores"])
                self._finish(trial, doc)
                collected += 1
            else:
                # Its trainer died with the controller (or never started): run it again, same params.
                self._running.discard(trial.trial_id)
                trial.attempt += 1
                trial.status = Status.READY
                self._ready.append(trial.trial_id)
                self._record(trial)
                requeued += 1
        logger.info("resumed %s: %d trials, %d collected on resume, %d re-issued", self.save_path,
                    len(self._trials), collected, requeued)

    def _load_algorithm_state(self, stored: Mapping[str, Any]) -> None:
        """Restore the keys that ``_algorithm_state`` wrote."""


def config_key(params: Mapping[str, Any]) -> str:
    """A hashable identity of a config, for telling repeats apart (JSON values compare by type and value)."""
    return json.dumps(params, sort_keys=True)


def _canon(value: Any) -> Any:
    """Compare stored and new settings after a JSON round trip (tuples vs lists, int vs float)."""
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
