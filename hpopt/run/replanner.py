"""Re-planning during a run, applied: measure collected trials, re-plan when the plan drifts, say so.

Active only when the run has a deadline in seconds (``create(full_train_seconds=...)``) and auto config
chose at least one of num_trials, max_iterations, subset_ratio. The rule is :mod:`hpopt.auto_replan`'s;
this module decides when to look (after the first ``max(2, num_workers)`` collected trials, then again
only after as many more), changes the run's settings, and keeps the plan at the start and every re-plan
with its reason in the status, so ``hpopt status``, the end-of-run line and a resumed run all see them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..auto_replan import (
    GROW_AFTER,
    MIN_FIDELITY_SHARE,
    OWNABLE,
    CostModel,
    Plan,
    TrialCost,
    measure,
    needs_replan,
    projected_seconds,
    replan,
)
from ..time_model import trial_cost
from .settings import RunSettings

logger = logging.getLogger("hpopt")

AshaEpochs = Callable[[int, int], float]  # (trials started, trials planned) -> mean epochs of the rest

_WINDOW = 16  # recent collected trials the cost model is fitted to: follows a load that changes


class Replanner:
    """Keeps a run with a deadline in seconds on a plan that fits it."""

    def __init__(self, settings: RunSettings, owned: Iterable[str], model: CostModel | None, min_subset: float,
                 asha_epochs: AshaEpochs | None = None, suggestion_s: float = 0.0) -> None:
        self.settings = settings
        # ASHA's epochs follow its rung schedule, and its rungs compare trials' scores, which must come from
        # the same subset to be comparable: only its number of trials moves.
        self.owned = frozenset(o for o in owned if o in OWNABLE and (asha_epochs is None or o == "num_trials"))
        self.model = model
        self.min_subset = float(min_subset)
        self.asha_epochs = asha_epochs
        self.initial = self.plan
        self.suggestion_s = float(suggestion_s)  # what the plan at the start counted per trial for its suggestion
        self.replans: list[dict[str, Any]] = []
        self._costs: deque[TrialCost] = deque(maxlen=_WINDOW)
        self._collected = 0
        self._collected_at_last_look = 0

    @property
    def active(self) -> bool:
        return self.model is not None and bool(self.owned)

    @property
    def plan(self) -> Plan:
        s = self.settings
        return Plan(num_trials=s.num_trials, max_iterations=s.max_iterations, subset_ratio=s.subset_ratio)

    def count(self, extra: Mapping[str, Any]) -> None:
        """A collected trial's measured cost (its entry's extra fields), for the cost model."""
        self._collected += 1
        seconds, epochs = extra.get("cost_s"), extra.get("num_iterations_run")
        if isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
            subset = extra.get("subset_ratio", self.initial.subset_ratio)
            epoch_s = extra.get("epoch_s")
            self._costs.append(TrialCost(epochs, float(subset), None if epoch_s is None else float(epoch_s),
                                         float(seconds)))

    def check(self, started: int, seconds_left: float) -> bool:
        """Re-plan when enough new trials were collected and the rest of the plan misses the time left by
        more than the drift allowed; True when the settings changed (the caller checkpoints)."""
        look_every = max(2, self.settings.num_workers)
        if not self.active or self._collected - self._collected_at_last_look < look_every:
            return False
        self._collected_at_last_look = self._collected
        assert self.model is not None
        fitted = measure(self.model, self._costs)
        plan = self.plan
        epochs = None if self.asha_epochs is None else self.asha_epochs(started, max(started + 1, plan.num_trials))
        if fitted is None or not needs_replan(plan, started, seconds_left, fitted, epochs, self.owned,
                                              may_grow=self._collected >= GROW_AFTER):
            return False
        new = replan(plan, started, seconds_left, fitted, self.owned, self.min_subset, epochs,
                     min_per_trial=MIN_FIDELITY_SHARE * self._initial_per_trial())
        if new == plan or (self.asha_epochs is not None and new.num_trials < plan.num_trials):
            # ASHA re-plans only to grow: fewer trials than planned, the seconds budget ends the run anyway,
            # and a count cut on an early, pessimistic forecast lost trials the time had room for.
            return False
        before = projected_seconds(plan, started, fitted, epochs)
        reason = (f"an epoch costs {fitted.epoch_scale:.2f}x the plan's and a trial {fitted.overhead_s:.2f} s "
                  f"more, so the {max(0, plan.num_trials - started)} trials still planned would take {before:.0f} s "
                  f"of the {max(0.0, seconds_left):.0f} s of trial time left")
        self.replans.append({"after_trials": started, "reason": reason, "num_trials": new.num_trials,
                             "max_iterations": new.max_iterations, "subset_ratio": round(new.subset_ratio, 6)})
        logger.warning("auto config re-planned after %d trials: %s; now %d trials x up to %d epochs on %.0f%% of "
                       "the training set (planned at the start: %d x %d on %.0f%%)", started, reason, new.num_trials,
                       new.max_iterations, 100 * new.subset_ratio, self.initial.num_trials,
                       self.initial.max_iterations, 100 * self.initial.subset_ratio)
        s = self.settings
        s.num_trials, s.max_iterations, s.subset_ratio = new.num_trials, new.max_iterations, new.subset_ratio
        return True

    def _initial_per_trial(self) -> float:
        """Full trainings one trial of the plan at the start costs, by the plan's model (sequential only)."""
        assert self.model is not None
        i = self.initial
        return trial_cost(i.max_iterations, self.model.num_full_iterations, i.subset_ratio,
                          self.model.non_pure_train_ratio)

    def state(self) -> dict[str, Any]:
        if not self.active:
            return {}
        i = self.initial
        return {"auto_plan": {"owned": sorted(self.owned), "num_trials": i.num_trials,
                              "max_iterations": i.max_iterations, "subset_ratio": i.subset_ratio,
                              "suggestion_s": round(self.suggestion_s, 6)},
                "replans": list(self.replans)}

    def restore(self, stored: Mapping[str, Any]) -> None:
        """A resumed run: the owned values and the plan at the start are the stored ones, not what the
        resumed create() filled (it took the stored values, so it filled nothing)."""
        plan = stored.get("auto_plan")
        if isinstance(plan, Mapping):
            self.owned = frozenset(o for o in plan.get("owned", ()) if o in OWNABLE)
            self.initial = Plan(int(plan["num_trials"]), int(plan["max_iterations"]), float(plan["subset_ratio"]))
            self.suggestion_s = float(plan.get("suggestion_s") or 0.0)
        self.replans = [dict(r) for r in stored.get("replans", ()) if isinstance(r, Mapping)]
