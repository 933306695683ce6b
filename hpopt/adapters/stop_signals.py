"""SIGINT and SIGTERM turned into a flag and a wake-up, so that the run loop stops its trials cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Any


class StopSignals:
    """While installed, SIGINT and SIGTERM only note the signal and wake the controller's wait."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._old: dict[int, Any] = {}

    @property
    def fd(self) -> int:
        return self._read

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        with contextlib.suppress(OSError):  # a full pipe: a wake-up is pending anyway
            os.write(self._write, b"!")

    def drain(self) -> None:
        """Empty the wake-up pipe, so that a later wait blocks again (``signum`` keeps what arrived)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set there; the caller's own handling applies
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handler)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        os.close(self._read)
        os.close(self._write)
