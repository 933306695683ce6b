"""The trainer side: ``report()``, ``reportOOM()``, ``finalize_trial()``, called wherever trials train.

They need only the JSON train_config; the channel that carries them to the run's state is chosen from
its ``file_path`` (:mod:`.channels`).
"""

from .channels import Channel, register_channel
from .report import finalize_trial, report, reportOOM

__all__ = ["Channel", "finalize_trial", "register_channel", "report", "reportOOM"]
