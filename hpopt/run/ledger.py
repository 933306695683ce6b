"""The run's ledger: its trials (``config_list``), which are running or waiting, the best one, and the
status dict it keeps in the store (a checkpoint, then one journal record per change)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..algorithms import Algorithm
from ..algorithms.scores import rank_key, score_up_to
from ..errors import StateFileError
from ..search_space import SearchSpace, space_to_json
from ..state import StateStore
from ..trial import Status, Trial
from .budget import Budget
from .outcome import outcome
from .settings import FORMAT_VERSION, RunSettings

_MIN_JOURNAL_BEFORE_CHECKPOINT = 64

logger = logging.getLogger("hpopt")


class RunLedger:
    """Trials and run status of one controller."""

    def __init__(self, store: StateStore, settings: RunSettings, algorithm: Algorithm, budget: Budget,
                 run_id: str) -> None:
        self.store = store
        self.run_id = run_id  # tells this run's trial records from an earlier run's in the same save_path
        self.settings = settings
        self.algorithm = algorithm
        self.budget = budget
        self.original_space: dict[str, SearchSpace] = dict(settings.search_space)
        self.space: dict[str, SearchSpace] = dict(settings.search_space)  # shrunk by CUDA OOM
        self.trials: list[Trial] = []
        self.running: set[int] = set()
        self.ready: deque[int] = deque()
        self._score_best: int | None = None  # the best by score (scores.rank_key)
        self._cap: int | None = None  # the smallest last epoch of a finished trial with a score (scores.fidelity_cap)
        self.finished = 0
        self.seq = 0
        self._journal_len = 0
        self._end_line: str | None = None  # what the finished run did against its plan, once said

    @property
    def best_id(self) -> int | None:
        """The best config's trial: the searcher's model's choice where scores of different fidelities do
        not compare (a re-planned baye_opt run), else the best score's."""
        chosen = self.algorithm.best_trial()
        return self._score_best if chosen is None else chosen

    @property
    def best(self) -> Trial | None:
        best_id = self.best_id
        return None if best_id is None else self.trials[best_id]

    def count_finished(self, trial: Trial) -> None:
        """A collected trial: charge the budget, update the best."""
        self.finished += 1
        self.budget.charge(trial.extra, trial.iterations)
        if trial.score is None:
            return
        if self._cap is None or trial.iterations < self._cap:
            # the first trial with a smaller last epoch (a re-plan cut it): everyone is ranked again, up to it
            self._cap = trial.iterations
            ranked = [t for t in self.trials if t.status == Status.STOP and t.score is not None]
            ranked.append(trial)
            self._score_best = max(ranked, key=self._rank).trial_id
            return
        best = None if self._score_best is None else self.trials[self._score_best]
        if best is None or best.score is None or self._rank(trial) > self._rank(best):
            self._score_best = trial.trial_id

    def _rank(self, trial: Trial) -> tuple[int, float]:
        """The best-config rule (scores.rank_key): by epochs reached first (up to the smallest last epoch
        of a finished trial), then by the score at the last epoch, when early stopping is on; a trial trained
        past that smallest last epoch by its score at it."""
        epochs = int(trial.extra.get("num_iterations_run", 0))
        by_fidelity = self.settings.early_stop is not None
        last = trial.extra.get("last_score")
        if by_fidelity and self._cap is not None and epochs > self._cap:
            last = self._score_at_cap(trial, self._cap, last)
        return rank_key(trial.score, epochs, self.settings.mode,  # type: ignore[arg-type]  # ranked trials have a score
                        by_fidelity, self._cap, last)

    def _score_at_cap(self, trial: Trial, cap: int, last: float | None) -> float | None:
        """A trial's latest score up to epoch ``cap``, from its record, kept in its entry (``score_at_cap``:
        [cap, score]) so that each cap reads it once; its last score where the record is gone."""
        kept = trial.extra.get("score_at_cap")
        if isinstance(kept, list) and len(kept) == 2 and kept[0] == cap:
            return kept[1]
        try:
            record = self.store.read_trial(trial.trial_id)
        except StateFileError as exc:
            logger.warning("trial %d ranked by its last score: its record is unreadable (%s)", trial.trial_id, exc)
            return last
        if record is None:
            return last
        score = score_up_to(record.scores, cap)
        trial.extra["score_at_cap"] = [cap, score]
        return score

    def progress(self) -> float:
        """Share of the planned work done in an unfinished run, in [0, 0.99]: of the epoch budget
        (ASHA) or of num_trials (partial epochs of running trials count)."""
        num_trials = max(1, self.settings.num_trials)
        if self.algorithm.schedule is not None and self.budget.epoch_budget:
            used = self.budget.epochs_used(self.running) / self.budget.epoch_budget
            return min(0.99, max(used, self.finished / num_trials))
        done = self.finished + sum(min(1.0, n / max(1, self.trials[tid].iterations))
                                   for tid, n in self.budget.partial.items() if tid in self.running)
        return min(0.99, done / num_trials)

    def note_end(self) -> bool:
        """Say once what the finished run did against its plan (a warning when it fell short; print_results()
        repeats it, since an info line goes unseen where logging is not set up); True."""
        if self._end_line is None:
            line, short = outcome(self.trials, self.settings.num_trials, self.settings.num_workers, self.budget,
                                  time.time())
            self._end_line = line
            (logger.warning if short else logger.info)(line)
            # The decision that ended the run, journaled with its wall clock: resumed later, the run stays
            # over. From the wall clock alone (not its last collected trial's, a few milliseconds before,
            # which left room for one more trial about 1 resume in 30), a forecast a little different on
            # resume still fitted one more trial about 1 run in 20 on a loaded machine.
            self.budget.ended = True
            self.record(self.run_id)
        return True

    def status_dict(self, run_id: str) -> dict[str, Any]:
        s = self.settings
        status = {
            "format_version": FORMAT_VERSION,
            "search_algorithm": self.algorithm.name,
            "search_space": space_to_json(self.space),
            "original_search_space": space_to_json(self.original_space),
            "metric": s.metric,
            "mode": s.mode,
            "subset_ratio": s.subset_ratio,
            "image_resize": list(s.image_resize),
            "full_dataset_size": s.full_dataset_size,
            "num_full_iterations": s.num_full_iterations,
            "max_iterations": s.max_iterations,
            "num_trials": s.num_trials,
            "early_stop": s.early_stop,
            "batch_size_name": s.batch_size_name,
            "num_workers": s.num_workers,
            "seed": s.seed,
            "run_id": run_id,
            "settings": s.extra,
            "config_list": [t.to_entry() for t in self.trials],
            "num_gen_config": len(self.trials),
            "best_config_id": self.best_id,
            "journal_seq": self.seq,
            **self.budget.state(),
        }
        status.update(self.algorithm.state())
        return status

    def checkpoint(self, run_id: str) -> None:
        self.store.checkpoint(self.status_dict(run_id))
        self._journal_len = 0

    def record(self, run_id: str, trial: Trial | None = None, fields: Mapping[str, Any] | None = None,
               sync: bool = False) -> None:
        """Journal one change; rewrite the checkpoint when the journal is as long as the trial list.

        Only issuing a trial must be durable before the call returns (a trainer may report for it at
        once); every other change is derived from durable trial records and made durable by the next sync.
        """
        self.seq += 1
        rec: dict[str, Any] = {"seq": self.seq}
        if trial is not None:
            rec["trial"] = trial.to_entry()
        rec["fields"] = {"best_config_id": self.best_id, **self.budget.live_state(), **(fields or {})}
        self.store.journal(rec, sync=sync)
        self._journal_len += 1
        if self._journal_len >= max(_MIN_JOURNAL_BEFORE_CHECKPOINT, len(self.trials)):
            self.checkpoint(run_id)

    def results_table(self, where: str) -> str:
        """print_results()'s text: one line per trial, then the best, and once the run is over what it did
        against its plan (:mod:`.outcome`)."""
        names = list(self.original_space)
        lines = [f"hpopt results ({self.algorithm.name}, mode={self.settings.mode}, metric={self.settings.metric}) "
                 f"in {where}", "  id  status   iters  score         " + "  ".join(names)]
        for t in self.trials:
            score = "-" if t.score is None else f"{t.score:.6g}"
            params = "  ".join(_short(t.config.get(n)) for n in names)
            mark = " *" if t.trial_id == self.best_id else ""
            iters = int(t.extra.get("num_iterations_run", t.iterations))
            lines.append(f"{t.trial_id:4d}  {t.status.name:<8} {iters:5d}  {score:<12}  {params}{mark}")
        best = self.best
        if best is not None:
            lines.append(f"best: trial {best.trial_id}, score {best.score:.6g}, params {best.config}")
        else:
            lines.append("best: none (no trial has a valid score)")
        if self._end_line is not None:
            lines.append(self._end_line)
        return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
