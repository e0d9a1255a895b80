"""numpy <-> torch dispatch of the operators: one torch core serves both (numpy computes in float64)."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_tensor", "to_4d"]


def as_tensor(x):
    """(tensor, back) where back(t) returns t in the caller's type.

    A torch tensor passes through (dtype, device and graph kept); a numpy array (or anything array-like)
    becomes a float64 tensor and ``back`` returns numpy in the input's float dtype (float64 for integers).
    """
    if isinstance(x, torch.Tensor):
        return x, lambda t: t
    arr = np.asarray(x)
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)), (
        lambda t: t.detach().cpu().numpy().astype(out_dtype, copy=False)
    )


def to_4d(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(..., H, W) -> ((M, 1, H, W), leading shape), so 2-D convolutions see every image as one channel."""
    if t.ndim < 2:
        raise ValueError(f"expected an image (..., H, W), got shape {tuple(t.shape)}")
    lead = tuple(t.shape[:-2])
    return t.reshape(-1, 1, *t.shape[-2:]), lead
