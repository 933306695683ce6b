"""One trial attempt in a child process: a Python callable or a command, its log, and how to stop it.

Each child runs in a session of its own (its own process group), so that stopping it also stops what it
started (data loader workers, shells), and a Ctrl-C at the terminal reaches only the controller, which
then stops every child in order. The controller waits on the children's exit with
``multiprocessing.connection.wait`` over file descriptors that become readable when a child ends (the
process sentinel of a callable's child, a pidfd for a command), so it never spins.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..state.files import open_private
from ..trainer.oom import OOM_MESSAGE, is_cuda_oom

TRAIN_CONFIG_ENV = "HPOPT_TRAIN_CONFIG"
_LOG_TAIL_BYTES = 256 * 1024

Trainer = Callable[[dict[str, Any]], Any]
Command = str | Sequence[str]


def load_train_config(path: str | None = None) -> dict[str, Any]:
    """The train_config a command trial was started with (the JSON file named by ``$HPOPT_TRAIN_CONFIG``)."""
    path = path or os.environ.get(TRAIN_CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{TRAIN_CONFIG_ENV} is not set: this script is meant to be started by hpopt "
                           "(run_local or `hpopt run`), which writes the trial's train_config to a file and "
                           "names it in that variable")
    with open(path) as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise ValueError(f"{path} does not hold a train_config (a JSON object)")
    return config


def log_mentions_oom(log_path: str) -> bool:
    """Whether the end of a trial's log holds torch's "CUDA out of memory" message."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _LOG_TAIL_BYTES))
            return OOM_MESSAGE.encode() in f.read()
    except OSError:
        return False


def command_argv(command: Command) -> list[str]:
    """A command as an argv list; a string is split like a shell would, a ``.py`` script gets this Python."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ValueError("the trial command is empty; give a script path, e.g. 'train.py' or ['python', 'train.py']")
    if argv[0].endswith(".py"):
        argv = [sys.executable, *argv]
    return argv


def _open_log(log_path: str) -> int:
    """The attempt's log for appending (made 0600 by the run loop; 0600 here too if it was removed)."""
    return open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


@contextlib.contextmanager
def _environ(updates: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while a child starts, so that it inherits them from its very first line."""
    old = {k: os.environ.get(k) for k in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _signal_group(pid: int, sig: int) -> None:
    """Signal the child's process group (the child and what it started), or the child alone."""
    try:
        os.killpg(pid, sig)
        return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _callable_child(trainer: Trainer, config: dict[str, Any], log_path: str, workdir: str | None) -> None:
    """Body of a callable's child: log to the trial's file, run the trainer, turn a CUDA OOM into reportOOM."""
    # A forked child inherits the controller's handlers, which only note the signal: restore the defaults.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(OSError):
        os.setsid()
    fd = _open_log(log_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # sys.stdout/sys.stderr may be objects that do not write to fds 1 and 2 (a forked child of a
    # program that captures its output): point them at the log too.
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if workdir is not None:
        os.chdir(workdir)
    try:
        trainer(config)
    except BaseException as exc:  # the child's last word: anything escaping is a crash or an OOM
        traceback.print_exc()
        sys.stderr.flush()
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            raise
        if is_cuda_oom(exc):
            from ..trainer import reportOOM

            reportOOM(config)
            sys.stdout.flush()
            os._exit(0)
        sys.stdout.flush()
        os._exit(exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1)
    sys.stdout.flush()
    sys.stderr.flush()


class Worker:
    """A running trial attempt: a child process with a file descriptor that is readable once it ended.

    It is the local adapter's ``TrialHandle`` (see ``hpopt.adapters.local``).
    """

    poll_interval = 0.1  # seconds between polls when there is no descriptor to wait on (no pidfd)
    end_reason: str | None = None  # the exit code says it all

    def __init__(self, pid: int, waitable: Any) -> None:
        self.pid = pid
        self.label = f"pid {pid}"
        self.waitable = waitable  # for multiprocessing.connection.wait; None when only polling works

    def poll(self) -> int | None:
        """The exit code (negative: killed by that signal) once the child ended, else None."""
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        raise NotImplementedError

    def terminate(self) -> None:
        if self.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.poll() is None:
            _signal_group(self.pid, signal.SIGKILL)
        else:  # the leader is gone; whatever it started may still run in its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Free the descriptors held for waiting (call once the child was reaped)."""


class CallableWorker(Worker):
    """A Python callable run in a ``multiprocessing`` child ("spawn" by default: safe with CUDA)."""

    def __init__(self, trainer: Trainer, config: dict[str, Any], log_path: str, env: Mapping[str, str],
                 workdir: str | None, start_method: str) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context(start_method)
        self._proc = ctx.Process(target=_callable_child, args=(trainer, config, log_path, workdir),
                                 name=f"hpopt-trial-{config['trial_id']}", daemon=False)
        try:
            with _environ(env):
                self._proc.start()
        except Exception as exc:
            if start_method == "fork" or "pickle" not in f"{type(exc).__name__} {exc}".lower():
                raise
            raise TypeError(f"the trainer {trainer!r} cannot be sent to a {start_method!r} child process ({exc}); "
                            "define it as a module-level function (not a lambda or a nested function)") from exc
        super().__init__(self._proc.pid or 0, self._proc.sentinel)

    def poll(self) -> int | None:
        return self._proc.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._proc.join(timeout)
        return self._proc.exitcode

    def close(self) -> None:
        if self._proc.exitcode is not None:
            self._proc.close()


class CommandWorker(Worker):
    """A command (a script that reads ``$HPOPT_TRAIN_CONFIG`` and calls ``hpopt.report``)."""

    def __init__(self, argv: list[str], log_path: str, env: Mapping[str, str], workdir: str | None) -> None:
        fd = _open_log(log_path)
        try:
            self._popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, cwd=workdir,
                                           env={**os.environ, **env}, start_new_session=True)
        except OSError as exc:
            os.write(fd, f"hpopt: cannot start {argv!r}: {exc}\n".encode())
            raise
        finally:
            os.close(fd)
        pidfd = None
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(self._popen.pid)
        self._pidfd = pidfd
        super().__init__(self._popen.pid, pidfd)

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
