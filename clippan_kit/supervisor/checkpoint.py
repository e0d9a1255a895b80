"""Supervisor checkpoints: only the trained parts plus the metadata needed to rebuild and verify them.

A checkpoint (``torch.save`` dict, written atomically) holds ``format``, ``version``, ``base`` (spec,
name, weights hash, embed dim, whether its towers were trained together), ``sensor`` (all Sensor
fields), ``prompts``, ``model`` (stem / adapter options), ``config`` (training options), ``step``,
``scale`` (training tile, ratio and tower input size, :mod:`~clippan_kit.supervisor.scale`), ``trainable`` (state dict of stems, six adapters, IFA, TFA) and, for resuming, ``optimizer`` and ``rng``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..checkpoint_files import (
    CheckpointError,
    read_checkpoint_file,
    write_checkpoint_file,
)
from ..sensors import Sensor
from .base import FrozenBase, load_base
from .model import CLIPSupervisor
from .prompts import PromptSet

__all__ = ["CheckpointError", "FORMAT", "save_checkpoint", "read_checkpoint", "load_supervisor", "supervisor_metadata"]

FORMAT = "clippan-supervisor/1"


def supervisor_metadata(sup: CLIPSupervisor) -> dict[str, Any]:
    from .. import __version__

    return {
        "format": FORMAT,
        "version": __version__,
        "base": {"spec": sup.base.spec, "name": sup.base.name, "weights_hash": sup.base.weights_hash,
                 "embed_dim": sup.base.embed_dim, "towers_trained_together": sup.base.towers_trained_together},
        "sensor": dataclasses.asdict(sup.sensor),
        "prompts": sup.prompts.to_dict(),
        "model": {"ms_input": sup.ms_stem.mode, "pan_input": sup.pan_stem.mode, "input_size": sup.input_size,
                  "adapter_reduction": sup.image_adapters["ms"].net[0].in_features // sup.image_adapters["ms"].net[0].out_features,
                  "adapter_ratio": sup.image_adapters["ms"].ratio},
        "scale": sup.scale,
    }


def save_checkpoint(path: str | Path, sup: CLIPSupervisor, **extra: Any) -> Path:
    """Write the trained parts + metadata (+ ``extra``: step, config, optimizer, rng ...) atomically."""
    payload = supervisor_metadata(sup)
    payload["trainable"] = sup.trainable_state_dict()
    payload.update(extra)
    return write_checkpoint_file(path, payload)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    return read_checkpoint_file(path, FORMAT, "supervisor")


def _sensor_from(meta: dict) -> Sensor:
    return Sensor(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta.items()})


def check_compatible(ckpt: dict, base: FrozenBase | None = None, n_bands: int | None = None, source: str = "") -> None:
    """Raise :class:`CheckpointError` when ``ckpt`` was trained on another base or band count."""
    where = f" ({source})" if source else ""
    b = ckpt["base"]
    if base is not None and base.weights_hash != b["weights_hash"]:
        raise CheckpointError(
            f"checkpoint{where} was trained on base '{b['name']}' [{b['spec']}, weights {b['weights_hash']}] but the "
            f"loaded base is '{base.name}' [{base.spec}, weights {base.weights_hash}]: adapters only fit the base "
            "they were trained on; load that base (e.g. --base " + b["spec"] + ")")
    s = ckpt["sensor"]
    if n_bands is not None and n_bands != len(s["bands"]):
        raise CheckpointError(
            f"checkpoint{where} expects {len(s['bands'])}-band MS ({s['long_name']}: {', '.join(s['bands'])}) "
            f"but the data has {n_bands} bands; train a supervisor for this sensor")


def load_supervisor(path: str | Path, base: FrozenBase | str | None = None, device: str | torch.device | None = None,
                    n_bands: int | None = None) -> CLIPSupervisor:
    """Rebuild a trained supervisor from a checkpoint (base from its stored spec unless given).

    Raises :class:`CheckpointError` on a base-hash or band-count mismatch.
    """
    ckpt = read_checkpoint(path)
    if base is None or isinstance(base, str):
        base = load_base(base or ckpt["base"]["spec"])
    check_compatible(ckpt, base, n_bands, str(path))
    m = ckpt["model"]
    sup = CLIPSupervisor(base, _sensor_from(ckpt["sensor"]), PromptSet(**ckpt["prompts"]), ms_input=m["ms_input"],
                         pan_input=m["pan_input"], input_size=m["input_size"], adapter_reduction=m["adapter_reduction"],
                         adapter_ratio=m["adapter_ratio"])
    sup.load_trainable_state_dict(ckpt["trainable"])
    sup.checkpoint_step = int(ckpt.get("step", 0))
    sup.scale = ckpt.get("scale")
    sup.eval()
    return sup.to(device) if device is not None else sup
