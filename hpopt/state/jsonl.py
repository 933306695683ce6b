"""Append-only files of JSON objects, one a line: the controller's journal and each trial's report log.

An append is one ``write`` of a whole line with ``O_APPEND`` and, when asked, one ``fsync``: its cost
does not depend on what the file already holds. A line without its newline is an append cut off by a
crash (or one still being written by another process): readers stop before it and writers cut it off
before appending, so it never turns into damage in the middle of the file. A failed write (a full disk)
cuts its partial line off at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from typing import Any

from .files import fsync_dir, open_private, parse_json_bytes, write_error


class JsonLines:
    """One append-only JSON-lines file; ``read_from`` returns complete lines only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def read_from(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The records of the complete lines after byte ``offset``, and the offset after the last of them.

        A damaged complete line raises ValueError naming its line (counted from ``offset``), except when it
        is the file's last line: an append that a crash cut off is dropped, as that change never returned.
        A folder where the file should be is a ValueError too.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return [], offset
        try:
            parts = []
            while chunk := os.pread(fd, 1 << 20, offset + sum(len(p) for p in parts)):
                parts.append(chunk)
        except IsADirectoryError:
            raise ValueError("is a folder, not a file") from None
        finally:
            os.close(fd)
        data = b"".join(parts)
        end = data.rfind(b"\n") + 1
        lines = data[:end].split(b"\n")[:-1]
        out: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = parse_json_bytes(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                if i == len(lines) - 1 and end == len(data):
                    break
                raise ValueError(f"line {i + 1} is damaged ({exc})") from exc
            out.append(rec)
        return out, offset + end

    def append(self, records: dict[str, Any] | list[dict[str, Any]], sync: bool = True,
               valid_end: int | None = None) -> int:
        """Append records (one write); ``sync`` makes them (and every earlier one) durable before returning.

        ``valid_end`` (the caller holds the file's lock and has read it up to there) cuts off a torn line
        a killed writer left after it. Returns the file's size after the append.
        """
        records = [records] if isinstance(records, dict) else records
        line = "".join(json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in records).encode()
        created = False
        if self._fd is None:
            try:
                self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            except FileNotFoundError:
                self._fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                created = True
        end = os.fstat(self._fd).st_size
        try:
            if valid_end is not None and end > valid_end:
                os.ftruncate(self._fd, valid_end)
                end = valid_end
            if os.write(self._fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a full disk took part of the line
            if sync:
                os.fsync(self._fd)
                if created:  # a new file's name must survive a power cut too
                    fsync_dir(os.path.dirname(self.path) or ".")
        except OSError as exc:
            # Cut the partial line off: a later append after it would turn it into damage mid-file.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
            self.close()
            raise write_error(exc, self.path, "the change was not recorded and the file is intact") from exc
        return end + len(line)

    def truncate(self) -> None:
        """Empty the file in place (its records are in a checkpoint now)."""
        if self._fd is None:
            try:
                self._fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            except FileNotFoundError:
                return
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


