"""The one device picker of every training and inference loop (Stage I, Stage II, adaptation, tiling)."""
from __future__ import annotations

import torch

__all__ = ["select_device"]


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a torch.device), else CUDA when available, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
