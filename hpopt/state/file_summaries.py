"""The file store's rank summaries: ASHA's rung records and median stop's step records, one file each.

    save_path/hpopt_asha/bracket_{b}_rung_{k}.bin     compact binary (read and written at every rung report)
    save_path/hpopt_median_stop/step_{k}.json         JSON (the form of earlier versions)

Each is read and updated under its own lock (``.locks/asha_bracket_{b}_rung_{k}.lock``,
``.locks/median_step_{k}.lock``), always taken after the trial's lock, so two reporters cannot deadlock.
A summary names the run it belongs to: one left by an earlier run in the same save_path starts afresh.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Mapping

from ..algorithms.rank_summary import RankSummary, summary_from_bytes, summary_to_bytes
from ..errors import StateFileError
from .files import atomic_write_json, check_not_symlink, make_dir, open_private, read_json_dict, write_error
from .locks import file_lock

logger = logging.getLogger("hpopt")

# Kinds: folder, file suffix, and whether the file is the compact binary form.
KINDS = {"asha": ("hpopt_asha", ".bin", True), "median_stop": ("hpopt_median_stop", ".json", False)}


def summary_path(save_path: str | os.PathLike[str], kind: str, name: str) -> str:
    """The file of one rank summary (``kind`` "asha" or "median_stop")."""
    folder, suffix, _ = KINDS[kind]
    return os.path.join(os.fspath(save_path), folder, name + suffix)


class FileSummaries:
    """Read, judge under a lock, save and replace the rank summaries of one save_path."""

    def __init__(self, save_path: str) -> None:
        self.save_path = save_path

    def read(self, kind: str, name: str, run_id: str | None = None) -> RankSummary:
        """The summary (empty when there is none, or when it belongs to another run)."""
        path = summary_path(self.save_path, kind, name)
        binary = KINDS[kind][2]

        def bad(why: str) -> StateFileError:
            return StateFileError(f"{kind} summary {path} is damaged ({why}); delete it, or resume the run "
                                  "(resume=True rebuilds ASHA's rung summaries from the trial files; median stop "
                                  "restarts a deleted step's statistics)")

        try:
            if binary:
                with open(path, "rb") as f:
                    data = f.read()
                if not data:  # created, then its writer was killed before the first write
                    return RankSummary()
                summary, owner = summary_from_bytes(data, bad)
            else:
                try:
                    data = read_json_dict(path, ("means", "counts"))
                except StateFileError as exc:
                    raise bad(str(exc)) from exc
                summary, owner = RankSummary.from_json(data, bad), data.get("run_id")
        except FileNotFoundError:
            return RankSummary()
        if run_id is not None and owner not in (None, run_id):
            logger.info("%s belongs to an earlier run (%s); starting it afresh", path, owner)
            return RankSummary()
        return summary

    def _save(self, kind: str, name: str, summary: RankSummary, run_id: str | None) -> None:
        path = summary_path(self.save_path, kind, name)
        folder = os.path.dirname(path)
        check_not_symlink(folder)
        make_dir(folder)
        if KINDS[kind][2]:
            # Overwritten in place (about 4 KiB at most), under the summary's lock: no temp file, rename or
            # fsync (replacing a file costs ~1 ms on some disks); a record a power cut tears is rebuilt from
            # the trial files by resume, and a killed process cannot tear one write.
            data = summary_to_bytes(summary, run_id)
            fd = open_private(path, os.O_WRONLY | os.O_CREAT)
            try:
                if os.pwrite(fd, data, 0) != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except OSError as exc:
                # A torn record (a full disk took part of the write) would break every later report at
                # this rung: empty it instead (it fills again; resume rebuilds it from the trial files).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                raise write_error(exc, path, "the rung record was emptied; resume=True rebuilds it") from exc
            finally:
                os.close(fd)
        else:
            step = name.rsplit("_", 1)[-1]
            atomic_write_json(path, summary.to_json(step=int(step) if step.isdigit() else step, run_id=run_id),
                              indent=None)

    def judge(self, kind: str, name: str, run_id: str | None, judge: Callable[[RankSummary], bool]) -> bool:
        """Run ``judge`` on the summary under its lock; save the summary if it changed."""
        lock_name = f"asha_{name}" if kind == "asha" else f"median_{name}"
        with file_lock(self.save_path, lock_name):
            summary = self.read(kind, name, run_id)
            before = summary.count
            verdict = bool(judge(summary))
            if summary.count != before:
                self._save(kind, name, summary, run_id)
        return verdict

    def replace(self, kind: str, summaries: Mapping[str, RankSummary], run_id: str) -> None:
        """Every summary of ``kind`` replaced by ``summaries`` (resume rebuilds ASHA's rungs)."""
        folder = os.path.join(self.save_path, KINDS[kind][0])
        check_not_symlink(folder)
        make_dir(folder)
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        for name, summary in summaries.items():
            self._save(kind, name, summary, run_id)
