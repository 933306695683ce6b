"""The save_path layout and crash-safe JSON I/O.

Layout (names kept from the original hpopt so its tooling can read them)::

    save_path/hpopt_status.json      the controller's state (a checkpoint, see below)
    save_path/hpopt_journal.jsonl    controller changes since that checkpoint, one JSON object a line
    save_path/hpopt_trial_{id}.json  one per trial, written by whoever trains it
    save_path/.locks/                filelock lock files

Every file write is atomic: a temp file in the same folder (created 0600 with ``os.open``), flush, fsync,
``os.replace``, then an fsync of the folder. A reader sees the old or the new file, never a mix. Files
that can be rebuilt from others (a trial file laid out at issue time, whose truth is the journal; ASHA's
rung records) are written ``durable=False``: still atomic, so a killed process never leaves a torn
file, but without the two fsyncs (about 0.5 ms), so only a crash of the whole machine can lose them.
A writer killed after naming its temp file and before the rename leaves that file behind; the temp name
holds the writer's host and pid, and ``create()`` removes those of dead writers on this host.

Locks: ``file_lock`` is an exclusive ``flock`` on a file under ``save_path/.locks`` (the OS frees it when
its holder dies, so no lock goes stale). On POSIX it is taken with ``fcntl`` directly: the ``filelock``
package takes the same kind of lock but spends about 0.2 ms of Python bookkeeping per acquire, which is
most of a report's budget. Elsewhere (Windows) ``filelock`` is used.

Rewriting the whole status file on every ``get_next_sample`` would cost O(number of trials), so the
controller appends each change to the journal (one fsynced line) and rewrites the status file only when
the journal has grown as long as the trial list: amortised O(1) per change. Loading replays the journal
over the checkpoint; a torn last line (a crash mid-append) is dropped, as that change never returned.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STATUS_FILE = "hpopt_status.json"
JOURNAL_FILE = "hpopt_journal.jsonl"
LOCK_DIR = ".locks"
FILE_MODE = 0o600
DIR_MODE = 0o700


class StateFileError(ValueError):
    """A state file is damaged; the message names the file and what to do."""


def status_path(save_path: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(save_path), STATUS_FILE)


def trial_path(save_path: str | os.PathLike[str], trial_id: int) -> str:
    return os.path.join(os.fspath(save_path), f"hpopt_trial_{trial_id}.json")


def make_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and its missing parents 0700 whatever the umask (a umask of 0o277 would otherwise
    make folders hpopt cannot write in); a folder that exists keeps its mode: it is the user's."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return
    missing = []
    head = path
    while head and not os.path.isdir(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    for folder in missing:
        with contextlib.suppress(OSError):  # made by someone else meanwhile
            os.chmod(folder, DIR_MODE)


def ensure_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (0700) and check that we can write there, with a clear error if not."""
    path = os.fspath(path)
    try:
        make_dir(path)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create save_path {path!r}: {exc.strerror}; choose a writable folder") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"save_path {path!r} is not writable; choose a writable folder or fix its permissions")
    make_dir(os.path.join(path, LOCK_DIR))


def open_private(path: str, flags: int) -> int:
    """``os.open`` that creates a state file 0600 whatever the umask (os.open's mode is masked by it)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:
        pass  # another user's file on a shared folder: its owner set its mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_TMPFILE_OK = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
_HOST = (os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")).replace("~", "-")
_TEMP_NAME = re.compile(r"^\..+~(?P<host>[^~]*)~(?P<pid>\d+)~\d+\.tmp$")


def temp_path(path: str) -> str:
    """The temp file that ``atomic_write_bytes`` renames onto ``path``: it names the writer's host, pid and
    thread, so no two writers share one and ``remove_stale_temp_files`` can tell a dead writer's."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}~{_HOST}~{os.getpid()}~{threading.get_ident()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temp files that writers killed between linking and renaming them left in ``folder``.

    Only files of this host whose writer process is gone are removed: a live writer's (here or on
    another machine sharing the folder) is in use. Returns the names removed.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for name in names:
        m = _TEMP_NAME.match(name)
        if m is None or m["host"] != _HOST or _pid_alive(int(m["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed


def _write_all(fd: int, data: bytes, durable: bool) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    if durable:
        os.fsync(fd)


def _temp_with(folder: str, tmp: str, data: bytes, durable: bool) -> None:
    """Create the temp file ``tmp`` holding ``data``.

    On Linux the inode is made unnamed (O_TMPFILE), filled, then linked in: creating a named file costs
    up to ~0.8 ms on some virtualised disks against ~50 us this way, and a crash before the link leaves
    nothing behind. Elsewhere, or where the file system refuses O_TMPFILE, a plain O_CREAT file.
    """
    global _TMPFILE_OK
    if _TMPFILE_OK:
        try:
            fd = open_private(folder, os.O_TMPFILE | os.O_WRONLY)
        except OSError:
            _TMPFILE_OK = False
        else:
            try:
                _write_all(fd, data, durable)
                dir_fd = os.open(folder, os.O_RDONLY)
                try:  # a dir fd makes os.link use linkat(AT_SYMLINK_FOLLOW), which resolves the /proc link
                    os.link(f"/proc/self/fd/{fd}", os.path.basename(tmp), dst_dir_fd=dir_fd)
                finally:
                    os.close(dir_fd)
                return
            finally:
                os.close(fd)
    # O_EXCL: a stale temp file (another mode, or another owner) is never reused; the caller removes it.
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        _write_all(fd, data, durable)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> None:
    """Replace ``path`` by ``data`` so that a crash leaves either the old or the new file, never a mix.

    ``durable=False`` skips the fsyncs: the file survives a killed process but maybe not a power cut.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    tmp = temp_path(path)
    try:
        try:
            _temp_with(folder, tmp, data, durable)
        except FileExistsError:  # left by a killed writer with our pid: a link cannot replace a name
            os.unlink(tmp)
            _temp_with(folder, tmp, data, durable)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, path, "the previous version of the file is intact") from exc
        raise
    if durable:
        try:
            _fsync_dir(folder)
        except OSError as exc:
            raise write_error(exc, path, "the new version is in place but may not survive a power cut") from exc


def write_error(exc: OSError, path: str, state: str) -> OSError:
    """The same kind of OSError (errno kept), naming the file, what is on disk now and, for a full disk,
    what to do: the bare "[Errno 28] No space left on device" names neither."""
    hint = "; free some space and call again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return type(exc)(exc.errno, f"cannot write {path}: {exc.strerror or exc}; {state}{hint}")


def atomic_write_json(
    path: str | os.PathLike[str], data: Any, durable: bool = True, indent: int | None = 4
) -> None:
    """Atomically write ``data`` as JSON (NaN refused: callers store failed scores as null).

    ``indent=None`` writes compact JSON with the C encoder, several times faster for large files.
    """
    text = json.dumps(data, indent=indent, allow_nan=False, separators=None if indent else (",", ":"))
    atomic_write_bytes(path, text.encode(), durable)


_REMEDY = "delete it or restore it from a backup"


def read_json(path: str | os.PathLike[str], remedy: str = _REMEDY) -> Any:
    """Read a JSON file; a damaged one raises StateFileError naming the file and ``remedy``, the way out."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise StateFileError(
            f"{path} is empty (a write was cut off before hpopt used atomic writes, or the file was truncated); "
            f"{remedy}"
        )
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path} is not valid JSON ({exc}); {remedy}") from exc
    except _NonFinite as exc:
        raise StateFileError(f"{path} holds {exc}, which hpopt never writes (a failed score is null); {remedy}"
                             ) from None


class _NonFinite(Exception):
    pass


def _refuse_constant(name: str) -> Any:
    """json's hook for NaN and Infinity: refused at parse time, so no reader has to look for them."""
    raise _NonFinite(name)


def read_json_dict(path: str | os.PathLike[str], required: tuple[str, ...] = (), remedy: str = _REMEDY
                   ) -> dict[str, Any]:
    """Read a JSON object and check that it has the ``required`` keys."""
    data = read_json(path, remedy)
    if not isinstance(data, dict):
        raise StateFileError(f"{path} holds a {type(data).__name__}, not a JSON object; {remedy}")
    missing = [k for k in required if k not in data]
    if missing:
        raise StateFileError(f"{path} lacks the keys {missing}; it is not an hpopt file, or it was damaged; {remedy}")
    return data


@contextlib.contextmanager
def _flock(path: str) -> Iterator[None]:
    """Exclusive flock held while the block runs (blocking); released by the OS if the process dies."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        try:
            fd = open_private(path, os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            # No .locks folder: deleted by hand (made again), or save_path itself is gone (the caller says so).
            folder = os.path.dirname(path)
            if not os.path.isdir(os.path.dirname(folder)):
                raise
            make_dir(folder)
            fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def file_lock(save_path: str | os.PathLike[str], name: str) -> contextlib.AbstractContextManager[Any]:
    """A blocking lock on ``save_path/.locks/{name}.lock``, shared with other processes and threads."""
    path = os.path.join(os.fspath(save_path), LOCK_DIR, f"{name}.lock")
    if fcntl is not None:
        return _flock(path)
    return FileLock(path, mode=FILE_MODE)  # pragma: no cover - Windows


LOCK_STRIPES = 64


def trial_lock(save_path: str | os.PathLike[str], trial_id: int) -> contextlib.AbstractContextManager[Any]:
    """The lock of a trial's file: one of ``LOCK_STRIPES`` lock files, so a run of 10 000 trials does not
    create 10 000 lock files (two trials share a lock only when ids are equal modulo 64; neither holds
    it for more than one file update)."""
    return file_lock(save_path, f"trial_{int(trial_id) % LOCK_STRIPES}")


JOURNAL_REMEDY = ("delete the journal to fall back to the last checkpoint in hpopt_status.json (changes after it "
                  "are lost; finished trials are collected again from their trial files)")


class Journal:
    """Append-only log of controller changes since the last status checkpoint.

    Each record is ``{"seq": n, ...}``; the checkpoint stores the last ``seq`` it contains, so records
    that a checkpoint already holds (a crash between the checkpoint and the truncation) are skipped.
    """

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.path = os.path.join(os.fspath(save_path), JOURNAL_FILE)
        self._fd: int | None = None

    def records(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        out: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                _check_record(rec)
            except ValueError as exc:
                if i >= len(lines) - 2:  # torn last line: that append never returned
                    break
                raise StateFileError(f"{self.path} line {i + 1} is damaged ({exc}); {JOURNAL_REMEDY}") from exc
            out.append(rec)
        return out

    def append(self, record: dict[str, Any], sync: bool = True) -> None:
        """Append one record; ``sync`` makes it (and every earlier one) durable before returning.

        ``sync=False`` suits changes that can be derived again from durable files (collecting a trial
        whose file says it finished): a power cut may drop them, and resume re-derives them.
        """
        line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        if self._fd is None:
            self._fd = open_private(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        end = os.fstat(self._fd).st_size
        try:
            if os.write(self._fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a full disk took part of the line
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            # Cut the partial line off: a later append after it would turn it into damage mid-journal.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
            self.close()
            raise write_error(exc, self.path, "the change was not recorded and the journal is intact") from exc

    def reset(self) -> None:
        """Empty the journal after a checkpoint (atomically replaced by an empty file)."""
        self.close()
        atomic_write_bytes(self.path, b"")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _check_record(rec: Any) -> None:
    """A journal record's shape: {"seq": int, "trial": {...}?, "fields": {...}?} (ValueError if not)."""
    if not isinstance(rec, dict) or not isinstance(rec.get("seq"), int) or isinstance(rec["seq"], bool):
        raise ValueError("not a journal record with an int seq")
    if not isinstance(rec.get("trial", {}), dict) or not isinstance(rec.get("fields", {}), dict):
        raise ValueError("its trial or fields are not objects")


class ControllerLock:
    """Only one controller may drive a save_path at a time (a second one would issue duplicate trial ids).

    The lock is held for the controller's life; the OS frees it if the process dies, so a killed run can
    be resumed at once. Within one process a newer ``create()`` on the same folder takes the lock over
    (re-running a notebook cell must not deadlock against the object it replaces).
    """

    _held: dict[str, tuple[FileLock, object]] = {}

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.key = os.path.realpath(os.fspath(save_path))
        self.save_path = os.fspath(save_path)

    def acquire(self, owner: object) -> None:
        held = self._held.get(self.key)
        if held is not None:
            self._held[self.key] = (held[0], owner)
            return
        lock = FileLock(os.path.join(self.save_path, LOCK_DIR, "controller.lock"), timeout=0, mode=FILE_MODE)
        pid_file = os.path.join(self.save_path, LOCK_DIR, "controller.pid")
        try:
            lock.acquire()
        except Timeout:
            other = ""
            with contextlib.suppress(OSError):
                other = f" (pid {Path(pid_file).read_text().strip()})"
            raise RuntimeError(
                f"another hpopt controller{other} is running on save_path {self.save_path!r}; "
                "wait for it to end or stop it, or use another save_path"
            ) from None
        atomic_write_bytes(pid_file, str(os.getpid()).encode())
        self._held[self.key] = (lock, owner)

    def owned_by(self, owner: object) -> bool:
        held = self._held.get(self.key)
        return held is not None and held[1] is owner

    def release(self, owner: object) -> None:
        held = self._held.get(self.key)
        if held is not None and held[1] is owner:
            held[0].release()
            del self._held[self.key]
