"""Every checkpoint of clippan-kit: one format with a ``kind`` field, atomic writes, checked reads, and the
loaders that rebuild a model from each kind (Stage I supervisor, Stage II backbone / teacher / adapted).

A checkpoint is a ``torch.save`` dict::

    {"format": "clippan-kit/checkpoint", "version": 2,
     "kind": "supervisor" | "backbone" | "teacher" | "adapted",
     "meta": {...},          # what is needed to rebuild and to trust the weights (per kind, below)
     "weights": state_dict,  # the trained tensors only (CPU)
     "step": int,            # optimiser steps done
     "train_state": {...}}   # only for resuming: optimizer, rng, history, validation, loss (Stage II φ)

``meta`` of a ``supervisor`` (Stage I): base (spec, name, weights hash, embed dim, towers trained
together), sensor (all Sensor fields), prompts, model (stem / adapter options), scale, config, scenes.
``meta`` of a ``backbone`` / ``teacher`` / ``adapted``: backbone name, size and options, band count and
names, ratio, sensor, normalisation, loss configuration, teacher / supervisor used (path + SHA-256),
preset, mode, scenes, version, time (:func:`clippan_kit.train.api.train`).

Files written before the one format (``clippan-supervisor/1`` and ``clippan-kit/stage2``) are read
and returned in this layout, so old checkpoints keep loading. Writes go to a temporary file in the same
folder, then ``os.replace`` (:func:`clippan_kit.io._common.atomic_path`): a crash never leaves a truncated
checkpoint.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

import torch

from .errors import CheckpointError
from .io._common import atomic_path

__all__ = ["CheckpointError", "FORMAT", "VERSION", "KINDS", "STAGE2_KINDS", "write_checkpoint", "read_checkpoint",
           "file_sha256", "supervisor_metadata", "save_supervisor", "read_supervisor", "check_supervisor",
           "load_supervisor", "save_backbone", "read_stage2", "load_trained_model"]

FORMAT = "clippan-kit/checkpoint"
VERSION = 2
# kind -> (what it holds, the function that loads it): named in errors when a file of another kind is given.
KINDS = {
    "supervisor": ("a Stage I CLIP supervisor", "clippan_kit.supervisor.load_supervisor (--supervisor)"),
    "backbone": ("a trained Stage II backbone", "clippan_kit.train.load_trained_model (--checkpoint)"),
    "teacher": ("a SHIP teacher (Stage II, supervised)", "clippan_kit.train.load_trained_model (--teacher)"),
    "adapted": ("a backbone after λ-PNN target adaptation", "clippan_kit.train.load_trained_model (--checkpoint)"),
}
STAGE2_KINDS = ("backbone", "teacher", "adapted")  # what load_trained_model rebuilds
_LEGACY_SUPERVISOR, _LEGACY_STAGE2 = "clippan-supervisor/1", "clippan-kit/stage2"
_STATE_KEYS = ("optimizer", "rng", "loss", "history", "validation")


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_checkpoint(path: str | Path, kind: str, meta: dict[str, Any], weights: dict[str, torch.Tensor], *,
                     step: int = 0, train_state: dict[str, Any] | None = None) -> Path:
    """Write one checkpoint atomically (folder created if needed); ``weights`` are copied to the CPU."""
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; kinds: {', '.join(KINDS)}")
    payload = {"format": FORMAT, "version": VERSION, "kind": kind, "meta": dict(meta),
               "weights": {k: v.detach().cpu() for k, v in weights.items()}, "step": int(step)}
    if train_state:
        payload["train_state"] = train_state
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _from_legacy(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A pre-2 checkpoint dict in the one layout (the tensors are the same objects)."""
    if ckpt.get("format") == _LEGACY_SUPERVISOR:
        skip = {"format", "trainable", "step", *_STATE_KEYS}
        meta = {k: v for k, v in ckpt.items() if k not in skip}
        meta["clippan_kit"] = meta.pop("version", None)
        return {"format": FORMAT, "version": 1, "kind": "supervisor", "meta": meta, "weights": ckpt["trainable"],
                "step": int(ckpt.get("step", 0)), "train_state": {k: ckpt[k] for k in _STATE_KEYS if k in ckpt}}
    meta = ckpt["meta"]
    return {"format": FORMAT, "version": 1, "kind": meta.get("kind", "backbone"), "meta": meta,
            "weights": ckpt["model"], "step": int(ckpt.get("iteration", meta.get("iterations_done", 0))),
            "train_state": {k: ckpt[k] for k in _STATE_KEYS if k in ckpt}}


def read_checkpoint(path: str | Path, kinds: str | Iterable[str] | None = None, what: str = "") -> dict[str, Any]:
    """Load a checkpoint (any version) in the one layout and check its ``kind``.

    Args:
        kinds: the accepted kind(s); None accepts every kind.
        what: how errors name the expected checkpoint (e.g. "Stage II"); default: the kinds.

    Raises:
        CheckpointError: missing file, not a checkpoint, or a checkpoint of another kind (one line
        saying what the file holds and which function loads it).
    """
    path = Path(path)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds) if kinds is not None else tuple(KINDS)
    what = what or "/".join(kinds)
    if not path.is_file():
        raise CheckpointError(f"{what} checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt in (_LEGACY_SUPERVISOR, _LEGACY_STAGE2):
        ckpt = _from_legacy(ckpt)
    elif fmt != FORMAT:
        raise CheckpointError(f"{path} is not a clippan-kit {what} checkpoint (no '{FORMAT}' format field)")
    kind = ckpt.get("kind")
    if kind not in kinds:
        held, loader = KINDS.get(kind, (f"an unknown kind {kind!r}", "nothing in this version"))
        raise CheckpointError(f"{path} holds {held} (kind '{kind}'), not a {what} checkpoint "
                              f"(kind {' or '.join(repr(k) for k in kinds)}); load it with {loader}")
    ckpt.setdefault("train_state", {})
    return ckpt


# --------------------------------------------------------------------------- Stage I: the CLIP supervisor
def supervisor_metadata(sup) -> dict[str, Any]:
    """``meta`` of a supervisor checkpoint: what rebuilds ``sup`` (a CLIPSupervisor) and checks its base."""
    import dataclasses

    from . import __version__

    return {
        "clippan_kit": __version__,
        "base": {"spec": sup.base.spec, "name": sup.base.name, "weights_hash": sup.base.weights_hash,
                 "embed_dim": sup.base.embed_dim, "towers_trained_together": sup.base.towers_trained_together},
        "sensor": dataclasses.asdict(sup.sensor),
        "prompts": sup.prompts.to_dict(),
        "model": {"ms_input": sup.ms_stem.mode, "pan_input": sup.pan_stem.mode, "input_size": sup.input_size,
                  "adapter_reduction": sup.image_adapters["ms"].net[0].in_features // sup.image_adapters["ms"].net[0].out_features,
                  "adapter_ratio": sup.image_adapters["ms"].ratio},
        "scale": sup.scale,
    }


def save_supervisor(path: str | Path, sup, **extra: Any) -> Path:
    """Write a supervisor's trained parts (stems, six adapters, IFA, TFA) + metadata atomically.

    ``extra``: ``step``; resume state (``optimizer``, ``rng``, ``history``) goes to ``train_state``; anything
    else (``config``, ``scenes`` ...) to ``meta``.
    """
    step = extra.pop("step", 0)
    state = {k: extra.pop(k) for k in _STATE_KEYS if k in extra}
    return write_checkpoint(path, "supervisor", {**supervisor_metadata(sup), **extra}, sup.trainable_state_dict(),
                            step=step, train_state=state)


def read_supervisor(path: str | Path) -> dict[str, Any]:
    """A supervisor checkpoint (``clippan train-supervisor``), any version, in the one layout."""
    return read_checkpoint(path, "supervisor")


def check_supervisor(ckpt: dict, base=None, n_bands: int | None = None, source: str = "") -> None:
    """Raise :class:`CheckpointError` when supervisor ``ckpt`` was trained on another base or band count."""
    where = f" ({source})" if source else ""
    b = ckpt["meta"]["base"]
    if base is not None and base.weights_hash != b["weights_hash"]:
        raise CheckpointError(
            f"checkpoint{where} was trained on base '{b['name']}' [{b['spec']}, weights {b['weights_hash']}] but the "
            f"loaded base is '{base.name}' [{base.spec}, weights {base.weights_hash}]: adapters only fit the base "
            "they were trained on; load that base (e.g. --base " + b["spec"] + ")")
    s = ckpt["meta"]["sensor"]
    if n_bands is not None and n_bands != len(s["bands"]):
        raise CheckpointError(
            f"checkpoint{where} expects {len(s['bands'])}-band MS ({s['long_name']}: {', '.join(s['bands'])}) "
            f"but the data has {n_bands} bands; train a supervisor for this sensor")


def load_supervisor(path: str | Path, base=None, device: str | torch.device | None = None,
                    n_bands: int | None = None):
    """Rebuild a trained CLIPSupervisor from a checkpoint (base from its stored spec unless given; eval mode).

    Raises :class:`CheckpointError` on a base-hash or band-count mismatch.
    """
    from .sensors import Sensor
    from .supervisor.base import load_base
    from .supervisor.model import CLIPSupervisor
    from .supervisor.prompts import PromptSet

    ckpt = read_supervisor(path)
    meta = ckpt["meta"]
    if base is None or isinstance(base, str):
        base = load_base(base or meta["base"]["spec"])
    check_supervisor(ckpt, base, n_bands, str(path))
    m = meta["model"]
    sensor = Sensor(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["sensor"].items()})
    sup = CLIPSupervisor(base, sensor, PromptSet(**meta["prompts"]), ms_input=m["ms_input"], pan_input=m["pan_input"],
                         input_size=m["input_size"], adapter_reduction=m["adapter_reduction"],
                         adapter_ratio=m["adapter_ratio"])
    sup.load_trainable_state_dict(ckpt["weights"])
    sup.checkpoint_step = ckpt["step"]
    sup.scale = meta.get("scale")
    sup.eval()
    return sup.to(device) if device is not None else sup


# --------------------------------------------------------------------------- Stage II: backbones
def save_backbone(path: str | Path, model: torch.nn.Module, meta: dict[str, Any], **state: Any) -> Path:
    """Write a backbone's weights + ``meta`` atomically; kind ``meta["kind"]`` (default "backbone").

    ``state``: ``iteration`` (the step; default ``meta["iterations_done"]``) and resume state
    (``optimizer``, ``rng``, ``loss``, ``history``, ``validation``).
    """
    step = state.pop("iteration", meta.get("iterations_done", 0))
    return write_checkpoint(path, meta.get("kind", "backbone"), meta, model.state_dict(), step=step,
                            train_state=state)


def read_stage2(path: str | Path) -> dict[str, Any]:
    """A Stage II checkpoint (``clippan train`` / ``train-teacher``, or an adapted backbone), any version."""
    return read_checkpoint(path, STAGE2_KINDS, "Stage II")


def load_trained_model(checkpoint: str | Path | dict, scene=None, *, n_bands: int | None = None,
                       device: str | torch.device | None = None) -> torch.nn.Module:
    """Rebuild the backbone of a Stage II checkpoint, load its weights, eval mode.

    Args:
        checkpoint: path (or an already read checkpoint dict, :func:`read_stage2`).
        scene: optional :class:`clippan_kit.Scene` the model will fuse: its band count and ratio must
            match the checkpoint's (a clear :class:`CheckpointError` otherwise).
        n_bands: alternatively, the band count to check.

    Returns:
        The model with ``model.checkpoint_meta`` (the metadata dict) attached.
    """
    from .models import create_model

    ckpt = checkpoint if isinstance(checkpoint, dict) else read_stage2(checkpoint)
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
        model.load_state_dict(ckpt["weights"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint{where} does not fit backbone {meta['backbone']!r}: "
                              f"{str(err).splitlines()[0]}") from None
    model.checkpoint_meta = meta
    if device is not None:
        model.to(device)
    return model.eval()
