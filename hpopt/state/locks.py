"""The file store's locks: per-file ``flock`` locks under ``save_path/.locks`` and the controller's lock.

``file_lock`` is an exclusive ``flock`` on a file under ``save_path/.locks`` (the OS frees it when its
holder dies, so no lock goes stale). On POSIX it is taken with ``fcntl`` directly: the ``filelock``
package takes the same kind of lock but spends about 0.2 ms of Python bookkeeping per acquire, which is
most of a report's budget. Elsewhere (Windows) ``filelock`` is used. Lock files are opened without
following symlinks, and a ``.locks`` that is a symlink is refused.

Only one controller may drive a save_path (a second one would issue duplicate trial ids). Its lock is an
``flock`` on the save_path folder itself, held for the controller's life, plus ``.locks/controller.lock``
where the folder cannot be locked (some network file systems): deleting ``.locks`` during a run cannot
let a second controller in, because the folder's own lock does not live there.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import ControllerBusyError
from .files import FILE_MODE, LOCK_DIR, NOFOLLOW, atomic_write_bytes, check_not_symlink, make_dir, open_private

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_STRIPES = 64


@contextlib.contextmanager
def _flock(path: str) -> Iterator[None]:
    """Exclusive flock held while the block runs (blocking); released by the OS if the process dies."""
    try:
        fd = os.open(path, os.O_RDWR | NOFOLLOW)
    except FileNotFoundError:
        folder = os.path.dirname(path)
        try:
            fd = open_private(path, os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            # No .locks folder: deleted by hand (made again), or save_path itself is gone (the caller says so).
            if not os.path.isdir(os.path.dirname(folder)):
                raise
            make_dir(folder)
            fd = open_private(path, os.O_RDWR | os.O_CREAT)
        check_not_symlink(folder)
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


def trial_lock(save_path: str | os.PathLike[str], trial_id: int) -> contextlib.AbstractContextManager[Any]:
    """The lock of a trial's records: one of ``LOCK_STRIPES`` lock files, so a run of 10 000 trials does not
    create 10 000 lock files (two trials share a lock only when ids are equal modulo 64; neither holds
    it for more than one update)."""
    return file_lock(save_path, f"trial_{int(trial_id) % LOCK_STRIPES}")


class ControllerLock:
    """The one controller of a save_path; within one process a newer ``create()`` takes the lock over
    (re-running a notebook cell must not deadlock against the object it replaces)."""

    _held: dict[str, tuple[Any, object]] = {}  # real path -> (what holds the OS locks, owner)

    def __init__(self, save_path: str | os.PathLike[str]) -> None:
        self.key = os.path.realpath(os.fspath(save_path))
        self.save_path = os.fspath(save_path)

    def acquire(self, owner: object) -> None:
        held = self._held.get(self.key)
        if held is not None:
            self._held[self.key] = (held[0], owner)
            return
        locks_dir = os.path.join(self.save_path, LOCK_DIR)
        check_not_symlink(locks_dir)
        pid_file = os.path.join(locks_dir, "controller.pid")
        folder_fd = self._lock_folder(pid_file)
        try:
            file_fd = self._lock_file(os.path.join(locks_dir, "controller.lock"), pid_file)
        except BaseException:
            if folder_fd is not None:
                os.close(folder_fd)
            raise
        fds = (folder_fd, file_fd)
        try:
            atomic_write_bytes(pid_file, str(os.getpid()).encode())
        except BaseException:
            _close(fds)
            raise
        self._held[self.key] = (fds, owner)

    def _lock_file(self, path: str, pid_file: str) -> Any:
        """Non-blocking exclusive lock on ``path`` (opened without following a planted symlink)."""
        if fcntl is None:  # pragma: no cover - Windows
            lock = FileLock(path, timeout=0, mode=FILE_MODE)
            try:
                lock.acquire()
            except Timeout:
                raise self._busy(pid_file) from None
            return lock
        make_dir(os.path.dirname(path))
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        if not _flock_now(fd, lambda: self._busy(pid_file)):
            os.close(fd)
            raise OSError(errno.ENOLCK, f"cannot lock {path}: the file system refuses flock")
        return fd

    def _lock_folder(self, pid_file: str) -> int | None:
        """flock on the save_path folder itself; None where folders cannot be locked."""
        if fcntl is None:  # pragma: no cover - Windows
            return None
        fd = os.open(self.save_path, os.O_RDONLY)
        if not _flock_now(fd, lambda: self._busy(pid_file)):
            os.close(fd)
            return None  # e.g. ENOLCK/EBADF on a network file system: the lock file alone guards
        return fd

    def _busy(self, pid_file: str) -> ControllerBusyError:
        other = ""
        with contextlib.suppress(OSError):
            other = f" (pid {Path(pid_file).read_text().strip()})"
        return ControllerBusyError(
            f"another hpopt controller{other} is running on save_path {self.save_path!r}; "
            "wait for it to end or stop it, or use another save_path"
        )

    def owned_by(self, owner: object) -> bool:
        held = self._held.get(self.key)
        return held is not None and held[1] is owner

    def release(self, owner: object) -> None:
        held = self._held.get(self.key)
        if held is not None and held[1] is owner:
            _close(held[0])
            del self._held[self.key]


def _flock_now(fd: int, busy: Callable[[], Exception]) -> bool:
    """An exclusive flock without waiting: True when taken; ``busy()`` raised (the descriptor closed) when
    another process holds it; False when this file system cannot lock the file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise busy() from None
        return False
    return True


def _close(fds: tuple[int | None, Any]) -> None:
    """Release the controller's OS locks (closing a descriptor releases its flock)."""
    for fd in fds:
        if isinstance(fd, int):
            os.close(fd)
        elif fd is not None:  # pragma: no cover - Windows FileLock
            fd.release()
