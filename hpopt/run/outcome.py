"""What a finished run did against its plan, said once when it ends.

Auto config promises a run that ends in the time asked for with the trials it planned. When the trials
cost more than the plan assumed, the budget ends the run with fewer trials; that must not pass silently
(a run of 8 trials out of 50 planned gives baye_opt mostly its random initial ones). The line says how
many trials ran of those planned, the time used against the time asked, and, when it fell short, by how
much each trial overran the plan's cost and, where the plan's model of a trial is known (a deadline in
seconds), how much of that is its epochs: a search that moves to configs whose epochs cost several times
the one the full training was measured on spends the budget on fewer trials, and the user can act on
that (a larger ``expected_time_ratio``, or a search space without the dearest configs), not on a bare
"the trials cost more".
"""

from __future__ import annotations

from collections.abc import Sequence

from ..trial import Status, Trial
from .budget import Budget
from .replanner import Replanner

SHORT_OF_PLAN = 0.7  # fewer trials than this share of the plan is worth a warning


def outcome(trials: Sequence[Trial], planned: int, num_workers: int, budget: Budget, now: float) -> tuple[str, bool]:
    """The end-of-run line and whether the run fell short of its planned trials.

    ``planned`` is the number planned now; with re-planning, the line also names the plan at the start,
    which is what the short-of-plan warning is judged against (the user was promised that one).
    """
    replanner = budget.replanner
    replans = replanner.replans if replanner is not None and replanner.active else []
    current = planned
    if replans:
        planned = replanner.initial.num_trials
    # The budget's wall clock leaves out the time between sessions: a finished run resumed a day later did not
    # take a day. Without one (no trial issued by this process or stored), from the first trial's issue.
    wall = budget.wall_used()
    if not wall > 0:
        issued = [float(t.extra["issued_at"]) for t in trials if isinstance(t.extra.get("issued_at"), (int, float))]
        wall = now - min(issued) if issued else 0.0
    collected = sum(1 for t in trials if t.status == Status.STOP)
    parts = [f"the run is over: {len(trials)} trials of {planned} planned"
             + (f" ({len(replans)} re-plan{'s' * (len(replans) > 1)}, the last for {current})" if replans else "")]
    per_trial_plan = per_trial_used = None
    unit = "s"
    if budget.time_budget_s is not None:
        asked = budget.time_budget_s / max(1, num_workers)
        parts.append(f"{_seconds(wall)} of the {_seconds(asked)} asked ({wall / asked:.0%})" if asked > 0
                     else _seconds(wall))
        per_trial_plan = budget.time_budget_s / max(1, planned)
        per_trial_used = budget.seconds_charged / collected if collected else None
    else:
        parts.append(f"{wall:.0f} s since the first trial")
        if budget.epoch_budget:
            unit = " epochs"
            per_trial_plan = budget.epoch_budget / max(1, planned)
            per_trial_used = budget.epochs_charged / collected if collected else None
    short = planned > 0 and len(trials) < SHORT_OF_PLAN * planned
    line = ", ".join(parts)
    if short and per_trial_plan and per_trial_used:
        line += (f"; a trial cost {per_trial_used / per_trial_plan:.1f}x what the plan assumed "
                 f"({per_trial_used:.3g}{unit} instead of {per_trial_plan:.3g}{unit}), "
                 "so the budget ended the run early")
        scale = epoch_scale(trials, replanner) if replanner is not None else None
        if scale is not None and scale > 1.2:
            line += (f"; its epochs cost {scale:.1f}x what the measured full training implies (configs dearer per "
                     "epoch than the one measured, or a busier machine): a larger expected_time_ratio, or a search "
                     "space without the dearest configs, keeps more of the plan")
    return line, short


def _seconds(x: float) -> str:
    """Seconds for the end-of-run line: tenths below 10 s, where whole seconds read "6 s of the 5 s asked
    (108%)" for 5.7 of 5.3."""
    return f"{x:.1f} s" if x < 9.95 else f"{x:.0f} s"


def epoch_scale(trials: Sequence[Trial], replanner: Replanner) -> float | None:
    """The collected trials' epoch seconds over what the plan's model gives an epoch on their subset,
    weighted by their epochs (what the budget paid); None without the model or a measured epoch."""
    paid = planned = 0.0
    for t in trials:
        epochs = t.extra.get("num_iterations_run")
        measured = replanner.measured_epoch(t.extra)
        if t.status != Status.STOP or not isinstance(epochs, int) or epochs < 1 or measured is None:
            continue
        paid += epochs * measured[0]
        planned += epochs * measured[1]
    return paid / planned if planned > 0 else None
