"""A one-line live view of a run on stderr: trials done (of the plan) / running / failed, best so far, time
used (of the time asked) and an estimate of the time left.

On a terminal the line is redrawn in place; into a file or a pipe a new line is written only when the
counts or the best score change, so logs stay readable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from ..views.plan_view import format_duration

__all__ = ["ProgressLine", "format_duration"]


class ProgressLine:
    """Write the run's state; ``enabled=False`` makes every call a no-op."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_key: tuple[object, ...] | None = None
        self._drawn = False

    def update(self, *, done: int, running: int, failed: int, best: float | None,
               elapsed: float, left: float | None, planned: int | None = None, asked: float | None = None) -> None:
        """``planned``: trials the plan holds; ``asked``: wall seconds of HPO asked for (None: not known)."""
        if not self.enabled:
            return
        key = (done, running, failed, best)
        if not self._tty and key == self._last_key:
            return
        self._last_key = key
        best_text = "-" if best is None else f"{best:.6g}"
        time_text = format_duration(elapsed) + ("" if asked is None else f" of {format_duration(asked)} asked")
        time_text += "" if left is None else f", ~{format_duration(left)} left"
        of_plan = "" if planned is None else f" of {planned}"
        line = (f"hpopt: {done}{of_plan} trials done, {running} running, {failed} failed | best {best_text} | "
                f"{time_text}")
        if self._tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line so that later output starts on a fresh one."""
        if self.enabled and self._tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
