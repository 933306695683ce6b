"""Resume: continue a stored run exactly, or refuse it clearly.

Nothing essential may have changed (a ValueError names the argument); the searcher is told every trial's
params and results again (so it suggests what an uninterrupted run would have); trials that finished
while no controller ran are collected; trials that were running are re-issued with the same params and
``attempt + 1`` (their trainers died with the controller, or never started); ASHA's rung summaries are
rebuilt from the trial records, which are the truth.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import StateFileError
from ..search_space import space_from_json
from ..state import StateStore
from ..trial import Status, Trial
from .settings import RESUME_CHECKED, canon

if TYPE_CHECKING:
    from .controller import Controller

logger = logging.getLogger("hpopt")


def check_nothing_left(store: StateStore) -> None:
    """resume=True without a stored status: files of a run there mean its state was lost, not absent."""
    left = store.run_files()
    if left:
        raise StateFileError(
            f"resume=True but the status of the run in {store.save_path} is missing, while it holds {len(left)} "
            f"files of a run ({', '.join(left[:3])}{', ...' if len(left) > 3 else ''}); restore "
            "hpopt_status.json from a backup, or start over with resume=False (those files are then moved "
            "to save_path/archive)")


def check_unchanged(stored: dict[str, Any], mine: dict[str, Any], where: str) -> None:
    for key, arg in RESUME_CHECKED.items():
        if key in stored and key in mine and canon(stored[key]) != canon(mine[key]):
            raise ValueError(
                f"resume=True but {arg} changed: the run in {where} used {stored[key]!r}, now {mine[key]!r}; pass "
                "the same value, or resume=False to start over (the old run is kept in save_path/archive)")


def restore(ctl: Controller, stored: dict[str, Any]) -> None:
    """Continue ``stored`` with controller ``ctl`` (see the module doc)."""
    ledger, settings, algorithm = ctl.ledger, ctl.settings, ctl.algorithm
    check_unchanged(stored, ledger.status_dict(ledger.run_id), ctl.store.save_path)
    settings.seed = int(stored.get("seed", settings.seed))
    ledger.run_id = str(stored.get("run_id", ledger.run_id))
    asked, stored_trials = settings.num_trials, int(stored.get("num_trials", settings.num_trials))
    settings.num_trials = max(asked, stored_trials)
    ctl.budget.restore(stored)
    if asked > stored_trials:  # a larger num_trials extends a run, even one that was over
        ctl.budget.ended = False
    if "search_space" in stored:
        ledger.space = space_from_json(stored["search_space"])
    ledger.seq = int(stored.get("journal_seq", 0))
    ledger.trials = [Trial.from_entry(e) for e in stored["config_list"]]
    replanner = ctl.budget.replanner
    if replanner is not None:
        algorithm.on_count_at_risk(replanner.count_at_risk)
    for trial in ledger.trials:
        algorithm.restore_entry(trial.trial_id, trial.extra)
        algorithm.on_config(trial.trial_id, trial.attempt, trial.config)
        if trial.extra.get("rung_group") and replanner is not None:
            algorithm.on_subset(trial.trial_id, replanner.subset_share(trial.extra["subset_ratio"]))
    ctl.life.checkpoint()
    for trial in ledger.trials:
        if trial.status == Status.STOP:
            if "overhead_epochs" in trial.extra:
                ctl.budget.ledger.add(float(trial.extra["overhead_epochs"]), trial.extra.get("epoch_s"),
                                      trial.extra.get("cost_s"), trial.extra.get("num_iterations_run"))
            ctl.life.mark_finished(trial, record=False)
        elif trial.status == Status.READY:
            ledger.ready.append(trial.trial_id)
    collected = requeued = 0
    for trial in ledger.trials:
        if trial.status != Status.RUNNING:
            continue
        ledger.running.add(trial.trial_id)
        record = _read(ctl, trial)
        ours = record is not None and record.doc.get("attempt", trial.attempt) == trial.attempt
        if ours and record.status == Status.CUDAOOM:
            ctl.life.handle_oom(trial)
        elif ours and (record.status == Status.STOP or len(record.scores) >= trial.iterations):
            algorithm.on_scores(trial.trial_id, trial.attempt, record.scores)
            ctl.life.finish(trial, record)
            collected += 1
        else:
            ledger.running.discard(trial.trial_id)
            trial.attempt += 1
            trial.status = Status.READY
            ledger.ready.append(trial.trial_id)
            algorithm.on_config(trial.trial_id, trial.attempt, trial.config)
            ctl.life.record(trial)
            requeued += 1
    if ctl.algorithm.schedule is not None:
        _rebuild_rungs(ctl)
    logger.info("resumed %s: %d trials, %d collected on resume, %d re-issued", ctl.store.save_path,
                len(ledger.trials), collected, requeued)


def _read(ctl: Controller, trial: Trial) -> Any:
    try:
        return ctl.store.poll_trial(trial.trial_id)
    except FileNotFoundError:  # e.g. its unsynced issue-time record after a power cut
        return None
    except StateFileError as exc:
        logger.warning("trial %d was running and its record is unreadable (%s); it is run again", trial.trial_id,
                       exc)
        return None


def _rebuild_rungs(ctl: Controller) -> None:
    """Rewrite every rung summary from the trial records (once per resume, O(trials)); each trial counts
    once per rung, with its longest attempt. The rung searcher learns the current attempts' scores."""
    schedule, algorithm = ctl.algorithm.schedule, ctl.algorithm
    longest: list[tuple[int, list[float | None]]] = []
    for trial in ctl.ledger.trials:
        try:
            record = ctl.store.read_trial(trial.trial_id)
        except StateFileError as exc:
            logger.warning("ASHA: rung records rebuilt without trial %d: %s", trial.trial_id, exc)
            continue
        if record is None:
            continue
        doc = record.doc
        attempts = [a["scores"] for a in doc.get("previous_attempts") or []]
        longest.append((trial.trial_id, max([record.scores, *attempts], key=len)))
        if doc.get("attempt", trial.attempt) == trial.attempt and trial.status != Status.READY:
            algorithm.on_scores(trial.trial_id, trial.attempt, record.scores)
    groups = {t.trial_id: int(t.extra["rung_group"]) for t in ctl.ledger.trials if t.extra.get("rung_group")}
    tops = {t.trial_id: t.iterations for t in ctl.ledger.trials}
    ctl.store.replace_summaries("asha", schedule.rung_summaries(longest, ctl.settings.mode, groups, tops),
                                ctl.ledger.run_id)
