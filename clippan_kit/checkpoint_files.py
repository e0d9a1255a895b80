"""Checkpoint files shared by the Stage I supervisor and the Stage II trainer: atomic writes and
checked reads, so a crash never leaves a half-written file and a wrong file fails with one clear line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .io._common import atomic_path

__all__ = ["CheckpointError", "write_checkpoint_file", "read_checkpoint_file"]


def write_checkpoint_file(path: str | Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically (folder created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint_file(path: str | Path, fmt: str, kind: str) -> dict[str, Any]:
    """Load a checkpoint dict whose ``format`` is ``fmt``; ``kind`` names it in errors (e.g. "supervisor")."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        raise CheckpointError(f"{path} is not a clippan-kit {kind} checkpoint (format {fmt})")
    return ckpt
