"""The only code that keeps a run's state: a store interface with a file store and a memory store.

``open_store(storage, save_path)`` picks the store ``create(storage=...)`` asks for: ``"file"`` (the
default: JSON files under save_path), ``"memory"`` (dicts in this process) or a store object.
"""

from __future__ import annotations

import os
from typing import Any

from .file_store import FileStore
from .journal import load_status
from .memory_store import MemoryStore, find_memory_store
from .store import StateStore
from .trial_record import TrialRecord

STORAGES = ("file", "memory")

__all__ = ["STORAGES", "FileStore", "MemoryStore", "StateStore", "TrialRecord", "find_memory_store", "load_status",
           "open_store", "read_trial_doc"]


def read_trial_doc(file_path: str | os.PathLike[str], trial_id: int) -> dict[str, Any] | None:
    """A trial's document from its file under a save_path (the .json with its report log replayed); None
    when there is none. For adapters that watch trials they launched."""
    record = FileStore(os.path.dirname(os.fspath(file_path)) or ".").read_trial(int(trial_id))
    return None if record is None else record.doc


def open_store(storage: Any, save_path: str | os.PathLike[str]) -> StateStore:
    """The store for ``create(storage=...)``; a ValueError naming the choices for anything else."""
    if storage == "file":
        return FileStore(save_path)
    if storage == "memory":
        return MemoryStore(os.fspath(save_path))
    if isinstance(storage, (FileStore, MemoryStore)):
        return storage
    raise ValueError(f"storage must be one of {list(STORAGES)} or a store object (hpopt.state.FileStore, "
                     f"hpopt.state.MemoryStore), got {storage!r}")
