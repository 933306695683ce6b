"""A trial's life cycle on the controller's side: issue it, collect its result, re-sample it after a CUDA
OOM, run it again after a crash, give up on it. Each step is journaled through the run's ledger, so resume
sees it; only the trials given out and not yet collected are polled, so a step does not grow with the
number of trials."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..algorithms import Algorithm, SuggestRequest
from ..algorithms.scores import last_valid
from ..errors import SearchSpaceExhaustedError
from ..search_space import space_to_json
from ..state import StateStore, TrialRecord
from ..trial import Status, Trial
from .budget import Budget
from .ledger import RunLedger
from .overhead import trial_epoch_seconds
from .settings import RunSettings

logger = logging.getLogger("hpopt")


class TrialLifecycle:
    """Moves trials through READY -> RUNNING -> STOP (or back to READY after an OOM or a crash)."""

    # Charge trials their measured start-up and suggestion time against the epoch budget (overhead.py).
    # The simulator turns it off: its epochs last simulated seconds, while suggestions take real ones.
    measure_overhead = True

    def __init__(self, store: StateStore, algorithm: Algorithm, settings: RunSettings, budget: Budget,
                 ledger: RunLedger) -> None:
        self.store = store
        self.algorithm = algorithm
        self.settings = settings
        self.budget = budget
        self.ledger = ledger

    def running_trial(self, trial_id: int, caller: str) -> Trial | None:
        """The running trial an adapter names (``caller``: its method, for the error); None when it
        finished before the call; ValueError for an id that is not running."""
        self.collect()
        trials = self.ledger.trials
        if not isinstance(trial_id, int) or not 0 <= trial_id < len(trials):
            raise ValueError(f"{caller}(): no trial {trial_id!r} in {self.store.save_path}")
        if trial_id not in self.ledger.running:
            if trials[trial_id].status == Status.STOP:
                return None  # it finished (or was collected) before the call: nothing to do
            raise ValueError(f"{caller}(): trial {trial_id} is not running (status {trials[trial_id].status.name})")
        return trials[trial_id]

    def release(self, trial_id: int) -> None:
        """The trial no longer runs: stop polling it and forget its partial epochs."""
        self.ledger.running.discard(trial_id)
        self.budget.forget(trial_id)

    def suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        ledger = self.ledger
        pending = [ledger.trials[t].config for t in sorted(ledger.running) if t != trial_id]
        return self.algorithm.searcher.suggest(SuggestRequest(trial_id, attempt, dict(ledger.space), pending,
                                                              self.fidelity(None), self.settings.num_trials))

    def train_config(self, trial: Trial) -> dict[str, Any]:
        s = self.settings
        cfg = {
            "params": dict(trial.config), "iterations": trial.iterations, "trial_id": trial.trial_id,
            "file_path": self.store.trial_address(trial.trial_id), "mode": s.mode,
            "subset_ratio": float(trial.extra.get("subset_ratio", s.subset_ratio)),
            "early_stop": s.early_stop, "batch_size_param_name": s.batch_size_name,
            "resize_width": s.image_resize[0], "resize_height": s.image_resize[1], "metric": s.metric,
            "dataset_size": s.full_dataset_size, "attempt": trial.attempt, "run_id": self.ledger.run_id,
        }
        cfg.update(self.algorithm.train_config(trial.trial_id, trial.iterations))
        if trial.extra.get("rung_group"):
            cfg["rung_group"] = int(trial.extra["rung_group"])
        return cfg

    def issue(self, trial: Trial) -> dict[str, Any]:
        """Mark the trial RUNNING (journal first: it is the truth on resume), then lay out its record."""
        trial.status = Status.RUNNING
        trial.extra["issued_at"] = round(time.time(), 4)
        self.budget.note_issue()
        replanner = self.budget.replanner
        if replanner is not None and replanner.active:
            trial.extra.setdefault("subset_ratio", self.settings.subset_ratio)  # the plan may change it later
            if self.algorithm.schedule is not None and "rung_group" not in trial.extra:
                group = replanner.rung_group(trial.extra["subset_ratio"])
                if group:  # ASHA on a subset a re-plan cut: rungs of its own
                    trial.extra["rung_group"] = group
                    self.algorithm.on_subset(trial.trial_id, replanner.subset_share(trial.extra["subset_ratio"]))
        self.record(trial, {"num_gen_config": len(self.ledger.trials)}, sync=True)
        self.store.begin_attempt(trial.trial_id, trial.attempt, self.ledger.run_id, trial.config, trial.iterations)
        self.ledger.running.add(trial.trial_id)
        self.budget.forget(trial.trial_id)
        return self.train_config(trial)

    def collect(self) -> None:
        """Pick up finished and OOM trials among those given out; O(number running)."""
        for tid in sorted(self.ledger.running):
            try:
                record = self.store.poll_trial(tid)
            except FileNotFoundError:
                # Someone deleted it (it is laid out before the trial is given out, and only ever replaced):
                # its trainer's next report fails, so waiting for it would wait forever. Run it again.
                logger.warning("the record of running trial %d disappeared from %s; the trial runs again", tid,
                               self.store.save_path)
                self.requeue(self.ledger.trials[tid])
                continue
            if record is not None:
                self.take(self.ledger.trials[tid], record)

    def take(self, trial: Trial, record: TrialRecord) -> None:
        """Act on a running trial's changed record: OOM, finished, or new scores."""
        doc = record.doc
        run_id = self.ledger.run_id
        if doc.get("attempt", trial.attempt) != trial.attempt or doc.get("run_id", run_id) != run_id:
            return  # a stale record of an earlier attempt; ours is not written yet
        if record.status == Status.CUDAOOM:
            self.handle_oom(trial)
            return
        self.algorithm.on_scores(trial.trial_id, trial.attempt, record.scores)
        if record.status == Status.STOP or len(record.scores) >= trial.iterations:
            self.finish(trial, record)
        else:
            self.budget.partial[trial.trial_id] = len(record.scores)
            self.budget.partial_epoch_s[trial.trial_id] = trial_epoch_seconds(doc)

    def finish(self, trial: Trial, record: TrialRecord) -> None:
        doc = record.doc
        scores = record.scores
        trial.score = record.best(self.settings.mode)
        trial.status = Status.STOP
        trial.error = None if trial.score is not None else "no valid score reported"
        trial.extra["num_iterations_run"] = len(scores)
        trial.extra["last_score"] = last_valid(scores)  # what a multi-fidelity run ranks it by (rank_key)
        cost = self.budget.ledger.measure(doc, trial.extra) if self.measure_overhead else None
        if cost is not None:
            trial.extra.update(overhead_epochs=round(cost.overhead_epochs, 4), cost_s=round(cost.seconds, 4))
            if cost.epoch_seconds is not None:
                trial.extra["epoch_s"] = round(cost.epoch_seconds, 5)
        if doc.get("early_stopped"):
            trial.extra["early_stopped"] = 1
        self.release(trial.trial_id)
        self.mark_finished(trial)

    def mark_finished(self, trial: Trial, record: bool = True) -> None:
        """Count a collected trial, update the best, journal it and tell the searcher."""
        self.ledger.count_finished(trial)
        if record:
            self.record(trial)
        self.algorithm.on_result(trial.trial_id, trial.score, self.fidelity(trial))
        scale = self.epoch_scale(trial)
        if scale is not None:
            self.algorithm.on_cost(trial.trial_id, scale)

    def epoch_scale(self, trial: Trial) -> float | None:
        """The trial's epoch seconds over the plan's model of an epoch on its subset, in a run with a deadline
        in seconds (None elsewhere, or when its epochs were not measured)."""
        replanner = self.budget.replanner
        measured = None if replanner is None else replanner.measured_epoch(trial.extra)
        return None if measured is None else measured[0] / measured[1]

    def fidelity(self, trial: Trial | None) -> float:
        """The training a trial gets (a new one when None), in full-data epochs: epochs x subset ratio.
        Auto config's re-planning changes both during a run; a searcher's model takes it as an input."""
        s = self.settings
        if trial is None:
            return s.max_iterations * s.subset_ratio
        return trial.iterations * float(trial.extra.get("subset_ratio", s.subset_ratio))

    def requeue(self, trial: Trial) -> None:
        """Issue a running trial again next, as attempt + 1 (reports of the old attempt are then ignored)."""
        self.release(trial.trial_id)
        trial.attempt += 1
        trial.status = Status.READY
        self.ledger.ready.appendleft(trial.trial_id)
        self.algorithm.on_config(trial.trial_id, trial.attempt, trial.config)
        self.record(trial)

    def handle_oom(self, trial: Trial) -> None:
        """Shrink the batch-size upper bound below the size that failed, then re-sample the same trial id."""
        self.release(trial.trial_id)
        name = self.settings.batch_size_name
        if name is None:
            logger.warning("trial %d ran out of GPU memory and batch_size_name is not set, so hpopt cannot "
                           "shrink the batch size; the trial is marked failed", trial.trial_id)
            trial.status, trial.score, trial.error = Status.STOP, None, "CUDA out of memory"
            self.mark_finished(trial)
            return
        failed, current = trial.config[name], self.ledger.space[name]
        fields: dict[str, Any] = {}
        if failed <= current.upper:
            try:
                self.ledger.space[name] = current.with_upper(failed - current.q)
            except ValueError as exc:
                raise SearchSpaceExhaustedError(
                    f"trial {trial.trial_id} ran out of GPU memory at {name}={failed}, and the batch size cannot "
                    f"shrink further (its lower bound is {current.lower}): the model does not fit in GPU memory "
                    f"at any batch size in the search space; lower the range's lower bound or use a bigger GPU "
                    f"({exc})") from exc
            fields["search_space"] = space_to_json(self.ledger.space)
            logger.warning("trial %d: CUDA OOM at %s=%s; %s upper bound is now %s", trial.trial_id, name, failed,
                           name, self.ledger.space[name].upper)
        trial.attempt += 1
        params = self.suggest(trial.trial_id, trial.attempt)
        if params is not None:
            trial.config = params
        self.algorithm.on_config(trial.trial_id, trial.attempt, trial.config)
        trial.status = Status.READY
        trial.extra["oom_count"] = int(trial.extra.get("oom_count", 0)) + 1
        self.ledger.ready.appendleft(trial.trial_id)
        self.record(trial, fields)


    def cut(self, trial: Trial, iterations: int) -> None:
        """Lower a running trial's last epoch (a re-plan's): its record stops the trainer there, or at once
        when it already ran that many; the journal keeps the new last epoch for resume."""
        if self._change_running(trial, lambda record: record.cut(iterations)) is None:
            return  # its record is gone: collect() runs it again
        trial.iterations = int(iterations)
        self.record(trial)

    def fail(self, trial: Trial, error: str) -> None:
        """End a running trial with no score (its trainer crashed too often, or timed out); its record is set
        to STOP so a trainer still running it is told to stop; the scores it reported stay there."""
        scores = self._change_running(trial, lambda record: record.set_status(Status.STOP, error=str(error))) or []
        self.release(trial.trial_id)
        trial.status, trial.score, trial.error = Status.STOP, None, str(error)
        trial.extra["num_iterations_run"] = len(scores)
        self.mark_finished(trial)

    def _change_running(self, trial: Trial, change: Callable[[TrialRecord], None]) -> list[float | None] | None:
        """Apply ``change`` to the trial's record under its lock while the record is this attempt's and still
        running (a trainer may have finished it meanwhile); the scores the record holds, None when it is gone."""
        try:
            with self.store.locked_trial(trial.trial_id) as record:
                scores = list(record.scores)
                if record.attempt in (None, trial.attempt) and record.status == Status.RUNNING:
                    change(record)
                return scores
        except FileNotFoundError:
            return None

    def checkpoint(self) -> None:
        self.ledger.checkpoint(self.ledger.run_id)

    def record(self, trial: Trial | None = None, fields: Mapping[str, Any] | None = None, sync: bool = False
               ) -> None:
        self.ledger.record(self.ledger.run_id, trial, fields, sync)
