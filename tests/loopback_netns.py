"""Run part of a test inside a network namespace of its own that has only a loopback interface.

Servers that bind the machine's external address by default (a Ray cluster) are started inside it, so a
test can reach nothing but 127.0.0.1 and nothing outside can reach the test's servers. The namespace is
entered by the calling thread (``unshare(CLONE_NEWNET)``, which needs root or CAP_SYS_ADMIN); processes
and threads it starts afterwards are inside too; leaving returns the thread to the namespace it came from.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"


class NamespaceUnavailable(OSError):
    """This process may not make a network namespace (not root, or the kernel refuses)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(_IFREQ, fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0)))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


@contextlib.contextmanager
def loopback_only_network() -> Iterator[None]:
    """Inside: this thread (and what it starts) sees only ``lo`` (up, 127.0.0.1)."""
    libc = _libc()
    try:
        original = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    except OSError as exc:
        raise NamespaceUnavailable(exc.errno, f"cannot open this thread's network namespace: {exc}") from exc
    try:
        if libc.unshare(_CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NamespaceUnavailable(err, f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
        try:
            _loopback_up()
            names = sorted(name for _, name in socket.if_nameindex())
            if names != ["lo"]:
                raise NamespaceUnavailable(0, f"the new network namespace has interfaces {names}, not only lo")
            yield
        finally:
            if libc.setns(original, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"could not return to the original network namespace: {os.strerror(err)}")
    finally:
        os.close(original)
