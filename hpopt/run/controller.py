"""The controller: the ask/tell loop and the trial life cycle (issue, collect, OOM, retry, fail, resume).

It composes an :class:`~hpopt.algorithms.Algorithm` (what to try, how long), a state store (where the
run's state lives: files or memory), a :class:`~.budget.Budget` (when to stop starting trials) and the
run's :class:`~.ledger.RunLedger` (its trials and the status it keeps in the store). It polls only the
trials it has given out and not yet collected (at most as many as run at once), so a call does not grow
with the number of trials.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..algorithms import Algorithm, SuggestRequest
from ..errors import ControllerBusyError, SearchSpaceExhaustedError
from ..search_space import SearchSpace, space_to_json
from ..state import StateStore, TrialRecord
from ..trial import Status, Trial
from . import resume
from .budget import Budget
from .ledger import RunLedger
from .overhead import trial_epoch_seconds
from .settings import RunSettings

logger = logging.getLogger("hpopt")


class Controller:
    """What ``hpopt.create()`` returns: the run's ask/tell object."""

    # Charge trials their measured start-up and suggestion time against the epoch budget (overhead.py).
    # The simulator turns it off: its epochs last simulated seconds, while suggestions take real ones.
    measure_overhead = True

    def __init__(self, store: StateStore, algorithm: Algorithm, settings: RunSettings, budget: Budget, *,
                 resume_run: bool = False, default_configs: list[dict[str, Any]] | None = None) -> None:
        self.store = store
        self.algorithm = algorithm
        self.settings = settings
        self.budget = budget
        self.run_id = uuid.uuid4().hex
        self.ledger = RunLedger(store, settings, algorithm, budget)
        self._default_configs = list(default_configs or [])
        self._exhausted = False
        self._closed = False
        store.open_controller(self)
        try:
            stored = store.load_status() if resume_run else None
            if stored is not None:
                self._restore(stored)
            else:
                if resume_run:
                    resume.check_nothing_left(store)
                    logger.info("resume=True but %s holds no run; starting a new one", store.save_path)
                dest = store.archive_run()
                if dest is not None:
                    logger.warning("resume=False: the previous run in %s was moved to %s", store.save_path, dest)
                self._checkpoint()
        except BaseException:
            store.close_controller(self)
            raise

    # --- the public loop -----------------------------------------------------------------------

    def get_next_sample(self) -> dict[str, Any] | None:
        """The next train_config to run, or None when there is nothing to issue now.

        None with ``is_finished()`` False means trials are still running elsewhere: poll again later.
        """
        self._check_owner()
        self._collect()
        ledger = self.ledger
        if ledger.ready:
            trial = ledger.trials[ledger.ready.popleft()]
            new = False
        elif self._can_start_new():
            tid = len(ledger.trials)
            started = time.perf_counter()
            params = self._default_configs[tid] if tid < len(self._default_configs) else self._suggest(tid, 0)
            if params is None:
                self._exhausted = True
                return None
            trial = Trial(trial_id=tid, config=params, iterations=self.settings.max_iterations)
            trial.extra["suggest_s"] = round(time.perf_counter() - started, 4)
            trial.extra.update(self.algorithm.entry(tid))
            ledger.trials.append(trial)
            self.algorithm.searcher.on_config(tid, 0, params)
            new = True
        else:
            return None
        try:
            return self._issue(trial)
        except BaseException:
            # Not issued (e.g. the disk is full): the next call tries the same trial again.
            trial.status = Status.READY
            ledger.running.discard(trial.trial_id)
            if new:
                ledger.trials.pop()
            else:
                ledger.ready.appendleft(trial.trial_id)
            raise

    def get_next_samples(self, num: int | None = None) -> list[dict[str, Any]]:
        """Several train_configs at once: by default enough to keep ``num_workers`` trainers busy."""
        self._check_owner()
        self._collect()
        if num is None:
            num = max(1, self.settings.num_workers - len(self.ledger.running))
        out: list[dict[str, Any]] = []
        while len(out) < num and (cfg := self.get_next_sample()) is not None:
            out.append(cfg)
        return out

    def is_finished(self) -> bool:
        """True once every trial is collected and no new one can be issued."""
        self._check_owner()
        self._collect()
        return not self.ledger.running and not self.ledger.ready and not self._can_start_new()

    def get_best_config(self) -> dict[str, Any] | None:
        """Params of the best finished trial (None, with a warning, when no trial has a valid score)."""
        self._check_owner()
        self._collect()
        self._checkpoint()
        best = self.ledger.best
        if best is None:
            logger.warning("no trial in %s has a valid score yet; there is no best config", self.store.save_path)
            return None
        return dict(best.config)

    def get_best_score(self) -> float | None:
        """Score of the best finished trial (None when no trial has a valid score)."""
        self._check_owner()
        self._collect()
        best = self.ledger.best
        return None if best is None else best.score

    def get_progress(self) -> float:
        """Share of the planned work done, in [0, 1]: of the epoch budget (ASHA) or of num_trials."""
        self._check_owner()
        self._collect()
        if self.is_finished():
            return 1.0
        ledger = self.ledger
        if self.algorithm.schedule is not None and self.budget.epoch_budget:
            used = self.epochs_used / self.budget.epoch_budget
            return min(0.99, max(used, ledger.finished / max(1, self.num_trials)))
        done = ledger.finished + sum(min(1.0, n / max(1, ledger.trials[tid].iterations))
                                     for tid, n in self.budget.partial.items() if tid in ledger.running)
        return min(0.99, done / max(1, self.num_trials))

    def print_results(self) -> None:
        """Print a table of the trials and the best one (the only printing the library does)."""
        self._check_owner()
        self._collect()
        print(self.ledger.results_table(self.store.save_path))

    def get_current_status(self) -> dict[str, Any]:
        """The run's state as it would be written to hpopt_status.json."""
        self._check_owner()
        self._collect()
        return self.ledger.status_dict(self.run_id)

    @property
    def hpo_status(self) -> dict[str, Any]:
        """The original's attribute: the status dict."""
        return self.get_current_status()

    # --- for execution adapters: a trial whose trainer died ------------------------------------

    def running_trials(self) -> list[int]:
        """Ids of the trials given out and not yet collected (after collecting what finished)."""
        self._check_owner()
        self._collect()
        return sorted(self.ledger.running)

    def retry_trial(self, trial_id: int) -> None:
        """Run a trial again from scratch (its trainer crashed): the next get_next_sample() re-issues it
        with the same params and ``attempt + 1``; the crashed attempt's scores move to ``previous_attempts``.

        A trial that finished meanwhile (its record says so) is collected instead, and nothing is retried.
        """
        trial = self._running_trial(trial_id, "retry_trial")
        if trial is None:
            return
        trial.extra["retries"] = int(trial.extra.get("retries", 0)) + 1
        self._requeue(trial)

    def fail_trial(self, trial_id: int, error: str) -> None:
        """Give up on a trial (its trainer crashed too often, or timed out): it ends with no score, so it
        can never be the best config, and ``error`` is kept in its entry. Its record is set to STOP, so a
        trainer still running it is told to stop; the scores it reported stay in the record.
        """
        trial = self._running_trial(trial_id, "fail_trial")
        if trial is None:
            return
        scores: list[float | None] = []
        try:
            with self.store.locked_trial(trial_id) as record:
                scores = list(record.scores)
                if record.attempt in (None, trial.attempt) and record.status == Status.RUNNING:
                    record.set_status(Status.STOP, error=str(error))
        except FileNotFoundError:
            pass
        self.ledger.running.discard(trial_id)
        self.budget.forget(trial_id)
        trial.status, trial.score, trial.error = Status.STOP, None, str(error)
        trial.extra["num_iterations_run"] = len(scores)
        self._mark_finished(trial)

    def close(self) -> None:
        """Write a final checkpoint and free save_path for another controller."""
        if self.store.owned_by(self):
            self._checkpoint()
            self.store.close_controller(self)
        self._closed = True

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- attributes kept from the first versions ----------------------------------------------

    save_path = property(lambda self: self.store.save_path)
    num_trials = property(lambda self: self.settings.num_trials)
    max_iterations = property(lambda self: self.settings.max_iterations)
    subset_ratio = property(lambda self: self.settings.subset_ratio)
    mode = property(lambda self: self.settings.mode)
    metric = property(lambda self: self.settings.metric)
    seed = property(lambda self: self.settings.seed)
    num_workers = property(lambda self: self.settings.num_workers)
    batch_size_name = property(lambda self: self.settings.batch_size_name)

    @property
    def epoch_budget(self) -> float | None:
        """Epochs (with measured overhead) the run may spend; None: num_trials alone ends it."""
        return self.budget.epoch_budget

    @epoch_budget.setter
    def epoch_budget(self, value: float | None) -> None:
        self.budget.epoch_budget = None if value is None else float(value)

    @property
    def time_budget_s(self) -> float | None:
        """Seconds of measured trial cost the run may spend (create(full_train_seconds=...))."""
        return self.budget.time_budget_s

    algorithm_name = property(lambda self: self.algorithm.name)

    @property
    def search_space(self) -> dict[str, SearchSpace]:
        """The current space (batch-size bounds may have been shrunk by CUDA OOM)."""
        return dict(self.ledger.space)

    @property
    def epochs_used(self) -> float:
        """Epochs (plus measured overhead) of collected trials, and epochs seen so far from running ones."""
        return self.budget.epochs_used(self.ledger.running)

    @property
    def rungs_in_brackets(self) -> list[list[int]] | None:
        """ASHA: rung epochs per bracket, each list largest first (the original's order)."""
        schedule = self.algorithm.schedule
        return None if schedule is None else schedule.rungs_in_brackets

    def __getattr__(self, name: str) -> Any:
        # Algorithm settings read as attributes by earlier versions' users (kappa, min_iterations, ...).
        if name in ("kappa", "num_init_trials", "kappa_decay", "kappa_decay_delay", "min_iterations",
                    "reduction_factor", "num_brackets", "sampler"):
            state = self.__dict__["algorithm"].state()
            if name in state:
                return state[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # --- trial life cycle ----------------------------------------------------------------------

    def _check_owner(self) -> None:
        if not self.store.owned_by(self):
            raise ControllerBusyError(
                f"this hpopt object no longer drives {self.store.save_path!r}: it was closed, or a newer "
                "hpopt.create() on the same save_path replaced it; use that one")

    def _can_start_new(self) -> bool:
        ledger = self.ledger
        return (not self._exhausted and len(ledger.trials) < self.settings.num_trials
                and self.budget.allows_new(len(ledger.trials), ledger.running, self._expected_epochs))

    def _expected_epochs(self, trial_id: int, done: int) -> float:
        trials = self.ledger.trials
        iterations = trials[trial_id].iterations if trial_id < len(trials) else self.settings.max_iterations
        return self.algorithm.expected_epochs(trial_id, done, iterations)

    def _suggest(self, trial_id: int, attempt: int) -> dict[str, Any] | None:
        ledger = self.ledger
        pending = [ledger.trials[t].config for t in sorted(ledger.running) if t != trial_id]
        return self.algorithm.searcher.suggest(SuggestRequest(trial_id, attempt, dict(ledger.space), pending))

    def _train_config(self, trial: Trial) -> dict[str, Any]:
        s = self.settings
        cfg = {
            "params": dict(trial.config), "iterations": trial.iterations, "trial_id": trial.trial_id,
            "file_path": self.store.trial_address(trial.trial_id), "subset_ratio": s.subset_ratio, "mode": s.mode,
            "early_stop": s.early_stop, "batch_size_param_name": s.batch_size_name,
            "resize_width": s.image_resize[0], "resize_height": s.image_resize[1], "metric": s.metric,
            "dataset_size": s.full_dataset_size, "attempt": trial.attempt, "run_id": self.run_id,
        }
        cfg.update(self.algorithm.train_config(trial.trial_id))
        return cfg

    def _issue(self, trial: Trial) -> dict[str, Any]:
        """Mark the trial RUNNING (journal first: it is the truth on resume), then lay out its record."""
        trial.status = Status.RUNNING
        trial.extra["issued_at"] = round(time.time(), 4)
        self._record(trial, {"num_gen_config": len(self.ledger.trials)}, sync=True)
        self.store.begin_attempt(trial.trial_id, trial.attempt, self.run_id, trial.config, trial.iterations)
        self.ledger.running.add(trial.trial_id)
        self.budget.forget(trial.trial_id)
        return self._train_config(trial)

    def _collect(self) -> None:
        """Pick up finished and OOM trials among those given out; O(number running)."""
        for tid in sorted(self.ledger.running):
            try:
                record = self.store.poll_trial(tid)
            except FileNotFoundError:
                # Someone deleted it (it is laid out before the trial is given out, and only ever replaced):
                # its trainer's next report fails, so waiting for it would wait forever. Run it again.
                logger.warning("the record of running trial %d disappeared from %s; the trial runs again", tid,
                               self.store.save_path)
                self._requeue(self.ledger.trials[tid])
                continue
            if record is not None:
                self._take(self.ledger.trials[tid], record)

    def _take(self, trial: Trial, record: TrialRecord) -> None:
        """Act on a running trial's changed record: OOM, finished, or new scores."""
        doc = record.doc
        if doc.get("attempt", trial.attempt) != trial.attempt or doc.get("run_id", self.run_id) != self.run_id:
            return  # a stale record of an earlier attempt; ours is not written yet
        if record.status == Status.CUDAOOM:
            self._handle_oom(trial)
            return
        self.algorithm.searcher.on_scores(trial.trial_id, trial.attempt, record.scores)
        if record.status == Status.STOP or len(record.scores) >= trial.iterations:
            self._finish(trial, record)
        else:
            self.budget.partial[trial.trial_id] = len(record.scores)
            self.budget.partial_epoch_s[trial.trial_id] = trial_epoch_seconds(doc)

    def _finish(self, trial: Trial, record: TrialRecord) -> None:
        doc = record.doc
        scores = record.scores
        trial.score = record.best(self.settings.mode)
        trial.status = Status.STOP
        trial.error = None if trial.score is not None else "no valid score reported"
        trial.extra["num_iterations_run"] = len(scores)
        cost = self.budget.ledger.measure(doc, trial.extra) if self.measure_overhead else None
        if cost is not None:
            trial.extra.update(overhead_epochs=round(cost.overhead_epochs, 4), cost_s=round(cost.seconds, 4))
            if cost.epoch_seconds is not None:
                trial.extra["epoch_s"] = round(cost.epoch_seconds, 5)
        if doc.get("early_stopped"):
            trial.extra["early_stopped"] = 1
        self.ledger.running.discard(trial.trial_id)
        self.budget.forget(trial.trial_id)
        self._mark_finished(trial)

    def _mark_finished(self, trial: Trial, record: bool = True) -> None:
        """Count a collected trial, update the best, journal it and tell the searcher."""
        self.ledger.count_finished(trial)
        if record:
            self._record(trial)
        self.algorithm.searcher.on_result(trial.trial_id, trial.score)

    def _requeue(self, trial: Trial) -> None:
        """Issue a running trial again next, as attempt + 1 (reports of the old attempt are then ignored)."""
        self.ledger.running.discard(trial.trial_id)
        self.budget.forget(trial.trial_id)
        trial.attempt += 1
        trial.status = Status.READY
        self.ledger.ready.appendleft(trial.trial_id)
        self.algorithm.searcher.on_config(trial.trial_id, trial.attempt, trial.config)
        self._record(trial)

    def _handle_oom(self, trial: Trial) -> None:
        """Shrink the batch-size upper bound below the size that failed, then re-sample the same trial id."""
        self.ledger.running.discard(trial.trial_id)
        self.budget.forget(trial.trial_id)
        name = self.settings.batch_size_name
        if name is None:
            logger.warning("trial %d ran out of GPU memory and batch_size_name is not set, so hpopt cannot "
                           "shrink the batch size; the trial is marked failed", trial.trial_id)
            trial.status, trial.score, trial.error = Status.STOP, None, "CUDA out of memory"
            self._mark_finished(trial)
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
        params = self._suggest(trial.trial_id, trial.attempt)
        if params is not None:
            trial.config = params
        self.algorithm.searcher.on_config(trial.trial_id, trial.attempt, trial.config)
        trial.status = Status.READY
        trial.extra["oom_count"] = int(trial.extra.get("oom_count", 0)) + 1
        self.ledger.ready.appendleft(trial.trial_id)
        self._record(trial, fields)

    def _running_trial(self, trial_id: int, caller: str) -> Trial | None:
        self._check_owner()
        self._collect()
        trials = self.ledger.trials
        if not isinstance(trial_id, int) or not 0 <= trial_id < len(trials):
            raise ValueError(f"{caller}(): no trial {trial_id!r} in {self.store.save_path}")
        if trial_id not in self.ledger.running:
            if trials[trial_id].status == Status.STOP:
                return None  # it finished (or was collected) before the call: nothing to do
            raise ValueError(f"{caller}(): trial {trial_id} is not running (status {trials[trial_id].status.name})")
        return trials[trial_id]

    # --- persistence ---------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        self.ledger.checkpoint(self.run_id)

    def _record(self, trial: Trial | None = None, fields: Mapping[str, Any] | None = None, sync: bool = False
                ) -> None:
        self.ledger.record(self.run_id, trial, fields, sync)

    def _restore(self, stored: dict[str, Any]) -> None:
        resume.restore(self, stored)
