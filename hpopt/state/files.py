"""Crash-safe file primitives of the file store: atomic JSON writes, checked reads, private modes.

Every file write is atomic: a temp file in the same folder (created 0600 with ``os.open``), flush, fsync,
``os.replace``, then an fsync of the folder. A reader sees the old or the new file, never a mix. Files
that can be rebuilt from others (a trial file laid out at issue time, whose truth is the journal) are
written ``durable=False``: still atomic, so a killed process never leaves a torn file, but without the
two fsyncs (about 0.5 ms), so only a crash of the whole machine can lose them. A writer killed after
naming its temp file and before the rename leaves that file behind; the temp name holds the writer's
host and pid, and the controller removes those of dead writers on this host when it starts.

Symlinks: ``os.replace`` replaces a symlink planted at a state file's name by the new file (it never
writes through it), and every file opened for writing in place (journal, trial logs, rung records,
locks) is opened with ``O_NOFOLLOW``; the run's folders are refused when they are symlinks
(:func:`check_not_symlink`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import threading
from typing import Any

from ..errors import StateFileError

STATUS_FILE = "hpopt_status.json"
JOURNAL_FILE = "hpopt_journal.jsonl"
LOCK_DIR = ".locks"
FILE_MODE = 0o600
DIR_MODE = 0o700
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


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
    # O_NOFOLLOW: never write through a symlink planted at a state file's name (not for O_TMPFILE, which
    # opens the folder: save_path itself may well be a user's symlink).
    fd = os.open(path, flags | (0 if flags & getattr(os, "O_DIRECTORY", 0) else NOFOLLOW), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:
        pass  # another user's file on a shared folder: its owner set its mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def fsync_dir(folder: str) -> None:
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
    """Whether the process can still write. A killed child its parent has not reaped yet is a zombie: signal
    0 still reaches it, but it writes nothing more (a crash test's leftover temp file was kept for one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]  # the name in brackets may hold spaces
    except (OSError, IndexError):
        return True  # no /proc (macOS) or gone meanwhile: the signal said it lives
    return state not in (b"Z", b"X")


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
            fsync_dir(folder)
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
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise StateFileError(f"{path} is a folder, not a file; {remedy}") from None
    return parse_json_file(path, raw, remedy)


def read_bytes_and_key(path: str, remedy: str = _REMEDY) -> tuple[bytes, tuple[int, int, int]]:
    """A file's bytes and its (inode, mtime ns, size), both of the one file opened: a writer that replaces
    the file meanwhile cannot pair one version's content with another's key. FileNotFoundError if none;
    StateFileError naming the file and ``remedy`` if it is a folder."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except IsADirectoryError:
        raise StateFileError(f"{path} is a folder, not a file; {remedy}") from None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, max(st.st_size + 1, 65536)):
            chunks.append(chunk)
    except IsADirectoryError:
        raise StateFileError(f"{path} is a folder, not a file; {remedy}") from None
    finally:
        os.close(fd)
    return b"".join(chunks), (st.st_ino, st.st_mtime_ns, st.st_size)


def parse_json_file(path: str, raw: bytes, remedy: str = _REMEDY) -> Any:
    """``raw``, the content of ``path``, as JSON; StateFileError naming the file and the way out if damaged."""
    if not raw.strip():
        raise StateFileError(
            f"{path} is empty (a write was cut off before hpopt used atomic writes, or the file was truncated); "
            f"{remedy}"
        )
    try:
        return parse_json_bytes(raw)
    except ValueError as exc:
        raise StateFileError(f"{path} is not valid JSON ({exc}); {remedy}") from exc


# An integer literal of 309 digits or more may be beyond any float (10**400): every number hpopt reads is
# used as a float somewhere, and float(10**400) raises OverflowError far from the file that held it.
_LONG_DIGITS = re.compile(rb"\d{309}")


def parse_json_bytes(raw: bytes) -> Any:
    """JSON that hpopt could have written: ValueError for bad JSON, NaN or infinite numbers (``NaN``,
    ``Infinity``, ``1e999``: hpopt stores a failed score as null), integers too large for a float
    (``1`` followed by 400 zeros) and absurdly deep nesting."""
    # The int hook costs a Python call per integer, so it runs only when a long run of digits is there.
    hooks = {"parse_int": _float_sized_int} if _LONG_DIGITS.search(raw) else {}
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float, **hooks)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    except _NonFinite as exc:
        raise ValueError(f"it holds {exc}, which hpopt never writes (a failed score is null)") from None
    except RecursionError:
        raise ValueError("it is nested too deeply to be an hpopt file") from None


class _NonFinite(Exception):
    pass


def _finite_float(text: str) -> float:
    """json's hook for float literals: ``1e999`` would parse as infinity, which hpopt never writes."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NonFinite(text)
    return value


def _float_sized_int(text: str) -> int:
    """json's hook for int literals (only used when the text holds a long run of digits)."""
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _NonFinite(f"the integer {text[:12]}... ({len(text.lstrip('-'))} digits, beyond any float)") from None
    return value


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


def check_not_symlink(path: str) -> None:
    """Refuse a run folder (or lock folder) that is a symlink: hpopt would write wherever it points."""
    if os.path.islink(path):
        raise StateFileError(f"{path} is a symlink; hpopt never writes through one (it could point anywhere): "
                             "remove it, and hpopt makes a real folder there")
