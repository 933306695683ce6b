"""How a trainer's report reaches the run's state: a channel chosen from the train_config's ``file_path``.

- a plain path (``save_path/hpopt_trial_{id}.json``): the file store under that save_path, from any
  process or machine that sees the folder;
- ``memory://{name}/...``: the memory store of that name, in this process;
- any other scheme (``s3://``, ``ray://``): a channel that an adapter registers with
  :func:`register_channel`, or that its package declares under the ``hpopt.channels`` entry point group
  (so a trainer that never imported the adapter, e.g. a script in a SageMaker job, still finds it). The
  core names no adapter.

A channel has ``report(config, value)``, ``reportOOM(config)`` and ``finalize_trial(config)``; the
config is already checked and ``value`` is a float or None (a NaN/inf score).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from ..errors import UnknownChannelError
from ..state import FileStore, StateStore, find_memory_store
from ..state.memory_store import SCHEME as MEMORY_SCHEME
from ..trial import Status
from . import local


class Channel(Protocol):
    def report(self, config: Mapping[str, Any], value: float | None) -> Status: ...

    def reportOOM(self, config: Mapping[str, Any]) -> None: ...  # noqa: N802 - mirrors hpopt.reportOOM

    def finalize_trial(self, config: Mapping[str, Any]) -> None: ...


_CHANNELS: dict[str, Channel] = {}
_FILE_STORES: dict[str, FileStore] = {}
_lock = threading.Lock()
ENTRY_POINT_GROUP = "hpopt.channels"


def register_channel(scheme: str, channel: Channel) -> None:
    """Carry the reports of train_configs whose ``file_path`` starts with ``scheme://`` through ``channel``."""
    _CHANNELS[scheme] = channel


def scheme_of(path: Any) -> str | None:
    """``"s3"`` for ``s3://...``; None for a plain path."""
    scheme, sep, _ = str(os.fspath(path)).partition("://")
    return scheme if sep and scheme.isidentifier() else None


def channel_for(config: Mapping[str, Any]) -> Channel:
    """The channel of a (checked) train_config."""
    scheme = scheme_of(config["file_path"])
    if scheme is None:
        return local.StoreChannel(file_store_of(config))
    if scheme == MEMORY_SCHEME:
        return local.StoreChannel(memory_store_of(config))
    channel = _CHANNELS.get(scheme) or _from_entry_points(scheme)
    if channel is None:
        raise UnknownChannelError(
            f"config['file_path'] {config['file_path']!r} names the channel {scheme!r}, which no installed "
            "hpopt adapter provides; install the adapter's extra (e.g. hpopt[sagemaker] for s3://, hpopt[ray] "
            "for ray://) where the trainer runs"
        )
    return channel


def _from_entry_points(scheme: str) -> Channel | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == scheme:
            ep.load()  # the adapter registers its channel when imported
            return _CHANNELS.get(scheme)
    return None


def save_path_of(config: Mapping[str, Any]) -> str:
    return os.path.dirname(os.fspath(config["file_path"])) or "."


def file_store_of(config: Mapping[str, Any]) -> FileStore:
    """This process's file store for the config's save_path (one per folder: it caches trial records)."""
    path = save_path_of(config)
    with _lock:
        store = _FILE_STORES.get(path)
        if store is None:
            store = _FILE_STORES[path] = FileStore(path)
        return store


def memory_store_of(config: Mapping[str, Any]) -> StateStore:
    name = str(config["file_path"])[len(MEMORY_SCHEME) + 3:].split("/", 1)[0]
    store = find_memory_store(name)
    if store is None:
        from ..errors import TrialFileMissingError

        raise TrialFileMissingError(
            f"config['file_path'] {config['file_path']!r} names a memory store that does not exist in this "
            "process (it ended, or the config comes from another process: memory runs cannot have trainers "
            "in other processes; use the file store there)")
    return store
