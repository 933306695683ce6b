"""What runs inside a Ray task, on any node of the cluster: one trial attempt of the Ray adapter.

:func:`trial_task` runs the trainer (a callable, or a command in its own process group that dies with the
task), forwards the trainer's output to the run's log through the report actor every
``LOG_FORWARD_S`` seconds, and returns the exit code, the reason of a failure and the packed artifacts.
The controller side (launching, watching, stopping, retrying) is :mod:`hpopt.adapters.ray`; reports go
through :mod:`hpopt.adapters.ray_trial`.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import traceback
from typing import Any

from . import ray_trial
from .workers import TRAIN_CONFIG_ENV, Command, Trainer, command_argv, is_cuda_oom

logger = logging.getLogger("hpopt")

LOG_FORWARD_S = 0.5  # how often a task sends its trainer's new output to the controller
_LOG_CHUNK = 1 << 20


# --- inside the Ray task (on any node) ---------------------------------------------------------------


class _LogForwarder:
    """Sends what the trainer wrote to its node-local log to the controller's log, in order."""

    def __init__(self, actor: Any, name: str, path: str) -> None:
        self.actor, self.name, self.path = actor, name, path
        self.offset = 0
        self._stop = threading.Event()
        self._last: Any = None
        self._thread = threading.Thread(target=self._loop, name="hpopt-log-forwarder", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                while chunk := f.read(_LOG_CHUNK):
                    self._last = self.actor.append_log.remote(self.name, chunk)
                    self.offset += len(chunk)
        except FileNotFoundError:
            pass

    def _loop(self) -> None:
        while not self._stop.wait(LOG_FORWARD_S):
            self._send()

    def close(self, note: str = "") -> None:
        """Send the rest (and ``note``) and wait until the controller has it."""
        import ray

        self._stop.set()
        self._thread.join()
        self._send()
        if note:
            self._last = self.actor.append_log.remote(self.name, note.encode())
        if self._last is not None:
            with contextlib.suppress(Exception):
                ray.get(self._last, timeout=30)


@contextlib.contextmanager
def _output_to(path: str) -> Any:
    """Point this process's stdout and stderr (fds 1 and 2, and sys.stdout/err) at ``path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    saved = os.dup(1), os.dup(2)
    old = sys.stdout, sys.stderr
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - closed below
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
                stream.close()
        sys.stdout, sys.stderr = old
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _run_callable(trainer: Trainer, config: dict[str, Any], log: str) -> tuple[int, str | None]:
    """The trainer in this worker process: (exit code, why it failed). KeyboardInterrupt (a cancel) passes."""
    cwd = os.getcwd()
    with _output_to(log):
        try:
            trainer(config)
            return 0, None
        except KeyboardInterrupt:
            traceback.print_exc()
            raise
        except BaseException as exc:  # the trainer's last word: a crash or an OOM
            traceback.print_exc()
            if isinstance(exc, SystemExit):
                if exc.code in (0, None):
                    return 0, None
                return (exc.code if isinstance(exc.code, int) else 1), f"SystemExit({exc.code!r})"
            if is_cuda_oom(exc):
                from ..trainer import reportOOM

                reportOOM(config)
                return 0, None
            return 1, one_line(f"{type(exc).__name__}: {exc}")
        finally:
            os.chdir(cwd)


_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal
    _prctl = None


def _die_with_parent() -> None:
    """In the command's child, before exec: SIGKILL when the Ray worker that started it dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _run_command(command: Command, config: dict[str, Any], log: str, tmp: str, grace: float) -> tuple[int, str | None]:
    """The trainer as a child of this task; its reports come back over a socket (ray_trial relays them)."""
    import json

    path = os.path.join(tmp, "train_config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    ours, theirs = socket.socketpair()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", TRAIN_CONFIG_ENV: path, ray_trial.RELAY_FD_ENV: str(theirs.fileno())}
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        argv = command_argv(command)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=env,
                                pass_fds=(theirs.fileno(),), start_new_session=True,
                                preexec_fn=_die_with_parent if _prctl is not None else None)
    except OSError as exc:
        os.write(fd, f"hpopt: cannot start {command!r}: {exc}\n".encode())
        ours.close()
        return 127, f"cannot start {command!r}: {exc}"
    finally:
        os.close(fd)
        theirs.close()
    relay = threading.Thread(target=ray_trial.serve_relay, args=(ours,), name="hpopt-report-relay", daemon=True)
    relay.start()
    try:
        # Ray's cancel raises KeyboardInterrupt between two Python statements: wait in short steps, not in
        # one blocking waitpid that would hold it off until the trainer exits by itself.
        while (code := _wait(proc, 0.2)) is None:
            pass
    except KeyboardInterrupt:  # cancelled: stop the trainer's process group, then insist
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    finally:
        _signal_group(proc.pid, signal.SIGKILL)  # whatever it left behind in its group
        relay.join(5)
    return code, (None if code == 0 else (f"exit code {code}" if code > 0 else f"killed by signal {-code}"))


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _pack(folder: str) -> bytes | None:
    if not os.path.isdir(folder) or not os.listdir(folder):
        return None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname=name)
    return buf.getvalue()


def trial_task(trainer: Trainer | Command, is_command: bool, config: dict[str, Any], log_name: str,
                grace: float) -> dict[str, Any]:
    """A trial attempt as a Ray task: run the trainer on this node, forward its output, return its end."""
    import ray

    actor = ray_trial._actor(ray_trial.actor_name_of(config["file_path"]))
    node = ray.get_runtime_context().get_node_id()
    tmp = tempfile.mkdtemp(prefix=f"hpopt-trial{config['trial_id']}-")
    try:
        log = os.path.join(tmp, "output.log")
        artifacts = os.path.join(tmp, "artifacts")
        os.mkdir(artifacts)
        config = {**config, "artifact_dir": artifacts}
        forwarder = _LogForwarder(actor, log_name, log)
        host = socket.gethostname()
        actor.append_log.remote(log_name, f"[hpopt] on node {node} ({host}), CUDA_VISIBLE_DEVICES="
                                          f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}\n".encode())
        note = ""
        try:
            if is_command:
                code, reason = _run_command(trainer, config, log, tmp, grace)  # type: ignore[arg-type]
            else:
                code, reason = _run_callable(trainer, config, log)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            note = "[hpopt] the task was cancelled\n"
            raise
        finally:
            forwarder.close(note)
        return {"code": code, "reason": reason, "node": node, "artifacts": _pack(artifacts)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def one_line(text: str, last: bool = True) -> str:
    """One line of a failure (a traceback's last, a message's first), short enough for an error field."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return ((lines[-1] if last else lines[0]) if lines else text)[:300]
