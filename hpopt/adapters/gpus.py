"""Which GPUs a trial gets: detected with ``nvidia-smi`` (no torch import), least busy first.

"Busy" is, in this order: how many of our own trials use the GPU, then the memory used and the
utilization that ``nvidia-smi`` reports (other people's jobs count too), then how recently we handed it
out, so that ties rotate over the GPUs instead of piling onto the first one.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger("hpopt")

QUERY = ["--query-gpu=index,memory.used,utilization.gpu", "--format=csv,noheader,nounits"]
_QUERY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class GpuInfo:
    """One line of the nvidia-smi query."""

    index: int
    memory_used: float
    utilization: float


def _number(text: str) -> float:
    """A numeric field; "[N/A]" (e.g. utilization on some MIG or vGPU setups) counts as 0."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def parse_query(output: str) -> list[GpuInfo]:
    """Parse ``index, memory.used, utilization.gpu`` lines; malformed lines are skipped with a warning."""
    gpus = []
    for line in output.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if not line.strip():
            continue
        if len(fields) != 3 or not fields[0].isdigit():
            logger.warning("ignoring an nvidia-smi line that is not 'index, memory.used, utilization': %r", line)
            continue
        gpus.append(GpuInfo(int(fields[0]), _number(fields[1]), _number(fields[2])))
    return gpus


def query_gpus(executable: str = "nvidia-smi") -> list[GpuInfo] | None:
    """The GPUs nvidia-smi lists; None when nvidia-smi is missing or fails (no usable GPU here)."""
    path = shutil.which(executable)
    if path is None:
        return None
    try:
        done = subprocess.run([path, *QUERY], capture_output=True, text=True, timeout=_QUERY_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("nvidia-smi could not be run (%s); no GPU is used", exc)
        return None
    if done.returncode != 0:
        logger.warning("nvidia-smi exited with %d (%s); no GPU is used", done.returncode, done.stderr.strip()[:200])
        return None
    return parse_query(done.stdout)


class GpuAllocator:
    """Hands out GPU indices to trials, least busy first, and takes them back when a trial ends.

    ``refresh`` (called before each pick) re-reads memory and utilization, so GPUs that other jobs
    started using meanwhile rank lower; a failed refresh keeps the last known figures.
    """

    def __init__(self, gpus: Sequence[GpuInfo], refresh: bool = True, executable: str = "nvidia-smi") -> None:
        if not gpus:
            raise ValueError("GpuAllocator needs at least one GPU")
        self._info = {g.index: g for g in gpus}
        self._ours = {g.index: 0 for g in gpus}
        self._last_given = {g.index: -1 for g in gpus}
        self._ticket = itertools.count()
        self._refresh = refresh
        self._executable = executable

    @property
    def indices(self) -> list[int]:
        return sorted(self._info)

    def acquire(self, n: int) -> list[int]:
        """The ``n`` least busy GPUs (sorted by busyness; a GPU may already run our other trials)."""
        if not 1 <= n <= len(self._info):
            raise ValueError(f"a trial cannot use {n} GPUs: this machine has {len(self._info)} ({self.indices})")
        if self._refresh:
            fresh = query_gpus(self._executable)
            if fresh:
                self._info.update({g.index: g for g in fresh if g.index in self._info})
        order = sorted(self._info, key=lambda i: (self._ours[i], self._info[i].memory_used,
                                                   self._info[i].utilization, self._last_given[i], i))
        chosen = order[:n]
        for i in chosen:
            self._ours[i] += 1
            self._last_given[i] = next(self._ticket)
        return chosen

    def release(self, indices: Sequence[int]) -> None:
        for i in indices:
            self._ours[i] = max(0, self._ours[i] - 1)

    def trials_on(self, index: int) -> int:
        """How many of our trials use GPU ``index`` now."""
        return self._ours[index]
