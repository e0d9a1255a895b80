"""numpy <-> torch dispatch of the operators: one torch core serves both (numpy computes in float64)."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_tensor", "to_4d", "as_batch", "as_pan_batch"]


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


def as_batch(x, name: str = "image") -> torch.Tensor:
    """(B, H, W) numpy/torch or (N, B, H, W) torch -> (N, B, H, W) tensor (numpy in float64)."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float64))
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"{name} must be (B, H, W) or (N, B, H, W), got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.double()
    return t


def as_pan_batch(pan) -> torch.Tensor:
    """(H, W) or (1, H, W) or (N, 1, H, W) -> (N, 1, H, W)."""
    t = as_batch(pan, "PAN")
    if t.shape[1] != 1:
        raise ValueError(f"PAN must have one band, got shape {tuple(t.shape)}")
    return t
