"""Per-trial folders for what a trainer saves (checkpoints, the model), and keeping only the best ones.

Each train_config run by an adapter carries ``artifact_dir`` = ``save_path/artifacts/trial_{id}``. A
new attempt of a trial starts from an empty folder (a retried or re-sampled trial trains from scratch,
so leftovers would mix two models). When the run ends, the folders of the ``keep_top_k`` best trials
are kept and the others deleted. The adapter's folders (artifacts, logs, configs) belong to one run:
those of an earlier run in the same save_path (``create(resume=False)``) are moved to
``save_path/archive/`` rather than overwritten, as ``create()`` does with the state files. Like the state
files, the folders hpopt makes here are 0700 and its files (logs, train_configs) 0600 whatever the umask:
a train_config names the run's files and a log may hold whatever a trainer printed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..state.files import atomic_write_bytes, make_dir, open_private

logger = logging.getLogger("hpopt")

ARTIFACTS = "artifacts"
LOGS = "logs"
CONFIGS = "configs"
_RUN_MARK = ".run_id"
_TRIAL_DIR = re.compile(r"trial_(\d+)$")


def artifact_dir(save_path: str, trial_id: int) -> str:
    return os.path.join(save_path, ARTIFACTS, f"trial_{trial_id}")


def log_path(save_path: str, trial_id: int, attempt: int) -> str:
    return os.path.join(save_path, LOGS, f"trial_{trial_id}_attempt_{attempt}.log")


def config_path(save_path: str, trial_id: int, attempt: int) -> str:
    return os.path.join(save_path, CONFIGS, f"trial_{trial_id}_attempt_{attempt}.json")


def claim_folders(save_path: str, run_id: str) -> None:
    """Make artifacts/, logs/ and configs/ this run's: archive another run's, then mark them as ours."""
    mark = os.path.join(save_path, ARTIFACTS, _RUN_MARK)
    try:
        with open(mark) as f:
            owner = f.read().strip()
    except FileNotFoundError:
        owner = None
    if owner is not None and owner != run_id:
        dest = os.path.join(save_path, "archive", f"files-{time.strftime('%Y%m%d-%H%M%S')}-{owner[:8]}")
        make_dir(dest)
        for name in (ARTIFACTS, LOGS, CONFIGS):
            if os.path.exists(os.path.join(save_path, name)):
                os.replace(os.path.join(save_path, name), os.path.join(dest, name))
        logger.warning("the logs and artifacts of an earlier run in %s were moved to %s", save_path, dest)
    for name in (ARTIFACTS, LOGS, CONFIGS):
        make_dir(os.path.join(save_path, name))
    if owner != run_id:
        atomic_write_bytes(mark, (run_id + "\n").encode(), durable=False)


def fresh_artifact_dir(save_path: str, trial_id: int) -> str:
    """An empty artifact folder for a new attempt of the trial."""
    path = artifact_dir(save_path, trial_id)
    shutil.rmtree(path, ignore_errors=True)
    make_dir(path)
    return path


def top_trials(entries: Iterable[Mapping[str, Any]], mode: str, k: int) -> list[int]:
    """Ids of the k best trials with a score (best first); failed trials have none and never rank."""
    scored = [e for e in entries if e.get("score") is not None]
    scored.sort(key=lambda e: float(e["score"]), reverse=(mode == "max"))
    return [int(e["trial_id"]) for e in scored[:k]]


def keep_best(save_path: str, entries: Iterable[Mapping[str, Any]], mode: str, keep_top_k: int | None) -> list[str]:
    """Delete the artifact folders of all but the ``keep_top_k`` best trials (None keeps all).

    Returns the kept folders, best trial first (with None, trials without a score last). Folders that
    no trial of this run owns are left alone.
    """
    root = os.path.join(save_path, ARTIFACTS)
    if not os.path.isdir(root):
        return []
    entries = list(entries)
    if keep_top_k is None:
        best_first = top_trials(entries, mode, len(entries))
        unranked = [int(e["trial_id"]) for e in entries if int(e["trial_id"]) not in best_first]
        return [p for p in (artifact_dir(save_path, tid) for tid in best_first + unranked) if os.path.isdir(p)]
    best_first = top_trials(entries, mode, keep_top_k)
    ours = {int(e["trial_id"]) for e in entries}
    for name in os.listdir(root):
        match = _TRIAL_DIR.match(name)
        if match is not None and int(match.group(1)) in ours and int(match.group(1)) not in best_first:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    return [p for p in (artifact_dir(save_path, tid) for tid in best_first) if os.path.isdir(p)]


class Workspace:
    """The run's folders under ``save_path`` (artifacts/, logs/, configs/) as the run loop uses them."""

    def __init__(self, save_path: str) -> None:
        self.save_path = save_path

    def claim(self, run_id: str) -> None:
        claim_folders(self.save_path, run_id)

    def attempt_files(self, trial_id: int, attempt: int) -> tuple[str, str]:
        """A fresh artifact folder and an empty private log for a new attempt of the trial."""
        folder = fresh_artifact_dir(self.save_path, trial_id)
        log = log_path(self.save_path, trial_id, attempt)
        os.close(open_private(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))  # the child appends to it
        return folder, log

    def keep_best(self, entries: Iterable[Mapping[str, Any]], mode: str, keep_top_k: int | None) -> list[str]:
        return keep_best(self.save_path, entries, mode, keep_top_k)
