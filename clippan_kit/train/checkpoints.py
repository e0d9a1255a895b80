"""Atomic Stage II checkpoints with metadata, and loading a trained backbone for inference.

A checkpoint is a ``torch.save`` dict: ``{"format": "clippan-kit/stage2", "version": 1, "meta": {...},
"model": state_dict, "loss": state_dict, "optimizer": ..., "iteration": int, "rng": ...}``.
``meta`` holds what is needed to rebuild and to trust the model: backbone name, size and options,
band count and names, ratio, sensor, data normalisation (divide by ``max_value``), loss configuration,
teacher and supervisor used (path + SHA-256 of the file), preset, training mode, scenes, clippan-kit
version, time. Writes go to a temporary file in the same folder, then ``os.replace``: a crash never
leaves a truncated checkpoint.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..checkpoint_files import (
    CheckpointError,
    read_checkpoint_file,
    write_checkpoint_file,
)

__all__ = ["CheckpointError", "save_checkpoint", "read_checkpoint", "load_trained_model", "file_sha256", "FORMAT"]

FORMAT = "clippan-kit/stage2"
VERSION = 1


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any], **state: Any) -> Path:
    """Write ``model``'s weights, ``meta`` and any extra ``state`` (optimizer, loss, iteration, rng) atomically."""
    payload = {"format": FORMAT, "version": VERSION, "meta": dict(meta),
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **state}
    return write_checkpoint_file(path, payload)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Stage II checkpoint (made by ``clippan train`` or ``clippan train-teacher``)."""
    return read_checkpoint_file(path, FORMAT, "Stage II")


def load_trained_model(checkpoint: str | Path | dict, scene=None, *, n_bands: int | None = None,
                       device: str | torch.device | None = None) -> nn.Module:
    """Rebuild the backbone of a checkpoint, load its weights, eval mode.

    Args:
        checkpoint: path (or an already read checkpoint dict).
        scene: optional :class:`clippan_kit.Scene` the model will fuse: its band count and ratio must
            match the checkpoint's (a clear :class:`CheckpointError` otherwise).
        n_bands: alternatively, the band count to check.

    Returns:
        The model with ``model.checkpoint_meta`` (the metadata dict) attached.
    """
    from ..models import create_model

    ckpt = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(checkpoint)
    meta = ckpt["meta"]
    where = "" if isinstance(checkpoint, dict) else f" ({checkpoint})"
    want_bands = scene.n_bands if scene is not None else n_bands
    if want_bands is not None and want_bands != meta["n_bands"]:
        raise CheckpointError(
            f"checkpoint{where} was trained on {meta['n_bands']} bands ({meta.get('sensor')}: "
            f"{', '.join(meta.get('bands', []))}) but the scene has {want_bands}; train a model for this sensor")
    if scene is not None and scene.ratio != meta["ratio"]:
        raise CheckpointError(f"checkpoint{where} was trained at ratio {meta['ratio']} but the scene's ratio is {scene.ratio}")
    model = create_model(meta["backbone"], meta["n_bands"], meta["ratio"], size=meta.get("size", "base"),
                         **meta.get("model_options", {}))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint{where} does not fit backbone {meta['backbone']!r}: "
                              f"{str(err).splitlines()[0]}") from None
    model.checkpoint_meta = meta
    if device is not None:
        model.to(device)
    return model.eval()
