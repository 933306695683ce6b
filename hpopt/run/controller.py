"""The controller: the ask/tell loop and the trial life cycle (issue, collect, OOM, retry, fail, resume).

It composes an :class:`~hpopt.algorithms.Algorithm` (what to try, how long), a state store (where the
run's state lives: files or memory), a :class:`~.budget.Budget` (when to stop starting trials), the
run's :class:`~.ledger.RunLedger` (its trials and the status it keeps in the store) and the
:class:`~.lifecycle.TrialLifecycle` that moves trials along. It polls only the
trials it has given out and not yet collected (at most as many as run at once), so a call does not grow
with the number of trials.
"""

from __future__ import annotations

import logging
import numbers
import time
import uuid
from typing import Any

from ..algorithms import Algorithm
from ..errors import ControllerBusyError
from ..search_space import SearchSpace
from ..state import StateStore
from ..trial import Status, Trial
from . import resume
from .budget import Budget
from .ledger import RunLedger
from .lifecycle import TrialLifecycle
from .replanner import InFlight
from .settings import RunSettings

logger = logging.getLogger("hpopt")


# Algorithm settings that earlier versions' users read as attributes of the hpopt object.
_ALGORITHM_SETTINGS = frozenset({"kappa", "num_init_trials", "kappa_decay", "kappa_decay_delay", "min_iterations",
                                 "reduction_factor", "num_brackets", "sampler"})


def _checked_count(num: Any) -> int | None:
    """get_next_samples()'s ``num``: None or an int >= 0."""
    if num is None:
        return None
    if isinstance(num, bool) or not isinstance(num, numbers.Integral):
        raise TypeError(f"get_next_samples(num=...) must be an int or None, got {num!r} ({type(num).__name__})")
    if num < 0:
        raise ValueError(f"get_next_samples(num=...) must be >= 0, got {num!r}")
    return int(num)


class Controller:
    """What ``hpopt.create()`` returns: the run's ask/tell object."""

    def __init__(self, store: StateStore, algorithm: Algorithm, settings: RunSettings, budget: Budget, *,
                 resume_run: bool = False, default_configs: list[dict[str, Any]] | None = None) -> None:
        self.store = store
        self.algorithm = algorithm
        self.settings = settings
        self.budget = budget
        self.ledger = RunLedger(store, settings, algorithm, budget, run_id=uuid.uuid4().hex)
        self.life = TrialLifecycle(store, algorithm, settings, budget, self.ledger)
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
                self.life.checkpoint()
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
            params = self._default_configs[tid] if tid < len(self._default_configs) else self.life.suggest(tid, 0)
            if params is None:
                self._exhausted = True
                self._note_end_if_over()
                return None
            trial = Trial(trial_id=tid, config=params, iterations=self.settings.max_iterations)
            trial.extra["suggest_s"] = round(time.perf_counter() - started, 4)
            trial.extra.update(self.algorithm.entry(tid))
            ledger.trials.append(trial)
            self.algorithm.on_config(tid, 0, params)
            new = True
        else:
            self._note_end_if_over()
            return None
        try:
            return self.life.issue(trial)
        except BaseException:
            # Not issued (e.g. the disk is full): the next call tries the same trial again.
            trial.status = Status.READY
            ledger.running.discard(trial.trial_id)
            if new:
                ledger.trials.pop()
            else:
                ledger.ready.appendleft(trial.trial_id)
            raise

    def _note_end_if_over(self) -> None:
        """Before get_next_sample()'s None: when no trial runs or waits either, the run is over, and the ledger says
        so once (the user's loop ends here, often with no is_finished() call)."""
        if not self.ledger.running and not self.ledger.ready:
            self.ledger.note_end()

    def get_next_samples(self, num: int | None = None) -> list[dict[str, Any]]:
        """Several train_configs at once: by default enough to keep ``num_workers`` trainers busy."""
        num = _checked_count(num)
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
        done = not self.ledger.running and not self.ledger.ready and not self._can_start_new()
        return done and self.ledger.note_end()  # said once, when the run is over

    def get_best_config(self) -> dict[str, Any] | None:
        """Params of the best finished trial (None, with a warning, when no trial has a valid score): the
        best score (by epochs reached first with early stopping), or, after re-plans changed a baye_opt
        run's fidelity, the trial its GP rates best across them (status ``best_rule``; ``GpUcbSearcher.best_trial``)."""
        self._check_owner()
        self._collect()
        self.life.checkpoint()
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
        return 1.0 if self.is_finished() else self.ledger.progress()

    def print_results(self) -> None:
        """Print a table of the trials and the best one, and once the run is over what it did against its plan
        (the only printing the library does)."""
        self._check_owner()
        self._collect()
        print(self.ledger.results_table(self.store.save_path))

    def get_current_status(self) -> dict[str, Any]:
        """The run's state as it would be written to hpopt_status.json."""
        self._check_owner()
        self._collect()
        return self.ledger.status_dict(self.ledger.run_id)

    def trials_dataframe(self, as_records: bool = False) -> Any:
        """One row per trial (pandas DataFrame; list of dicts with as_records): hpopt.views.results."""
        from ..views.results import controller_results
        return controller_results(self).as_records() if as_records else controller_results(self).frame()

    hpo_status = property(lambda self: self.get_current_status(), doc="The original's attribute: the status dict.")

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
        self._check_owner()
        trial = self.life.running_trial(trial_id, "retry_trial")
        if trial is None:
            return
        trial.extra["retries"] = int(trial.extra.get("retries", 0)) + 1
        self.life.requeue(trial)

    def fail_trial(self, trial_id: int, error: str) -> None:
        """Give up on a trial (its trainer crashed too often, or timed out): it ends with no score, so it
        can never be the best config, and ``error`` is kept in its entry. Its record is set to STOP, so a
        trainer still running it is told to stop; the scores it reported stay in the record.
        """
        self._check_owner()
        trial = self.life.running_trial(trial_id, "fail_trial")
        if trial is not None:
            self.life.fail(trial, error)

    def close(self) -> None:
        """Write a final checkpoint and free save_path for another controller."""
        if self.store.owned_by(self):
            self.life.checkpoint()
            self.store.close_controller(self)
        self._closed = True

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- attributes kept from the first versions ----------------------------------------------

    save_path = property(lambda self: self.store.save_path)
    run_id = property(lambda self: self.ledger.run_id)
    num_trials = property(lambda self: self.settings.num_trials)
    max_iterations = property(lambda self: self.settings.max_iterations)
    subset_ratio = property(lambda self: self.settings.subset_ratio)
    mode = property(lambda self: self.settings.mode)
    metric = property(lambda self: self.settings.metric)
    seed = property(lambda self: self.settings.seed)
    num_workers = property(lambda self: self.settings.num_workers)
    batch_size_name = property(lambda self: self.settings.batch_size_name)

    epoch_budget = property(
        lambda self: self.budget.epoch_budget,
        lambda self, value: setattr(self.budget, "epoch_budget", None if value is None else float(value)),
        doc="Epochs (with measured overhead) the run may spend; None: num_trials alone ends it.")

    time_budget_s = property(lambda self: self.budget.time_budget_s,
                             doc="Seconds of measured trial cost the run may spend (create(full_train_seconds=...)).")

    algorithm_name = property(lambda self: self.algorithm.name)

    measure_overhead = property(
        lambda self: self.life.measure_overhead,
        lambda self, value: setattr(self.life, "measure_overhead", bool(value)),
        doc="Whether trials are charged their measured overhead (the simulator turns it off).")

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
        return None if self.algorithm.schedule is None else self.algorithm.schedule.rungs_in_brackets

    def __getattr__(self, name: str) -> Any:
        if name in _ALGORITHM_SETTINGS:
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

    def _collect(self) -> None:
        """Pick up what the running trials reported; with trials in flight, a run with a deadline in seconds
        may re-plan from their epochs (an adapter waiting on them calls this through running_trials())."""
        self.life.collect()
        if self.ledger.running:
            self._replan()

    def _replan(self) -> None:
        """Let the budget re-plan; a new plan cuts the trials in flight it names, and is durable before a
        trial runs on it."""
        ledger, replanner = self.ledger, self.budget.replanner
        if replanner is None:
            return
        in_flight = [InFlight(tid, self.budget.partial.get(tid, 0), ledger.trials[tid].iterations,
                              float(ledger.trials[tid].extra.get("subset_ratio", self.settings.subset_ratio)),
                              self.budget.partial_epoch_s.get(tid)) for tid in sorted(ledger.running)]
        if self.budget.replan(len(ledger.trials), ledger.running, self._expected_epochs, in_flight):
            for tid, top in replanner.take_cuts().items():
                self.life.cut(ledger.trials[tid], top)
            self.life.checkpoint()
        self.algorithm.on_count_at_risk(replanner.count_at_risk)

    def _can_start_new(self) -> bool:
        if self.budget.ended:  # the run said it was over: no re-plan, no forecast, nothing new
            return False
        ledger = self.ledger
        self._replan()
        return (not self._exhausted and len(ledger.trials) < self.settings.num_trials
                and self.budget.allows_new(len(ledger.trials), ledger.running, self._expected_epochs))

    def _expected_epochs(self, trial_id: int, done: int) -> float:
        trials = self.ledger.trials
        iterations = trials[trial_id].iterations if trial_id < len(trials) else self.settings.max_iterations
        return self.algorithm.expected_epochs(trial_id, done, iterations)

    # --- persistence ---------------------------------------------------------------------------

    def _restore(self, stored: dict[str, Any]) -> None:
        resume.restore(self, stored)
