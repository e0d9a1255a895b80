"""The one Stage II trainer: every mode (supervised at reduced resolution, unsupervised L_unsup, CLIPPan,
JESSE) is a loss configuration plus tiles; the loop, logs, validation, checkpoints and resume are shared.

Logs (in ``out_dir``, prefixed by the checkpoint's stem): ``<stem>.train_log.csv`` (one row per
iteration: every loss term, lr, seconds) and ``<stem>.val_log.json`` (validation metrics on a fixed central crop, every ``val_every`` iterations). CUDA and
mixed precision (bf16, or fp16 with a gradient scaler) are used when present; losses are computed in
float32. Resume restores weights, optimiser, loss parameters (φ), iteration and random states.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..losses import CompositeLoss
from ..losses.jesse import jesse_extras, jesse_scene_extras
from ..devices import select_device
from .checkpoints import read_checkpoint, save_checkpoint
from .data import SceneTiles

__all__ = ["Trainer", "TrainResult", "select_device", "seed_everything"]


def seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@dataclass
class TrainResult:
    model: nn.Module
    checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


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
        meta: metadata stored in the checkpoint.
        val_every, val_size: validation period (0 = only at the end) and central crop side (PAN pixels).
    """

    def __init__(self, model: nn.Module, loss: CompositeLoss, data: SceneTiles, *, iterations: int = 100,
                 batch_size: int = 8, lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0,
                 device: str | torch.device | None = None, amp: bool | None = None, out_dir: str | Path | None = None,
                 checkpoint: str | Path | None = None, meta: dict[str, Any] | None = None, val_every: int = 0,
                 val_size: int = 128, progress: bool = True):
        self.device = select_device(device)
        self.model = model.to(self.device)
        self.loss = loss.to(self.device)
        self.data = data
        self.iterations, self.batch_size = int(iterations), int(batch_size)
        self.rng = seed_everything(seed)
        self.seed = seed
        params = [p for p in self.model.parameters()] + [p for p in self.loss.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        self.lr = lr
        use_amp = (self.device.type == "cuda") if amp is None else bool(amp and self.device.type == "cuda")
        self.amp_dtype = None
        if use_amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.log_prefix = f"{self.checkpoint.stem}." if self.checkpoint is not None else ""
        self.meta = dict(meta or {})
        self.val_every, self.val_size = int(val_every), int(val_size)
        self.progress = progress
        self.iteration = 0
        self.history: list[dict[str, float]] = []
        self.validation: list[dict[str, float]] = []
        if "jesse" in self.loss.terms and "rho_threshold" not in data._arrays[0]:
            # Loss-time alignment (λ-PNN): one MS-to-PAN misalignment per scene and the spatial threshold
            # map, computed once on each whole scene and cut with the tiles (not recomputed every step).
            data.attach(lambda scene, arrays: jesse_scene_extras(arrays, scene.sensor))

    # ------------------------------------------------------------------ one step
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.amp_dtype is None:
            return self.model(batch["ms_up"], batch["pan"], batch["ms_lr"])
        with torch.autocast("cuda", dtype=self.amp_dtype):
            return self.model(batch["ms_up"], batch["pan"], batch["ms_lr"])

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss logs."""
        self.model.train()
        batch = self._to_device(batch)
        if "jesse" in self.loss.terms and "rho_threshold" not in batch:
            batch.update(jesse_extras(batch, self.data.sensor, shifts="shifts" not in batch))
        self.optimizer.zero_grad(set_to_none=True)
        total, logs = self.loss(self.forward(batch), batch)
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss became {float(total)} at iteration {self.iteration + 1}: lower the learning rate")
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return logs

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss terms and quality indices (:func:`clippan_kit.metrics.suite.validation_metrics`) on the
        central crop of the first scene."""
        from ..metrics.suite import validation_metrics

        self.model.eval()
        batch = self._to_device(self.data.center(self.val_size))
        out = self.forward(batch).float()
        _, logs = self.loss(out, batch)
        result = {f"loss.{k}": v for k, v in logs.items()}
        result.update(validation_metrics(out, batch, self.data.sensor))
        result["iteration"] = self.iteration
        self.model.train()
        return result

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "loss": self.loss.state_dict(), "iteration": self.iteration,
                "rng": {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state()},
                "history": self.history, "validation": self.validation}

    def save(self) -> Path | None:
        if self.checkpoint is None:
            return None
        meta = {**self.meta, "iterations_done": self.iteration, "iterations": self.iterations}
        return save_checkpoint(self.checkpoint, self.model, meta, **self.state())

    def resume(self, path: str | Path) -> None:
        ckpt = read_checkpoint(path)
        if ckpt["meta"].get("backbone") != self.meta.get("backbone") or ckpt["meta"].get("n_bands") != self.meta.get("n_bands"):
            raise ValueError(f"cannot resume from {path}: it holds {ckpt['meta'].get('backbone')} with "
                             f"{ckpt['meta'].get('n_bands')} bands, this run trains {self.meta.get('backbone')} "
                             f"with {self.meta.get('n_bands')}")
        self.model.load_state_dict(ckpt["model"])
        self.loss.load_state_dict(ckpt["loss"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.iteration = int(ckpt["iteration"])
        self.rng.bit_generator.state = ckpt["rng"]["numpy"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.history = list(ckpt.get("history", []))
        self.validation = list(ckpt.get("validation", []))

    # ------------------------------------------------------------------ logs
    def _log_row(self, row: dict[str, float]) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{self.log_prefix}train_log.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.history[0].keys()), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _log_validation(self) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"{self.log_prefix}val_log.json").write_text(json.dumps(self.validation, indent=1))

    # ------------------------------------------------------------------ loop
    def fit(self, resume: str | Path | None = None) -> TrainResult:
        if resume is not None:
            self.resume(resume)
        elif self.out_dir is not None:  # a fresh run starts fresh logs
            (self.out_dir / f"{self.log_prefix}train_log.csv").unlink(missing_ok=True)
        start = time.perf_counter()
        denormals = torch.set_flush_denormal(True)  # tiny activations otherwise slow CPU kernels severalfold
        try:
            return self._loop(start)
        finally:
            if denormals:
                torch.set_flush_denormal(False)

    def _loop(self, start: float) -> TrainResult:
        from tqdm.auto import tqdm

        bar = tqdm(total=self.iterations, initial=self.iteration, disable=not self.progress, dynamic_ncols=True,
                   desc=f"train {self.meta.get('backbone', '')}")
        while self.iteration < self.iterations:
            t0 = time.perf_counter()
            logs = self.step(self.data.sample(self.batch_size, self.rng))
            self.iteration += 1
            row = {"iteration": self.iteration, **logs, "lr": self.lr, "seconds": time.perf_counter() - t0}
            self.history.append(row)
            self._log_row(row)
            bar.update(1)
            bar.set_postfix(loss=f"{logs['total']:.4f}")
            if self.val_every and self.iteration % self.val_every == 0 and self.iteration < self.iterations:
                self.validation.append(self.validate())
                self._log_validation()
                self.save()
        bar.close()
        if not self.validation or self.validation[-1].get("iteration") != self.iteration:
            self.validation.append(self.validate())
            self._log_validation()
        path = self.save()
        self.model.eval()
        return TrainResult(self.model, path, self.history, self.validation, time.perf_counter() - start)
