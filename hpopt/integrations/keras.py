"""Keras 3: report a logged metric to hpopt at the end of every epoch (extra ``keras``).

    from hpopt.integrations.keras import HpoptCallback

    with hpopt.integrations.oom_guard(cfg):
        model.fit(x, y, validation_data=(xv, yv), epochs=cfg["iterations"],
                  callbacks=[HpoptCallback(cfg, monitor="val_accuracy")])

Any Keras backend works; ``KERAS_BACKEND=torch`` needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import TrialReporter, TrialView, metric_value, require

_keras = require("keras", "keras", "keras")


class HpoptCallback(TrialView, _keras.callbacks.Callback):
    """Reports ``logs[monitor]`` on ``on_epoch_end`` and sets ``model.stop_training`` when hpopt says
    STOP (the trial reached its iterations, or ASHA / median stop stopped it).

    Training that ends without a STOP (fewer ``epochs`` than the trial's iterations, another callback) is
    closed with ``hpopt.finalize_trial``. Keras has no exception hook: wrap ``fit()`` in
    ``hpopt.integrations.oom_guard`` to report a CUDA out-of-memory error.
    """

    def __init__(self, config: Mapping[str, Any], monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.trial = TrialReporter(config, monitor, "HpoptCallback")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.trial.ended:
            return
        hint = " (pass validation_data= to fit() for val_ metrics)" if self.trial.monitor.startswith("val_") else ""
        if self.trial.report(metric_value(logs or {}, self.trial.monitor, "HpoptCallback", hint)):
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.trial.finish()
