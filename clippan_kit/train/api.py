"""High-level entry points: ``train`` (any mode) and ``train_teacher`` (SHIP, supervised at reduced resolution)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from .. import __version__
from ..losses import build_loss, resolve_loss_config, supervisor_direction_fn
from ..scene import Scene
from ..checkpoints import file_sha256, load_trained_model
from .data import SceneTiles
from .presets import MODES, get_preset
from .trainer import Trainer, TrainResult

__all__ = ["train", "train_teacher", "resolve_teacher", "resolve_direction_fn"]


def resolve_teacher(teacher: str | Path | nn.Module | None, scene: Scene) -> tuple[nn.Module | None, dict | None]:
    """A teacher model from a checkpoint path (checked against the scene) or a module; plus its metadata."""
    if teacher is None:
        return None, None
    if isinstance(teacher, nn.Module):
        return teacher, {"backbone": getattr(teacher, "name", type(teacher).__name__), "path": None}
    model = load_trained_model(teacher, scene=scene)
    meta = model.checkpoint_meta
    if meta.get("mode") != "supervised":
        raise ValueError(f"teacher {teacher} was trained in mode {meta.get('mode')!r}; L_ship needs a teacher trained "
                         "with supervision at reduced resolution ('clippan train-teacher')")
    return model, {"backbone": meta["backbone"], "path": str(teacher), "sha256": file_sha256(teacher)}


def resolve_direction_fn(supervisor: Any, scene: Scene) -> tuple[Callable | None, dict | None]:
    """``direction_fn`` from a supervisor checkpoint path, a CLIPSupervisor, or a ready callable."""
    if supervisor is None:
        return None, None
    if isinstance(supervisor, (str, Path)):
        from ..checkpoints import load_supervisor

        sup = load_supervisor(supervisor)
        if getattr(sup, "n_bands", scene.n_bands) != scene.n_bands:
            raise ValueError(f"supervisor {supervisor} was trained on {sup.n_bands} bands, the scene has {scene.n_bands}")
        info = {"path": str(supervisor), "sha256": file_sha256(supervisor)}
        if hasattr(sup, "describe"):
            info["description"] = sup.describe()
        return supervisor_direction_fn(sup), info
    if isinstance(supervisor, nn.Module) and hasattr(supervisor, "image_features"):
        return supervisor_direction_fn(supervisor), {"path": None, "description": supervisor.describe()}
    if callable(supervisor):
        return supervisor, {"path": None, "description": getattr(supervisor, "__name__", "callable")}
    raise TypeError(f"supervisor must be a checkpoint path, a CLIPSupervisor or a callable, got {type(supervisor).__name__}")


def train(scenes: Scene | Sequence[Scene], *, backbone: str = "lambda_pnn", mode: str = "unsup",
          preset: str = "quick", loss: str | dict | None = None, teacher: Any = None, supervisor: Any = None,
          checkpoint: str | Path | None = None, out_dir: str | Path | None = None, resume: bool | str | Path = False,
          init: str | Path | None = None, seed: int = 0, device: str | None = None, amp: bool | None = None,
          progress: bool = True, model_options: dict | None = None, **overrides: Any) -> TrainResult:
    """Train a backbone on one or more scenes of one sensor.

    Args:
        scenes: training scene(s) (full resolution; supervised mode reduces them by Wald's protocol, or uses
            their ground truth when they carry one).
        backbone: a name of :func:`clippan_kit.models.list_models`.
        mode: ``supervised``, ``unsup`` (L_spec + L_spat + L_QNR), ``clippan`` (+ L_ship + L_d), ``jesse``.
        preset: ``paper``, ``quick`` or ``tiny`` (:data:`clippan_kit.train.presets.PRESETS`); ``overrides``
            replace its fields (iterations, batch_size, lr, tile, size, val_every, val_size, weight_decay).
        loss: a loss configuration (name of :data:`clippan_kit.losses.LOSS_CONFIGS` or a mapping) replacing
            the mode's, e.g. an ablation row ``"unsup+d"``.
        teacher: SHIP teacher checkpoint (or module) for L_ship. supervisor: Stage I supervisor checkpoint,
            CLIPSupervisor or ``direction_fn`` for L_d.
        checkpoint: where to save (atomic; also every ``val_every`` iterations). out_dir: logs folder
            (default: the checkpoint's folder).
        resume: True (resume from ``checkpoint``) or a checkpoint path. init: start from these weights
            (fine-tuning) instead of random ones.

    Returns:
        :class:`TrainResult` (model in eval mode, checkpoint path, loss history, validation metrics).
    """
    from ..models import create_model, get_model_class

    scenes = [scenes] if isinstance(scenes, Scene) else list(scenes)
    torch.manual_seed(seed)  # the model's initial weights are part of the seeded run
    MODES.key(mode)  # UnknownNameError listing the modes
    cfg = get_preset(preset, **overrides)
    first = scenes[0]
    loss_cfg = resolve_loss_config(loss if loss is not None else MODES[mode]["loss"])
    reduced = "supervised" in loss_cfg
    teacher_model, teacher_info = resolve_teacher(teacher, first) if "ship" in loss_cfg else (None, None)
    direction_fn, sup_info = resolve_direction_fn(supervisor, first) if "direction" in loss_cfg else (None, None)
    loss_module = build_loss(loss_cfg, first.sensor, teacher=teacher_model, direction_fn=direction_fn)
    data = SceneTiles(scenes, tile=cfg["tile"], supervised=reduced)
    options = dict(model_options or {})
    if init is not None:
        model = load_trained_model(init, scene=first)
        if model.checkpoint_meta["backbone"] != get_model_class(backbone).name:
            raise ValueError(f"--init checkpoint holds {model.checkpoint_meta['backbone']}, not {backbone}")
        cfg["size"] = model.checkpoint_meta.get("size", cfg["size"])
        options = model.checkpoint_meta.get("model_options", options)
        model.train()
    else:
        model = create_model(backbone, first.n_bands, first.ratio, size=cfg["size"], **options)
        if mode == "jesse":  # start at EXP (the global skip): JESSE then only learns the detail
            from .adaptation import zero_last_layer

            zero_last_layer(model)
    meta = {
        "kind": "teacher" if mode == "supervised" and getattr(model, "name", "") == "ship" else "backbone",
        "backbone": getattr(model, "name", backbone), "size": cfg["size"], "model_options": options,
        "n_bands": first.n_bands, "bands": list(first.sensor.bands), "ratio": first.ratio,
        "sensor": first.sensor.name, "normalisation": "inputs and outputs divided by the scene's max_value",
        "max_value": float(first.max_value), "mode": mode, "losses": loss_cfg, "preset": preset, "hyper": cfg,
        "teacher": teacher_info, "supervisor": sup_info, "scenes": [s.name for s in scenes], "seed": seed,
        "targets": [("ground truth" if s.reference is not None else "Wald-reduced") for s in scenes] if reduced else None,
        "init": str(init) if init is not None else None, "clippan_kit": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if out_dir is None and checkpoint is not None:
        out_dir = Path(checkpoint).parent
    trainer = Trainer(model, loss_module, data, iterations=cfg["iterations"], batch_size=cfg["batch_size"],
                      lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0.0), seed=seed, device=device, amp=amp,
                      out_dir=out_dir, checkpoint=checkpoint, meta=meta, val_every=cfg.get("val_every", 0),
                      val_size=cfg.get("val_size", 128), progress=progress)
    resume_from = None
    if resume:
        resume_from = checkpoint if resume is True else resume
        if resume_from is None or not Path(resume_from).exists():
            raise FileNotFoundError(f"nothing to resume: checkpoint {resume_from} does not exist")
    return trainer.fit(resume=resume_from)


def train_teacher(scenes: Scene | Sequence[Scene], *, backbone: str = "ship", preset: str = "quick", **kwargs: Any) -> TrainResult:
    """Train the L_ship teacher: ``backbone`` (SHIP) supervised at reduced resolution (Wald's protocol)."""
    return train(scenes, backbone=backbone, mode="supervised", preset=preset, **kwargs)
