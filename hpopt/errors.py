"""One exception hierarchy: every error hpopt raises on purpose derives from :class:`HpoptError`.

Each class also derives from the built-in exception that code written against earlier versions caught
(a damaged state file was a ``ValueError``, a missing trial file a ``FileNotFoundError``), so
``except ValueError`` keeps working while ``except hpopt.HpoptError`` catches all of hpopt's own.
Errors that belong to one part live with it and derive from :class:`HpoptError` too: a bad experiment
file (``hpopt.experiment.ExperimentError``, a ``ValueError``), a trial that failed for good under an
adapter (``hpopt.adapters.launcher.TrialFailedError``, a ``RuntimeError``). The one exception outside the
hierarchy on purpose is ``hpopt.adapters.launcher.RunInterrupted``: it is a ``KeyboardInterrupt`` (Ctrl-C
or SIGTERM reached the run), and an ``except Exception`` in user code must not swallow it.
"""

from __future__ import annotations

import errno


class HpoptError(Exception):
    """Base of every error hpopt raises on purpose; the message says what was wrong and what to do."""


class StateFileError(HpoptError, ValueError):
    """A state file under save_path is damaged; the message names the file and the way out."""


class TrialFileMissingError(HpoptError, FileNotFoundError, ValueError):
    """report() got a config whose trial file does not exist: an OSError for the missing file, and a
    ValueError because the config is usually the wrong one (another save_path, a cleared folder)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOENT, message)


class ControllerBusyError(HpoptError, RuntimeError):
    """Another controller drives this save_path (or this object was replaced by a newer one)."""


class SearchSpaceExhaustedError(HpoptError, RuntimeError):
    """No config can be issued any more: a CUDA OOM left no batch size that fits."""


class UnknownChannelError(HpoptError, ValueError):
    """A train_config names a trial address whose channel (``s3://``, ``ray://`` ...) is not installed."""
