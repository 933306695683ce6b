"""The original API's dataset helper: the subset of the data a trial trains on, optionally resized.

Kept apart from ``create()`` because it is about the trainer's data, not the run: it imports torch and
PIL only when they are already in use (a tensor or a PIL image exists only once they are imported).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["createHpoDataset"]


def createHpoDataset(dataset: Any, config: Mapping[str, Any]) -> Any:  # noqa: N802 - original name
    """The part of ``dataset`` a trial trains on: a fixed subset by ``subset_ratio``, optionally resized.

    The subset is the same for every trial (seed 42), so trials are compared on the same data. Returns
    a ``torch.utils.data.Subset`` when torch is installed (imported here, not at hpopt import time).
    With ``resize_width`` and ``resize_height`` > 0, the image of each sample is resized (bilinear, as
    torchvision's ``Resize``; a tensor keeps its dtype): a sample that is an image, the first item of an
    ``(image, label, ...)`` tuple or list, or the ``"img"`` of a dict. Images are torch tensors
    (``[..., H, W]``) and PIL images; anything else passes through unchanged. The dataset returned shows
    the attributes of the one it wraps (``classes``, ``targets`` ...).
    """
    ratio = float(config.get("subset_ratio") or 1.0)
    width, height = int(config.get("resize_width") or 0), int(config.get("resize_height") or 0)
    if width > 0 and height > 0:
        dataset = _Resized(dataset, (height, width))
    if not 0 < ratio < 1:
        return dataset
    import numpy as np

    n = len(dataset)
    k = max(1, int(n * ratio))
    indices = sorted(np.random.default_rng(42).permutation(n)[:k].tolist())
    subset = _torch_subset()
    return (subset or _Subset)(dataset, indices)


class _Forwarding:
    """A dataset wrapper that shows the attributes of the dataset it wraps (``self.dataset``)."""

    dataset: Any

    def __getattr__(self, name: str) -> Any:
        # Called only for names the wrapper lacks. Not for dunders (pickle and copy probe those) nor for
        # ``dataset`` itself, which is missing while an instance is being unpickled.
        if name == "dataset" or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self.dataset, name)


class _Subset(_Forwarding):
    """Map-style subset for users without torch."""

    def __init__(self, dataset: Any, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]


_TORCH_SUBSET: type | None = None


def _torch_subset() -> type | None:
    """``torch.utils.data.Subset`` that shows the wrapped dataset's attributes; None without torch."""
    global _TORCH_SUBSET
    if _TORCH_SUBSET is None:
        try:
            from torch.utils.data import Subset
        except ImportError:
            return None
        _TORCH_SUBSET = type("_TorchSubset", (_Forwarding, Subset), {"__module__": __name__})
    return _TORCH_SUBSET


def __getattr__(name: str) -> Any:
    # Made on first use (torch is not imported with hpopt); pickle finds it by name in a DataLoader worker.
    if name == "_TorchSubset" and _torch_subset() is not None:
        return _TORCH_SUBSET
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Resized(_Forwarding):
    """Resizes the image of each sample to (height, width); see createHpoDataset for which one."""

    def __init__(self, dataset: Any, size: tuple[int, int]) -> None:
        self.dataset, self.size = dataset, size

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if isinstance(item, tuple) and item:
            first = _resize_image(item[0], self.size)
            if first is item[0]:
                return item
            rest = item[1:]
            return type(item)(first, *rest) if hasattr(item, "_fields") else (first, *rest)  # a namedtuple
        if isinstance(item, list) and item:
            return [_resize_image(item[0], self.size), *item[1:]]
        if isinstance(item, dict) and "img" in item:
            out = item.copy()
            out["img"] = _resize_image(item["img"], self.size)
            return out
        return _resize_image(item, self.size)


def _resize_image(image: Any, size: tuple[int, int]) -> Any:
    """A torch tensor ``[..., H, W]`` or a PIL image resized to ``size`` (height, width); anything else as is.

    Told apart without importing torch or PIL: a tensor or a PIL image exists only once they are imported.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(image, torch.Tensor):
        return _resize_tensor(torch, image, size)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(image, pil.Image):
        return image.resize((size[1], size[0]))
    return image


def _resize_tensor(torch: Any, image: Any, size: tuple[int, int]) -> Any:
    """Bilinear with antialiasing, as torchvision's Resize on tensors; integer images are rounded back."""
    if image.ndim < 2 or image.numel() == 0 or image.is_complex():
        return image
    import torch.nn.functional as F  # noqa: N812

    lead, (h, w) = image.shape[:-2], image.shape[-2:]
    work = torch.float64 if image.dtype == torch.float64 else torch.float32
    out = F.interpolate(image.reshape(1, -1, h, w).to(work), size=size, mode="bilinear", align_corners=False,
                        antialias=True)
    if not image.is_floating_point():
        low, high = (0, 1) if image.dtype == torch.bool else (torch.iinfo(image.dtype).min,
                                                              torch.iinfo(image.dtype).max)
        out = out.round().clamp(low, high)
    return out.to(image.dtype).reshape(*lead, *size)
