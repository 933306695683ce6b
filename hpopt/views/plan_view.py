"""The run's plan against what it has used so far: trials planned and run, time asked and used, an ETA.

Auto config promises a run that ends in the time asked for; this is where a user sees whether it keeps
that promise (``hpopt status``, and the live progress line of the adapters). Everything comes from the
stored status (settings, budgets, each collected trial's measured cost) and the trials' report stamps,
so it works on a finished run, a killed one and a live one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..trial import Status


def format_duration(seconds: float) -> str:
    """``12m03s`` or ``1h05m``: short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def time_asked_s(status: Mapping[str, Any]) -> float | None:
    """Wall-clock seconds of HPO the user asked for, (r - 1) x the full training, when that is known."""
    budget = status.get("time_budget_s")
    if budget is None:
        return None
    return float(budget) / max(1, int(status.get("num_workers") or 1))


def plan_view(status: Mapping[str, Any], docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The plan and its use; ``docs`` are the trials' current documents, in config_list order."""
    entries = status["config_list"]
    collected = [e for e in entries if int(e["status"]) == Status.STOP]
    running = [d for e, d in zip(entries, docs, strict=True) if int(e["status"]) != Status.STOP]
    epochs_used = sum(int(e.get("num_iterations_run", 0)) for e in collected)
    epochs_used += sum(len(d.get("scores") or []) for d in running)
    seconds_used = sum(float(e.get("cost_s") or 0.0) for e in collected)
    wall = _wall_seconds(entries, docs)
    budget_s, epoch_budget = status.get("time_budget_s"), status.get("epoch_budget")
    finished = not running and len(collected) >= int(status.get("num_trials") or 0)
    if budget_s:
        share = seconds_used / float(budget_s)
    elif epoch_budget:
        share = epochs_used / float(epoch_budget)
    else:
        share = len(collected) / max(1, int(status.get("num_trials") or 1))
    eta = None
    if finished:
        eta = 0.0
    elif wall is not None and 0 < share < 1:
        eta = wall * (1 - share) / share
    settings = status.get("settings") or {}
    start = status.get("auto_plan") or {}
    at_start = {k: start.get(k) for k in ("num_trials", "max_iterations", "subset_ratio")} if start else None
    return {
        "replans": list(status.get("replans") or []),
        "planned_at_start": at_start,
        "trials_planned": status.get("num_trials"),
        "trials_issued": len(entries),
        "trials_finished": len(collected),
        "max_iterations": status.get("max_iterations"),
        "subset_ratio": status.get("subset_ratio"),
        "expected_time_ratio": settings.get("expected_time_ratio"),
        "full_train_seconds": settings.get("full_train_seconds"),
        "time_asked_s": time_asked_s(status),
        "wall_s": wall,
        "trial_seconds_used": seconds_used,
        "epoch_budget": epoch_budget,
        "epochs_used": epochs_used,
        "budget_used": min(1.0, share) if not finished else max(share, 0.0),
        "eta_s": eta,
    }


def _wall_seconds(entries: Sequence[Mapping[str, Any]], docs: Sequence[Mapping[str, Any]]) -> float | None:
    """From the first trial's issue to the latest report (None before any trial was issued)."""
    issued = [float(e["issued_at"]) for e in entries if isinstance(e.get("issued_at"), (int, float))]
    if not issued:
        return None
    latest = max(issued)
    for doc in docs:
        stamps = doc.get("t")
        if isinstance(stamps, Sequence) and len(stamps) == 2 and isinstance(stamps[1], (int, float)):
            latest = max(latest, float(stamps[1]))
    return latest - min(issued)


def format_plan(plan: Mapping[str, Any]) -> str:
    """One line for ``hpopt status``: the plan, what was used, and when it should end."""
    parts = [f"plan: {plan['trials_finished']} of {plan['trials_planned']} trials finished "
             f"({plan['trials_issued']} issued)"]
    if plan["max_iterations"] is not None and plan["subset_ratio"] is not None:
        parts.append(f"up to {plan['max_iterations']} epochs on {float(plan['subset_ratio']):.0%} of the data")
    start = plan.get("planned_at_start")
    if plan.get("replans") and start:
        times = len(plan["replans"])
        parts.append(f"re-planned {times} time{'s' * (times > 1)} to keep the time asked (at the start: "
                     f"{start['num_trials']} trials x {start['max_iterations']} epochs on "
                     f"{float(start['subset_ratio']):.0%}; last reason: {plan['replans'][-1]['reason']})")
    asked, wall = plan["time_asked_s"], plan["wall_s"]
    if asked is not None:
        ratio = plan["expected_time_ratio"]
        why = f" ((r - 1) = {float(ratio) - 1:g} x the full training)" if ratio is not None else ""
        used = "" if wall is None else f", {format_duration(wall)} used ({wall / asked:.0%})"
        parts.append(f"time asked {format_duration(asked)}{why}{used}")
    elif wall is not None:
        parts.append(f"{format_duration(wall)} so far")
    if plan["epoch_budget"] and asked is None:  # with a time asked, seconds are the budget
        parts.append(f"{plan['epochs_used']:g} of {float(plan['epoch_budget']):.4g} budgeted epochs")
    if plan["eta_s"] is not None:
        parts.append("finished" if plan["eta_s"] == 0 else f"about {format_duration(plan['eta_s'])} left")
    return "; ".join(parts)
