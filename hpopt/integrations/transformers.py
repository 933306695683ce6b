"""Hugging Face Transformers: report an eval metric to hpopt at every evaluation (extra ``transformers``).

    from hpopt.integrations.transformers import HpoptCallback

    args = TrainingArguments(output_dir=..., eval_strategy="epoch", num_train_epochs=cfg["iterations"],
                             report_to="none", ...)
    trainer = Trainer(model, args, ..., callbacks=[HpoptCallback(cfg, metric="eval_accuracy")])
    with hpopt.integrations.oom_guard(cfg):
        trainer.train()

One report per evaluation, so with ``eval_strategy="epoch"`` a trial's ``iterations`` count epochs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import TrialReporter, TrialView, metric_value, require

_transformers = require("transformers", "transformers", "transformers")


def _agree(stop: bool) -> bool:
    """Rank zero's decision on every rank of a distributed run (a no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [stop]
        dist.broadcast_object_list(box, src=0)
        return bool(box[0])
    return stop


class HpoptCallback(TrialView, _transformers.TrainerCallback):
    """Reports ``metrics[metric]`` on ``on_evaluate`` during ``train()`` and sets
    ``control.should_training_stop`` when hpopt says STOP (the trial reached its iterations, or ASHA /
    median stop stopped it).

    ``metric`` may be given with or without the ``eval_`` prefix Trainer puts on metric names ("accuracy"
    finds "eval_accuracy"); whether larger is better is the run's ``mode`` (``cfg["mode"]``). Training that
    ends without a STOP is closed with ``hpopt.finalize_trial``. Evaluations outside ``train()`` report
    nothing. Trainer has no exception hook: wrap ``train()`` in ``hpopt.integrations.oom_guard`` to report
    a CUDA out-of-memory error.
    """

    def __init__(self, config: Mapping[str, Any], metric: str = "eval_loss") -> None:
        self.trial = TrialReporter(config, metric, "HpoptCallback")
        self._training = False

    def _key(self, metrics: Mapping[str, Any]) -> str:
        name = self.trial.monitor
        if name not in metrics and not name.startswith("eval_") and f"eval_{name}" in metrics:
            return f"eval_{name}"
        return name

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = True

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if not self._training or self.trial.ended:
            return
        metrics = metrics or {}
        hint = " (pass compute_metrics= to Trainer for metrics other than eval_loss)"
        value = metric_value(metrics, self._key(metrics), "HpoptCallback", hint)
        stop = self.trial.report(value) if state.is_world_process_zero else False
        if _agree(stop):
            self.trial.ended = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._training = False
        if state.is_world_process_zero:
            self.trial.finish()
