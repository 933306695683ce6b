"""Telling a CUDA out-of-memory error from other failures, on the trainer's side.

A trainer that runs out of GPU memory calls ``reportOOM`` (the batch-size bound shrinks and the trial is
re-sampled) instead of failing; the adapters' workers and the framework callbacks both need this test.
"""

from __future__ import annotations

OOM_MESSAGE = "CUDA out of memory"


def is_cuda_oom(exc: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a CUDA out-of-memory error.

    Recognised by class (torch's ``OutOfMemoryError``, by name and module so torch need not be
    imported here) or by the "CUDA out of memory" message that older torch versions raise as RuntimeError.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for cls in type(current).__mro__:
            if cls.__name__ == "OutOfMemoryError" and cls.__module__.split(".")[0] == "torch":
                return True
        if OOM_MESSAGE in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
