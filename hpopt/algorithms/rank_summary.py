"""A bounded, mergeable summary of a stream of scores that answers rank questions (median, "how many
are better than x") in O(1) time and space in the number of values.

Median stop and ASHA's rungs judge a trial against the scores other trials recorded at the same step. The
original re-read every trial file for that (O(trials) per report); here each step keeps one summary, which
the state store keeps (a file per step on disk, a dict entry in memory): this module only computes.

It is a sorted list of at most ``SUMMARY_SIZE`` (256) centroids ``[mean, count]``:

* up to 256 values every centroid holds one value, so the summary *is* the sorted list of values and
  every answer is exact (median: numpy's definition);
* past that, each new value is inserted as its own centroid and then the two adjacent centroids with the
  smallest combined count (ties: the smallest gap between their means) are merged into their weighted
  mean. Adjacent pairs' counts sum to at most 2n, so no centroid ever holds more than 2n/256 of the n
  values: the resolution is uniform over ranks, which is what a quantile needs. The median is interpolated
  linearly between centroid centres (a centroid of count w spans ranks C .. C+w-1, centre C+(w-1)/2).

The file (indented JSON) stays below ``MAX_SUMMARY_BYTES`` (16 KiB: 256 means and counts at their longest
JSON spelling) and an update costs O(256), about 50 us, whatever the number of values. Error: a fixed-size
summary cannot carry a deterministic rank guarantee (that needs memory growing like log n), so the bound
is measured, not proven. Where centroids do not overlap in value (sorted arrival, well-mixed data) the
estimate's rank is within about n/256 of the true median's. Measured as the distance from 0.5 of the share
of values below (or at) the estimate, over seeded uniform, normal, log-normal, Pareto, bimodal, shifting,
spiky, sorted, reverse-sorted and inward/outward-ordered inputs of 257 to 100 000 values: worst 0.001,
mean 0.0001. ``RANK_ERROR`` (0.005) is the documented bound that the tests hold it to.
"""

from __future__ import annotations

import bisect
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SUMMARY_SIZE = 256  # values kept exactly; past that, the number of centroids kept
MAX_SUMMARY_BYTES = 16 * 1024  # upper bound on one summary file's size, whatever the number of values
RANK_ERROR = 0.005  # documented bound on |share of values below the estimated median - 0.5| past SUMMARY_SIZE
_FORMAT = 1


@dataclass
class RankSummary:
    """Sorted centroids ``means[i]`` holding ``counts[i]`` values each; exact while all counts are 1."""

    means: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, value: float) -> None:
        """Insert one value, merging the lightest adjacent pair so at most SUMMARY_SIZE centroids remain."""
        i = bisect.bisect_right(self.means, value)
        self.means.insert(i, value)
        self.counts.insert(i, 1)
        if len(self.means) <= SUMMARY_SIZE:
            return
        counts = np.asarray(self.counts)
        # The lightest adjacent pair, ties broken by the smallest gap, then the lowest index (lexsort is stable).
        j = int(np.lexsort((np.diff(self.means), counts[:-1] + counts[1:]))[0])
        w1, w2 = self.counts[j], self.counts[j + 1]
        merged = (self.means[j] * w1 + self.means[j + 1] * w2) / (w1 + w2)
        # Keep the order even where rounding would put the weighted mean just outside its pair.
        self.means[j] = min(max(merged, self.means[j]), self.means[j + 1])
        self.counts[j] = w1 + w2
        del self.means[j + 1], self.counts[j + 1]

    def median(self) -> float | None:
        """numpy's median when exact; past that, interpolated between centroid centres."""
        n = self.count
        if n == 0:
            return None
        target = (n - 1) / 2
        start = 0
        prev_centre, prev_mean = 0.0, self.means[0]
        for i, (mean, w) in enumerate(zip(self.means, self.counts, strict=True)):
            centre = start + (w - 1) / 2
            if centre >= target:
                if i == 0 or centre == target:
                    return mean
                frac = (target - prev_centre) / (centre - prev_centre)
                return prev_mean + frac * (mean - prev_mean)
            prev_centre, prev_mean = centre, mean
            start += w
        return self.means[-1]

    def count_better(self, value: float, mode: str) -> float:
        """How many stored values are strictly better than ``value`` (max mode: larger; min: smaller).

        Exact while every centroid holds one value; past that a centroid counts when its mean is strictly
        better, so the answer is off by at most half of the centroid nearest ``value`` (<= n/256 values).
        """
        if mode == "max":
            i = bisect.bisect_right(self.means, value)
            return float(sum(self.counts[i:]))
        i = bisect.bisect_left(self.means, value)
        return float(sum(self.counts[:i]))

    def count_equal(self, value: float) -> int:
        """How many stored values equal ``value`` (exact while every centroid holds one value; past that,
        centroids whose mean is exactly ``value``)."""
        return sum(self.counts[bisect.bisect_left(self.means, value):bisect.bisect_right(self.means, value)])

    def to_json(self, **header: Any) -> dict[str, Any]:
        """The file form: ``header`` keys (who the summary belongs to) first, then the centroids."""
        return {"format": _FORMAT, **header, "count": self.count, "means": self.means, "counts": self.counts}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], bad: Callable[[str], Exception]) -> RankSummary:
        """Check a loaded summary thoroughly (a silently wrong rank would stop good trials); ``bad(why)``
        makes the error to raise."""
        means, counts = data.get("means"), data.get("counts")

        if not isinstance(means, list) or not isinstance(counts, list) or len(means) != len(counts):
            raise bad("'means' and 'counts' must be lists of the same length")
        if len(means) > SUMMARY_SIZE:
            raise bad(f"it holds {len(means)} centroids, more than {SUMMARY_SIZE}")
        for m in means:  # exact type checks: JSON gives int or float, and bool is an int
            if type(m) not in (float, int) or not math.isfinite(m):
                raise bad(f"mean {m!r} is not a finite number")
        for c in counts:
            if type(c) is not int or c < 1:
                raise bad(f"count {c!r} is not a positive integer")
        if any(a > b for a, b in zip(means, means[1:], strict=False)):
            raise bad("its means are not sorted")
        if data.get("count") != sum(counts):
            raise bad(f"'count' {data.get('count')!r} differs from the sum of its counts {sum(counts)}")
        return cls([float(m) for m in means], list(counts))


_MAGIC = b"HPOPTRNK"
_HEADER = struct.Struct("<8sIIQ32s")  # magic, format, centroids, count, run_id (ASCII, NUL-padded)


def summary_to_bytes(summary: RankSummary, run_id: str | None) -> bytes:
    """Binary form: a fixed header, then the means (float64) and counts (int64), little-endian."""
    header = _HEADER.pack(_MAGIC, _FORMAT, len(summary.means), summary.count, (run_id or "").encode()[:32])
    return header + np.asarray(summary.means, "<f8").tobytes() + np.asarray(summary.counts, "<i8").tobytes()


def summary_from_bytes(data: bytes, bad: Callable[[str], Exception]) -> tuple[RankSummary, str | None]:
    """Inverse of summary_to_bytes, checked as thoroughly as from_json; bytes past the end are ignored."""
    if len(data) < _HEADER.size:
        raise bad(f"it is {len(data)} bytes long, shorter than its header")
    magic, fmt, n, count, raw_id = _HEADER.unpack_from(data)
    if magic != _MAGIC or fmt != _FORMAT:
        raise bad("it does not start with an hpopt rank-summary header")
    if n > SUMMARY_SIZE or len(data) < _HEADER.size + 16 * n:
        raise bad(f"its header says {n} centroids, which the file does not hold")
    means = np.frombuffer(data, "<f8", n, _HEADER.size)
    counts = np.frombuffer(data, "<i8", n, _HEADER.size + 8 * n)
    if not np.all(np.isfinite(means)) or np.any(np.diff(means) < 0):
        raise bad("its means are not finite and sorted")
    if np.any(counts < 1) or int(counts.sum()) != count:
        raise bad("its counts are not positive or do not sum to its total")
    run_id = raw_id.rstrip(b"\0").decode("ascii", "replace") or None
    return RankSummary(means.tolist(), counts.tolist()), run_id
