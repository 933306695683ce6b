"""A run's settings: what create() decided, stored in the status file and checked unchanged on resume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..search_space import SearchSpace

FORMAT_VERSION = 1

# Keys of hpopt_status.json that must match on resume: name -> the create() argument a user changed.
RESUME_CHECKED = {
    "search_algorithm": "search_alg",
    "original_search_space": "search_space",
    "metric": "metric",
    "mode": "mode",
    "full_dataset_size": "full_dataset_size",
    "num_full_iterations": "num_full_iterations",
    "max_iterations": "max_iterations",
    "subset_ratio": "subset_ratio",
    "image_resize": "image_resize",
    "batch_size_name": "batch_size_name",
    "early_stop": "early_stop",
    "min_iterations": "min_iterations",
    "reduction_factor": "reduction_factor",
    "num_brackets": "num_brackets",
    "sampler": "sampler",
}


@dataclass
class RunSettings:
    """Everything about a run that is not an algorithm's or a trial's."""

    search_space: dict[str, SearchSpace]
    full_dataset_size: int
    num_full_iterations: int
    num_trials: int
    max_iterations: int
    subset_ratio: float
    mode: str = "max"
    metric: str = "mAP"
    early_stop: str | None = None
    batch_size_name: str | None = None
    image_resize: list[int] = field(default_factory=lambda: [0, 0])
    num_workers: int = 1
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # stored as "settings" (expected_time_ratio, ...)


def canon(value: Any) -> Any:
    """Compare stored and new settings after a JSON round trip (tuples vs lists, int vs float)."""
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value
