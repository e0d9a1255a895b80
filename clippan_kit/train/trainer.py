"""The one Stage II trainer: every mode (supervised at reduced resolution, unsupervised L_unsup, CLIPPan,
JESSE) is a loss configuration plus tiles, run on the one training engine (:mod:`clippan_kit.engine`).

Logs (in ``out_dir``, prefixed by the checkpoint's stem): ``<stem>.train_log.csv`` (one row per
iteration: every loss term, lr, seconds) and ``<stem>.val_log.json`` (validation metrics on a fixed
central crop, every ``val_every`` iterations). CUDA and mixed precision (bf16, or fp16 with a gradient
scaler) are used when present; losses are computed in float32. Resume restores weights, optimiser, loss
parameters (φ), iteration and random states. Under ``torchrun`` each process trains on its share of
every batch (:mod:`clippan_kit.engine.distributed`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..devices import select_device
from ..engine import Engine, Job, TrainResult
from ..losses import CompositeLoss
from ..losses.jesse import jesse_extras, jesse_scene_extras
from ..repro import seed_everything
from .data import SceneTiles

__all__ = ["Trainer", "TrainResult", "Stage2Job", "select_device", "seed_everything"]


class Stage2Job(Job):
    """A backbone and its loss on the engine: random tiles -> ``model(ms_up, pan, ms_lr)`` -> loss terms."""

    def __init__(self, model: nn.Module, loss: CompositeLoss, data: SceneTiles, rng: np.random.Generator, *,
                 batch_size: int, meta: dict[str, Any], val_size: int):
        super().__init__()
        self.model, self.loss, self.data, self.rng = model, loss, data, rng
        self.batch_size, self.run_meta, self.val_size = batch_size, meta, val_size
        self.kind = meta.get("kind", "backbone")
        self.desc = f"train {meta.get('backbone', '')}"

    def trained(self) -> nn.Module:
        return self.model

    def train(self, mode: bool = True) -> "Stage2Job":
        """Train/eval mode of the backbone only (a frozen teacher inside the loss keeps its mode)."""
        self.training = mode
        self.model.train(mode)
        return self

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's output on a batch already on the device (autocast on CUDA)."""
        with self.autocast():
            return self.model(batch["ms_up"], batch["pan"], batch["ms_lr"])

    def batch(self, engine: Engine) -> dict[str, torch.Tensor]:
        share = self.dist.share(self.batch_size) if self.dist.active else None
        return self.data.sample(self.batch_size, self.rng, share=share)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self.to_device(batch)
        if "jesse" in self.loss.terms and "rho_threshold" not in batch:
            batch.update(jesse_extras(batch, self.data.sensor, shifts="shifts" not in batch))
        return self.loss(self.predict(batch), batch)

    def postfix(self, logs: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{logs['total']:.4f}"}

    @torch.no_grad()
    def validate(self, engine: Engine) -> dict[str, float]:
        """Loss terms and quality indices (:func:`clippan_kit.metrics.suite.validation_metrics`) on the
        central crop of the first scene."""
        from ..metrics.suite import validation_metrics

        self.model.eval()
        batch = self.to_device(self.data.center(self.val_size))
        out = self.predict(batch).float()
        _, logs = self.loss(out, batch)
        result = {f"loss.{k}": v for k, v in logs.items()}
        result.update(validation_metrics(out, batch, self.data.sensor))
        result["iteration"] = engine.step
        self.model.train()
        return result

    def meta(self, engine: Engine) -> dict[str, Any]:
        return {**self.run_meta, "iterations_done": engine.step, "iterations": engine.steps}

    def weights(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def extra_state(self) -> dict[str, Any]:
        return {"loss": self.loss.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.loss.load_state_dict(state["loss"])

    def check_resume(self, ckpt: dict[str, Any], path: Path) -> None:
        m = ckpt["meta"]
        if m.get("backbone") != self.run_meta.get("backbone") or m.get("n_bands") != self.run_meta.get("n_bands"):
            raise ValueError(f"cannot resume from {path}: it holds {m.get('backbone')} with {m.get('n_bands')} bands, "
                             f"this run trains {self.run_meta.get('backbone')} with {self.run_meta.get('n_bands')}")


class Trainer:
    """Optimise ``model`` with ``loss`` on batches of ``data`` tiles.

    Args:
        model: backbone, called as ``model(ms_up, pan, ms_lr)``.
        loss: :class:`clippan_kit.losses.CompositeLoss` (its trainable parameters are optimised too).
        data: :class:`SceneTiles` (normalised tiles; ``target`` present in supervised mode).
        iterations, batch_size, lr, weight_decay: Adam schedule (constant learning rate).
        seed: seeds torch and the tile sampler.
        device: ``"cuda"``/``"cpu"``; default CUDA when available. ``amp``: mixed precision (default: on CUDA).
        out_dir: where logs go (None: no files). ``checkpoint``: checkpoint path (None: not saved).
        meta: metadata stored in the checkpoint (``meta["kind"]``: its kind, default "backbone").
        val_every, val_size: validation period (0 = only at the end) and central crop side (PAN pixels).
        progress: a tqdm bar (True/False) or ``callback(fraction, message)``.
    """

    def __init__(self, model: nn.Module, loss: CompositeLoss, data: SceneTiles, *, iterations: int = 100,
                 batch_size: int = 8, lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0,
                 device: str | torch.device | None = None, amp: bool | None = None, out_dir: str | Path | None = None,
                 checkpoint: str | Path | None = None, meta: dict[str, Any] | None = None, val_every: int = 0,
                 val_size: int = 128, progress: bool = True):
        self.device = select_device(device)
        model, loss = model.to(self.device), loss.to(self.device)
        self.rng = seed_everything(seed)
        self.seed = seed
        params = [p for p in model.parameters()] + [p for p in loss.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        if "jesse" in loss.terms and "rho_threshold" not in data._arrays[0]:
            # Loss-time alignment (λ-PNN): one MS-to-PAN misalignment per scene and the spatial threshold
            # map, computed once on each whole scene and cut with the tiles (not recomputed every step).
            data.attach(lambda scene, arrays: jesse_scene_extras(arrays, scene.sensor))
        self.job = Stage2Job(model, loss, data, self.rng, batch_size=int(batch_size), meta=dict(meta or {}),
                             val_size=int(val_size))
        ckpt = Path(checkpoint) if checkpoint is not None else None
        prefix = f"{ckpt.stem}." if ckpt is not None else ""
        out = Path(out_dir) if out_dir is not None else None
        self.engine = Engine(self.job, optimizer, steps=iterations, device=self.device, amp=amp, lr=lr,
                             generator=self.rng, checkpoint=ckpt, save_every=val_every,
                             log_csv=out / f"{prefix}train_log.csv" if out is not None else None,
                             val_json=out / f"{prefix}val_log.json" if out is not None else None,
                             eval_every=val_every, progress=progress)

    # the stage's parts, by their former names
    model = property(lambda self: self.job.model)
    loss = property(lambda self: self.job.loss)
    data = property(lambda self: self.job.data)
    optimizer = property(lambda self: self.engine.optimizer)
    iterations = property(lambda self: self.engine.steps)
    iteration = property(lambda self: self.engine.step)
    history = property(lambda self: self.engine.history)
    validation = property(lambda self: self.engine.validation)
    meta = property(lambda self: self.job.run_meta)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.job.to_device(batch)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's output on a batch on the device."""
        return self.job.predict(batch)

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss logs."""
        return self.engine.train_step(batch)

    def validate(self) -> dict[str, float]:
        return self.job.validate(self.engine)

    def save(self) -> Path | None:
        return self.engine.save()

    def resume(self, path: str | Path) -> None:
        self.engine.resume(path)

    def fit(self, resume: str | Path | None = None) -> TrainResult:
        return self.engine.fit(resume=resume)
