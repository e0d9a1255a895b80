"""The one device picker of every training and inference loop (Stage I, Stage II, adaptation, tiling)."""
from __future__ import annotations

import os

import torch

__all__ = ["select_device"]


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a torch.device), else CUDA when available, else CPU.

    Under ``torchrun`` (``LOCAL_RANK`` set) a bare ``"cuda"`` (given or chosen) is this process's GPU,
    ``cuda:LOCAL_RANK``, so N processes on one machine use N GPUs.
    """
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and dev.index is None and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return dev
