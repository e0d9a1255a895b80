"""The one training loop of Stage I, Stage II, the SHIP teacher and λ-PNN target adaptation.

The :class:`Engine` owns what every stage shares: device, mixed precision (on CUDA; bf16, or fp16 with a
gradient scaler), the optimiser step, a non-finite-loss stop, progress (a tqdm bar, or a
``callback(fraction, message)``), the CSV log (one row per step) and JSON validation log, periodic atomic
checkpoints in the one format (:mod:`clippan_kit.checkpoints`), resume (weights, optimiser,
random states, step, history) and multi-process runs under ``torchrun``
(:mod:`clippan_kit.engine.distributed`). Denormal floats are flushed during the loop (subnormal
activations slow CPU kernels severalfold).

A stage supplies a :class:`Job`: its model (an ``nn.Module`` holding every trained parameter), where
batches come from, the loss of one batch, and what goes into its checkpoint.
"""
from __future__ import annotations

import contextlib
import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from ..checkpoints import read_checkpoint, write_checkpoint
from .distributed import Dist, setup_distributed

__all__ = ["Engine", "Job", "TrainResult", "CsvLog", "amp_dtype"]



@dataclass
class TrainResult:
    """What a training run returns (Stage I and Stage II alike).

    ``model``: the trained model in eval mode (``supervisor`` is the same object, Stage I's name);
    ``history``: one dict per step (the CSV rows); ``validation``: Stage II validation metrics;
    ``seconds``: wall time of the run; ``seconds_per_step``: median step time.
    """

    model: nn.Module
    checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    log_csv: Path | None = None
    seconds_per_step: float = float("nan")

    @property
    def supervisor(self) -> nn.Module:
        return self.model


def amp_dtype(device: torch.device, amp: bool | None) -> torch.dtype | None:
    """Autocast dtype: None off CUDA or when ``amp`` is False; bf16 where supported, else fp16."""
    if device.type != "cuda" or amp is False:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class CsvLog:
    """One CSV row per step; ``fields`` fixed, or the first row's keys."""

    def __init__(self, path: str | Path, fields: list[str] | None = None):
        self.path, self.fields = Path(path), list(fields) if fields else None

    def read(self) -> list[dict[str, float]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def restart(self, rows: list[dict]) -> None:
        """Rewrite the file with ``rows`` (those kept from a resumed run; none on a fresh run)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fields = self.fields or (list(rows[0]) if rows else None)
        if fields is None:  # header written with the first row
            self.path.unlink(missing_ok=True)
            return
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def append(self, row: dict) -> None:
        new = not self.path.exists()
        fields = self.fields or list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


class Job(nn.Module):
    """What one training stage supplies to the :class:`Engine`. Subclasses set ``kind`` (checkpoint kind),
    ``step_key`` (the step column of the log) and ``desc`` (progress label), hold every trained parameter
    as submodules, and implement :meth:`batch` and :meth:`forward`; the rest has defaults.

    The engine sets ``amp_dtype``, ``device`` and ``dist`` before the first step; :meth:`autocast` is the
    mixed-precision context a job puts around its model's forward (losses stay in float32).
    """

    kind = "backbone"
    step_key = "iteration"
    desc = "train"

    def __init__(self) -> None:
        super().__init__()
        self.amp_dtype: torch.dtype | None = None
        self.device = torch.device("cpu")
        self.dist = Dist()

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()

    # -- what differs between stages
    def batch(self, engine: "Engine") -> Any:
        """The next batch on ``self.device``: this rank's share (``self.dist.share``) of the global batch."""
        raise NotImplementedError

    def forward(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch: (scalar tensor to backpropagate, {term: float} for the log)."""
        raise NotImplementedError

    def row(self, step: int, logs: dict[str, float], lr: float, seconds: float) -> dict[str, float]:
        return {self.step_key: step, **logs, "lr": lr, "seconds": seconds}

    def postfix(self, logs: dict[str, float]) -> dict[str, str]:
        return {}

    def validate(self, engine: "Engine") -> dict[str, float] | None:
        """Validation metrics (the JSON log); None: this stage has none."""
        return None

    def trained(self) -> nn.Module:
        """The model the run returns (:attr:`TrainResult.model`)."""
        raise NotImplementedError

    # -- what goes into the checkpoint
    def meta(self, engine: "Engine") -> dict[str, Any]:
        return {}

    def weights(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """Resume state beyond weights, optimiser and random states (e.g. Stage II's loss parameters)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def check_resume(self, ckpt: dict[str, Any], path: Path) -> None:
        """Raise when ``ckpt`` cannot continue this run (other model, bands or options)."""


class Engine:
    """Run a :class:`Job` for ``steps`` optimiser steps.

    Args:
        job: the stage (already on ``device``).
        optimizer: over the job's trained parameters.
        steps: total optimiser steps (a resumed run continues up to it).
        device: the job's device (:func:`clippan_kit.devices.select_device`).
        amp: mixed precision on CUDA (None: on; False: off).
        lr: learning rate, logged in every row.
        generator: the numpy generator the job draws batches from (saved and restored on resume).
        checkpoint: checkpoint path (None: nothing saved); ``save_every``: also save every N steps.
        log_csv, csv_fields: per-step CSV log (None: none); ``val_json``: validation log (JSON list).
        eval_every: validate every N steps (0: only at the end), for jobs that validate.
        progress: tqdm bar (True/False) or ``callback(fraction, message)``.
        distributed: join a ``torchrun`` process group when one is set in the environment.
    """

    def __init__(self, job: Job, optimizer: torch.optim.Optimizer, *, steps: int, device: torch.device,
                 amp: bool | None = None, lr: float = 0.0, generator: np.random.Generator | None = None,
                 checkpoint: str | Path | None = None, save_every: int = 0, log_csv: str | Path | None = None,
                 csv_fields: list[str] | None = None, val_json: str | Path | None = None, eval_every: int = 0,
                 progress: bool | Callable[[float, str], None] = True, distributed: bool = True):
        self.job, self.optimizer, self.steps, self.device = job, optimizer, int(steps), device
        self.dist = setup_distributed(device, distributed)
        job.amp_dtype, job.device, job.dist = amp_dtype(device, amp), device, self.dist
        self.net = self.dist.wrap(job)  # DistributedDataParallel(job) under torchrun, else the job itself
        self.scaler = torch.amp.GradScaler("cuda", enabled=job.amp_dtype == torch.float16)
        self.lr, self.generator = lr, generator
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.save_every, self.eval_every = int(save_every), int(eval_every)
        self.log = CsvLog(log_csv, csv_fields) if log_csv is not None and self.dist.is_main else None
        self.val_json = Path(val_json) if val_json is not None else None
        self.progress = progress
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.validation: list[dict[str, float]] = []
        self._saved_at: int | None = None
        self._step_seconds: list[float] = []

    # ------------------------------------------------------------------ one step
    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimiser step on ``batch``; returns the job's loss logs (averaged over processes)."""
        self.job.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, logs = self.net(batch)
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss became {float(total)} at step {self.step + 1}: lower the learning rate")
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return self.dist.mean(logs)

    # ------------------------------------------------------------------ checkpoints
    def train_state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.generator is not None:
            rng["numpy"] = self.generator.bit_generator.state
        return {"optimizer": self.optimizer.state_dict(), "rng": rng, "history": self.history,
                "validation": self.validation, **self.job.extra_state()}

    def save(self) -> Path | None:
        """Write the checkpoint (rank 0 only; None when this run has no checkpoint path)."""
        self._saved_at = self.step
        if self.checkpoint is None or not self.dist.is_main:
            return self.checkpoint
        return write_checkpoint(self.checkpoint, self.job.kind, self.job.meta(self), self.job.weights(),
                                step=self.step, train_state=self.train_state())

    def resume(self, path: str | Path) -> dict[str, Any]:
        """Continue from a checkpoint of this job's kind (any version): weights, optimiser, random states, history."""
        path = Path(path)
        ckpt = read_checkpoint(path, self.job.kind)
        self.job.check_resume(ckpt, path)
        state = ckpt["train_state"]
        self.job.load_weights(ckpt["weights"])
        self.job.load_extra_state(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(ckpt["step"])
        if self.generator is not None:
            self.generator.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        history = state.get("history")
        if history is None:  # checkpoints before the one engine kept Stage I's history only in the CSV log
            history = CsvLog(self.log.path).read()[:self.step] if self.log is not None else []
        self.history = list(history)[:self.step]
        self.validation = list(state.get("validation", []))
        self._saved_at = self.step
        return ckpt

    # ------------------------------------------------------------------ loop
    def _validate(self) -> None:
        if not self.dist.is_main:
            return
        result = self.job.validate(self)
        if result is None:
            return
        self.validation.append(result)
        if self.val_json is not None:
            self.val_json.parent.mkdir(parents=True, exist_ok=True)
            self.val_json.write_text(json.dumps(self.validation, indent=1))

    def fit(self, resume: str | Path | None = None) -> TrainResult:
        """Train up to ``steps`` (from ``resume`` when given); the model ends in eval mode."""
        start = time.perf_counter()
        if resume is not None:
            self.resume(resume)
        if self.log is not None:
            self.log.restart(self.history)
        denormals = torch.set_flush_denormal(True)
        try:
            self._loop()
        finally:
            if denormals:
                torch.set_flush_denormal(False)
            self.dist.close()
        model = self.job.eval().trained()
        sec = float(np.median(self._step_seconds)) if self._step_seconds else float("nan")
        return TrainResult(model, self.checkpoint, self.history, self.validation, time.perf_counter() - start,
                           self.log.path if self.log is not None else None, sec)

    def _loop(self) -> None:
        from tqdm.auto import tqdm

        show = self.dist.is_main and self.progress is True
        callback = self.progress if callable(self.progress) and self.dist.is_main else None
        bar = tqdm(total=self.steps, initial=self.step, disable=not show, dynamic_ncols=True, desc=self.job.desc)
        while self.step < self.steps:
            t0 = time.perf_counter()
            logs = self.train_step(self.job.batch(self))
            dt = time.perf_counter() - t0
            self.step += 1
            self._step_seconds.append(dt)
            row = self.job.row(self.step, logs, self.lr, dt)
            self.history.append(row)
            if self.log is not None:
                self.log.append(row)
            bar.update(1)
            if show and (postfix := self.job.postfix(logs)):
                bar.set_postfix(**postfix)
            if callback is not None:
                callback(self.step / self.steps, f"{self.job.desc}: step {self.step}/{self.steps}")
            if self.step < self.steps:
                if self.eval_every and self.step % self.eval_every == 0:
                    self._validate()
                if self.save_every and self.step % self.save_every == 0:
                    self.save()
        bar.close()
        if not self.validation or self.validation[-1].get(self.job.step_key) != self.step:
            self._validate()
        if self._saved_at != self.step or self.checkpoint is not None and not self.checkpoint.exists():
            self.save()
