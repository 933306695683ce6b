"""Callbacks that connect a framework's training loop to hpopt's report / STOP / OOM protocol.

Each framework lives in its own module, imported only when asked for, and each is a pip extra:

- ``hpopt.integrations.lightning`` (``pip install 'hpopt[lightning]'``): PyTorch Lightning ``Callback``;
- ``hpopt.integrations.transformers`` (``hpopt[transformers]``): Hugging Face ``TrainerCallback``;
- ``hpopt.integrations.keras`` (``hpopt[keras]``): Keras 3 ``Callback``.

This package imports none of those frameworks; ``oom_guard`` (report a CUDA OOM around ``fit()``) and
``MissingMetricError`` need none of them either.
"""

from ._common import MissingMetricError, is_cuda_oom, oom_guard

__all__ = ["MissingMetricError", "is_cuda_oom", "oom_guard"]
