"""PyTorch Lightning: report a validation metric to hpopt after every validation run (extra ``lightning``).

    from hpopt.integrations.lightning import HpoptCallback

    trainer = lightning.pytorch.Trainer(max_epochs=cfg["iterations"], callbacks=[HpoptCallback(cfg, "val_acc")])
    with hpopt.integrations.oom_guard(cfg):
        trainer.fit(model, train_loader, val_loader)

One report per validation run (by default once an epoch), so a trial's ``iterations`` count validations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import TrialReporter, TrialView, metric_value, require


def _lightning() -> Any:
    """``lightning.pytorch``, or the older standalone ``pytorch_lightning`` when only that is installed."""
    try:
        return require("lightning.pytorch", "lightning", "lightning")
    except ImportError as first:
        try:
            return require("pytorch_lightning", "lightning", "lightning")
        except ImportError:
            raise first from None


pl = _lightning()


class HpoptCallback(TrialView, pl.Callback):
    """Reports ``trainer.callback_metrics[monitor]`` after each validation of ``fit()`` and stops training
    when hpopt says STOP (the trial reached its iterations, or ASHA / median stop stopped it).

    Training that ends without a STOP (``max_epochs`` below the trial's iterations, another callback) is
    closed with ``hpopt.finalize_trial``; a CUDA out-of-memory error during ``fit()`` is reported with
    ``hpopt.reportOOM`` (the error still propagates: wrap ``fit()`` in ``hpopt.integrations.oom_guard``).
    The sanity-check validation and ``trainer.validate()`` / ``test()`` report nothing. Under DDP only rank
    zero reports, and its decision to stop is broadcast to every rank.
    """

    def __init__(self, config: Mapping[str, Any], monitor: str = "val_acc") -> None:
        super().__init__()
        self.trial = TrialReporter(config, monitor, "HpoptCallback")

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.trial.ended:
            return
        hint = " (log it with self.log(...) in validation_step or on_validation_epoch_end)"
        value = metric_value(trainer.callback_metrics, self.trial.monitor, "HpoptCallback", hint)
        stop = self.trial.report(value) if trainer.is_global_zero else False
        if trainer.strategy.broadcast(stop, src=0):
            self.trial.ended = True
            trainer.should_stop = True

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.trial.finish()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if trainer.state.fn == "fit":
            self.trial.oom(exception)
